"""`greedy`: a strong constructive heuristic, the bar every search and learned method clears.

UEs are placed one by one, in this order: fewest usable options first (those are the hardest
to place), then the largest regret first (how much more the second-best option costs than
the best one in an empty system). Each UE goes to the option where the objective grows
least given the placements so far, among the options that still fit: a server fits when
the minimum allocations that meet the deadlines (f_min) still sum to at most its capacity.

Marginal costs (mecopt.decoder.marginal_cost, shared with the decoder's repair):
- latency: local t_loc, or t_tx + ((S_j + sqrt C_i)^2 - S_j^2) / F_j, where S_j is the sum of
  sqrt(C) already on server j, since (sum sqrt C)^2 / F_j is a server's total compute time
  under water-filling when no deadline binds;
- energy: e_loc or e_tx, ties broken by the latency marginal.
Finally the servers are water-filled (mecopt.waterfill), which also handles binding deadlines.
"""

from __future__ import annotations

import numpy as np

from mecopt.decoder import marginal_cost
from mecopt.instance import Instance
from mecopt.method import Method, Outcome
from mecopt.objective import Objective


def greedy_assignment(instance: Instance, objective: Objective) -> tuple[np.ndarray | None, str]:
    """The greedy assignment, or (None, reason) when a UE finds no option that fits."""
    N, M = instance.n_ues, instance.n_servers
    root = np.sqrt(instance.cycles)
    cap = instance.capacity_hz
    ok = instance.option_ok  # (N, M+1)
    f_min = np.where(instance.usable, instance.f_min, 0.0)

    empty = np.zeros((1, M))
    costs = np.array([np.where(ok[i], marginal_cost(instance, objective, i, empty)[0], np.inf)
                      for i in range(N)])
    best_two = np.sort(costs, axis=1)[:, :2]
    with np.errstate(invalid="ignore"):
        regret = np.where(np.isfinite(best_two[:, 1]), best_two[:, 1] - best_two[:, 0], np.inf)
    order = np.lexsort((-regret, ok.sum(axis=1)))

    assignment = np.zeros(N, dtype=int)
    load = np.zeros(M)  # sum of f_min per server
    root_sum = np.zeros(M)
    for i in order:
        fits = ok[i].copy()
        fits[1:] &= load + f_min[i] <= cap * (1 + 1e-12)
        if not fits.any():
            return None, (f"UE {i} has no option left that meets its deadline within the "
                          "remaining capacities")
        cost = np.where(fits, marginal_cost(instance, objective, i, root_sum[None])[0], np.inf)
        k = int(np.argmin(cost))
        assignment[i] = k
        if k > 0:
            load[k - 1] += f_min[i, k - 1]
            root_sum[k - 1] += root[i]
    return assignment, ""


class GreedyMethod(Method):
    name = "greedy"
    description = "constructive heuristic: hardest UEs first, each to its cheapest fitting option"

    def _solve(self, instance, objective, *, time_limit, seed):
        assignment, why = greedy_assignment(instance, objective)
        if assignment is None:
            return Outcome(None, status="infeasible", message=why)
        return Outcome(assignment)
