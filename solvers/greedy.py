"""`greedy`: a strong constructive heuristic, the bar every search and learned method clears.

Greedy is the shared construction (mecopt.construct) with no proposal: every UE takes the
option where the objective grows least given the placements so far, among the options that
still fit (a server fits when the minimum allocations that meet the deadlines, f_min, still
sum to at most its capacity). Feasibility comes first:

- order: the UEs that must offload (local misses the deadline) first, then the largest
  regret first (second-most against most desirable option in an empty system, the option's
  share f_min / F_j of its server counted, as in Martello and Toth's MTHG for the
  generalized assignment problem);
- a UE that finds no fitting option makes room by moving one, else two, UEs already placed
  on a server it can use to other options where they fit, the cheapest change first;
- if that fails, the decision is built again from a feasible anchor (the UEs that must
  offload packed onto the servers by a small HiGHS MILP), each UE moved to its greedy
  choice where it fits.

Marginal costs (mecopt.construct.marginal_cost, shared with the decoder's repair):
- latency: local t_loc, or t_tx + ((S_j + sqrt C_i)^2 - S_j^2) / F_j, where S_j is the sum of
  sqrt(C) already on server j, since (sum sqrt C)^2 / F_j is a server's total compute time
  under water-filling when no deadline binds;
- energy: e_loc or e_tx, ties broken by the latency marginal.
Finally the servers are water-filled (mecopt.waterfill), which also handles binding deadlines.

Option `lns=S` (mecopt.polish) then improves the decision by large-neighbourhood search
(mecopt.lns) for S seconds: for energy under binding capacity, `greedy:lns=1` is mecopt's
fast energy method (docs/lns.md has its measurements).
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.construct import construct, placement_order
from mecopt.instance import Instance
from mecopt.method import Method, Outcome
from mecopt.objective import Objective
from mecopt.polish import LNS_OPTION, check_lns, finish_with_lns
from mecopt.status import Status
from mecopt.waterfill import fits


def greedy_assignment(instance: Instance, objective: Objective | str, *,
                      order: np.ndarray | None = None) -> tuple[np.ndarray | None, str]:
    """The greedy assignment, or (None, where it got stuck) when the construction found no
    decision (then the instance may still be feasible: nothing is proven). `order` replaces
    the placement order (mecopt.construct.placement_order) when given."""
    objective = Objective.parse(objective)
    order = placement_order(instance, objective) if order is None else order
    a, stuck = construct(instance, objective, np.full((1, instance.n_ues), -1), order=order)
    if stuck[0]:
        return None, _dead_end(instance, order, a[0])
    return a[0], ""


def _dead_end(instance: Instance, order: np.ndarray, a: np.ndarray) -> str:
    """Where the construction (its stuck assignment a) got stuck: the first UE in placement
    order with no usable option, or whose server it overloads."""
    usable = instance.option_ok[order].any(axis=1)
    i = None if usable.all() else int(order[np.argmin(usable)])
    if i is None:
        load = np.zeros(instance.n_servers)
        for u in order:
            k = a[u]
            if k > 0:
                load[k - 1] += instance.f_min[u, k - 1]
                if not fits(load[k - 1], instance.capacity_hz[k - 1]):
                    i = int(u)
                    break
    where = f"UE {i}" if i is not None else "a UE"
    return (f"greedy: {where} found no room after ejection, and HiGHS found no packing of "
            "the UEs that must offload")


class GreedyMethod(Method):
    name = "greedy"
    description = ("constructive heuristic, feasibility first: must-offload and high-regret UEs "
                   "first, each to its cheapest fitting option, ejecting to make room")

    options = {"lns": LNS_OPTION}

    def check_options(self, config):
        check_lns(config)

    def _solve(self, instance, objective, *, time_limit, seed):
        deadline = None if time_limit is None else time.perf_counter() + time_limit
        assignment, why = greedy_assignment(instance, objective)
        if assignment is None:
            return Outcome(None, status=Status.NO_SOLUTION, message=why)
        assignment, extra = finish_with_lns(instance, objective, assignment,
                                            seconds=self.config["lns"], deadline=deadline,
                                            seed=seed)
        return Outcome(assignment, extra=extra)
