"""The LAMBO network (SPEC section 4): input embedding (IE), asymmetric encoder-decoder (AED)
with a two-head output, and the critic used by actor-critic pre-training. The whole network
is in this file; the decode loop that drives it lives in rollout.py.

Shapes: B = batch rows, N = UEs (padded), M = servers (padded), K = M + 1 options
(0 = local, j = server j), d = d_model, T = decoding steps so far.

- IE. A UE token is its task features plus a permutation-invariant summary (masked mean and
  max) of a small MLP over (pair features, server features) for every server, so one set of
  weights serves any M. The prompt is tokenized with a small word vocabulary (unknown words
  map to <unk>) and embedded as the mean of its word vectors. The MEC embedding summarizes
  each server's remaining capacity and load; rollout.py recomputes it after every decision.
- AED. A deep nn.TransformerEncoder over [prompt token, UE tokens]; a shallow decoder made of
  nn.TransformerDecoderLayer modules that is run one step per UE with cached self-attention
  keys/values and cached encoder keys/values (so a step costs O(T + N), not a full pass).
- Heads. Option scores are the decoder state against per-option keys built from the option
  features of the current state (so any M works); the sigmoid head gives the UE's share of
  its server's spare capacity. The critic predicts the policy's normalized cost.

The layer shapes equal torch.nn.Transformer's, so lambo-m / lambo-l have the paper's counts
(579,598,336 / 1,159,192,576 in the transformer plus ~0.5M here in embeddings and heads).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mecopt.learned.configs import PRESETS, LamboConfig
from mecopt.learned.features import N_MEC, N_OPTION, N_PAIR, N_SERVER, N_UE

# Word vocabulary of the prompt embedding: the paper's two prompts and obvious variants.
VOCAB = ("<pad>", "<unk>", "minimum", "minimize", "minimise", "min", "minimal", "lowest",
         "reduce", "low", "latency", "delay", "time", "completion", "response", "energy",
         "power", "consumption", "cost", "total", "mean", "average", "the", "of", "system",
         "task", "tasks", "maximum", "battery", "fast", "quick", "speed")
_WORD_ID = {w: i for i, w in enumerate(VOCAB)}
MAX_PROMPT_WORDS = 8


def tokenize(prompt: str) -> list[int]:
    """Word ids of a prompt (lower-cased words; unknown words -> <unk>; at least one id)."""
    words = re.findall(r"[a-z]+", prompt.lower())[:MAX_PROMPT_WORDS]
    return [_WORD_ID.get(w, 1) for w in words] or [1]


def tokenize_batch(prompts: list[str]) -> torch.Tensor:
    """(B, L) padded word ids, 0 = <pad>."""
    ids = [tokenize(p) for p in prompts]
    out = torch.zeros(len(ids), max(len(x) for x in ids), dtype=torch.long)
    for b, x in enumerate(ids):
        out[b, : len(x)] = torch.tensor(x)
    return out


PAPER_PARAMS = {"lambo-m": 579_920_902, "lambo-l": 1_159_515_142}


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out))


# The decode loop calls the decoder-side layers once per UE on small tensors, where a
# module call's Python overhead (and even a submodule attribute lookup) costs as much as the
# arithmetic; so DecoderCache gathers their parameters once per decode, as plain tensors,
# and these apply them. A linear layer is kept as (weight.t(), bias), the operands of the
# torch.addmm that F.linear runs on a 2-D input: calling it directly gives the same numbers
# without F.linear's dispatch and transpose at every step.
def _linear_of(layer: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    return layer.weight.t(), layer.bias


def _norm_of(norm: nn.LayerNorm) -> tuple:
    """The arguments of torch.layer_norm after the input."""
    return norm.normalized_shape, norm.weight, norm.bias, norm.eps


def _mlp_of(mlp: nn.Sequential) -> tuple[torch.Tensor, ...]:
    return (*_linear_of(mlp[0]), *_linear_of(mlp[2]))


def _affine(x: torch.Tensor, weight_t: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """F.linear(x, weight, bias), the same numbers, from _linear_of's operands."""
    if x.dim() == 2:
        return torch.addmm(bias, x, weight_t)
    if x.dim() == 3 and x.is_contiguous():  # what F.linear does with such an input
        return torch.addmm(bias, x.view(-1, x.shape[-1]), weight_t).view(*x.shape[:-1], -1)
    return F.linear(x, weight_t.t(), bias)


