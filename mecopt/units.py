"""The units the exact models measure energy and time in.

HiGHS's and SCIP's tolerances are absolute: HiGHS reads a cost below about 1e-7 as zero and
SCIP's epsilon is 1e-9. A model in joules is therefore only right where energies are near
1 J. On a network of microjoule tasks (hetero-003 with its powers scaled by 1e-7) HiGHS
called an assignment 3.8% above the optimum optimal, SCIP one 1.4% above, and the MILP
root's "lower bound" lay 12% above the optimum. Every model that hands energies to a solver
divides them by `energy_unit(instance)` (or `cost_unit` of its own costs) and multiplies
what comes back. Time is the same for latency: with every time of hetero-003 scaled by 1e-5
(cycles, data and deadlines) the latency master stopped on "numerical trouble" without a
proof; the latency models measure time in `time_unit(instance)`.
"""

from __future__ import annotations

import numpy as np

from mecopt.instance import Instance
from mecopt.objective import Objective


def cost_unit(cost: np.ndarray, ok: np.ndarray) -> float:
    """The power of two nearest the median over rows of the cheapest cost among the `ok`
    entries (positive ones only): divided by it, the costs an optimum is made of are near 1
    whatever the instance's scale, and a power of two divides exactly. 1.0 when no row has a
    positive usable cost."""
    best = np.where(ok, cost, np.inf).min(axis=1)
    best = best[np.isfinite(best) & (best > 0)]
    if not len(best):
        return 1.0
    return float(2.0 ** np.round(np.log2(np.median(best))))


def alone_costs(instance: Instance, objective: Objective) -> np.ndarray:
    """(N, M+1) each UE's cost on each option with a whole server to itself: for latency
    t_loc or t_tx + C / F [s], for energy e_loc or e_tx [J] (the allocation does not change
    it). Also the terms of `mecopt.outer_approximation.trivial_bound`."""
    # np.concatenate, not np.c_: LAMBO's decoding order calls this per batch row, and
    # np.c_'s index parsing cost three to four times the concatenation (15 against 4 us).
    if objective is Objective.LATENCY:
        remote = instance.t_tx + instance.cycles[:, None] / instance.capacity_hz[None, :]
        return np.concatenate([instance.t_loc[:, None], remote], axis=1)
    return np.concatenate([instance.e_loc[:, None], instance.e_tx], axis=1)


def objective_unit(instance: Instance, objective: Objective) -> float:
    """The model unit of the objective: `time_unit` for latency, `energy_unit` for energy."""
    return cost_unit(alone_costs(instance, objective), instance.option_ok)


def energy_unit(instance: Instance) -> float:
    """J per model unit of energy for `instance`: `cost_unit` of each UE's option energies
    over the options that meet its deadline."""
    return objective_unit(instance, Objective.ENERGY)


def time_unit(instance: Instance) -> float:
    """Seconds per model unit of time for `instance`: `cost_unit` of each UE's latency on
    each option that meets its deadline, alone (a whole server to itself)."""
    return objective_unit(instance, Objective.LATENCY)
