"""Matching rounds: many UEs freed at once and put back by a linear assignment.

Single moves (mecopt.relocate) cannot exchange two UEs, nor move a UE onto a server that
only becomes good once its UE leaves. Where each server holds one or two UEs (few UEs, many
small cells) the best decision is a matching, and a construction that places UEs one at a
time is 7-10% above it; on the library's 50-100 UEs on 2-6 servers, exchanges are most of
what greedy's latency leaves above the optimum. A round:

1. frees one UE of every occupied server (a random one, from the `seed`) and up to M local
   UEs;
2. values putting each freed UE on each server it can use, or local: each server loses at
   most one UE and gains at most one, so every value is exact (latency: the server's total
   time by mecopt.waterfill.ServerFill with its freed UE out and the new one in; energy: the
   UE's energy, where its f_min fits the server without its freed UE);
3. solves the linear assignment (mecopt.matching.assign): each server takes
   at most one freed UE, local any number; the current places are one such assignment, so
   the round never loses, and it finds every exchange, cycle and chain among the freed UEs
   at once;
4. keeps the result where the evaluation (mecopt.evaluation) finds it feasible and better.

Rounds go on until `stall` in a row gain nothing, `max_rounds` are spent, or the `deadline`
passes.
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.evaluation import evaluate
from mecopt.instance import Instance, server_load
from mecopt.matching import assign
from mecopt.objective import Objective
from mecopt.units import alone_costs
from mecopt.waterfill import ServerFill, fits

__all__ = ["rematch", "REMATCH_ROUNDS", "REMATCH_STALL"]

# At most this many rounds, and stop after this many in a row without gain: on the library
# (50-100 UEs) a round takes about 1.5 ms and most of the gain comes within 50 rounds; at
# 1,600 UEs x 35 servers a round takes about 3 ms.
REMATCH_ROUNDS = 50
REMATCH_STALL = 8


def rematch(instance: Instance, objective: Objective | str, assignment: np.ndarray, *,
            seed: int = 0, max_rounds: int = REMATCH_ROUNDS, stall: int = REMATCH_STALL,
            deadline: float | None = None) -> np.ndarray:
    """Improve a feasible `assignment` (N,) by matching rounds (see the module doc); returns
    the assignment, never worse, always feasible. `deadline`: a time.perf_counter() value."""
    objective = Objective.parse(objective)
    rng = np.random.default_rng(seed)
    a = np.asarray(assignment, dtype=int).copy()
    value = evaluate(instance, a).value(objective)
    M = instance.n_servers
    scale = instance.n_ues if objective is Objective.LATENCY else 1
    quiet = 0
    for _ in range(max_rounds):
        if quiet >= stall or (deadline is not None and time.perf_counter() >= deadline):
            break
        freed = _freed(a, M, rng)
        cost = round_costs(instance, objective, a, freed)
        now = np.where(a[freed] > 0, a[freed] - 1, M + np.arange(len(freed)))
        rows, cols = assign(cost)
        gain = cost[rows, now[rows]].sum() - cost[rows, cols].sum()
        quiet += 1
        # Gains below rounding (relative 1e-12 of the total) are no gains.
        if gain <= 1e-12 * abs(value * scale):
            continue
        moved = a.copy()
        moved[freed[rows]] = np.where(cols < M, cols + 1, 0)
        result = evaluate(instance, moved)
        new = result.value(objective)
        if result.feasible and new < value:
            a, value, quiet = moved, new, 0
    return a


def _freed(a: np.ndarray, M: int, rng: np.random.Generator) -> np.ndarray:
    """One random UE of every occupied server, then up to M random local UEs."""
    on = rng.permutation(np.flatnonzero(a > 0))
    _, first = np.unique(a[on], return_index=True)
    local = np.flatnonzero(a == 0)
    extra = rng.choice(local, min(len(local), M), replace=False)
    return np.concatenate([on[first], extra]).astype(int)


def round_costs(instance: Instance, objective: Objective, a: np.ndarray, freed: np.ndarray
                ) -> np.ndarray:
    """(R, M + R) costs of the R `freed` UEs: column j < M puts freed UE r on server j+1,
    column M + r keeps it local (inf where not allowed). A server's column is relative to
    that server without its freed UE, so any assignment's total differs from the objective's
    total (latency: the sum of latencies) by one constant."""
    M, R = instance.n_servers, len(freed)
    src = a[freed]
    ok = instance.option_ok[freed][:, 1:]
    cost = np.full((R, M + R), np.inf)
    rows = np.arange(R)
    if objective is Objective.ENERGY:
        e = alone_costs(instance, objective)
        load = server_load(instance, a)
        out = src > 0
        load[src[out] - 1] -= instance.f_min[freed[out], src[out] - 1]
        fit = ok & fits(load[None] + np.where(ok, instance.f_min[freed], 0.0),
                        instance.capacity_hz[None])
        cost[:, :M] = np.where(fit, e[freed, 1:], np.inf)
        cost[rows, M + rows] = np.where(instance.local_ok[freed], e[freed, 0], np.inf)
        return cost
    fill = ServerFill(instance, a)
    leave = np.full((M, 1), -1)
    out = src > 0
    leave[src[out] - 1, 0] = freed[out]
    base, _, _ = fill.times(np.arange(M), leave, np.full((M, 1), -1))
    r, j = np.nonzero(ok)
    time_with, fit, unsure = fill.times(j, leave[j], freed[r, None])
    cost[r, j] = np.where(fit & ~unsure, time_with - base[j] + instance.t_tx[freed[r], j],
                          np.inf)
    # Where a UE stays, its server is unchanged: its value is known without the bisection,
    # and it keeps the current places an assignment of finite cost.
    now, _, _ = fill.times(np.arange(M), np.full((M, 1), -1), np.full((M, 1), -1))
    stay = np.flatnonzero(out)
    cost[stay, src[stay] - 1] = now[src[stay] - 1] - base[src[stay] - 1] \
        + instance.t_tx[freed[stay], src[stay] - 1]
    cost[rows, M + rows] = np.where(instance.local_ok[freed], instance.t_loc[freed], np.inf)
    return cost
