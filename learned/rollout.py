"""Batched decoding with the LAMBO network, and the exact costs of decoded assignments.

`decode` runs the encoder once, repeats its output for `samples` decodes per row, and then
decides one UE per step in each row's order (features.decoding_order). At every step:
the MEC embedding of the servers' current state, the step token, one decoder step, the
option keys and the masked softmax. An option is masked when it cannot meet the UE's
deadline on its own, or when the server's remaining capacity (capacity minus the f_min of
the UEs already there) cannot hold the UE's f_min, so every decoded assignment is feasible
once water-filled. A UE with no option left makes its row infeasible (it is put on local
and the row is flagged).

`costs` evaluates whole batches with mecopt.evaluate_batch (exact, water-filled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mecopt.evaluation import evaluate_batch
from mecopt.learned.features import N_OPTION, Batch
from mecopt.learned.model import Lambo

CAPACITY_RTOL = 1e-12  # the same slack as greedy / waterfill: load + f_min <= F (1 + rtol)


@dataclass
class Decoded:
    """R = B * samples decodes; row r belongs to batch row r // samples."""

    assignment: torch.Tensor  # (R, N) long, 0 = local, j = server j (padding: 0)
    log_prob: torch.Tensor  # (R,) sum of the chosen options' log-probabilities
    step_log_prob: torch.Tensor  # (R, N) each UE's chosen option's log-probability (UE order)
    entropy: torch.Tensor  # (R,) sum of the per-step entropies
    share: torch.Tensor  # (R, N) sigmoid head: share of the server's spare capacity
    feasible: torch.Tensor  # (R,) bool: no UE ran out of options
    value: torch.Tensor  # (B,) critic prediction of the normalized cost
    samples: int


# Features (N_OPTION) of every option of the UE being decided:
#   0 is-local; 1 lat; 2 lat minus the best allowed option; 3 energy; 4 energy minus the
#   best allowed option; 5 f_min / remaining capacity; 6 remaining / F; 7 F / mean F;
#   8 t_tx / T; 9 steps left; 10 demand of the UEs that must still offload / remaining
#   capacity.
# lat is the marginal latency / T (local: t_loc / T), where a server's marginal is
# t_tx + ((S + sqrt C)^2 - S^2) / F with S the sum of sqrt C already there (the exact
# compute-time increase when no deadline binds); energy is log(energy / e_loc).
# Columns fixed for a UE are computed once per decode, the others at every step.
STATIC_COLUMNS = (0, 3, 7, 8, 9)
DYNAMIC_COLUMNS = (1, 2, 4, 5, 6, 10)