def _apply_mlp(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
               b2: torch.Tensor) -> torch.Tensor:
    """A _mlp's forward from _mlp_of's operands."""
    return _affine(torch.relu(_affine(x, w1, b1)), w2, b2)


class UEEmbedding(nn.Module):
    """IE for UEs: task features + a deep-sets summary of the UE's channel to every server."""

    def __init__(self, cfg: LamboConfig) -> None:
        super().__init__()
        self.pair = _mlp(N_PAIR + N_SERVER, cfg.d_set, cfg.d_set)
        self.proj = nn.Linear(N_UE + 2 * cfg.d_set, cfg.d_model)

    def forward(self, ue: torch.Tensor, pair: torch.Tensor, server: torch.Tensor,
                srv_mask: torch.Tensor) -> torch.Tensor:
        B, N, M, _ = pair.shape
        x = torch.cat([pair, server[:, None].expand(B, N, M, server.shape[-1])], dim=-1)
        h = self.pair(x)  # (B, N, M, d_set)
        if bool(srv_mask.all()):  # no padding servers: the same summary, without two passes
            mean, mx = h.sum(2) / M, h.amax(2)  # over h, the largest tensor of the model
        else:
            valid = srv_mask[:, None, :, None]  # (B, 1, M, 1)
            mean = (h * valid).sum(2) / valid.sum(2).clamp(min=1)  # (B, N, d_set)
            mx = h.masked_fill(~valid, -1e4).amax(2)  # (B, N, d_set)
        return self.proj(torch.cat([ue, mean, mx], dim=-1))  # (B, N, d)


