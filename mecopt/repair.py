"""The shared feasibility-preserving repair: proposals in, feasible evaluated assignments out.

Every search or learned method proposes assignments that may break a constraint: a UE on an
option that cannot meet its deadline, or a server whose minimum allocations (f_min, the
smallest speed that meets each deadline) exceed its capacity. `repair` turns a population
of proposals into feasible assignments where it can, and evaluates them exactly (water-
filled, via `evaluate_batch`). It is the one repair step of DE, PG, DROO, ARE and LAMBO;
the local search that polishes its output is `mecopt.descend`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mecopt.construct import construct
from mecopt.errors import InputError
from mecopt.evaluation import BatchEvaluation, evaluate_batch
from mecopt.instance import Instance
from mecopt.objective import Objective
from mecopt.waterfill import fits

__all__ = ["Decoded", "repair"]


@dataclass(frozen=True)
class Decoded:
    """A repaired population: feasible assignments where the repair found them."""

    assignment: np.ndarray  # (P, N) ints, 0 = local, j = server j
    feasible: np.ndarray  # (P,) bool, the verdict of evaluate_batch on `assignment`
    value: np.ndarray  # (P,) objective value; inf where infeasible
    unplaced: np.ndarray  # (P,) UEs that found no fitting option (0 where feasible)
    moved: np.ndarray  # (P,) UEs moved away from their proposed option
    evaluation: BatchEvaluation  # of `assignment`, water-filled


def repair(instance: Instance, objective: Objective | str, proposals: np.ndarray) -> Decoded:
    """Repair and evaluate a population of proposals.

    `proposals` is either assignments, shape (N,) or (P, N) with integer options in 0..M, or
    scores, shape (P, N, M+1), higher meaning preferred (column 0 = local, j = server j);
    the proposal of a scored UE is its best-scored option that can meet its deadline.

    Repair rule. A proposal that is already feasible is returned unchanged. Otherwise the
    row is rebuilt by the shared construction (mecopt.construct), feasibility first: the UEs
    that must offload first, then by regret (capacity share counted), keeping a running sum
    of f_min per server. A UE keeps its proposed option if that option can meet its deadline
    and, for a server, still fits (running f_min sum <= capacity). If not, it moves to the
    best option that does fit: for scores the highest-scored one; for assignments the one
    whose objective grows least given the UEs placed so far (`marginal_cost`). A UE with no
    fitting option makes room by moving one, else two, UEs already on a server it can use to
    other options where they fit, the cheapest change first. A row still stuck is rebuilt
    from a feasible anchor (the UEs that must offload packed by mecopt.packing's search or
    else a small HiGHS MILP, computed once per instance), each UE moving to its proposal
    where it fits. Only when no anchor is found does a row stay infeasible: `unplaced`
    counts the UEs that found no room (search methods use it as the constraint violation).
    Finally every row is water-filled and checked by `evaluate_batch`; `feasible` is that
    verdict, so a row marked feasible always is.
    """
    objective = Objective.parse(objective)
    proposed, scores = _proposed(instance, proposals)
    P = proposed.shape[0]
    out = proposed.copy()
    unplaced = np.zeros(P, dtype=int)

    bad = np.flatnonzero(~_fits_as_is(instance, proposed))
    if len(bad):
        # The shared construction, with each row's proposal as its wish.
        out[bad], unplaced[bad] = construct(instance, objective, proposed[bad],
                                            None if scores is None else scores[bad])
    ev = evaluate_batch(instance, out)
    feasible = ev.feasible & (unplaced == 0)
    value = np.where(feasible, ev.value(objective), np.inf)
    return Decoded(out, feasible, value, unplaced, (out != proposed).sum(axis=1), ev)


def _proposed(instance: Instance, proposals: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """(proposed (P, N) options, scores (P, N, M+1) or None) from assignments or scores;
    a scored UE proposes its best-scored deadline-meeting option."""
    N, M = instance.n_ues, instance.n_servers
    raw = np.asarray(proposals)
    if raw.ndim == 3:
        if raw.shape[1:] != (N, M + 1):
            raise InputError(f"proposals: scores must have shape (P, {N}, {M + 1}), got "
                             f"{list(raw.shape)}")
        scores = np.where(instance.option_ok[None], raw.astype(float), -np.inf)  # (P, N, M+1)
        return scores.argmax(axis=2), scores
    a = np.atleast_2d(raw)
    if a.ndim != 2 or a.shape[1] != N:
        raise InputError(f"proposals: assignments must have shape (P, {N}), got "
                         f"{list(raw.shape)}")
    if a.size and (not np.all(np.isfinite(a.astype(float)))
                   or np.any(a.astype(float) % 1 != 0)):
        raise InputError("proposals: assignments must be integers (0 = local, j = server j)")
    proposed = a.astype(int)
    if proposed.size and (proposed.min() < 0 or proposed.max() > M):
        raise InputError(f"proposals: options must be in 0..{M}")
    return proposed, None


def _fits_as_is(instance: Instance, a: np.ndarray) -> np.ndarray:
    """(P,) True where every option meets its deadline and every server's f_min sum fits."""
    P, N = a.shape
    M = instance.n_servers
    options_ok = instance.option_ok[np.arange(N), a].all(axis=1)
    f_min = np.where(instance.usable, instance.f_min, 0.0)  # (N, M)
    jj = np.clip(a - 1, 0, M - 1)
    w = np.where(a > 0, f_min[np.arange(N), jj], 0.0)  # (P, N)
    rows = np.repeat(np.arange(P), N)
    load = np.bincount(rows * M + jj.ravel(), weights=w.ravel(), minlength=P * M).reshape(P, M)
    return options_ok & fits(load, instance.capacity_hz).all(axis=1)
