"""What greedy, DE, PG and LAMBO share to improve a decision: the `lns` option, which
finishes a method's decision with large-neighbourhood search (mecopt.lns) for a given number
of seconds, the energy start from the LP relaxation's rounding, the latency start from the
Lagrangian dual's (`latency_rounding`), and the tabu search and LNS rounds that end LAMBO's
energy polish (`tabu_polish`, `lns_polish`); `lns_verdict` turns LNS's proof of optimality
into the method's status.

One option, one meaning everywhere: `--option lns=S` runs `mecopt.lns.improve` on the
method's final decision for at most S seconds (and never past the method's time limit);
0, the default, leaves the method as it was.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from mecopt.instance import Instance
from mecopt.method import Option
from mecopt.objective import Objective
from mecopt.status import Status

if TYPE_CHECKING:  # mecopt.lns imports HiGHS: only when a method asks for LNS
    from mecopt.lns import Stats

# The energy start from the LP relaxation's rounding (the start energy LNS uses too): on a
# generalized assignment problem with binding capacities a constructive start's local
# optimum is often the worse one (13 sparse, hetero and world instances of 109-450 UEs: 5.0%
# mean above the best known from LAMBO's decode, 3.5% keeping the better of the two, for
# 15-130 ms more; docs/notes/2026-12-03-lns-whole-first.md). The LP gets at most this many
# seconds.
LP_ROUNDING_S = 10.0

# Energy polish: after `descend`, the tabu search across the capacity boundary
# (mecopt.tabu) runs until POLISH_TABU_STALL steps bring no new best, for at most
# POLISH_TABU_STEPS steps (steps, not seconds, so that the polish's answer does not depend on
# the machine's speed; 0.3-2.3 ms a step from 50 x 4 to 2,000 x 20) and within the method's
# time limit (docs/heuristics.md, "Tabu search for energy").
POLISH_TABU_STALL = 500
POLISH_TABU_STEPS = 1000
# While a run finds a better decision, the search runs again from it (the next seed, the
# weights at the new decision's prices), at most POLISH_TABU_RUNS runs in all: a run that
# ends on its stall has often left a region it would not return to, and a fresh start from
# its best did better than one longer run (development draws: 0.29% -> 0.08% mean gap, for
# about twice the time where it helps, the same time where the first run finds nothing;
# docs/notes/2026-12-05-tabu-start-prices.md).
POLISH_TABU_RUNS = 4
# Energy polish, last: LNS rounds (mecopt.lns: freed sets re-solved exactly by HiGHS, each
# within POLISH_LNS_SUB_S) until POLISH_LNS_STALL rounds in a row improve nothing, within the
# method's time limit. Where several servers are nearly full the tabu search's local optimum
# can be far from the best decision: from LAMBO's polish, on development draws of
# heavytail, tight, manyserver and sparse-large, rounds found 0.07-8.3% lower on 12 of 16, and
# on fresh draws took the polish from 0.085-1.65% to 0.000-0.32% per family
# (docs/notes/2026-12-05-polish-lns-rounds.md). A stall in rounds, not seconds, so that where
# no sub-problem hits its limit the answer does not depend on the machine's speed.
POLISH_LNS_STALL = 2
POLISH_LNS_SUB_S = 0.2
# Without a time limit the whole-instance step after the stalled rounds is bounded by
# HiGHS's branch-and-bound nodes instead of the time left: on big-item GAPs (a few UEs
# that need much of a full server) the rounds stopped 0.4-0.75% above the best known, which
# HiGHS's tree reached within 1,000 nodes and not within 500
# (docs/notes/2026-12-07-polish-whole-nodes.md).
POLISH_WHOLE_NODES = 1000

LP_START_OPTION = Option(bool, True, "also start from a relaxation's rounding: energy's LP "
                                     "relaxation, latency's Lagrangian dual "
                                     "(mecopt.polish.relaxation_start)")
TABU_OPTION = Option(bool, True, "energy: the polish ends with, and LNS without a polish "
                                 "starts with, the tabu search across the capacity boundary "
                                 "(mecopt.tabu)")
LNS_POLISH_OPTION = Option(bool, True, "energy: the polish ends with large-neighbourhood "
                                       "search rounds (mecopt.lns) until "
                                       f"{POLISH_LNS_STALL} rounds in a row improve nothing")
LNS_OPTION = Option(float, 0.0, "seconds of large-neighbourhood search (mecopt.lns) on the "
                                "final decision, within the time limit; 0 = off", low=0)


def finish_with_lns(instance: Instance, objective: Objective, assignment: np.ndarray, *,
                    seconds: float, deadline: float | None, seed: int,
                    weights: np.ndarray | None = None,
                    polished_rounding: np.ndarray | None = None, tabu: bool = True
                    ) -> tuple[np.ndarray, dict[str, Any]]:
    """Improve a feasible decision by LNS for `seconds` (capped by `deadline`, a
    time.perf_counter() value); returns it with what LNS did, for the solution's extra.
    `polished_rounding`: the energy start of `lp_rounding_start` when the caller has it
    (LNS would otherwise descend the same rounding again). `tabu`: energy LNS starts with
    the tabu search (mecopt.tabu)."""
    if seconds <= 0:
        return assignment, {}
    from mecopt.lns import improve_with_stats  # HiGHS sub-problems only when asked

    if objective is Objective.LATENCY:
        # The latency sub-solver's Pyomo interface takes 0.3-0.7 s to import on first use:
        # imported inside the budget, a fresh process's short `lns` spent it importing.
        # Here it counts against the method's deadline, not against LNS's seconds.
        import mecopt.outer_approximation  # noqa: F401

    limit = _seconds_left(seconds, deadline)
    if limit <= 0:
        return assignment, {"lns_s": 0.0}
    a, _, stats = improve_with_stats(instance, objective, assignment, time_limit=limit,
                                     seed=seed, weights=weights,
                                     polished_rounding=polished_rounding, tabu=tabu)
    return a, {"lns_s": stats.wall_s, "lns_steps": stats.steps, "lns_accepted": stats.accepted,
               "value_before_lns": stats.start_value, **_proof(stats, "lns_proven")}


def _proof(stats: Stats, key: str) -> dict[str, Any]:
    """What LNS knows of the optimum, for the solution's extra: {key: True} when it proved
    its answer optimal (mecopt.lns.Stats.proven), and "lns_bound", its lower bound
    (Stats.bound), when it has one."""
    out: dict[str, Any] = {key: True} if stats.proven else {}
    if stats.bound is not None:
        out["lns_bound"] = stats.bound
    return out


def lns_verdict(extra: dict[str, Any]) -> dict[str, Any]:
    """The status and bound of a method's Outcome for the decision that `finish_with_lns` or
    `lns_polish` returned (their extras merged into `extra`): OPTIMAL when LNS proved it
    (its answer meets the LP relaxation's bound, or it solved the whole instance exactly),
    else FEASIBLE; with LNS's lower bound (the one that proves it, or the LP relaxation's)
    when it has one, so that the solution's `gap` says how far from optimal it can be."""
    status = Status.OPTIMAL if extra.get("lns_proven") or extra.get("polish_lns_proven") \
        else Status.FEASIBLE
    bound = extra.get("lns_bound")
    return {"status": status} if bound is None else {"status": status, "bound": bound}