class PromptEmbedding(nn.Module):
    """IE for the text prompt: mean of learned word vectors (pad ignored)."""

    def __init__(self, cfg: LamboConfig) -> None:
        super().__init__()
        self.words = nn.Embedding(len(VOCAB), cfg.d_model, padding_idx=0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = (ids != 0).float()[..., None]  # (B, L, 1)
        return (self.words(ids) * keep).sum(1) / keep.sum(1).clamp(min=1)  # (B, d)


class MECEmbedding(nn.Module):
    """IE for the servers' current state (remaining capacity, load): a pooled set summary."""

    def __init__(self, cfg: LamboConfig) -> None:
        super().__init__()
        self.net = _mlp(N_MEC, cfg.d_set, cfg.d_model)

    @staticmethod
    def pool_weights(srv_mask: torch.Tensor) -> torch.Tensor:
        """(B, M) weights of the mean over real servers (computed once per decode; `pooled`
        reads them as (B, 1, M))."""
        valid = srv_mask.float()
        return valid / valid.sum(1, keepdim=True).clamp(min=1)

    def forward(self, mec: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """mec (B, M, N_MEC), weights (B, M) from pool_weights -> (B, d)."""
        return self.pooled(mec, weights[:, None], _mlp_of(self.net))

    @staticmethod
    def pooled(mec: torch.Tensor, weights: torch.Tensor, net: tuple) -> torch.Tensor:
        """forward, with the weights as (B, 1, M) and the MLP's parameters given (net: w1, b1,
        w2, b2)."""
        return torch.bmm(weights, _apply_mlp(mec, *net)).squeeze(1)  # (B, d)


def _split(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    B, L, d = x.shape
    return x.view(B, L, n_heads, d // n_heads).transpose(1, 2)  # (B, h, L, d/h)


class _LayerWeights(NamedTuple):
    """One decoder layer's parameters, as torch.layer_norm arguments and _affine operands
    (weight.t(), bias)."""

    norm1: tuple
    qkv: tuple  # self-attention in_proj, query part scaled by 1/sqrt(d/h)
    out1: tuple
    norm2: tuple
    q2: tuple  # encoder-decoder attention query projection, scaled the same way
    out2: tuple
    norm3: tuple
    ff1: tuple
    ff2: tuple
    activation: Callable[[torch.Tensor], torch.Tensor]


class DecoderCache:
    """What stays fixed while decoding: the encoder keys/values per layer, and the parameters
    a step reads (gathered once, see _linear_of); and what grows: the self-attention
    keys/values of the decisions so far. Keys are kept transposed, (B, h, d/h, L), so that a
    step's scores are one batched matmul (of contiguous operands: a transposed view is
    slower).

    The encoder keys/values are contiguous (a strided operand makes matmul copy it, at every
    step). Without gradients the self-attention keys/values are written into buffers
    allocated for all N steps and read as their first T positions; growing them by
    concatenation, as training must (autograd keeps every step's operands), copies the whole
    history at every step."""

    def __init__(self, mem_kt: list, mem_v: list, mem_bias: torch.Tensor | None,
                 layers: list[_LayerWeights], final_norm: tuple, mec_net: tuple,
                 key_out: tuple, n_steps: int) -> None:
        # Per layer (B h, d/h, 1+N) and (B h, 1+N, d/h): the batch and head axes merged, as
        # torch.bmm takes them (views of the contiguous (B, h, ...) tensors given).
        self.mem_kt = [kt.flatten(0, 1) for kt in mem_kt]
        self.mem_v = [v.flatten(0, 1) for v in mem_v]
        self.mem_bias = mem_bias  # (B, 1, 1, 1+N): 0 = attend, -inf = padding; None: no padding
        self.layers, self.final_norm = layers, final_norm
        self.mec_net, self.key_out = mec_net, key_out  # the MEC MLP; the key MLP's last layer
        self.t = 0  # steps decoded so far
        self._preallocated = not torch.is_grad_enabled()
        if self._preallocated:
            B, h, dh, _ = mem_kt[0].shape
            like = dict(dtype=mem_kt[0].dtype, device=mem_kt[0].device)
            self.self_kt = [torch.empty(B, h, dh, n_steps, **like) for _ in mem_kt]
            self.self_v = [torch.empty(B, h, n_steps, dh, **like) for _ in mem_kt]
            # Step t's slot in each buffer, (B, h, d/h), as views made all at once (cheaper
            # than a slice per step).
            self._kt_slot = [kt.unbind(3) for kt in self.self_kt]
            self._v_slot = [v.unbind(2) for v in self.self_v]
        else:
            self.self_kt = [torch.empty(0)] * len(mem_kt)
            self.self_v = [torch.empty(0)] * len(mem_kt)

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Add step t's self-attention key and value (B, h, d/h) of a layer; returns that
        layer's keys (B, h, d/h, t+1) and values (B, h, t+1, d/h) so far."""
        t = self.t
        if self._preallocated:
            self._kt_slot[layer][t].copy_(k)
            self._v_slot[layer][t].copy_(v)
            return self.self_kt[layer][..., : t + 1], self.self_v[layer][:, :, : t + 1]
        kt, v = k.unsqueeze(3), v.unsqueeze(2)
        if t > 0:
            kt = torch.cat([self.self_kt[layer], kt], dim=3)
            v = torch.cat([self.self_v[layer], v], dim=2)
        self.self_kt[layer], self.self_v[layer] = kt, v
        return kt, v


class Lambo(nn.Module):
    """The AED policy with its critic. See the module docstring for the parts."""

    def __init__(self, cfg: LamboConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        assert d % cfg.n_heads == 0, f"d_model {d} must be divisible by n_heads {cfg.n_heads}"
        self.ue_embed = UEEmbedding(cfg)
        self.prompt_embed = PromptEmbedding(cfg)
        self.mec_embed = MECEmbedding(cfg)
        layer = nn.TransformerEncoderLayer(d, cfg.n_heads, cfg.d_ff, cfg.dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.n_encoder_layers, norm=nn.LayerNorm(d),
                                             enable_nested_tensor=False)
        self.decoder = nn.ModuleList(
            nn.TransformerDecoderLayer(d, cfg.n_heads, cfg.d_ff, cfg.dropout, batch_first=True,
                                       norm_first=True)
            for _ in range(cfg.n_decoder_layers))
        self.decoder_norm = nn.LayerNorm(d)
        self.start = nn.Parameter(torch.zeros(d))  # the "previous decision" at step 0
        self.option_key = _mlp(N_OPTION, cfg.d_head, d)
        self.share_head = nn.Linear(2 * d, 1)
        self.critic = _mlp(2 * d, cfg.d_head, 1)
        with torch.no_grad():  # costs are normalized by greedy's: start the critic at 1
            self.critic[-1].bias.fill_(1.0)

    # ---------------------------------------------------------------- encoder
    def encode(self, ue: torch.Tensor, pair: torch.Tensor, server: torch.Tensor,
               ue_mask: torch.Tensor, srv_mask: torch.Tensor,
               prompt_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder output (B, 1+N, d) (position 0 = the prompt) and the prompt vector (B, d)."""
        p = self.prompt_embed(prompt_ids)  # (B, d)
        x = self.ue_embed(ue, pair, server, srv_mask) + p[:, None]  # (B, N, d)
        x = torch.cat([p[:, None], x], dim=1)  # (B, 1+N, d)
        pad = torch.cat([torch.zeros_like(ue_mask[:, :1]), ~ue_mask], dim=1)  # True = padding
        if torch.is_grad_enabled():
            return self.encoder(x, src_key_padding_mask=pad), p
        return self._encode_inference(x, pad), p

    def _encode_inference(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """The encoder's forward (pre-norm layers, then the final norm) with fused
        scaled-dot-product attention, used when no gradient is needed. nn.MultiheadAttention
        holds a (heads, 1+N, 1+N) score matrix per layer (400 MB at N = 5,000: memory
        quadratic in N); the fused kernel works in blocks, so memory stays linear in N.
        Same weights and operations; outputs agree to float rounding (tests/
        test_lambo_model.py)."""
        h = self.cfg.n_heads
        B, L, d = x.shape
        keep = None if not pad.any() else ~pad[:, None, None, :]  # (B, 1, 1, L): True = attend
        for layer in self.encoder.layers:
            attn = layer.self_attn
            y = layer.norm1(x)
            q, k, v = (_split(t, h) for t in F.linear(y, attn.in_proj_weight,
                                                       attn.in_proj_bias).chunk(3, dim=-1))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # (B, h, L, d/h)
            x = x + attn.out_proj(y.transpose(1, 2).reshape(B, L, d))
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
        return self.encoder.norm(x)

    def value(self, enc: torch.Tensor, ue_mask: torch.Tensor) -> torch.Tensor:
        """Critic: the predicted normalized cost of the policy (B,)."""
        valid = ue_mask[..., None].float()
        pooled = (enc[:, 1:] * valid).sum(1) / valid.sum(1).clamp(min=1)  # (B, d)
        return self.critic(torch.cat([enc[:, 0], pooled], dim=-1)).squeeze(-1)

    # ---------------------------------------------------------------- decoder
    def init_cache(self, enc: torch.Tensor, ue_mask: torch.Tensor) -> DecoderCache:
        """Project the encoder output to each decoder layer's cross-attention keys/values once."""
        d, h = self.cfg.d_model, self.cfg.n_heads
        scale = torch.ones(3 * d, device=enc.device, dtype=enc.dtype)
        scale[:d] = 1 / math.sqrt(d // h)  # scores = (scaled q) . k, as attention's q.k/sqrt
        mem_kt, mem_v, layers = [], [], []
        for layer in self.decoder:
            sa, ca = layer.self_attn, layer.multihead_attn
            w, b = ca.in_proj_weight, ca.in_proj_bias
            k = _split(F.linear(enc, w[d:2 * d], b[d:2 * d]), h).transpose(2, 3)
            mem_kt.append(k.contiguous())
            mem_v.append(_split(F.linear(enc, w[2 * d:], b[2 * d:]), h).contiguous())
            layers.append(_LayerWeights(
                _norm_of(layer.norm1),
                ((sa.in_proj_weight * scale[:, None]).t(), sa.in_proj_bias * scale),
                _linear_of(sa.out_proj), _norm_of(layer.norm2),
                ((w[:d] * scale[:d, None]).t(), b[:d] * scale[:d]), _linear_of(ca.out_proj),
                _norm_of(layer.norm3), _linear_of(layer.linear1), _linear_of(layer.linear2),
                layer.activation))
        keep = torch.cat([torch.ones_like(ue_mask[:, :1]), ue_mask], dim=1)  # (B, 1+N)
        bias = None
        if not bool(keep.all()):
            bias = torch.zeros(keep.shape, device=enc.device, dtype=enc.dtype)
            bias = bias.masked_fill(~keep, float("-inf"))[:, None, None, :]
        return DecoderCache(mem_kt, mem_v, bias, layers, _norm_of(self.decoder_norm),
                            _mlp_of(self.mec_embed.net), _linear_of(self.option_key[2]),
                            enc.shape[1] - 1)

    def step(self, x: torch.Tensor, cache: DecoderCache) -> torch.Tensor:
        """One decoding step: the input token (B, d) -> the decoder state (B, d).

        The step's single token is kept as (B, d); with one query position a (B, h, 1, d/h)
        head layout is a plain view of it, and attention is written out (scores, softmax,
        weighted sum): for one query that is fewer operations than the fused kernel's.
        """
        d, h = self.cfg.d_model, self.cfg.n_heads
        B, dh = x.shape[0], d // h
        y = x
        for i, w in enumerate(cache.layers):
            # Self-attention over this and all earlier decisions (cached keys/values). The
            # head products are the batched matmuls that `@` would run, called directly.
            z = torch.layer_norm(y, *w.norm1)
            q, k, v = _affine(z, *w.qkv).view(B, 3, h, dh).unbind(1)  # (B, h, d/h)
            kt, v = cache.extend(i, k, v)  # (B, h, d/h, T), (B, h, T, d/h)
            T = kt.shape[3]
            p = torch.softmax(torch.bmm(q.reshape(B * h, 1, dh), kt.reshape(B * h, dh, T)), -1)
            out = torch.bmm(p, v.reshape(B * h, T, dh))  # (B h, 1, d/h)
            y = y + _affine(out.view(B, d), *w.out1)
            # Encoder-decoder attention (cached memory keys/values, padding masked).
            q = _affine(torch.layer_norm(y, *w.norm2), *w.q2).view(B * h, 1, dh)
            scores = torch.bmm(q, cache.mem_kt[i])  # (B h, 1, 1+N)
            if cache.mem_bias is not None:
                scores = (scores.view(B, h, 1, -1) + cache.mem_bias).view(B * h, 1, -1)
            out = torch.bmm(torch.softmax(scores, dim=-1), cache.mem_v[i])
            y = y + _affine(out.view(B, d), *w.out2)
            y = y + _affine(w.activation(_affine(torch.layer_norm(y, *w.norm3), *w.ff1)),
                            *w.ff2)
        cache.t += 1
        return torch.layer_norm(y, *cache.final_norm)  # (B, d)

    # ------------------------------------------------------------------ heads
    def split_key_layer(self, static_columns: tuple[int, ...], dynamic_columns: tuple[int, ...]
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The option-key MLP's first layer, a linear map, split by input columns: (weight of
        the static columns, bias, weight of the dynamic ones). rollout.py projects the columns
        that are fixed for a UE once per decode and adds the projection of the others at every
        step, which is the same layer applied to all columns."""
        first = self.option_key[0]
        return (first.weight[:, list(static_columns)], first.bias,
                first.weight[:, list(dynamic_columns)])

    @staticmethod
    def keys(hidden: torch.Tensor, cache: DecoderCache) -> torch.Tensor:
        """Per-option keys (B, K, d) from the first layer's output (B, K, d_head), before its
        ReLU (see split_key_layer)."""
        return _affine(torch.relu(hidden), *cache.key_out)

    def logits(self, state: torch.Tensor, keys: torch.Tensor,
               blocked: torch.Tensor) -> torch.Tensor:
        """Softmax head: scores (B, K) of the options; blocked options (B, K) get -inf."""
        s = torch.bmm(keys, state.unsqueeze(2)).squeeze(2) / math.sqrt(self.cfg.d_model)
        s = self.cfg.tanh_clip * torch.tanh(s)
        return s.masked_fill(blocked, float("-inf"))

    def share(self, state: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """Sigmoid head: the UE's share (...) of its chosen server's spare capacity, from the
        decoder state and the chosen option's key (..., d) (any leading shape: rollout.py
        applies it to all steps at once after the loop)."""
        return torch.sigmoid(self.share_head(torch.cat([state, key], dim=-1))).squeeze(-1)

    def decoder_input(self, ue_prompt: torch.Tensor, mec: torch.Tensor,
                      prev_key: torch.Tensor) -> torch.Tensor:
        """The step token: the UE's encoder output plus the prompt vector (ue_prompt, the same
        at every step, so the caller adds them once) + MEC state + previous decision."""
        return ue_prompt + mec + prev_key  # (B, d)


def count_parameters(preset_or_config: str | LamboConfig) -> int:
    """Parameter count, built on the meta device (no memory for the weights)."""
    cfg = PRESETS[preset_or_config] if isinstance(preset_or_config, str) else preset_or_config
    with torch.device("meta"):
        model = Lambo(cfg)
    return sum(p.numel() for p in model.parameters())
