"""`scip`: the exact MINLP of mecopt.formulation solved directly by SCIP, a global solver.

An independent cross-check of `highs`: it shares only the model text with it (no cuts, no
outer approximation), through Pyomo's `scip_direct` interface to pyscipopt. SCIP's
assignment is then water-filled, which can only lower the latency SCIP reports, so its
bound stays valid. Optional: `pip install "mecopt[scip]"` (pyscipopt bundles SCIP).
"""

from __future__ import annotations

import importlib.util
import math
import sys
import time
from typing import TYPE_CHECKING

import numpy as np

from mecopt.method import Method, Option, Outcome
from mecopt.status import Status

if TYPE_CHECKING:
    from mecopt.instance import Instance
    from mecopt.objective import Objective

INSTALL_HINT = 'pyscipopt is not installed: pip install "mecopt[scip]"'
# SCIP's infinity: it refuses a time limit (limits/time) or a coefficient above it. A longer
# time limit is handed to SCIP as this.
SCIP_INFINITY = 1e20


class ScipMethod(Method):
    name = "scip"
    description = "exact: the MINLP solved directly by SCIP via Pyomo (independent cross-check)"
    exact = True
    options = {
        "gap": Option(float, 1e-6, "relative optimality gap at which to stop", low=0,
                      high=1, high_inclusive=False),
        "threads": Option(int, 1, "threads (SCIP solves with one)", low=1),
        "verbose": Option(bool, False, "print the SCIP log"),
    }

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("pyscipopt") is None:
            return False, INSTALL_HINT
        return True, ""

    def _solve(self, instance, objective, *, time_limit, seed):
        # Pyomo loads when the method solves, not when `mecopt methods` lists it.
        from pyomo.contrib.solver.common.results import TerminationCondition as TC

        from mecopt.certificate import certify_infeasible
        from mecopt.formulation import BuildOutOfTime, build_model
        from mecopt.locks import SOLVER_LOCK
        from mecopt.units import objective_unit

        deadline = None if time_limit is None else time.perf_counter() + time_limit
        # The objective in the instance's own unit: SCIP's tolerances are absolute.
        unit = objective_unit(instance, objective)
        try:
            model = build_model(instance, objective, unit=unit, deadline=deadline)
        except BuildOutOfTime:
            model = None
        if model is None or (deadline is not None and time.perf_counter() >= deadline):
            return Outcome(None, status=Status.TIMEOUT, message=(
                f"the time limit passed while Pyomo built the model ({instance.n_ues} UEs x "
                f"{instance.n_servers} servers)"))
        solver = _deadline_scip(deadline)
        try:
            with SOLVER_LOCK:  # Pyomo captures fd 1 while it solves (mecopt.locks)
                res = solver.solve(model, load_solutions=False,
                                   raise_exception_on_nonoptimal_result=False,
                                   time_limit=time_limit, rel_gap=self.config["gap"],
                                   abs_gap=0.0,
                                   tee=[sys.stderr] if self.config["verbose"] else [],
                                   solver_options={"randomization/randomseedshift": seed})
        except Exception as exc:
            if "error in input data" not in str(exc):
                raise
            # Energies of 1e-15 J beside 1e15 J: in the objective's unit one coefficient
            # still lies beyond SCIP's infinity (1e20), and SCIP refuses the model.
            return Outcome(None, status=Status.ERROR, message=(
                f"SCIP refused the model ({exc}): a coefficient lies beyond its infinity, "
                f"{SCIP_INFINITY:g}, in the instance's units; highs solves such instances"))
        term = res.termination_condition
        bound = res.objective_bound
        bound = unit * float(bound) if bound is not None and math.isfinite(bound) else None
        if term in (TC.provenInfeasible, TC.infeasibleOrUnbounded):
            return Outcome(None, status=Status.INFEASIBLE, message=certify_infeasible(
                instance) or "proven infeasible by SCIP")
        assignment = None
        if res.incumbent_objective is not None:
            values = res.solution_loader.get_vars(list(model.x.values()))
            assignment = np.zeros(instance.n_ues, dtype=int)
            for (i, k), var in model.x.items():
                if values[var] > 0.5:
                    assignment[i] = k
        extra = {"scip_objective": None if res.incumbent_objective is None
                 else unit * res.incumbent_objective}
        note = ""
        if assignment is not None:
            assignment, note = _within_checker(instance, objective, assignment)
            if note:
                extra["scip_rejected"] = note
        if term == TC.convergenceCriteriaSatisfied and not note:
            status = Status.OPTIMAL
        elif assignment is not None:
            status = Status.FEASIBLE
        elif term == TC.maxTimeLimit:
            status = Status.TIMEOUT
        else:
            status = Status.NO_SOLUTION
        message = "" if status is Status.OPTIMAL else f"SCIP stopped: {term.name}"
        if note:
            message = (f"{note}; SCIP stopped: {term.name}" if assignment is None else
                       f"{note}; its repair is kept (SCIP stopped: {term.name})")
        return Outcome(assignment, status=status, bound=bound, message=message, extra=extra)


def _within_checker(instance: Instance, objective: Objective, assignment: np.ndarray
                    ) -> tuple[np.ndarray | None, str]:
    """SCIP's assignment if the checker accepts it, else the shared repair of it, else None,
    with a note of what the checker refused ("" when it accepted). SCIP keeps constraints to
    its feasibility tolerance (1e-6), the checker to mecopt.waterfill.FIT_TOL (1e-12): where
    the minimum allocations fill a server exactly, SCIP's decision can overload it by a few
    Hz. The instance can still be feasible, or be infeasible by the checker's measure."""
    from mecopt.evaluation import evaluate
    from mecopt.repair import repair

    checked = evaluate(instance, assignment)
    if checked.feasible:
        return assignment, ""
    note = (f"the checker refused SCIP's decision ({checked.violations[0].message}), "
            "which holds to SCIP's looser feasibility tolerance")
    fixed = repair(instance, objective, assignment[None])
    if fixed.feasible[0]:
        return fixed.assignment[0], note
    return None, note + ", and the shared repair found no decision from it"


def _deadline_scip(deadline: float | None):
    """Pyomo's `scip_direct` with SCIP's time limit set from `deadline` once the model is in
    SCIP: building a 2,000 x 20 model and handing it to SCIP take about 5 s each, which
    SCIP's own clock does not count.

    SCIP's messages go through Python (pyscipopt's `redirectOutput`). Pyomo captures file
    descriptor 1 into a pipe that a Python thread drains, and pyscipopt's `optimize` holds
    the GIL: SCIP writing more than the pipe holds straight to the descriptor waited for
    that thread forever (a check of its final solution printed a violated row of a few
    thousand terms, and a 742-UE energy run hung). Python's own writes release the GIL
    while they wait."""
    from pyomo.contrib.solver.solvers.scip.scip_direct import ScipDirect

    class DeadlineScip(ScipDirect):
        def _create_solver_model(self, model, config):
            made = super()._create_solver_model(model, config)
            made[0].redirectOutput()
            if deadline is not None:
                config.time_limit = min(max(deadline - time.perf_counter(), 0.01),
                                        SCIP_INFINITY)
            return made

    return DeadlineScip()
