"""The exact MINLP as a Pyomo model. It knows nothing about solvers.

Units inside the model are scaled so that coefficients stay near 1: allocations in GHz,
workloads in Gcycles, times in s, energies in J. (Raw SI values put coefficients near 1e-9
into the matrix, which MILP solvers drop as zero.) The objective can be measured in
another unit (`unit`, with workloads in Gcycles per time unit under latency): the `scip`
backend uses the instance's `mecopt.units.time_unit` or `energy_unit`, since on a network
of microsecond or microjoule tasks costs in s or J fall below the solvers' tolerances.

Variables: x[i, k] binary for each option k (0 = local, j = server j) that can meet UE i's
deadline on its own (other options are left out of the model), f[i, j] >= 0 the GHz server j
gives UE i. The compute time of an offloaded UE is written C_i x^2 / (f + 1 - x): it equals
C_i / f when x = 1 and 0 when x = 0 (then f = 0), never divides by zero for x in [0, 1], and
is convex (a quadratic over a positive affine function), so the relaxation is convex too.
"""

from __future__ import annotations

import time

import numpy as np
import pyomo.environ as pyo

from mecopt.instance import Instance
from mecopt.objective import Objective

GHZ = 1e9  # cycles/s per model unit of allocation; also cycles per model unit of workload


class BuildOutOfTime(Exception):
    """`build_model`'s deadline passed before the model was complete."""


def build_model(instance: Instance, objective: Objective | str, *,
                unit: float = 1.0, deadline: float | None = None) -> pyo.ConcreteModel:
    """The exact offloading MINLP for one objective (latency: nonlinear; energy: linear),
    its objective in units of `unit` s (latency) or J (energy). `deadline` (a
    time.perf_counter() value): BuildOutOfTime if it passes between the model's parts
    (Pyomo takes seconds for 2,000 UEs x 20 servers)."""

    def check_time() -> None:
        if deadline is not None and time.perf_counter() >= deadline:
            raise BuildOutOfTime

    check_time()
    objective = Objective.parse(objective)
    N, M = instance.n_ues, instance.n_servers
    ok = instance.option_ok
    tau = unit if objective is Objective.LATENCY else 1.0  # s per time unit
    C = instance.cycles / GHZ / tau  # Gcycles per time unit: C / f is a time in that unit
    F = instance.capacity_hz / GHZ  # GHz
    f_min = np.where(instance.usable, instance.f_min, 0.0) / GHZ  # GHz

    m = pyo.ConcreteModel(name=f"mecopt-{instance.name}-{objective.value}")
    m.ues = pyo.Set(initialize=range(N), doc="UEs i")
    m.servers = pyo.Set(initialize=range(1, M + 1), doc="servers j (1-based)")
    m.options = pyo.Set(initialize=[(i, k) for i in range(N) for k in range(M + 1) if ok[i, k]],
                        dimen=2, doc="(UE, option) pairs that can meet the deadline alone")
    m.pairs = pyo.Set(initialize=[(i, k) for (i, k) in m.options if k > 0], dimen=2,
                      doc="(UE, server) pairs usable for offloading")

    m.x = pyo.Var(m.options, domain=pyo.Binary, doc="1 if UE i uses option k")
    m.f = pyo.Var(m.pairs, domain=pyo.NonNegativeReals,
                  bounds=lambda _, i, j: (0.0, F[j - 1]), doc="GHz server j gives UE i")

    m.assign = pyo.Constraint(m.ues, rule=lambda m, i: sum(
        m.x[i, k] for k in range(M + 1) if ok[i, k]) == 1, doc="each UE takes one option")
    check_time()
    on: dict[int, list[int]] = {j: [] for j in range(1, M + 1)}  # each server's UEs, in order
    for i, j in m.pairs:
        on[j].append(i)
    m.capacity = pyo.Constraint(m.servers, rule=lambda m, j: sum(
        m.f[i, j] for i in on[j]) <= F[j - 1] if on[j] else pyo.Constraint.Skip,
        doc="allocations on a server fit its capacity [GHz]")
    check_time()
    # With f >= f_min * x the compute time C/f <= T - t_tx: the deadline in linear form.
    m.deadline = pyo.Constraint(m.pairs, rule=lambda m, i, j: m.f[i, j] >= f_min[i, j - 1]
                                * m.x[i, j], doc="offloaded UEs get enough GHz to meet T_i")
    check_time()
    m.only_if_assigned = pyo.Constraint(m.pairs, rule=lambda m, i, j: m.f[i, j] <= F[j - 1]
                                        * m.x[i, j], doc="no GHz to UEs not on the server")
    check_time()

    t_loc, e_loc = instance.t_loc / tau, instance.e_loc
    t_tx, e_tx = instance.t_tx / tau, instance.e_tx

    def latency(m, i):
        expr = t_loc[i] * m.x[i, 0] if ok[i, 0] else 0.0
        for j in range(1, M + 1):
            if ok[i, j]:
                x, f = m.x[i, j], m.f[i, j]
                expr += t_tx[i, j - 1] * x + C[i] * x ** 2 / (f + 1 - x)
        return expr

    def energy(m, i):
        expr = e_loc[i] * m.x[i, 0] if ok[i, 0] else 0.0
        for j in range(1, M + 1):
            if ok[i, j]:
                expr += e_tx[i, j - 1] * m.x[i, j]
        return expr

    m.latency = pyo.Expression(m.ues, rule=latency, doc=f"latency of UE i [{tau:.6g} s]")
    check_time()
    m.energy = pyo.Expression(m.ues, rule=energy, doc="UE-side energy of UE i [J]")
    check_time()
    if objective is Objective.LATENCY:
        m.cost = pyo.Objective(expr=sum(m.latency[i] for i in m.ues) / N, sense=pyo.minimize,
                               doc=f"mean latency [{tau:.6g} s]")
    else:
        m.cost = pyo.Objective(expr=sum(m.energy[i] for i in m.ues) / unit,
                               sense=pyo.minimize, doc=f"total UE energy [{unit:.6g} J]")
    return m


def fix_decision(model: pyo.ConcreteModel, instance: Instance, assignment: np.ndarray,
                 allocation_hz: np.ndarray) -> None:
    """Fix the model's variables to a decision (for checking and warm starts)."""
    for (i, k) in model.options:
        model.x[i, k].fix(1 if assignment[i] == k else 0)
    for (i, j) in model.pairs:
        model.f[i, j].fix(allocation_hz[i] / GHZ if assignment[i] == j else 0.0)
