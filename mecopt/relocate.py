"""Relocation passes: many single-UE moves at once, each on servers no other move touches.

A construction places each UE given only the UEs placed before it. For latency its marginal
cost prices a server as if its UEs shared it by sqrt(C) (mecopt.construct.marginal_cost);
where deadlines hold part of a server at the UEs' f_min, the server is dearer than that,
and UEs placed early never learn what the later ones cost them. `relocate` corrects what a
single move can correct, at a fraction of a descent's cost:

1. every single move (UE i from its option to another deadline-meeting option) is valued
   exactly: for latency by the water-filling of the two servers it changes
   (mecopt.waterfill.ServerFill, one structure for all moves of a pass), for energy by the
   two energies, a move onto a server only where its f_min still fits;
2. the improving moves are taken best first, each only if no move taken before touches
   either of its servers (local is no server) or its UE: the servers' water-fillings are
   independent, so the pass changes the objective by exactly the sum of its moves' values;
3. the result is evaluated (mecopt.evaluation) and kept only if it is feasible and better;
   then the next pass, until no move improves, `max_work` move valuations are spent, or the
   `deadline` passes.

`descend` (mecopt.descend) takes one best move a round and evaluates the whole
neighbourhood again for the next: where a greedy decision needs 250 moves on 1,800 UEs, its
moves alone took 4.5-6.7 s, and these passes 0.05 s, for about the same value
(docs/heuristics.md, "Relocation").
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.evaluation import evaluate
from mecopt.instance import Instance, server_load
from mecopt.objective import Objective
from mecopt.units import alone_costs
from mecopt.waterfill import ServerFill, fits

__all__ = ["relocate", "RELOCATE_WORK"]

# Move valuations relocate spends at most (one per usable (UE, option) pair a pass): about
# 40 passes at 2,000 UEs x 20 servers, 8 at 5,000 x 50 (where a pass takes 0.08 s).
RELOCATE_WORK = 2_000_000


def relocate(instance: Instance, objective: Objective | str, assignment: np.ndarray, *,
             max_work: float = RELOCATE_WORK, deadline: float | None = None) -> np.ndarray:
    """Improve a feasible `assignment` (N,) by passes of server-disjoint single-UE moves
    (see the module doc); returns the assignment, never worse, always feasible."""
    objective = Objective.parse(objective)
    a = np.asarray(assignment, dtype=int).copy()
    value = evaluate(instance, a).value(objective)
    options = np.arange(instance.n_servers + 1)
    work = 0
    while work < max_work and (deadline is None or time.perf_counter() < deadline):
        ue, opt = np.nonzero(instance.option_ok & (options[None] != a[:, None]))
        work += len(ue)
        gain = (_latency_gains if objective is Objective.LATENCY else _energy_gains)(
            instance, a, ue, opt)
        # Gains below rounding (relative 1e-12 of the total) are no gains.
        total = value * (instance.n_ues if objective is Objective.LATENCY else 1)
        moved = _disjoint(a, ue, opt, gain, 1e-12 * abs(total), instance.n_servers)
        if moved is None:
            break
        result = evaluate(instance, moved)
        new = result.value(objective)
        if not result.feasible or new >= value:  # rounding at a tie: stop where we are
            break
        a, value = moved, new
    return a


def _energy_gains(instance: Instance, a: np.ndarray, ue: np.ndarray, opt: np.ndarray
                  ) -> np.ndarray:
    """Energy saved by each move (-inf where it does not fit its server)."""
    e = alone_costs(instance, Objective.ENERGY)  # (N, M+1): e_loc, e_tx
    load = server_load(instance, a)
    j = np.maximum(opt - 1, 0)
    fit = (opt == 0) | fits(load[j] + instance.f_min[ue, j], instance.capacity_hz[j])
    return np.where(fit, e[ue, a[ue]] - e[ue, opt], -np.inf)


def _latency_gains(instance: Instance, a: np.ndarray, ue: np.ndarray, opt: np.ndarray
                   ) -> np.ndarray:
    """Total latency saved by each move [s] (-inf where it does not fit, or where rounding
    leaves ServerFill unsure of the water-filling)."""
    N, M = instance.n_ues, instance.n_servers
    fill = ServerFill(instance, a)
    none = np.full((M, 1), -1)
    now, _, _ = fill.times(np.arange(M), none, none)  # each server's compute time
    # What each UE's own option costs the total, and what it would without the UE.
    on = np.flatnonzero(a > 0)
    leave = instance.t_loc.copy()  # a local UE saves its t_loc by leaving
    sure = np.ones(N, dtype=bool)
    without, _, unsure = fill.times(a[on] - 1, on[:, None], np.full((len(on), 1), -1))
    leave[on] = now[a[on] - 1] - without + instance.t_tx[on, a[on] - 1]
    sure[on] = ~unsure
    join = instance.t_loc[ue].copy()
    fit = sure[ue].copy()
    s = np.flatnonzero(opt > 0)
    j = opt[s] - 1
    with_ue, ok, unsure = fill.times(j, np.full((len(s), 1), -1), ue[s, None])
    join[s] = with_ue - now[j] + instance.t_tx[ue[s], j]
    fit[s] &= ok & ~unsure
    return np.where(fit, leave[ue] - join, -np.inf)


def _disjoint(a: np.ndarray, ue: np.ndarray, opt: np.ndarray, gain: np.ndarray, tol: float,
              M: int) -> np.ndarray | None:
    """`a` with the moves that gain more than `tol` taken best first, each only where
    neither its UE nor a server it changes was taken by an earlier one; None when none
    gains."""
    good = np.flatnonzero(gain > tol)
    if not len(good):
        return None
    good = good[np.argsort(-gain[good], kind="stable")]
    taken = np.zeros(M + 1, dtype=bool)  # taken[0]: local, never blocks
    moved = np.zeros(len(a), dtype=bool)
    out = a.copy()
    for k in good:
        if taken[1:].all():  # every move left changes a taken server
            break
        i, src, dst = ue[k], a[ue[k]], opt[k]
        if moved[i] or taken[src] or taken[dst]:
            continue
        moved[i], out[i] = True, dst
        taken[src], taken[dst] = src > 0, dst > 0
    return out
