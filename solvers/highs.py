"""`highs`: the exact expert. Proven optima for both objectives with HiGHS through Pyomo.

Minimum energy is a generalized assignment MILP; minimum latency is a convex MINLP solved
exactly by outer approximation over a MILP master (mecopt/outer_approximation.py explains
the cuts and why the loop ends at the optimum). The greedy assignment is the first
incumbent (for latency the better of it and the Lagrangian dual's rounding,
mecopt.polish.latency_rounding, and under a time limit the better of that one's descent by
mecopt.descend and the descent of the `greedy` method's finished decision; for energy under
a time limit, its descent); under a time limit a heuristic improves it first: for
energy (from 200 UEs on) large-neighbourhood search (mecopt.lns), again whenever a time
slice of the master ends unproven, every master solve starting from the best assignment so
far (HiGHS's MIP start); for latency (at every size) the shared local search
(mecopt.descend), whose incumbent the cuts start from (from 200 UEs on).
Every decision is water-filled (mecopt.waterfill), so among energy-optimal assignments the
allocation is the latency-optimal one. For energy, server options dominated by local
execution are left out of the master (`dominated_by_local`).

Options: gap (relative, default 1e-6), threads, verbose, and max_energy, a cap on the total
UE energy [J] (for an epsilon-constraint Pareto front: minimum latency subject to
sum_i E_i <= max_energy).
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.construct import greedy_assignment
from mecopt.evaluation import evaluate
from mecopt.instance import Instance
from mecopt.method import Method, Option, Outcome
from mecopt.objective import Objective
from mecopt.polish import latency_rounding
from mecopt.status import Status

# Under a time limit, the share of the time limit the start's improvement may take at most:
# for energy the descent of greedy's start, for latency `_latency_start`.
DESCEND_SHARE = 0.1


class HighsMethod(Method):
    name = "highs"
    description = "exact: MILP (energy) / outer approximation (latency) with HiGHS via Pyomo"
    exact = True  # its "infeasible" is a proof (the master is a relaxation of the problem)
    options = {
        "gap": Option(float, 1e-6, "relative optimality gap at which to stop", low=0,
                      high=1, high_inclusive=False),
        "threads": Option(int, 0, "HiGHS threads; 0 keeps HiGHS's own choice, a positive "
                          "number rebuilds HiGHS's process-wide thread pool to that size", low=0),
        "verbose": Option(bool, False, "print the HiGHS log and the outer-approximation steps"),
        "max_energy": Option(float, None, "cap on the total UE energy [J] (none if unset)",
                             low=0, low_inclusive=False),
    }

    def _solve(self, instance, objective, *, time_limit, seed):
        # Pyomo and HiGHS load when the method solves, not when `mecopt methods` lists it:
        # pyomo.environ alone takes most of a second to import, inside the time limit.
        began = time.perf_counter()
        from mecopt.descend import descend
        from mecopt.lns import improve
        from mecopt.outer_approximation import search

        cap = self.config["max_energy"]
        start, _ = greedy_assignment(instance, objective)
        if objective is Objective.LATENCY and cap is None:
            # The Lagrangian dual's rounding is often far better than greedy's decision
            # (mecopt.polish.latency_rounding), and so is its descent.
            rounded = latency_rounding(instance)
            start = _better(instance, objective, start, rounded)
            if time_limit is not None:
                # (Its share counts from here: a process's first rounding spends up to
                # 0.8 s on lazy imports, and the second start then had no time left.)
                start = _latency_start(instance, start, rounded,
                                       deadline=time.perf_counter()
                                       + DESCEND_SHARE * time_limit)
        elif start is not None and cap is None and time_limit is not None:
            # Energy: HiGHS's tree may never improve greedy's decision much where the
            # servers hold a few UEs each (145 UEs, 38 such servers: 201 J -> 198 J in 60 s,
            # where the descent alone reaches 180 J); the descent costs milliseconds and the
            # master then starts from its local optimum.
            start = descend(instance, objective, start,
                            deadline=began + DESCEND_SHARE * time_limit)[0]
        if time_limit is not None:  # the starts' time counts
            time_limit = max(time_limit - (time.perf_counter() - began), 0.01)
        polish = None
        if objective is Objective.ENERGY and cap is None:
            def polish(a: np.ndarray, seconds: float) -> np.ndarray:
                # The master is the whole instance. Without LNS's tabu phase: on six `sparse`
                # draws of 256-385 UEs (10 s) it left highs 0.16-0.53% higher on five; it
                # helped a draw whose servers hold 1-3 UEs each (3.8% lower).
                return improve(instance, objective, a, time_limit=seconds, seed=seed,
                               whole=False, tabu=False)[0]
        elif objective is Objective.LATENCY and cap is None:
            # At 1,000-2,000 UEs the master makes no progress on greedy's incumbent within
            # tens of seconds; two seconds of the shared local search take it from 0.5-8.6%
            # above the best known to 0.07-2.2%.
            def polish(a: np.ndarray, seconds: float) -> np.ndarray:
                return descend(instance, objective, a,
                               deadline=time.perf_counter() + seconds)[0]
        result = search(instance, objective, start=start, gap=self.config["gap"],
                        time_limit=time_limit, threads=self.config["threads"],
                        verbose=self.config["verbose"], max_energy=cap, polish=polish)
        bound = result.bound if np.isfinite(result.bound) else None
        message = result.message
        if result.status == Status.INFEASIBLE:
            message = infeasibility_cause(instance, cap)
        return Outcome(result.assignment, status=result.status, bound=bound, message=message,
                       extra=result.extra)


def _latency_start(instance: Instance, start: np.ndarray | None, rounded: np.ndarray | None,
                   *, deadline: float) -> np.ndarray | None:
    """Latency under a time limit: the better of two descended starts, `start` (the better
    of greedy's construction and the dual's rounding) and the `greedy` method's finished
    decision (mecopt.improve.greedy_decision, priced by `rounded`), each improved by
    mecopt.descend until `deadline`. At 10 s the master seldom improves its start on draws
    of 19-1,598 UEs; `highs` ended lower with this start on 6 of 44 (up to 0.23%), where
    the finished decision's relocations and matching rounds reach what the descent of the
    dual's rounding does not (docs/exact.md)."""
    from mecopt.construct import placement_order
    from mecopt.descend import descend
    from mecopt.improve import greedy_decision

    latency = Objective.LATENCY
    # The current start's descent first: where the deadline cuts the second short (the
    # largest instances), the start is what it was before.
    descended = [] if start is None else [descend(instance, latency, start,
                                                  deadline=deadline)[0]]
    finished = greedy_decision(instance, latency, [placement_order(instance, latency)],
                               deadline=deadline, priced=rounded)[0]
    if finished is not None:
        descended.append(descend(instance, latency, finished, deadline=deadline)[0])
    return _better(instance, latency, *descended) if descended else start