def _seconds_left(seconds: float, deadline: float | None) -> float:
    """`seconds`, capped by what is left before `deadline` (a time.perf_counter() value or
    None)."""
    return seconds if deadline is None else min(seconds, deadline - time.perf_counter())


def tabu_polish(instance: Instance, assignment: np.ndarray, value: float,
                deadline: float | None, *, seed: int = 0) -> tuple[np.ndarray, float, float]:
    """Energy: the tabu search (mecopt.tabu) from a descended feasible `assignment` of
    energy `value`, each run within POLISH_TABU_STALL steps without a new best and
    POLISH_TABU_STEPS steps, run again from its answer while it finds a better one (at most
    POLISH_TABU_RUNS runs, seeds `seed`, `seed` + 1, ...), all within `deadline` (a
    time.perf_counter() value or None): (assignment, energy, seconds spent); the input when
    nothing better is found."""
    from mecopt.tabu import IMPROVE_RTOL, tabu_search

    start = time.perf_counter()
    best_a, best = assignment, value
    for run in range(POLISH_TABU_RUNS):
        if deadline is not None and time.perf_counter() >= deadline:
            break
        a, found = tabu_search(instance, best_a, deadline=deadline, stall=POLISH_TABU_STALL,
                               max_steps=POLISH_TABU_STEPS, seed=seed + run)
        if not found < best * (1 - IMPROVE_RTOL):
            break
        best_a, best = a, found
    return best_a, best, time.perf_counter() - start


