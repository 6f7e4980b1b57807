"""Normalized features of instances for the LAMBO network, batched and padded for mixed N, M.

Every magnitude is made dimensionless before it reaches the network: times are divided by
the UE's time scale (its deadline; under the latency prompt at most LOOSEST_DEADLINE times
its local compute time), allocations by capacities, energies by the UE's local energy, and
the remaining sizes are log-scaled, so paper (1 Mbit tasks, 1 MHz links) and hetero
(200 Mbit, 20 MHz) instances land in the same ranges.

Static features (computed once per instance and prompt, numpy):
- UE (N_UE), T the time scale: log C, log D, t_loc/T, local ok, log e_loc, log T, usable
  servers / M, the UE's demand N*(C/T)/sum F, the system's demand sum(C/T)/sum F, log N,
  M / 8.
- pair (N_PAIR): usable, t_tx/T, f_min/F_j, log(e_tx/e_loc), (t_tx + C/F_j)/T and the same
  over t_loc (the latency if the UE had server j alone, against the time scale and local).
- server (N_SERVER): F_j / mean F, log F_j, 1/M.
Dynamic features (recomputed by env.py after every decision, torch):
- MEC (N_MEC) per server: remaining capacity / F_j, compute time of the UEs already there
  ((sum sqrt C)^2 / F_j, over the mean time scale), UEs there / N, remaining / mean F.
- option (N_OPTION) per option of the UE being decided: see env.STATIC_COLUMNS.

The decoding order: UEs with the fewest options that can meet their deadline first, then
the largest regret (second-cheapest minus cheapest stand-alone cost under the prompt's
objective), ties by UE index. A network trained with
`energy_order="efficiency"` decides energy rows in efficiency_order instead (the `greedy`
construction's energy order, mecopt.construct): the UEs that must offload first, then the
others by energy saved per unit of server capacity.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch

from mecopt.construct import efficiency_order
from mecopt.instance import Instance
from mecopt.objective import Objective
from mecopt.units import alone_costs

N_UE, N_PAIR, N_SERVER, N_MEC, N_OPTION = 11, 6, 3, 4, 11


def decoding_order(instance: Instance, objective: Objective, *,
                   offload_first: bool = False, energy_order: str = "regret") -> np.ndarray:
    """The order (N,) in which UEs are decided (see the module docstring). offload_first: the
    UEs that cannot meet their deadline locally first, each group in that order (LAMBO's
    second decode after a dead end, lambo_method.decode_instances). energy_order: the
    network's (LamboConfig.energy_order); "efficiency" replaces the rule under the energy
    prompt by efficiency_order, which puts those UEs first already."""
    if energy_order == "efficiency" and objective is Objective.ENERGY:
        return efficiency_order(instance)
    ok = instance.option_ok  # (N, M+1)
    cost = np.where(ok, alone_costs(instance, objective), np.inf)
    best_two = np.sort(cost, axis=1)[:, :2] if cost.shape[1] > 1 else np.c_[cost, cost * np.inf]
    with np.errstate(invalid="ignore"):
        regret = np.where(np.isfinite(best_two[:, 1]), best_two[:, 1] - best_two[:, 0], np.inf)
    order = np.lexsort((-regret, ok.sum(axis=1)))
    if offload_first:
        order = order[np.argsort(ok[order, 0], kind="stable")]  # False (must offload) first
    return order


# Under the latency prompt a deadline looser than this many times the UE's local compute
# time is read as this: the networks were trained where deadlines bind (paper and hetero:
# 0.5-4.5 times t_loc), and a deadline that never binds (a user's 1e6 s for "none") would
# put every time feature at 0 and hide the servers' congestion, which is what latency
# costs. Under the energy prompt times only say how close an option is to its deadline, and
# a deadline that never binds is rightly far: there the scale is the deadline.
LOOSEST_DEADLINE = 3.0


def time_scale(inst: Instance, objective: Objective) -> np.ndarray:
    """(N,) [s]: the time the features measure each UE's times against: its deadline, under
    the latency prompt at most LOOSEST_DEADLINE times its local compute time. Only the
    features use it; which options meet a deadline is decided by the real deadlines."""
    if objective is Objective.LATENCY:
        return np.minimum(inst.deadline_s, LOOSEST_DEADLINE * inst.t_loc)
    return inst.deadline_s


# Instances are immutable: their features are computed once per prompt while they live
# (checkpoint=auto reads them before the batch does).
_STATIC: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def static_features(inst: Instance, objective: Objective | str = Objective.ENERGY
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ue (N, N_UE), pair (N, M, N_PAIR), server (M, N_SERVER)) float32 arrays, read-only,
    with the prompt's time scale."""
    objective = Objective.parse(objective)
    cached = _STATIC.setdefault(inst, {})
    if objective not in cached:
        cached[objective] = tuple(_readonly(a) for a in _static_features(
            inst, time_scale(inst, objective)))
    return cached[objective]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _static_features(inst: Instance, T: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    N, M = inst.n_ues, inst.n_servers
    C, D = inst.cycles, inst.data_bits
    F = inst.capacity_hz
    usable = inst.usable
    demand = C / T  # cycles/s needed if the task had the whole deadline to compute
    ue = np.stack([
        np.log(C / 1e9),
        np.log10(D / 1e7),
        np.minimum(inst.t_loc / T, 3.0),
        inst.local_ok.astype(float),
        np.log10(inst.e_loc),
        np.log(T),
        usable.sum(axis=1) / M,
        np.minimum(N * demand / F.sum(), 5.0),
        np.full(N, min(demand.sum() / F.sum(), 5.0)),
        np.full(N, np.log(N) / 5.0),
        np.full(N, M / 8.0),
    ], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_tx = np.where(usable, inst.t_tx, 2 * T[:, None])
        alone = t_tx + C[:, None] / F
        pair = np.stack([
            usable.astype(float),
            np.minimum(t_tx / T[:, None], 2.0),
            np.where(usable, np.minimum(inst.f_min / F, 2.0), 2.0),
            np.clip(np.log(inst.e_tx / inst.e_loc[:, None]), -6, 6) / 3,
            np.minimum(alone / T[:, None], 3.0),
            np.minimum(alone / inst.t_loc[:, None], 3.0),
        ], axis=2)
    server = np.stack([F / F.mean(), np.log10(F / 1e10), np.full(M, 1.0 / M)], axis=1)
    assert ue.shape == (N, N_UE) and pair.shape == (N, M, N_PAIR), "feature widths drifted"
    return ue.astype(np.float32), pair.astype(np.float32), server.astype(np.float32)


@dataclass
class Batch:
    """B rows, each an (instance, objective) pair, padded to the largest N and M.

    Float64 tensors hold exact physical quantities for masking and the MEC state; the
    float32 ones are network inputs. Padded UEs sit at the end of every row's order.
    """

    instances: list[Instance]
    objectives: list[Objective]
    ue: torch.Tensor  # (B, N, N_UE)
    pair: torch.Tensor  # (B, N, M, N_PAIR)
    server: torch.Tensor  # (B, M, N_SERVER)
    ue_mask: torch.Tensor  # (B, N) bool, True = a real UE
    srv_mask: torch.Tensor  # (B, M) bool, True = a real server
    prompt_ids: torch.Tensor  # (B, L) word ids
    energy: torch.Tensor  # (B,) bool: the row's objective is energy
    order: torch.Tensor  # (B, N) long: UE decided at each step
    n_ues: torch.Tensor  # (B,) long
    cycles: torch.Tensor  # (B, N) float64 [cycles]
    time_scale: torch.Tensor  # (B, N) float64 [s]: time_scale (the features' deadline)
    t_loc: torch.Tensor  # (B, N) float64 [s]
    t_tx: torch.Tensor  # (B, N, M) float64 [s], 0 where unusable
    e_ratio: torch.Tensor  # (B, N, M) float64: e_tx / e_loc, 1 where unusable
    f_min: torch.Tensor  # (B, N, M) float64 [Hz], 0 where unusable
    capacity: torch.Tensor  # (B, M) float64 [Hz], 1 for padded servers
    option_ok: torch.Tensor  # (B, N, M+1) bool: the option meets the deadline on its own

    @property
    def size(self) -> int:
        return len(self.instances)

    def to(self, device: torch.device | str) -> Batch:
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v)
                 for k, v in self.__dict__.items()}
        return Batch(**moved)