def _better(instance: Instance, objective: Objective, *options: np.ndarray | None
            ) -> np.ndarray | None:
    """The cheapest of the feasible assignments among `options` (None if none is)."""
    best, value = None, np.inf
    for a in options:
        if a is not None:
            ev = evaluate(instance, a)
            if ev.feasible and ev.value(objective) < value:
                best, value = a, ev.value(objective)
    return best


def infeasibility_cause(instance: Instance, max_energy: float | None = None) -> str:
    """One line that says why no assignment satisfies the constraints (HiGHS proved that
    none does): a certificate from mecopt.certificate when one applies, else the energy cap
    or the integrality of the assignment."""
    from mecopt.certificate import certify_infeasible
    from mecopt.outer_approximation import search

    proof = certify_infeasible(instance)
    if proof is not None:
        return proof
    if max_energy is not None:
        free = search(instance, Objective.ENERGY, start=None, gap=1e-9, time_limit=None,
                      threads=0, verbose=False)
        if free.assignment is not None:
            return (f"max_energy: no assignment uses at most {max_energy:.6g} J; the minimum "
                    f"total energy is {free.value:.6g} J")
    return ("proven infeasible by HiGHS: a fractional assignment would fit the minimum "
            "allocations into the server capacities, but no assignment of whole tasks does")