def lns_polish(instance: Instance, assignment: np.ndarray, deadline: float | None, *,
               seed: int = 0, weights: np.ndarray | None = None,
               polished_rounding: np.ndarray | None = None, whole_after_stall: bool = True
               ) -> tuple[np.ndarray, float | None, dict[str, Any]]:
    """Energy: LNS rounds (mecopt.lns.improve, without its tabu phase and its whole-instance
    step, which are bounded by time) from a feasible polished `assignment` until
    POLISH_LNS_STALL rounds in a row improve nothing, within `deadline` (a
    time.perf_counter() value or None); then, with `whole_after_stall`, HiGHS on the whole
    instance (mecopt.lns `whole_after_stall`) for the time left, or without a deadline
    within POLISH_WHOLE_NODES nodes.
    `weights` (per UE, e.g. the policy's doubt) add the freed sets drawn by them. Returns
    the decision (never worse), its energy (None when no time was left to run) and what the
    rounds did, for the solution's extra.

    The tail after the rounds: on a stadium-like draw (578 x 21, every server 99% full) the
    rounds stopped 2.2% above HiGHS's 10 s answer at 5.6 s, and the whole instance then went
    0.2% below it. Side by side on 103 energy draws of 14 kinds (10 s, two runs), where the
    rounds stalled early the mean gap to the best known went 0.27 -> 0.13% and 0.31 ->
    0.19% (development), 0.069 -> 0.053% and 0.051 -> 0.034% (held aside)
    (docs/notes/2026-12-06-decode-deadline-and-whole-tail.md)."""
    limit = _seconds_left(math.inf, deadline)
    if limit <= 0:
        return assignment, None, {}
    from mecopt.lns import improve_with_stats  # HiGHS sub-problems only when asked

    a, value, stats = improve_with_stats(instance, Objective.ENERGY, assignment, time_limit=limit,
                                     seed=seed, weights=weights, sub_time_limit=POLISH_LNS_SUB_S,
                                     whole=False, tabu=False, stall_rounds=POLISH_LNS_STALL,
                                     polished_rounding=polished_rounding,
                                     whole_after_stall=whole_after_stall,
                                     whole_nodes=POLISH_WHOLE_NODES if deadline is None
                                     else None)
    return a, value, {"polish_lns_s": stats.wall_s, "polish_lns_rounds": stats.rounds,
                      "polish_lns_accepted": stats.accepted, **_proof(stats, "polish_lns_proven")}


def lp_rounding_start(instance: Instance, fallback: np.ndarray, deadline: float | None, *,
                      polish: bool = True, rounded: np.ndarray | None = None,
                      max_work: float | None = None) -> tuple[np.ndarray, float] | None:
    """Energy: the LP relaxation's rounding (mecopt.lns.lp_rounding), descended by
    `mecopt.descend` if `polish`, as (assignment, energy); None when the time is up or no
    feasible rounding is found. `fallback` is a feasible assignment the LP falls back
    to; `deadline` a time.perf_counter() value (None: no limit, the LP still gets at most
    LP_ROUNDING_S); `rounded`, the rounding when the caller has it already (LAMBO's
    guard), saves the LP; `max_work` bounds the descent's UE evaluations (`descend`)."""
    left = LP_ROUNDING_S if deadline is None else deadline - time.perf_counter()
    if left <= 0:
        return None
    from mecopt.descend import descend
    from mecopt.lns import lp_rounding  # HiGHS only when asked
    from mecopt.repair import repair

    if rounded is None:
        rounded = lp_rounding(instance, fallback, time_limit=min(left, LP_ROUNDING_S))
    if rounded is None:
        return None
    if polish:
        return descend(instance, Objective.ENERGY, rounded, deadline=deadline, max_work=max_work)
    return rounded, float(repair(instance, Objective.ENERGY, rounded[None]).value[0])


def relaxation_start(instance: Instance, objective: Objective, fallback: np.ndarray,
                     deadline: float | None, *, polish: bool = True
                     ) -> tuple[np.ndarray, float] | None:
    """A start from a relaxation's rounding, descended by `mecopt.descend` if `polish`, as
    (assignment, value): for energy the LP relaxation's (`lp_rounding_start`, `fallback`
    as there), for latency the Lagrangian dual's (`latency_rounding`). None when the time
    is up or the rounding finds nothing. DE and PG seed with it (their `lp_start`): their
    greedy constructions place each UE given only those placed before it, and on a 764 x 47
    latency draw DE's descents of them took its whole 10 s and ended 70% above the dual's
    rounding descended."""
    if objective is Objective.ENERGY:
        return lp_rounding_start(instance, fallback, deadline, polish=polish)
    if deadline is not None and time.perf_counter() >= deadline:
        return None
    from mecopt.descend import descend
    from mecopt.evaluation import evaluate

    rounded = latency_rounding(instance)  # feasible already (the shared repair's)
    if rounded is None:
        return None
    if polish:
        return descend(instance, Objective.LATENCY, rounded, deadline=deadline)
    return rounded, float(evaluate(instance, rounded).value(Objective.LATENCY))


def latency_rounding(instance: Instance) -> np.ndarray | None:
    """Latency: each UE's cheapest option at the capacity prices of the Lagrangian dual
    bound (mecopt.bounds.latency_dual_choice), made feasible by the shared repair; None if
    the repair finds nothing. The dual prices each server's capacity at what its last GHz
    is worth, so UEs spread over the servers by what they gain there, not in the order a
    construction meets them: on development draws (hetero, sparse, world; 64-785 UEs) it
    was 0.01-1.5% above the polished decision, greedy 0.1-20%, in 10-90 ms."""
    from mecopt.bounds import latency_dual_choice  # scipy only when asked
    from mecopt.repair import repair

    choice = latency_dual_choice(instance)
    if choice is None:
        return None
    d = repair(instance, Objective.LATENCY, choice)
    return d.assignment[0] if d.feasible[0] else None