def static_option_features(energy: torch.Tensor, tx: torch.Tensor, cap: torch.Tensor,
                           cap_mean: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """The STATIC_COLUMNS of every step's option features (R, N, K, N_OPTION) float32; the
    DYNAMIC_COLUMNS are zero. Inputs per decoding step: energy (R, N, K) log(energy /
    e_loc), local 0; tx (R, N, K) t_tx / T, local 0; cap (R, M) [Hz]; cap_mean (R, 1);
    left (R, N) fraction of the row's steps left."""
    R, N, K = energy.shape
    out = torch.zeros(R, N, K, N_OPTION, dtype=torch.float32, device=energy.device)
    out[..., 0, 0] = 1
    out[..., 3] = (energy.clamp(-6, 6) / 3).float()
    out[..., 1:, 7] = (cap / cap_mean)[:, None].float()
    out[..., 8] = tx.float()
    out[..., 9] = left[..., None].float()
    return out


def dynamic_option_features(lat: torch.Tensor, energy: torch.Tensor, allowed: torch.Tensor,
                            f_min: torch.Tensor, rem: torch.Tensor, cap: torch.Tensor,
                            pressure: torch.Tensor) -> torch.Tensor:
    """The DYNAMIC_COLUMNS (R, K, 6) float32 of one step's option features. Inputs per row:
    lat, energy (R, K) as above; allowed (R, K); f_min, rem, cap (R, M) [Hz];
    pressure (R,)."""
    big = torch.finfo(lat.dtype).max
    blocked = ~allowed
    lat_best = lat.masked_fill(blocked, big).amin(1, keepdim=True)
    en_best = energy.masked_fill(blocked, big).amin(1, keepdim=True)
    return torch.stack([
        lat.clamp(max=3),
        (lat - lat_best).clamp(0, 3),
        (energy - en_best).clamp(0, 6) / 3,
        F.pad((f_min / rem.clamp(min=1.0)).clamp(max=1), (1, 0)),  # local: 0
        F.pad(rem / cap, (1, 0)),
        pressure.clamp(max=5)[:, None].expand_as(lat),
    ], dim=2).float()


def decode(model: Lambo, batch: Batch, samples: int = 1, sample: bool = False,
           forced: torch.Tensor | None = None,
           generator: torch.Generator | None = None, temperature: float = 1.0,
           stats: bool = True) -> Decoded:
    """Decode every row `samples` times: greedily (argmax), by sampling, or teacher-forced.

    forced: (B * samples, N) assignments to follow (imitation); the log-probabilities are
    those of the forced options (a masked forced option is replaced by an allowed one).
    temperature: divides the logits when sampling (the log-probabilities stay those of the
    policy itself). stats=False skips what only training and ALEF read (log_prob,
    step_log_prob and entropy are then zeros).
    Per-UE data is permuted into decoding order once, so a step only slices column t; what
    does not depend on the servers' state is computed before the loop, because on a CPU a
    step's time is mostly the fixed cost of each small tensor operation.
    """
    B, N = batch.order.shape
    M = batch.capacity.shape[1]
    K = M + 1
    dev = batch.order.device
    enc, prompt = model.encode(batch.ue, batch.pair, batch.server, batch.ue_mask,
                               batch.srv_mask, batch.prompt_ids)  # (B, 1+N, d), (B, d)
    value = model.value(enc, batch.ue_mask)  # (B,)
    rows = torch.arange(B, device=dev).repeat_interleave(samples)  # (R,)
    R = len(rows)
    ar = torch.arange(R, device=dev)
    order = batch.order[rows]  # (R, N)

    def by_step(x: torch.Tensor) -> torch.Tensor:
        """(B, N, ...) per UE -> (R, N, ...) per decoding step."""
        x = x[rows]
        idx = order.view(R, N, *([1] * (x.dim() - 2))).expand(R, N, *x.shape[2:])
        return x.gather(1, idx)

    cache = model.init_cache(enc[rows], batch.ue_mask[rows])
    prompt_r = prompt[rows]
    ue_prompt_s = by_step(enc[:, 1:]) + prompt_r[:, None]  # (R, N, d)
    srv_mask = batch.srv_mask[rows]  # (R, M)
    pool = model.mec_embed.pool_weights(srv_mask)  # (R, M)
    no_srv = ~srv_mask
    cap = batch.capacity[rows]  # (R, M) [Hz]
    cap_fit = cap * (1 + CAPACITY_RTOL)
    n_srv = srv_mask.sum(1, keepdim=True)
    cap_mean = (cap * srv_mask).sum(1, keepdim=True) / n_srv  # (R, 1), real servers only
    T_s, C_s = by_step(batch.deadline), by_step(batch.cycles)  # (R, N)
    root_s = C_s.sqrt()
    tloc_s = by_step(batch.t_loc) / T_s  # (R, N)
    ttx_s = by_step(batch.t_tx)  # (R, N, M)
    fmin_s = by_step(batch.f_min)  # (R, N, M)
    ok_s = by_step(batch.option_ok)  # (R, N, K)
    energy_s = torch.cat([torch.zeros_like(T_s[..., None]), by_step(batch.e_ratio).log()],
                         dim=2)  # (R, N, K)
    tx_s = torch.cat([torch.zeros_like(T_s[..., None]), (ttx_s / T_s[..., None]).clamp(max=2)],
                     dim=2)  # (R, N, K)
    # Demand that cannot go local: its cheapest f_min (for the pressure feature).
    must = ~batch.option_ok[:, :, 0]
    cheapest = batch.f_min.masked_fill(~batch.option_ok[:, :, 1:], float("inf")).amin(2)
    need = torch.where(must & torch.isfinite(cheapest), cheapest, torch.zeros_like(cheapest))
    need_s = by_step(need)  # (R, N)
    need_left = need_s.sum(1)  # (R,)
    n_ues = batch.n_ues[rows]
    steps = torch.arange(N, device=dev)
    live_s = steps[None] < n_ues[:, None]  # (R, N)
    padded = not bool(live_s.all())  # without padding the per-step masking is skipped
    left_s = 1 - steps[None] / n_ues[:, None]  # (R, N)
    mean_T = ((batch.deadline * batch.ue_mask).sum(1) / batch.n_ues)[rows][:, None]  # (R, 1)
    static_s = static_option_features(energy_s, tx_s, cap, cap_mean, left_s)
    # What a chosen option adds to its server's load, root sum and count; column 0 (local)
    # collects nothing that is read.
    fmin_k = torch.cat([torch.zeros_like(T_s[..., None]), fmin_s], dim=2)  # (R, N, K)
    root_k = torch.cat([torch.zeros_like(T_s[..., None]),
                        root_s[..., None].expand(R, N, M)], dim=2)  # (R, N, K)
    only_local = torch.zeros(R, K, dtype=torch.bool, device=dev)
    only_local[:, 0] = True
    local_ok = torch.ones(R, 1, dtype=torch.bool, device=dev)

    f64 = dict(dtype=torch.float64, device=dev)
    load_k = torch.zeros(R, K, **f64)  # sum of f_min per option (column j = server j)
    root_sum_k = torch.zeros(R, K, **f64)  # sum of sqrt C per option
    count_k = torch.zeros(R, K, **f64)
    load, root_sum, count = load_k[:, 1:], root_sum_k[:, 1:], count_k[:, 1:]  # views
    actions = torch.zeros(R, N, dtype=torch.long, device=dev)  # per step
    shares = torch.zeros(R, N, device=dev)
    step_logp = torch.zeros(R, N, device=dev)  # per step
    entropy = torch.zeros(R, device=dev)
    feasible = torch.ones(R, dtype=torch.bool, device=dev)
    forced_s = None if forced is None else forced.gather(1, order)
    prev_key = model.start.expand(R, -1)
    for t in range(N):
        f_min = fmin_s[:, t]  # (R, M)
        fits = load + f_min <= cap_fit
        allowed = ok_s[:, t] & torch.cat([local_ok, fits & srv_mask], 1)
        stuck = ~allowed.any(1)
        if padded:  # padding steps run but change nothing
            live = live_s[:, t]
            stuck &= live
            dead = stuck | ~live
        else:
            dead = stuck
        feasible &= ~stuck
        # A placeholder move on local; the row is flagged if stuck.
        allowed = torch.where(dead[:, None], only_local, allowed)
        rem = (cap - load).clamp(min=0)
        pressure = need_left / rem.masked_fill(no_srv, 0).sum(1).clamp(min=1.0)
        C, T = C_s[:, t, None], T_s[:, t, None]
        lat = torch.cat([tloc_s[:, t, None],
                         (ttx_s[:, t] + (2 * root_sum * root_s[:, t, None] + C) / cap) / T],
                        dim=1)
        opts = static_s[:, t].clone()
        opts[..., DYNAMIC_COLUMNS] = dynamic_option_features(lat, energy_s[:, t], allowed,
                                                             f_min, rem, cap, pressure)
        mec = torch.stack([rem / cap, root_sum ** 2 / cap / mean_T, count / n_ues[:, None],
                           rem / cap_mean], dim=2)  # (R, M, N_MEC)
        x = model.decoder_input(ue_prompt_s[:, t], model.mec_embed(mec.float(), pool), prev_key)
        state = model.step(x, cache)  # (R, d)
        keys = model.keys(opts)  # (R, K, d)
        logits = model.logits(state, keys, allowed)  # (R, K)
        logp = torch.log_softmax(logits, dim=1) if stats else None
        if forced_s is not None:
            a = forced_s[:, t]
            # A masked forced option (a row with no label) falls back to an allowed one;
            # callers give such rows no weight.
            a = torch.where(allowed[ar, a], a, allowed.float().argmax(1))
        elif sample:
            p = torch.softmax(logits / temperature, 1) if temperature != 1.0 or logp is None \
                else logp.exp()
            a = torch.multinomial(p, 1, generator=generator).squeeze(1)
        else:
            a = logits.argmax(1)
        key = keys[ar, a]  # (R, d)
        share = model.share(state, key)
        if padded:
            a = a * live
            share = share * live
            need_left = need_left - need_s[:, t] * live
        else:
            need_left = need_left - need_s[:, t]
        if stats:
            chosen = logp[ar, a]
            step_ent = (logp.exp() * logp.masked_fill(~allowed, 0)).sum(1)
            if padded:
                chosen, step_ent = chosen * live, step_ent * live
            step_logp[:, t] = chosen
            entropy = entropy - step_ent
        shares[:, t] = share
        actions[:, t] = a
        col = a[:, None]
        load_k.scatter_add_(1, col, fmin_k[:, t].gather(1, col))
        root_sum_k.scatter_add_(1, col, root_k[:, t].gather(1, col))
        count_k[ar, a] += 1
        prev_key = key
    assignment = torch.zeros_like(actions).scatter_(1, order, actions)  # back to UE order
    share = torch.zeros_like(shares).scatter_(1, order, shares)
    step_log_prob = torch.zeros_like(step_logp).scatter(1, order, step_logp)
    return Decoded(assignment, step_logp.sum(1), step_log_prob, entropy, share, feasible,
                   value, samples)


def costs(batch: Batch, decoded: Decoded) -> tuple[np.ndarray, np.ndarray]:
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


def share_targets(batch: Batch, decoded: Decoded, alloc: np.ndarray) -> torch.Tensor:
    """What the sigmoid head should say: each offloaded UE's part of its server's spare
    capacity (F_j minus the f_min of its UEs) in the water-filled allocation; NaN where
    undefined (local UEs, padding, servers without spare capacity)."""
    rows = torch.arange(len(batch.instances)).repeat_interleave(decoded.samples)
    a = decoded.assignment.cpu()
    R, N = a.shape
    f_min = batch.f_min.cpu()[rows]  # (R, N, M)
    j = (a - 1).clamp(min=0)
    own = f_min.gather(2, j[..., None]).squeeze(2) * (a > 0)  # (R, N)
    M = f_min.shape[2]
    used = torch.zeros(R, M, dtype=torch.float64).scatter_add_(1, j, own)
    spare = batch.capacity.cpu()[rows] - used  # (R, M)
    spare_i = spare.gather(1, j)
    target = (torch.from_numpy(alloc) - own) / spare_i
    good = (a > 0) & (spare_i > 1e-9 * batch.capacity.cpu()[rows].gather(1, j))
    return torch.where(good, target.clamp(0, 1), torch.full_like(target, float("nan"))).float()


def sigmoid_allocation(batch: Batch, decoded: Decoded) -> np.ndarray:
    """Allocations (R, N) [Hz] from the sigmoid head: f_min plus the UE's share of its
    server's spare capacity, shares normalized over the server's UEs (always feasible)."""
    rows = torch.arange(len(batch.instances)).repeat_interleave(decoded.samples)
    a = decoded.assignment.cpu()
    f_min = batch.f_min.cpu()[rows]
    j = (a - 1).clamp(min=0)
    off = a > 0
    own = f_min.gather(2, j[..., None]).squeeze(2) * off
    M = f_min.shape[2]
    used = torch.zeros(len(rows), M, dtype=torch.float64).scatter_add_(1, j, own)
    spare = (batch.capacity.cpu()[rows] - used).clamp(min=0)
    s = decoded.share.detach().cpu().double().clamp(min=1e-6) * off
    total = torch.zeros_like(used).scatter_add_(1, j, s)
    part = s / total.gather(1, j).clamp(min=1e-300)
    return (own + part * spare.gather(1, j) * off).numpy()

