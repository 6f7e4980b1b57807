"""`bound`: a valid lower bound on the optimum, for any instance and objective, quickly.

Any method's answer can then carry a certified gap: (value - bound) / value is at least how
far the answer can be from optimal, whatever found it.

- energy: the LP relaxation of the generalized assignment problem (mecopt.relaxation),
  solved by HiGHS. On instances with many more UEs than servers only a few UEs are split
  fractionally, so the bound is close. The value reported is not the LP's own (which its
  tolerances can push above the optimum) but the Lagrangian function at the LP's capacity
  prices lam: sum_i min_k (E_ik + lam_j f_min[i, j]) - sum_j lam_j F_j, which is a valid
  bound for any lam >= 0 and equals the LP optimum at the LP's duals.
  When capacity binds hard, the LP can sit 1-3% below the optimum (the tight family). So
  when the LP bound is more than ROOT_TRIGGER below a feasible value (the caller's `upper`,
  else the LP solution made feasible by the shared repair), the root node of the MILP is
  solved too (HiGHS's cuts, its primal heuristics off: they look for solutions, not
  bounds), within ROOT_TIME_LIMIT seconds, and its dual bound is kept if it is higher.
- latency: the Lagrangian dual of the capacity constraints. With a price lam_j >= 0 per GHz
  on server j, the problem separates per UE: UE i's cheapest option costs t_loc, or
  t_tx + min over f in [f_min, F_j] of (C/f + lam_j f), which is attained at
  f = clip(sqrt(C / lam_j), f_min, F_j). Then
      L(lam) = sum_i min_k cost_ik(lam) - sum_j lam_j F_j
  is below the minimum total latency for every lam >= 0 (weak duality); L is concave and
  is maximized over lam by L-BFGS-B. Any lam gives a valid bound, so an imprecise maximum
  only loosens it. Deadlines are in the bound (f >= f_min), and so is the coupling through
  capacity that makes a server's compute time (sum sqrt C)^2 / F.
  The relaxation splits UEs across servers, which costs most where servers are many and
  UEs per server few (17 UEs on 13 servers: 27% below the optimum). So on instances of at
  most LATENCY_SEARCH_CELLS UE-option cells, when the dual is more than ROOT_TRIGGER below
  the better of the caller's `upper` and the greedy decision after the shared local
  search, the exact search of `highs` (mecopt.outer_approximation, whose master is a
  relaxation) runs for at most ROOT_TIME_LIMIT seconds, and its bound is kept if higher.
Infeasible instances (proven by mecopt.certificate) have bound +inf.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from mecopt.instance import Instance, usable_options
from mecopt.objective import Objective
from mecopt.relaxation import GHZ, assignment_lp
from mecopt.units import time_unit


@dataclass(frozen=True)
class Bound:
    """A lower bound on the optimum: its value (the objective's unit), how it was computed
    and how long it took."""

    value: float  # mean latency [s] or total energy [J]; +inf when proven infeasible
    how: str
    wall_time_s: float


# The energy MILP's root node for a stronger bound: one node, no primal heuristics.
ROOT_OPTIONS = {"mip_max_nodes": 1, "mip_heuristic_effort": 0.0,
                "mip_heuristic_run_feasibility_jump": False, "mip_heuristic_run_rins": False,
                "mip_heuristic_run_rens": False, "mip_heuristic_run_root_reduced_cost": False}
ROOT_TIME_LIMIT = 5.0
# Solve the root only when the LP bound is more than this (relative) below a feasible value.
ROOT_TRIGGER = 0.005
# Latency: the outer approximation's bound is tried up to this many cells N x (M + 1), where
# its master is small enough to improve on the dual within ROOT_TIME_LIMIT.
LATENCY_SEARCH_CELLS = 5_000


def bound(instance: Instance, objective: Objective | str, *,
          upper: float | None = None) -> Bound:
    """A valid lower bound on the optimum of `objective` for `instance` (see module doc).
    `upper`, a known feasible value, lets the energy bound skip work it cannot use."""
    objective = Objective.parse(objective)
    start = time.perf_counter()
    if objective is Objective.ENERGY:
        cost = np.c_[instance.e_loc, np.where(np.isfinite(instance.e_tx), instance.e_tx, 0.0)]
        lp = assignment_lp(instance, cost)
        if lp.status == "infeasible":
            value, how = math.inf, "the LP relaxation is infeasible"
        elif lp.status == "optimal":
            value, how = energy_dual(instance, lp.price), "LP relaxation (HiGHS)"
            if upper is None:
                upper = _rounded(instance, lp.x)
            if upper - value > ROOT_TRIGGER * abs(upper):
                root = assignment_lp(instance, cost, integer=True, time_limit=ROOT_TIME_LIMIT,
                                     options=ROOT_OPTIONS)
                if root.status == "infeasible":
                    value, how = math.inf, "the MILP is infeasible"
                elif np.isfinite(root.dual_bound) and root.dual_bound > value:
                    value, how = root.dual_bound, "the MILP's root node (HiGHS)"
        else:
            value, how = _cheapest_options(instance, cost), "each UE at its cheapest option"
    else:
        value, how = latency_dual(instance) / instance.n_ues, "Lagrangian dual of capacity"
        if math.isfinite(value) and instance.n_ues * (instance.n_servers + 1) \
                <= LATENCY_SEARCH_CELLS:
            value, how = _latency_search(instance, value, how, upper)
    return Bound(value, how, time.perf_counter() - start)


def _latency_search(instance: Instance, value: float, how: str,
                    upper: float | None) -> tuple[float, str]:
    """The better of the dual bound `value` and the outer approximation's bound within
    ROOT_TIME_LIMIT, tried only when the dual is more than ROOT_TRIGGER below the better of
    `upper` and the greedy decision after the shared local search: a poor `upper` alone
    would start the search where the dual is already close."""
    from mecopt.construct import greedy_assignment
    from mecopt.descend import descend
    from mecopt.evaluation import evaluate
    from mecopt.outer_approximation import search

    def close(upper: float | None) -> bool:
        return upper is not None and upper - value <= ROOT_TRIGGER * abs(upper)

    if close(upper):
        return value, how
    start, _ = greedy_assignment(instance, Objective.LATENCY)
    if start is None:
        return value, how
    if upper is None:
        upper = evaluate(instance, start).value(Objective.LATENCY)
        if close(upper):
            return value, how
    start, found = descend(instance, Objective.LATENCY, start)
    if close(min(upper, found)):
        return value, how
    result = search(instance, Objective.LATENCY, start=start, gap=1e-6,
                    time_limit=ROOT_TIME_LIMIT, threads=0, verbose=False)
    if result.status == "infeasible":
        return math.inf, "outer approximation (HiGHS): infeasible"
    if math.isfinite(result.bound) and result.bound > value:
        return result.bound, "outer approximation (HiGHS)"
    return value, how


def _rounded(instance: Instance, x: np.ndarray) -> float:
    """The energy of the LP solution's largest shares, made feasible by the shared repair
    (inf if the repair finds nothing)."""
    from mecopt.repair import repair

    return float(repair(instance, Objective.ENERGY, x.argmax(axis=1)).value[0])


def _cheapest_options(instance: Instance, cost: np.ndarray) -> float:
    best = np.where(usable_options(instance), cost, np.inf).min(axis=1)
    return float(best.sum())


def energy_dual(instance: Instance, price: np.ndarray) -> float:
    """The Lagrangian function of the energy problem at capacity prices `price` [J/Hz]:
    a valid lower bound on the minimum total energy [J] for any price >= 0."""
    ok = usable_options(instance)
    weight = np.where(ok[:, 1:], instance.f_min, 0.0)
    server = np.where(ok[:, 1:], instance.e_tx + price[None, :] * weight, np.inf)
    cost = np.where(ok, np.c_[instance.e_loc, server], np.inf)
    return float(cost.min(axis=1).sum() - price @ instance.capacity_hz)


def latency_dual(instance: Instance) -> float:
    """The Lagrangian dual bound on the total latency sum_i L_i [s] (+inf if no UE option
    exists for some UE)."""
    return _latency_dual(instance)[0]


def latency_dual_choice(instance: Instance) -> np.ndarray | None:
    """Each UE's cheapest option (N,) in the Lagrangian function at the dual's best
    capacity prices (None if some UE has no option): with many UEs per server the dual is
    within a fraction of a percent of the optimum, and so, mostly, is this assignment. It
    may overload a server (the prices balance the allocations, not the f_min sums);
    mecopt.polish.latency_rounding makes it feasible."""
    return _latency_dual(instance)[1]


def _latency_dual(instance: Instance) -> tuple[float, np.ndarray | None]:
    """(the dual bound on the total latency [s], the Lagrangian minimizer's options at the
    prices that gave it)."""
    ok = usable_options(instance)
    if not ok.any(axis=1).all():
        return math.inf, None
    # In the instance's time unit: L-BFGS-B's stopping test is absolute below 1, so in
    # seconds a network of microsecond tasks stopped far from the best prices.
    tau = time_unit(instance)
    C = instance.cycles / GHZ / tau  # Gcycles per time unit
    F = instance.capacity_hz / GHZ  # GHz
    # Only the usable (UE, option) pairs, UE by UE in option order (local first): on a
    # sparse network (1,815 UEs reaching about 5 of 396 servers each) a price evaluation
    # then touches 10,000 pairs, not 720,000 cells: the dual took 0.05 s there against 2.0 s,
    # and 0.37 s against 0.85 s on hetero 5,000 x 50, with the same prices and choices. A
    # local pair is a server pair that costs t_loc: no cycles, one GHz that fits, priced at
    # 0 (`on_server`).
    ue, opt = np.nonzero(ok)
    local = opt == 0
    on_server = (~local).astype(float)
    j = np.maximum(opt - 1, 0)
    C_p = np.where(local, 0.0, C[ue])
    low = np.where(local, 1.0, instance.f_min[ue, j] / GHZ)  # GHz
    high = np.where(local, 1.0, F[j])
    base = np.where(local, instance.t_loc[ue], instance.t_tx[ue, j]) / tau
    first = np.r_[0, np.flatnonzero(np.diff(ue)) + 1]  # each UE's first pair
    pairs = np.diff(np.r_[first, len(ue)])  # and how many it has

    def dual(lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """L(lam), a supergradient (the chosen options' allocations minus F) and the
        chosen options."""
        lam_p = lam[j]
        with np.errstate(divide="ignore", invalid="ignore"):
            free = np.sqrt(C_p / np.maximum(lam_p, 0.0))
        f = np.minimum(np.fmax(free, low), high)  # fmax: a local pair's 0/0 takes its 1 GHz
        cost = base + C_p / f + lam_p * f * on_server
        least = np.minimum.reduceat(cost, first)
        if not np.isfinite(least).all():
            raise _OutOfRange
        # Each UE's first pair at its least cost: the lowest option, as argmin takes.
        at = np.flatnonzero(cost == np.repeat(least, pairs))
        pick = at[np.r_[True, ue[at[1:]] != ue[at[:-1]]]]
        k = opt[pick]
        value = float(cost[pick].sum() - lam @ F)
        on = pick[k > 0]
        used = np.bincount(j[on], weights=f[on], minlength=len(F))
        return value, used - F, k

    from scipy.optimize import minimize  # here: importing scipy.optimize is most of `import mecopt`

    # Start from the price at which all UEs spread over the total capacity would use it.
    with np.errstate(over="ignore"):
        lam0 = np.full(len(F), (np.sqrt(C).sum() / F.sum()) ** 2)
    try:
        if not np.isfinite(lam0).all():
            raise _OutOfRange
        res = minimize(lambda x: tuple(-v for v in dual(x)[:2]), lam0, jac=True,
                       method="L-BFGS-B", bounds=[(0.0, None)] * len(F),
                       options={"maxiter": 200})
        # Every lam >= 0 gives a valid bound: keep the best of the start and the end.
        value, _, k = max(dual(np.maximum(res.x, 0.0)), dual(lam0), key=lambda d: d[0])
    except _OutOfRange:
        # Costs beyond float range (capacities of 1e-100 Hz beside CPUs of 1e200 Hz):
        # latency >= 0 is the bound left, and there is no choice.
        return 0.0, None
    return tau * max(value, 0.0), k.copy()


class _OutOfRange(Exception):
    """The Lagrangian function overflowed at some prices."""
