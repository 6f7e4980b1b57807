"""The environment of the LAMBO rollout: the servers' state while one UE is decided per step.

`OffloadEnv` holds R = B * samples decodes of a Batch (decode r belongs to batch row
r // samples). Everything a step reads is laid out once, before the first step: per UE in
decoding order (features.decoding_order), split by step (`steps()`); per option, column 0 =
local and columns 1..M the servers, so that no step has to add or drop the local column
(local collects state that is never read). The state is each option's load (the sum of the
f_min of its UEs), S (the sum of their sqrt C) and UE count.

At every step (see rollout.rollout):
- `blocked`: an option is masked when it cannot meet the UE's deadline on its own, or
  when the server's remaining capacity (capacity minus the f_min of the UEs already there)
  cannot hold the UE's f_min, so every decoded assignment is feasible once water-filled. A
  UE with no option left makes its row infeasible (it is put on local and the row flagged).
- `observe`: the option and MEC features of the current state;
- `step`: the chosen options join their servers.

On a CPU a step's time is mostly the fixed cost of each small tensor operation, so a step
does as few as it can; whatever does not depend on the servers' state is computed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch

from mecopt.learned.features import N_OPTION, Batch
from mecopt.waterfill import fit_limit

# Features (N_OPTION) of every option of the UE being decided:
#   0 is-local; 1 lat; 2 lat minus the best allowed option; 3 energy; 4 energy minus the
#   best allowed option; 5 f_min / remaining capacity; 6 remaining / F; 7 F / mean F;
#   8 t_tx / T; 9 steps left; 10 demand of the UEs that must still offload / remaining
#   capacity.
# lat is the marginal latency / T (local: t_loc / T), where a server's marginal is
# t_tx + ((S + sqrt C)^2 - S^2) / F with S the sum of sqrt C already there (the exact
# compute-time increase when no deadline binds); energy is log(energy / e_loc).
# Columns fixed for a UE are computed (and projected by the option-key layer) once per
# rollout, the others at every step.
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


def dynamic_option_features(lat: torch.Tensor, energy3: torch.Tensor, blocked: torch.Tensor,
                            f_min: torch.Tensor, rem: torch.Tensor, rem_over_cap: torch.Tensor,
                            pressure: torch.Tensor,
                            bounds: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The DYNAMIC_COLUMNS, in that order, (R, K, 6) float32 of one step's option features.
    Inputs per row and option (local = column 0): lat (R, K); energy3 (R, K) log(energy /
    e_loc) / 3; blocked (R, K) bool, the options not allowed; f_min, rem (R, K) [Hz], local 0
    and 1; rem_over_cap (R, K), local 0; pressure (R, 1); bounds from _dynamic_bounds."""
    big = torch.finfo(lat.dtype).max
    lat_best = lat.masked_fill(blocked, big).amin(1, keepdim=True)
    en_best = energy3.masked_fill(blocked, big).amin(1, keepdim=True)
    raw = torch.stack([lat, lat - lat_best, energy3 - en_best, f_min / rem.clamp(min=1.0),
                       rem_over_cap, pressure.expand_as(lat)], dim=2)
    return raw.clamp(*bounds).float()


def with_local(local: torch.Tensor | float, servers: torch.Tensor) -> torch.Tensor:
    """(..., M) per server -> (..., K) per option, `local` in column 0."""
    if not isinstance(local, torch.Tensor):
        local = torch.full_like(servers[..., :1], local)
    return torch.cat([local.expand(*servers.shape[:-1], 1), servers], dim=-1)


class Step(NamedTuple):
    """What one decoding step reads of the UE it decides, per decode (R rows)."""

    f_min: torch.Tensor  # (R, K) [Hz], local 0
    barred: torch.Tensor  # (R, K) bool: misses the deadline on its own, or not a real server
    lat0: torch.Tensor  # (R, K) the option's lat is lat0 + S * lat1 (S: its sum of sqrt C)
    lat1: torch.Tensor  # (R, K)
    energy3: torch.Tensor  # (R, K) log(energy / e_loc) / 3, local 0
    add: torch.Tensor  # (R, K, 3) what the option gains when chosen: f_min, sqrt C, 1 UE
    need: torch.Tensor  # (R, 1) the UE's cheapest f_min when it cannot go local, else 0
    live: torch.Tensor  # (R,) bool: a real UE, not padding


