"""The LAMBO policy rollout, and the exact costs of its assignments.

`rollout` runs the encoder once, repeats its output for `samples` decodes per batch row,
and then decides one UE per step in each row's order (features.decoding_order). At every
step: the environment's mask and features of the servers' current state (env.OffloadEnv),
the step token, one decoder step, the option keys, the masked softmax, the decoding
strategy's choice (strategies: greedy, sampling, forced) and the environment's update.

`costs` evaluates whole batches with mecopt.evaluate_batch (exact, water-filled);
`share_targets` and `spare_share_allocation` read the sigmoid head against and into
allocations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mecopt.evaluation import evaluate_batch
from mecopt.learned.deadline import check_deadline
from mecopt.learned.env import DYNAMIC_COLUMNS, STATIC_COLUMNS, OffloadEnv
from mecopt.learned.features import Batch
from mecopt.learned.model import DecoderCache, Lambo, MECEmbedding
from mecopt.learned.numpy_decode import numpy_loop, runs_in_numpy
from mecopt.learned.strategies import Greedy, Strategy
from mecopt.learned.threads import torch_threads


@dataclass
class Rollout:
    """What `rollout` returns: R = B * samples decodes; decode r belongs to batch row
    r // samples."""

    assignment: torch.Tensor  # (R, N) long, 0 = local, j = server j (padding: 0)
    log_prob: torch.Tensor  # (R,) sum of the chosen options' log-probabilities
    step_log_prob: torch.Tensor  # (R, N) each UE's chosen option's log-probability (UE order)
    entropy: torch.Tensor  # (R,) sum of the per-step entropies
    share: torch.Tensor  # (R, N) sigmoid head: share of the server's spare capacity
    feasible: torch.Tensor  # (R,) bool: no UE ran out of options
    value: torch.Tensor  # (B,) critic prediction of the normalized cost
    samples: int


def rollout(model: Lambo, batch: Batch, strategy: Strategy | None = None, *,
            samples: int = 1, stats: bool = True,
            encoder_threads: int | None = None, loop: str = "auto",
            deadline: float | None = None) -> Rollout:
    """Decode every batch row `samples` times with `strategy` (default: Greedy()).

    stats=False skips what only training and ALEF read (log_prob, step_log_prob and
    entropy are then zeros). The decoder's cache, the option keys' static part and every
    per-UE input are prepared before the loop, so a step runs only what depends on the
    servers' state (the fused step; tests/test_lambo_model.py pins its decisions).
    `encoder_threads`: torch CPU threads for the encoder alone (None: as set); its one large
    pass splits over cores where the steps' small operations do not.
    `loop`: "torch", "numpy" (numpy_decode.py: without gradients only), or "auto", numpy
    where it is faster (numpy_decode.runs_in_numpy); both make the same decisions.
    `deadline`: a time.perf_counter() value; the rollout raises DecodeTimeout when it is
    reached before the last step (checked after the encoder and at every step, so a decode
    of thousands of UEs on a busy machine keeps a solve's time limit).
    """
    strategy = Greedy() if strategy is None else strategy
    enc, prompt = _encode(model, batch, encoder_threads)  # (B, 1+N, d), (B, d)
    check_deadline(deadline)
    value = model.value(enc, batch.ue_mask)  # (B,)
    env = OffloadEnv(batch, samples)
    rows = env.rows
    R, dev = len(rows), rows.device
    cache = model.init_cache(enc[rows], batch.ue_mask[rows])
    ue_prompt_s = env.by_step(enc[:, 1:]) + prompt[rows][:, None]  # (R, N, d)
    pool = MECEmbedding.pool_weights(env.servers)[:, None]  # (R, 1, K), 0 for local, padding
    w_static, b_key, w_dynamic = model.split_key_layer(STATIC_COLUMNS, DYNAMIC_COLUMNS)
    key_static_s = F.linear(env.static_features, w_static, b_key)  # (R, N, K, d_head)
    if loop == "numpy" and torch.is_grad_enabled():
        raise ValueError("the numpy loop decodes without gradients only")
    if loop == "numpy" or loop == "auto" and runs_in_numpy(model, R, dev):
        actions, states, keys, feasible, step_logp, entropy = numpy_loop(
            model, env, cache, ue_prompt_s, pool, key_static_s, w_dynamic, stats,
            None if isinstance(strategy, Greedy) else strategy, samples, deadline)
    else:
        actions, states, keys, step_logp, entropy = _decode_loop(
            model, env, cache, strategy, samples, stats, ue_prompt_s, pool, key_static_s,
            w_dynamic, deadline)
        feasible = env.feasible()
    # The sigmoid head does not feed back into the rollout, so it runs once on every step.
    share = model.share(states, keys)  # (R, N)
    if env.padded:
        share = share * env.live
    return Rollout(env.to_ue_order(actions), step_logp.sum(1), env.to_ue_order(step_logp),
                   entropy, env.to_ue_order(share), feasible, value, samples)


