"""The decode loop in numpy: the same steps as rollout.rollout's, for inference on the CPU
with few rows.

A decode step runs about 95 small operations. With one to a few rows each costs the fixed
price of a torch call (3-7 us on this project's CPU) more than its arithmetic, and a numpy
call costs about 1 us, so the same loop in numpy takes a single decode to about 0.6 times
the torch loop's time (docs/lambo.md, "Speed"). With hundreds of rows the arithmetic
counts and torch's batched kernels win, so `rollout` hands this loop only decodes of at
most NUMPY_MAX_ROWS rows (batch rows x samples) on the CPU without gradients
(`runs_in_numpy`): a `solve` call, best of a few, the polish's decode with its doubt.

Everything before and after the loop stays torch and shared: the encoder, the environment's
layout (env.OffloadEnv, read through `arrays()`), the decoder cache (model.DecoderCache:
encoder keys/values and the step's parameters), the static part of the option keys, and the
sigmoid head applied to every step after the loop. The loop repeats, array for array and in
the same dtypes (float64 state and features, float32 network), OffloadEnv's `blocked`,
`observe` and `step`, Lambo's `decoder_input`, `step`, `keys` and `logits`, the strategy's
choice (Greedy's argmax in numpy, any other strategy's `choose` on torch views of the step's
arrays, so sampling draws from its own generator as in the torch loop) and, when asked, the
statistics; tests/test_numpy_decode.py checks that both loops make the same decisions (and
the same statistics, to float rounding).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from mecopt.learned.deadline import check_deadline
from mecopt.learned.env import OffloadEnv
from mecopt.learned.model import DecoderCache, Lambo
from mecopt.learned.strategies import Strategy

# The most decodes (batch rows x samples) the numpy loop takes. On one thread it decoded 16
# rows of 4 x 50 about 1.2 times as fast as torch; 200 rows, which torch's loop gets two
# threads for, torch decoded 1.6-1.8 times as fast (docs/notes/2026-12-05-numpy-decode.md).
NUMPY_MAX_ROWS = 16


def runs_in_numpy(model: Lambo, rows: int, device: torch.device) -> bool:
    """Whether rollout decodes in numpy: at most NUMPY_MAX_ROWS decodes, on the CPU,
    without gradients, with the decoder's ReLU feed-forward (the presets')."""
    return (rows <= NUMPY_MAX_ROWS and device.type == "cpu" and not torch.is_grad_enabled()
            and all(layer.activation is F.relu for layer in model.decoder))


class Decoded(NamedTuple):
    """What the loop returns, per decoding step (R decodes, N steps)."""

    actions: torch.Tensor  # (R, N) long, padding steps 0
    states: torch.Tensor  # (R, N, d) the decoder states
    keys: torch.Tensor  # (R, N, d) the chosen options' keys
    feasible: torch.Tensor  # (R,) bool: no UE ran out of options
    step_log_prob: torch.Tensor  # (R, N) the chosen options' log-probabilities (zeros
    # without stats; padding steps 0)
    entropy: torch.Tensor  # (R,) the sum of the steps' entropies (zeros without stats)


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def _params(t: tuple) -> tuple:
    """A parameter tuple of DecoderCache (tensors and plain values) with numpy arrays."""
    return tuple(_np(x) if isinstance(x, torch.Tensor) else x for x in t)


def _layer_norm(x: np.ndarray, norm: tuple) -> np.ndarray:
    """torch.layer_norm over the last axis; norm = (shape, weight, bias, eps). The means
    are sums times 1/d: ndarray.mean and ndarray.sum add a Python call each to the ufunc's
    reduce, which costs as much as the arithmetic here."""
    _, weight, bias, eps = norm
    inv_d = np.float32(1 / x.shape[-1])
    centred = x - _sum(x) * inv_d
    var = _sum(centred * centred) * inv_d
    return centred / np.sqrt(var + eps) * weight + bias


def _sum(x: np.ndarray) -> np.ndarray:
    return np.add.reduce(x, axis=-1, keepdims=True)


def _min(x: np.ndarray) -> np.ndarray:
    return np.minimum.reduce(x, axis=-1, keepdims=True)


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - np.maximum.reduce(s, axis=-1, keepdims=True))
    return e / _sum(e)


def _affine(x: np.ndarray, params: tuple) -> np.ndarray:
    """model._affine: x @ weight.t() + bias, from (weight.t(), bias)."""
    return x @ params[0] + params[1]


def numpy_loop(model: Lambo, env: OffloadEnv, cache: DecoderCache, ue_prompt_s: torch.Tensor,
               pool: torch.Tensor, key_static_s: torch.Tensor, w_dynamic: torch.Tensor,
               stats: bool = False, strategy: Strategy | None = None,
               samples: int = 1, deadline: float | None = None) -> Decoded:
    """rollout's loop in numpy, with `strategy` (None: Greedy, whose argmax runs in numpy;
    another strategy's `choose` gets torch views of the step's arrays), `samples` decodes
    per batch row and `stats` as rollout's (the log-probabilities and entropies). The other
    inputs are rollout's, prepared before its loop: ue_prompt_s (R, N, d) each step's
    encoder output plus the prompt; pool (R, 1, K) the MEC pooling weights; key_static_s
    (R, N, K, d_head) the option keys' static part; w_dynamic (d_head, 6) the key layer's
    dynamic columns. Raises DecodeTimeout at a step that starts past `deadline` (a
    time.perf_counter() value)."""
    cfg = model.cfg
    d, h = cfg.d_model, cfg.n_heads
    dh = d // h
    e = env.arrays()
    f_min_s, barred_s, lat0_s, lat1_s, energy3_s, add_s, need_s, live_s = e.steps
    R, N, K = f_min_s.shape
    layers = [type(w)._make(_params(x) if isinstance(x, tuple) else x for x in w)
              for w in cache.layers]  # each layer's _LayerWeights with numpy operands
    mem_kt = [_np(kt).reshape(R, h, dh, -1) for kt in cache.mem_kt]  # (R, h, d/h, 1+N)
    mem_v = [_np(v).reshape(R, h, -1, dh) for v in cache.mem_v]  # (R, h, 1+N, d/h)
    mem_bias = None if cache.mem_bias is None else _np(cache.mem_bias)  # (R, 1, 1, 1+N)
    self_kt = [np.empty((R, h, dh, N), np.float32) for _ in layers]
    self_v = [np.empty((R, h, N, dh), np.float32) for _ in layers]
    final_norm, mec_net = _params(cache.final_norm), _params(cache.mec_net)
    key_out = _params(cache.key_out)
    ue_prompt_s, pool = _np(ue_prompt_s), _np(pool)
    key_static_s, w_dyn = _np(key_static_s), _np(w_dynamic).T
    root_d, clip = np.float32(math.sqrt(d)), np.float32(cfg.tanh_clip)
    big = np.finfo(np.float64).max
    if strategy is not None:
        strategy.start(samples, env.order)

    state = np.zeros((R, K, 3))  # per option: load (f_min sum), S (sum of sqrt C), UE count
    load, root_sum, count = state[..., 0], state[..., 1], state[..., 2]
    need_left = e.need_left.copy()
    prev_key = np.broadcast_to(_np(model.start), (R, d))
    rows = np.arange(R)
    actions = np.zeros((R, N), np.int64)
    states = np.empty((R, N, d), np.float32)
    keys_chosen = np.empty((R, N, d), np.float32)
    stuck_any = np.zeros(R, bool)
    step_logp, entropy = np.zeros((R, N), np.float32), np.zeros(R, np.float32)
    raw, mec_raw = np.empty((R, K, 6)), np.empty((R, K, 4))  # the features before scaling
    for t in range(N):
        check_deadline(deadline)
        f_min, live = f_min_s[:, t], live_s[:, t]
        # OffloadEnv.blocked
        blocked = barred_s[:, t] | (load + f_min > e.cap_fit)
        stuck = np.logical_and.reduce(blocked, axis=1)
        if e.padded:
            stuck &= live
            dead = stuck | ~live
        else:
            dead = stuck
        stuck_any |= stuck
        if dead.any():
            blocked = np.where(dead[:, None], e.all_but_local, blocked)
        # OffloadEnv.observe
        rem = np.maximum(e.cap - load, 0.0)
        rem_over_cap = rem * e.inv_cap
        pressure = need_left / np.maximum(_sum(rem * e.servers), 1.0)
        lat = lat0_s[:, t] + root_sum * lat1_s[:, t]
        energy3 = energy3_s[:, t]
        # The feature columns are written into buffers: np.stack costs several us.
        raw[..., 0] = lat
        np.subtract(lat, _min(np.where(blocked, big, lat)), out=raw[..., 1])
        np.subtract(energy3, _min(np.where(blocked, big, energy3)), out=raw[..., 2])
        np.divide(f_min, np.maximum(rem, 1.0), out=raw[..., 3])
        raw[..., 4] = rem_over_cap
        raw[..., 5] = pressure
        dynamic = np.minimum(np.maximum(raw, e.low), e.high).astype(np.float32)
        mec_raw[..., 0] = rem_over_cap
        np.multiply(root_sum, root_sum, out=mec_raw[..., 1])
        mec_raw[..., 2] = count
        mec_raw[..., 3] = rem
        mec = (mec_raw * e.mec_scale).astype(np.float32)
        # Lambo.decoder_input, with MECEmbedding.pooled
        pooled = (pool @ _affine(np.maximum(_affine(mec, mec_net[:2]), 0), mec_net[2:]))[:, 0]
        y = ue_prompt_s[:, t] + pooled + prev_key
        # Lambo.step
        for i, w in enumerate(layers):
            qkv = _affine(_layer_norm(y, w.norm1), w.qkv).reshape(R, 3, h, dh)
            self_kt[i][..., t] = qkv[:, 1]
            self_v[i][:, :, t] = qkv[:, 2]
            p = _softmax(qkv[:, 0, :, None] @ self_kt[i][..., : t + 1])  # (R, h, 1, t+1)
            y = y + _affine((p @ self_v[i][:, :, : t + 1]).reshape(R, d), w.out1)
            q = _affine(_layer_norm(y, w.norm2), w.q2).reshape(R, h, 1, dh)
            scores = q @ mem_kt[i]  # (R, h, 1, 1+N)
            if mem_bias is not None:
                scores = scores + mem_bias
            y = y + _affine((_softmax(scores) @ mem_v[i]).reshape(R, d), w.out2)
            ff = np.maximum(_affine(_layer_norm(y, w.norm3), w.ff1), 0)
            y = y + _affine(ff, w.ff2)
        state_t = _layer_norm(y, final_norm)  # (R, d)
        # Lambo.keys and Lambo.logits, then the strategy's choice
        keys = _affine(np.maximum(key_static_s[:, t] + dynamic @ w_dyn, 0), key_out)
        logits = clip * np.tanh((keys @ state_t[:, :, None])[..., 0] / root_d)
        logits = np.where(blocked, -np.inf, logits)
        if stats:  # rollout's log-softmax
            shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
            logp = shifted - np.log(_sum(np.exp(shifted)))
        if strategy is None:  # Greedy's argmax
            a = logits.argmax(1)
        else:  # the strategy itself, on views of the arrays
            a = strategy.choose(t, torch.from_numpy(logits),
                                torch.from_numpy(logp) if stats else None,
                                torch.from_numpy(blocked)).numpy()
        prev_key = keys[rows, a]
        # OffloadEnv.step
        if e.padded:
            a = a * live
        if stats:  # the chosen option's log-probability and the entropy, live steps
            step_ent = _sum(np.exp(logp) * np.where(blocked, 0.0, logp))[:, 0]
            step_logp[:, t] = logp[rows, a]
            if e.padded:
                step_logp[:, t] *= live
                step_ent *= live
            entropy -= step_ent
        need_left = need_left - need_s[:, t]
        state[rows, a] += add_s[:, t][rows, a]
        actions[:, t], states[:, t], keys_chosen[:, t] = a, state_t, prev_key
    return Decoded(torch.from_numpy(actions), torch.from_numpy(states),
                   torch.from_numpy(keys_chosen), torch.from_numpy(~stuck_any),
                   torch.from_numpy(step_logp), torch.from_numpy(entropy))