class EnvArrays(NamedTuple):
    """An OffloadEnv's layout and starting state as numpy arrays, for the numpy decode
    (numpy_decode.py), which runs the same mask, features and update on them."""

    steps: tuple  # Step's fields, each (R, N, ...) by decoding step
    cap: np.ndarray  # (R, K) [Hz], local 1
    cap_fit: np.ndarray  # (R, K) the load an option may reach (waterfill.fit_limit), local inf
    inv_cap: np.ndarray  # (R, K) 1 / F, local 0
    servers: np.ndarray  # (R, K) float64, 1 on the real servers
    mec_scale: np.ndarray  # (R, K, N_MEC)
    low: np.ndarray  # (6,) the dynamic features' clamps (_dynamic_bounds)
    high: np.ndarray
    all_but_local: np.ndarray  # (R, K) bool
    need_left: np.ndarray  # (R, 1) the pressure feature's demand, before the first step
    padded: bool


class OffloadEnv:
    """The servers' state of R = B * samples decodes, its masks and its per-step update; one
    environment serves one rollout.

    Attributes read by the rollout: rows (R,) batch row of each decode; order (R, N) the UE
    decided at each step; servers (R, K) bool, the real servers' options; static_features
    (R, N, K, len(STATIC_COLUMNS)); live (R, N) real UEs per step; padded (some row has
    padding UEs: its padding steps run but change nothing).
    """

    def __init__(self, batch: Batch, samples: int = 1) -> None:
        B, N = batch.order.shape
        dev = batch.order.device
        self.rows = torch.arange(B, device=dev).repeat_interleave(samples)  # (R,)
        self.order = batch.order[self.rows]  # (R, N)
        R, M = len(self.rows), batch.capacity.shape[1]
        srv_mask = batch.srv_mask[self.rows]  # (R, M)
        self.servers = with_local(False, srv_mask)  # (R, K)
        self._servers_f = self.servers.double()  # for sums over the real servers
        cap = batch.capacity[self.rows]  # (R, M) [Hz]
        self._cap = with_local(1.0, cap)  # local's 1 keeps its remaining capacity at 1 (unread)
        self._cap_fit = with_local(float("inf"), fit_limit(cap))  # local always fits
        self._inv_cap = with_local(0.0, 1 / cap)  # local's remaining / F is 0
        cap_mean = (cap * srv_mask).sum(1, keepdim=True) / srv_mask.sum(1, keepdim=True)
        self._all_but_local = with_local(False, torch.ones(R, M, dtype=torch.bool, device=dev))
        self._bounds = _dynamic_bounds(dev)
        self._lay_out_ues(batch, cap, cap_mean, srv_mask)
        # The state per option: load (f_min sum), S (sum of sqrt C), UE count.
        self._state = torch.zeros(R, M + 1, 3, dtype=torch.float64, device=dev)
        self._load, self._root_sum, self._count = self._state.unbind(2)  # views, in place
        self._stuck: list[torch.Tensor] = []

    def by_step(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, ...) per UE -> (R, N, ...) per decoding step."""
        x = x[self.rows]
        R, N = self.order.shape
        idx = self.order.view(R, N, *([1] * (x.dim() - 2))).expand(R, N, *x.shape[2:])
        return x.gather(1, idx)

    def _lay_out_ues(self, batch: Batch, cap: torch.Tensor, cap_mean: torch.Tensor,
                     srv_mask: torch.Tensor) -> None:
        """The per-step data (Step), the static option features and the MEC scales."""
        by_step, R, N = self.by_step, *self.order.shape
        T_s, C_s = by_step(batch.time_scale), by_step(batch.cycles)  # (R, N)
        root_s = C_s.sqrt()
        ttx_s = by_step(batch.t_tx)  # (R, N, M)
        fmin_k = with_local(0.0, by_step(batch.f_min))  # (R, N, K)
        # The options barred before capacity: missing the deadline, or not a real server.
        barred_k = ~(by_step(batch.option_ok) & with_local(True, srv_mask)[:, None])  # (R, N, K)
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
        n_ues = batch.n_ues[self.rows]
        steps = torch.arange(N, device=n_ues.device)
        self.live = steps[None] < n_ues[:, None]  # (R, N)
        need_s = (by_step(need) * self.live)[..., None]  # (R, N, 1): padding UEs need nothing
        self._need_left = need_s.sum(1)  # (R, 1)
        self.padded = not bool(self.live.all())  # without padding the per-step masking is skipped
        left_s = 1 - steps[None] / n_ues[:, None]  # (R, N)
        mean_T = ((batch.time_scale * batch.ue_mask).sum(1) / batch.n_ues)[self.rows][:, None]
        self.static_features = static_option_features(energy_s, tx_s, cap, cap_mean, left_s)
        # The MEC features per option: remaining / F, compute time there / mean T, UEs there /
        # N, remaining / mean F, as [remaining / F, S^2, count, remaining] times these scales.
        K = fmin_k.shape[2]
        self._mec_scale = torch.stack([torch.ones_like(self._inv_cap), self._inv_cap / mean_T,
                                       (1 / n_ues.double())[:, None].expand(R, K),
                                       (1 / cap_mean).expand(R, K)], dim=2)  # (R, K, N_MEC)
        # What a chosen option adds to its (load, S, count); local adds nothing read.
        add_s = torch.stack([fmin_k, with_local(0.0, root_s[..., None].expand(R, N, K - 1)),
                             torch.ones_like(fmin_k)], dim=3)  # (R, N, K, 3)
        self._steps = (fmin_k, barred_k, lat0_k, lat1_k, energy_s / 3, add_s, need_s, self.live)

    def arrays(self) -> EnvArrays:
        """The layout and the starting state (before any step) as numpy arrays."""
        def cpu(x: torch.Tensor) -> np.ndarray:
            return x.cpu().numpy()
        return EnvArrays(tuple(cpu(x) for x in self._steps), cpu(self._cap), cpu(self._cap_fit),
                         cpu(self._inv_cap), cpu(self._servers_f), cpu(self._mec_scale),
                         *(cpu(b) for b in self._bounds), cpu(self._all_but_local),
                         cpu(self._need_left), self.padded)

    def steps(self) -> Iterator[Step]:
        """The N decoding steps' data, in order."""
        return map(Step._make, zip(*(x.unbind(1) for x in self._steps), strict=True))

    def blocked(self, step: Step) -> torch.Tensor:
        """(R, K) bool: the options the step's UE may not take (see the module docstring). A
        row with no option left (or on a padding step) gets local alone, a placeholder move;
        a row that ran out of options is flagged (`feasible`)."""
        blocked = step.barred | (self._load + step.f_min > self._cap_fit)
        stuck = blocked.all(1)
        if self.padded:  # padding steps run but change nothing
            stuck &= step.live
            dead = stuck | ~step.live
        else:
            dead = stuck
        self._stuck.append(stuck)
        return torch.where(dead[:, None], self._all_but_local, blocked)

    def observe(self, step: Step, blocked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the DYNAMIC_COLUMNS of the option features (R, K, 6), the MEC features
        (R, K, N_MEC)) float32, of the current state; blocked from `blocked`."""
        rem = (self._cap - self._load).clamp(min=0)
        rem_over_cap = rem * self._inv_cap
        pressure = self._need_left / (rem * self._servers_f).sum(1, keepdim=True).clamp(min=1.0)
        lat = torch.addcmul(step.lat0, self._root_sum, step.lat1)
        dynamic = dynamic_option_features(lat, step.energy3, blocked, step.f_min, rem,
                                          rem_over_cap, pressure, self._bounds)
        mec = torch.stack([rem_over_cap, self._root_sum * self._root_sum, self._count, rem],
                          dim=2)
        return dynamic, (mec * self._mec_scale).float()

    def step(self, action: torch.Tensor, step: Step) -> torch.Tensor:
        """Put each row's UE on its chosen option (R,) long; returns the actions as decided
        (padding UEs on local, 0)."""
        if self.padded:
            action = action * step.live
        self._need_left = self._need_left - step.need
        col = action.view(-1, 1, 1).expand(-1, 1, 3)
        self._state.scatter_add_(1, col, step.add.gather(1, col))
        return action

    def live_only(self, x: torch.Tensor, step: Step) -> torch.Tensor:
        """x (R,) with padding steps' entries zeroed."""
        return x * step.live if self.padded else x

    def feasible(self) -> torch.Tensor:
        """(R,) bool: no UE ran out of options (after the last step)."""
        return ~torch.stack(self._stuck, 1).any(1)

    def to_ue_order(self, x: torch.Tensor) -> torch.Tensor:
        """(R, N) per decoding step -> (R, N) per UE."""
        return torch.zeros_like(x).scatter(1, self.order, x)