def _decode_loop(model: Lambo, env: OffloadEnv, cache: DecoderCache, strategy: Strategy,
                 samples: int, stats: bool, ue_prompt_s: torch.Tensor, pool: torch.Tensor,
                 key_static_s: torch.Tensor, w_dynamic: torch.Tensor,
                 deadline: float | None = None) -> tuple[torch.Tensor, ...]:
    """rollout's steps in torch: (actions (R, N) by step, decoder states (R, N, d), chosen
    keys (R, N, d), step log-probabilities (R, N) (zeros without stats), entropy (R,)).
    Raises DecodeTimeout at a step that starts past `deadline`."""
    R = len(env.rows)
    ar = torch.arange(R, device=env.rows.device)
    strategy.start(samples, env.order)
    actions, decoder_states, chosen_keys, step_logp = [], [], [], []
    entropy = torch.zeros(R, device=ar.device)
    prev_key = model.start.expand(R, -1)
    per_step = zip(env.steps(), key_static_s.unbind(1), ue_prompt_s.unbind(1), strict=True)
    for t, (step, key_static, ue_prompt) in enumerate(per_step):
        check_deadline(deadline)
        blocked = env.blocked(step)
        dynamic, mec = env.observe(step, blocked)
        x = model.decoder_input(ue_prompt, MECEmbedding.pooled(mec, pool, cache.mec_net),
                                prev_key)
        h = model.step(x, cache)  # (R, d)
        keys = model.keys(key_static + F.linear(dynamic, w_dynamic), cache)  # (R, K, d)
        logits = model.logits(h, keys, blocked)  # (R, K)
        logp = torch.log_softmax(logits, dim=1) if stats else None
        a = strategy.choose(t, logits, logp, blocked)
        key = keys[ar, a]  # (R, d)
        a = env.step(a, step)
        if stats:
            step_logp.append(env.live_only(logp[ar, a], step))
            step_ent = (logp.exp() * logp.masked_fill(blocked, 0)).sum(1)
            entropy = entropy - env.live_only(step_ent, step)
        decoder_states.append(h)
        chosen_keys.append(key)
        actions.append(a)
        prev_key = key
    step_logp = torch.stack(step_logp, 1) if stats else torch.zeros(R, len(actions),
                                                                    device=ar.device)
    return (torch.stack(actions, 1), torch.stack(decoder_states, 1),
            torch.stack(chosen_keys, 1), step_logp, entropy)


def _encode(model: Lambo, batch: Batch, threads: int | None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """model.encode of the batch, on `threads` torch CPU threads (None: as set)."""
    with torch_threads(threads):
        return model.encode(batch.ue, batch.pair, batch.server, batch.ue_mask, batch.srv_mask,
                            batch.prompt_ids)


def costs(batch: Batch, decoded: Rollout) -> tuple[np.ndarray, np.ndarray]:
    """Exact water-filled objective values (R,) (inf where infeasible) and the water-filled
    allocations (R, N) [Hz], via mecopt.evaluate_batch, one call per batch row."""
    P = decoded.samples
    a = decoded.assignment.cpu().numpy()
    R, N = a.shape
    value = np.full(R, np.inf)
    alloc = np.zeros((R, N))
    flagged = decoded.feasible.cpu().numpy()
    for b, (inst, obj) in enumerate(zip(batch.instances, batch.objectives, strict=True)):
        block = slice(b * P, (b + 1) * P)
        ev = evaluate_batch(inst, a[block, : inst.n_ues])
        ok = ev.feasible & flagged[block]
        value[block] = np.where(ok, ev.value(obj), np.inf)
        alloc[block, : inst.n_ues] = ev.allocation_hz
    return value, alloc


def _own_and_used(batch: Batch, decoded: Rollout) -> tuple[torch.Tensor, ...]:
    """On the CPU: (batch row (R,) of each decode, assignment (R, N), server index (R, N)
    (0 for local UEs too), each UE's own f_min there (R, N) (0 on local), the f_min sum per
    server (R, M))."""
    rows = torch.arange(len(batch.instances)).repeat_interleave(decoded.samples)
    a = decoded.assignment.cpu()
    f_min = batch.f_min.cpu()[rows]  # (R, N, M)
    j = (a - 1).clamp(min=0)
    own = f_min.gather(2, j[..., None]).squeeze(2) * (a > 0)  # (R, N)
    used = torch.zeros(len(rows), f_min.shape[2], dtype=torch.float64).scatter_add_(1, j, own)
    return rows, a, j, own, used


def share_targets(batch: Batch, decoded: Rollout, alloc: np.ndarray) -> torch.Tensor:
    """What the sigmoid head should say: each offloaded UE's part of its server's spare
    capacity (F_j minus the f_min of its UEs) in the water-filled allocation; NaN where
    undefined (local UEs, padding, servers without spare capacity)."""
    rows, a, j, own, used = _own_and_used(batch, decoded)
    cap = batch.capacity.cpu()[rows]  # (R, M)
    spare_i = (cap - used).gather(1, j)
    target = (torch.from_numpy(alloc) - own) / spare_i
    good = (a > 0) & (spare_i > 1e-9 * cap.gather(1, j))
    return torch.where(good, target.clamp(0, 1), torch.full_like(target, float("nan"))).float()


def spare_share_allocation(batch: Batch, decoded: Rollout) -> np.ndarray:
    """Allocations (R, N) [Hz] from the sigmoid head: f_min plus the UE's share of its
    server's spare capacity, shares normalized over the server's UEs (always feasible)."""
    rows, a, j, own, used = _own_and_used(batch, decoded)
    off = a > 0
    spare = (batch.capacity.cpu()[rows] - used).clamp(min=0)
    s = decoded.share.detach().cpu().double().clamp(min=1e-6) * off
    total = torch.zeros_like(used).scatter_add_(1, j, s)
    part = s / total.gather(1, j).clamp(min=1e-300)
    return (own + part * spare.gather(1, j) * off).numpy()