def make_batch(instances: list[Instance], objectives: list[Objective | str],
               prompts: list[str] | None = None, device: torch.device | str = "cpu", *,
               offload_first: bool = False, energy_order: str = "regret") -> Batch:
    """Rows (instance b, objective b); `prompts` overrides the text (default: the paper's);
    `offload_first` and `energy_order` (the network's): decoding_order's variants."""
    from mecopt.learned.model import tokenize_batch

    assert len(instances) == len(objectives), "one objective per instance row"
    objectives = [Objective.parse(o) for o in objectives]
    prompts = prompts or [o.prompt for o in objectives]
    B = len(instances)
    N = max(i.n_ues for i in instances)
    M = max(i.n_servers for i in instances)
    f32 = np.zeros
    ue, pair, server = f32((B, N, N_UE), np.float32), f32((B, N, M, N_PAIR), np.float32), \
        f32((B, M, N_SERVER), np.float32)
    ue_mask, srv_mask = np.zeros((B, N), bool), np.zeros((B, M), bool)
    order = np.zeros((B, N), np.int64)
    cycles, scale, t_loc = np.ones((B, N)), np.ones((B, N)), np.ones((B, N))
    t_tx, e_ratio, f_min = np.zeros((B, N, M)), np.ones((B, N, M)), np.zeros((B, N, M))
    capacity = np.ones((B, M))
    option_ok = np.zeros((B, N, M + 1), bool)
    for b, (inst, obj) in enumerate(zip(instances, objectives, strict=True)):
        n, m = inst.n_ues, inst.n_servers
        u, p, s = static_features(inst, obj)
        ue[b, :n], pair[b, :n, :m], server[b, :m] = u, p, s
        ue_mask[b, :n], srv_mask[b, :m] = True, True
        order[b, :n] = decoding_order(inst, obj, offload_first=offload_first,
                                      energy_order=energy_order)
        order[b, n:] = np.arange(n, N)
        cycles[b, :n], scale[b, :n], t_loc[b, :n] = inst.cycles, time_scale(inst, obj), inst.t_loc
        us = inst.usable
        t_tx[b, :n, :m] = np.where(us, inst.t_tx, 0.0)
        e_ratio[b, :n, :m] = np.where(us, inst.e_tx / inst.e_loc[:, None], 1.0)
        f_min[b, :n, :m] = np.where(us, inst.f_min, 0.0)
        capacity[b, :m] = inst.capacity_hz
        option_ok[b, :n, : m + 1] = inst.option_ok
    t = torch.from_numpy
    return Batch(
        instances=list(instances), objectives=objectives,
        ue=t(ue), pair=t(pair), server=t(server), ue_mask=t(ue_mask), srv_mask=t(srv_mask),
        prompt_ids=tokenize_batch(prompts),
        energy=torch.tensor([o is Objective.ENERGY for o in objectives]),
        order=t(order), n_ues=torch.tensor([i.n_ues for i in instances]),
        cycles=t(cycles), time_scale=t(scale), t_loc=t(t_loc), t_tx=t(t_tx),
        e_ratio=t(e_ratio), f_min=t(f_min), capacity=t(capacity), option_ok=t(option_ok),
    ).to(device)
