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
from mecopt.learned.model import Lambo, MECEmbedding

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
# Columns fixed for a UE are computed (and projected by the option-key layer) once per
# decode, the others at every step.
STATIC_COLUMNS = (0, 3, 7, 8, 9)
DYNAMIC_COLUMNS = (1, 2, 4, 5, 6, 10)
assert sorted(STATIC_COLUMNS + DYNAMIC_COLUMNS) == list(range(N_OPTION)), "option columns drifted"


def static_option_features(energy: torch.Tensor, tx: torch.Tensor, cap: torch.Tensor,
                           cap_mean: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """The STATIC_COLUMNS, in that order, of every step's option features (R, N, K, 5)
    float32. Inputs per decoding step: energy (R, N, K) log(energy / e_loc), local 0;
    tx (R, N, K) t_tx / T, local 0; cap (R, M) [Hz]; cap_mean (R, 1); left (R, N) fraction
    of the row's steps left."""
    R, N, K = energy.shape
    out = torch.zeros(R, N, K, len(STATIC_COLUMNS), dtype=torch.float32, device=energy.device)
    out[..., 0, 0] = 1
    out[..., 1] = (energy.clamp(-6, 6) / 3).float()
    out[..., 1:, 2] = (cap / cap_mean)[:, None].float()
    out[..., 3] = tx.float()
    out[..., 4] = left[..., None].float()
    return out


def _dynamic_bounds(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(low, high): the clamps of the DYNAMIC_COLUMNS (lat <= 3; lat minus best in [0, 3];
    energy/3 minus best in [0, 2]; f_min / remaining <= 1; remaining / F; pressure <= 5), as
    tensors so that one clamp applies them all."""
    inf = float("inf")
    f64 = dict(dtype=torch.float64, device=device)
    return (torch.tensor([-inf, 0, 0, -inf, -inf, -inf], **f64),
            torch.tensor([3, 3, 2, 1, inf, 5], **f64))


def dynamic_option_features(lat: torch.Tensor, energy3: torch.Tensor, allowed: torch.Tensor,
                            f_min: torch.Tensor, rem: torch.Tensor, rem_over_cap: torch.Tensor,
                            pressure: torch.Tensor,
                            bounds: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The DYNAMIC_COLUMNS, in that order, (R, K, 6) float32 of one step's option features.
    Inputs per row and option (local = column 0): lat (R, K); energy3 (R, K) log(energy /
    e_loc) / 3; allowed (R, K); f_min, rem (R, K) [Hz], local 0 and 1; rem_over_cap (R, K),
    local 0; pressure (R,); bounds from _dynamic_bounds."""
    big = torch.finfo(lat.dtype).max
    blocked = ~allowed
    lat_best = lat.masked_fill(blocked, big).amin(1, keepdim=True)
    en_best = energy3.masked_fill(blocked, big).amin(1, keepdim=True)
    raw = torch.stack([lat, lat - lat_best, energy3 - en_best, f_min / rem.clamp(min=1.0),
                       rem_over_cap, pressure[:, None].expand_as(lat)], dim=2)
    return raw.clamp(*bounds).float()


def decode(model: Lambo, batch: Batch, samples: int = 1, sample: bool = False,
           forced: torch.Tensor | None = None,
           generator: torch.Generator | None = None, temperature: float = 1.0,
           stats: bool = True, greedy_first: bool = False) -> Decoded:
    """Decode every row `samples` times: greedily (argmax), by sampling, or teacher-forced.

    forced: (B * samples, N) assignments to follow (imitation); the log-probabilities are
    those of the forced options (a masked forced option is replaced by an allowed one).
    temperature: divides the logits when sampling (the log-probabilities stay those of the
    policy itself). stats=False skips what only training and ALEF read (log_prob,
    step_log_prob and entropy are then zeros).
    greedy_first: with `sample`, each row's first decode is greedy and the others sampled,
    all in one pass (best of k costs one decode, not a greedy one and a sampled one).
    On a CPU a step's time is mostly the fixed cost of each small tensor operation, so the
    loop does as few as it can: per-UE data is permuted into decoding order and split by
    step once; what does not depend on the servers' state is computed before the loop; the
    servers' state is kept per option (column 0 = local, which collects nothing that is
    read), so that no step has to add or drop the local column.
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

    def with_local(local: torch.Tensor | float, servers: torch.Tensor) -> torch.Tensor:
        """(..., M) per server -> (..., K) per option, `local` in column 0."""
        if not isinstance(local, torch.Tensor):
            local = torch.full_like(servers[..., :1], local)
        return torch.cat([local.expand(*servers.shape[:-1], 1), servers], dim=-1)

    f64 = dict(dtype=torch.float64, device=dev)
    cache = model.init_cache(enc[rows], batch.ue_mask[rows])
    ue_prompt_s = by_step(enc[:, 1:]) + prompt[rows][:, None]  # (R, N, d)
    srv_mask = batch.srv_mask[rows]  # (R, M)
    srv_k = with_local(False, srv_mask)  # (R, K) real servers
    pool = MECEmbedding.pool_weights(srv_k)  # (R, K), 0 for local and padding
    cap = batch.capacity[rows]  # (R, M) [Hz]
    cap_k = with_local(1.0, cap)  # local's 1 keeps its remaining capacity at 1 (unread)
    cap_fit_k = with_local(float("inf"), cap * (1 + CAPACITY_RTOL))  # local always fits
    inv_cap_k = with_local(0.0, 1 / cap)  # local's remaining / F is 0
    cap_mean = (cap * srv_mask).sum(1, keepdim=True) / srv_mask.sum(1, keepdim=True)
    T_s, C_s = by_step(batch.deadline), by_step(batch.cycles)  # (R, N)
    root_s = C_s.sqrt()
    ttx_s = by_step(batch.t_tx)  # (R, N, M)
    fmin_k = with_local(0.0, by_step(batch.f_min))  # (R, N, K)
    # The options allowed before capacity: deadline-meeting, on a real server.
    ok_k = by_step(batch.option_ok) & with_local(True, srv_mask)[:, None]  # (R, N, K)
    energy_s = with_local(0.0, by_step(batch.e_ratio).log())  # (R, N, K)
    tx_s = with_local(0.0, (ttx_s / T_s[..., None]).clamp(max=2))  # (R, N, K)
    # lat (see the features above) = lat0 + S * lat1, S the option's sum of sqrt C so far.
    cap_T = cap[:, None] * T_s[..., None]  # (R, N, M)
    lat0_k = with_local((by_step(batch.t_loc) / T_s)[..., None],
                        ttx_s / T_s[..., None] + C_s[..., None] / cap_T)
    lat1_k = with_local(0.0, 2 * root_s[..., None] / cap_T)
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
    w_static, b_key, w_dynamic = model.split_key_layer(STATIC_COLUMNS, DYNAMIC_COLUMNS)
    key_static_s = F.linear(static_option_features(energy_s, tx_s, cap, cap_mean, left_s),
                            w_static, b_key)  # (R, N, K, d_head)
    bounds = _dynamic_bounds(dev)
    # The MEC features per option: remaining / F, compute time there / mean T, UEs there /
    # N, remaining / mean F, as [remaining / F, S^2, count, remaining] times these scales.
    mec_scale = torch.stack([torch.ones_like(inv_cap_k), inv_cap_k / mean_T,
                             (1 / n_ues.double())[:, None].expand(R, K),
                             (1 / cap_mean).expand(R, K)], dim=2)  # (R, K, N_MEC)
    # What a chosen option adds to its (load, sum of sqrt C, count); local adds nothing read.
    add_s = torch.stack([fmin_k, with_local(0.0, root_s[..., None].expand(R, N, M)),
                         torch.ones_like(fmin_k)], dim=3)  # (R, N, K, 3)
    only_local = with_local(True, torch.zeros(R, M, dtype=torch.bool, device=dev))

    per_option = torch.zeros(R, K, 3, **f64)  # the servers' state: load (f_min sum), S, count
    load_k, root_sum_k, count_k = per_option.unbind(2)  # views, updated in place
    actions, decoder_states, chosen_keys, step_logp, stuck_at = [], [], [], [], []
    entropy = torch.zeros(R, device=dev)
    forced_s = None if forced is None else forced.gather(1, order).unbind(1)
    prev_key = model.start.expand(R, -1)
    greedy_rows = (ar % samples == 0) if sample and greedy_first else None
    per_step = zip(fmin_k.unbind(1), ok_k.unbind(1), lat0_k.unbind(1), lat1_k.unbind(1),
                   (energy_s / 3).unbind(1), key_static_s.unbind(1), ue_prompt_s.unbind(1),
                   add_s.unbind(1), need_s.unbind(1), live_s.unbind(1), strict=True)
    for t, (f_min, ok, lat0, lat1, energy3, key_static, ue_prompt, add, need_t, live) \
            in enumerate(per_step):
        allowed = ok & (load_k + f_min <= cap_fit_k)
        stuck = ~allowed.any(1)
        if padded:  # padding steps run but change nothing
            stuck &= live
            dead = stuck | ~live
        else:
            dead = stuck
        stuck_at.append(stuck)
        # A placeholder move on local; the row is flagged if stuck.
        allowed = torch.where(dead[:, None], only_local, allowed)
        rem = (cap_k - load_k).clamp(min=0)
        rem_over_cap = rem * inv_cap_k
        pressure = need_left / (rem * srv_k).sum(1).clamp(min=1.0)
        lat = torch.addcmul(lat0, root_sum_k, lat1)
        dynamic = dynamic_option_features(lat, energy3, allowed, f_min, rem, rem_over_cap,
                                          pressure, bounds)
        mec = torch.stack([rem_over_cap, root_sum_k ** 2, count_k, rem], dim=2) * mec_scale
        x = model.decoder_input(ue_prompt, MECEmbedding.pooled(mec.float(), pool, cache.mec_net),
                                prev_key)
        h = model.step(x, cache)  # (R, d)
        keys = model.keys(key_static + F.linear(dynamic, w_dynamic), cache)  # (R, K, d)
        logits = model.logits(h, keys, allowed)  # (R, K)
        logp = torch.log_softmax(logits, dim=1) if stats else None
        if forced_s is not None:
            a = forced_s[t]
            # A masked forced option (a row with no label) falls back to an allowed one;
            # callers give such rows no weight.
            a = torch.where(allowed[ar, a], a, allowed.float().argmax(1))
        elif sample:
            p = torch.softmax(logits / temperature, 1) if temperature != 1.0 or logp is None \
                else logp.exp()
            a = torch.multinomial(p, 1, generator=generator).squeeze(1)
            if greedy_rows is not None:
                a = torch.where(greedy_rows, logits.argmax(1), a)
        else:
            a = logits.argmax(1)
        key = keys[ar, a]  # (R, d)
        if padded:
            a = a * live
            need_left = need_left - need_t * live
        else:
            need_left = need_left - need_t
        if stats:
            chosen = logp[ar, a]
            step_ent = (logp.exp() * logp.masked_fill(~allowed, 0)).sum(1)
            if padded:
                chosen, step_ent = chosen * live, step_ent * live
            step_logp.append(chosen)
            entropy = entropy - step_ent
        decoder_states.append(h)
        chosen_keys.append(key)
        actions.append(a)
        col = a.view(R, 1, 1).expand(R, 1, 3)
        per_option.scatter_add_(1, col, add.gather(1, col))
        prev_key = key
    feasible = ~torch.stack(stuck_at, 1).any(1)
    # Back to UE order.
    assignment = torch.zeros(R, N, dtype=torch.long, device=dev).scatter_(
        1, order, torch.stack(actions, 1))
    # The sigmoid head does not feed back into the decode, so it runs once on every step.
    share = model.share(torch.stack(decoder_states, 1), torch.stack(chosen_keys, 1))  # (R, N)
    if padded:
        share = share * live_s
    share = torch.zeros(R, N, device=dev).scatter_(1, order, share)
    step_logp = torch.stack(step_logp, 1) if stats else torch.zeros(R, N, device=dev)
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

