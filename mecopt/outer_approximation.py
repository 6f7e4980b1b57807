"""The exact assignment search behind `highs`: a MILP master solved by HiGHS, refined by
outer approximation until the proven gap is small enough.

Units inside the master are scaled (GHz, and for time and energy the instance's own
`mecopt.units.time_unit` and `energy_unit`) so every coefficient stays near 1: workloads
are in Gcycles per time unit, so that Gcycles / GHz is a time in that unit.

The master has a binary x[i, k] per option that can meet UE i's deadline on its own
(k = 0 local, k = j server j), each UE takes one option, and the minimum allocations
(f_min) on a server fit its capacity; an optional energy cap bounds sum_i E_i. Then:

- energy: the objective sum_i E_i is linear, so the master is the exact problem (a
  generalized assignment MILP) and one solve proves the optimum.
- latency: the objective is the total latency sum_i t_tx x + (each server's compute time).
  A server's compute time under water-filling, V_j(x), is convex and not linear, so the
  master carries a variable w_j >= 0 bounded below by two families of linear cuts:
    * aggregated: (sum_i sqrt(C_i) x_ij)^2 / F_j <= V_j (Cauchy-Schwarz with sum f <= F_j),
      exact when no deadline binds. It is a convex function of the linear form
      s_j = sum_i sqrt(C_i) x_ij, so its tangents w_j >= (2 s_k s_j - s_k^2) / F_j are
      linear in x and valid everywhere.
    * per pair: with a GHz variable f_ij in [f_min x, F_j x] and sum_i f_ij <= F_j,
      t_ij >= C_i (2 x_ij / f_k - f_ij / f_k^2) are tangents of the perspective C x^2 / f,
      valid for x in {0, 1}; w_j >= sum_i t_ij. These keep the method exact when deadlines
      bind (then the aggregated bound is strictly below V_j). Where a deadline binds in the
      start they also start on a grid of allocations (`Master.add_pair_grid`).
  Every master optimum x* is water-filled (mecopt.waterfill) to get its true value, an upper
  bound; cuts are added at x*'s s_j on every server, and at the water-filled f_ij on the
  servers where a deadline binds (elsewhere the aggregated tangent is already exact). With
  those cuts the master's value at x* is at least the true value (the tangent of a convex
  function at the optimum of the allocation problem, by its first-order optimality
  condition), so x* cannot come back unless the bounds have met: the loop ends in finitely
  many steps with a proven optimum.

On near-identical UEs (the paper family) the hard part is not the cuts but the LP
relaxation splitting UEs fractionally between servers. Two things make it easy: an integer
count n_j per server with count-strengthened tangents (see `Master.add_aggregate_cut`), and
dense tangents around the greedy assignment's s_j, so that the first master is exact to
within the gap near the optimum and usually proves it in one solve. Servers of equal
capacity are not interchangeable (their uplink rates differ), so no symmetry-breaking
constraint is valid in general and none is used.

The master's dual bound is the proven lower bound (HiGHS solves it to a quarter of the gap).
"""

from __future__ import annotations

import bisect
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from mecopt.evaluation import evaluate
from mecopt.instance import Instance, usable_options
from mecopt.locks import SOLVER_LOCK
from mecopt.objective import Objective
from mecopt.relaxation import WHOLE_HEURISTIC_EFFORT
from mecopt.status import Status
from mecopt.units import alone_costs, energy_unit, objective_unit
from mecopt.waterfill import waterfill

GHZ = 1e9  # Hz (and cycles) per model unit

# Tangent points of the aggregated term over each server's whole range, spaced this
# fraction of the smallest sqrt(C_i) there (a coarse, everywhere-valid start), and at most
# MAX_GRID_POINTS of them per server (wider apart where more would be needed): the library
# needs at most 338, a 1,500-UE world instance with tasks over a decade 9,244 per server,
# which made a master of 128,000 cuts that took minutes to build.
AGGREGATE_SPACING = 0.25
MAX_GRID_POINTS = 512
# Dense tangents around the greedy assignment's s_j: FINE_POINTS on each side, FINE_SPACING
# of the smallest sqrt(C_i) apart. With these the first master is within about 1e-6 of exact
# near the optimum on the paper family (measured: one master solve instead of two or three).
FINE_SPACING = 0.02
FINE_POINTS = 50
# HiGHS's primal heuristics cost more than they find here: the greedy start and the tight
# relaxation put the optimum in the root LP's neighbourhood, while the sub-MIP heuristics
# (RINS, RENS, root reduced cost) took 80-90% of the time. Measured on paper-000..019,
# latency: 0.3-0.5 s CPU without them, 1.3-4.4 s with HiGHS's defaults. (With an energy cap
# neither setting was clearly faster over paper-000, hetero-001 and hetero-004.) The energy
# master keeps them, with more effort (mecopt.relaxation.WHOLE_HEURISTIC_EFFORT): there a
# GAP's incumbents come from those heuristics (proofs of instances/hetero and
# instances/large energy: 16 s in all with them, 87 s without; hetero 500 x 10 at 20 s:
# 255.94 J with them, 256.58 J without).
HIGHS_OPTIONS = {"mip_heuristic_effort": 0.0, "mip_heuristic_run_rins": False,
                 "mip_heuristic_run_rens": False, "mip_heuristic_run_root_reduced_cost": False,
                 "mip_heuristic_run_feasibility_jump": False}
# Above this many columns a latency master under a time limit is solved without HiGHS's
# presolve, which does not stop at the limit there (2,000 x 20: 121,000 columns, 12 s of
# presolve for a limit of 2.7 s; the library's masters have a few thousand).
PRESOLVE_MAX_COLUMNS = 50_000
# Below that, under a time limit, HiGHS's presolve runs without probing and enumeration
# (HiGHS's presolve_rule_off bits 15 and 16), which do not stop at the limit either: on a
# latency master of 45,000 columns (1,139 UEs x 13 servers) they took 12.6 s of a 10 s
# limit, so the run ended at 17 s with the trivial bound; without them it ended at 10.3 s
# with the root LP's bound, the same incumbent, and the library's proofs were as fast.
SLOW_PRESOLVE_RULES = (1 << 15) | (1 << 16)
# Above ROOT_PROBE_COLUMNS (below) the aggregator (bit 12) is left out too: on an 1,884 x 7
# master (19,113 columns) it took 8-10 s of a second solve's presolve, past a 10 s limit,
# and 0.06 s without it. Not on smaller masters: without it the tight library's proofs
# took up to 2.4 times as long (tight-014: 8.6 s against 6.0 s of a 10 s limit).
MID_PRESOLVE_RULES = SLOW_PRESOLVE_RULES | (1 << 12)
# Handing a built master to HiGHS (Pyomo's set_instance) takes 1.26-1.34 times its build on
# 883-2,000-UE latency masters (0.5-0.75 times on energy's, which build in under a second
# there) and cannot be stopped: under a time limit a master is not handed over when less
# than LOAD_PER_BUILD times its build time is left, and the time left goes to the polish
# (a 1,695 x 26 latency master built in 4.7 s took 6.2 s to load, and the run ended at
# 13.4 s of a 10 s limit, with the trivial bound).
LOAD_PER_BUILD = 1.5
# Above this many columns a latency master under a time limit is solved as an LP only (its
# bound), and the polish gets the rest of the time (with no polish, as under an energy cap,
# the MIP is the only search and stays). There HiGHS's MIP root spends its time in
# cut separation, which its interrupt callbacks do not reach: one round ran from 2 s to 31 s
# of a 20 s limit on a 1,358 x 17 master (bound 0.0008% above the root LP's, the polished
# start kept), and from 7.6 s to 59.7 s of a 30 s limit at 2,000 x 20.
LP_ONLY_COLUMNS = 30_000
# Between ROOT_PROBE_COLUMNS and LP_ONLY_COLUMNS a latency master under a time limit (with a
# polish) solves its LP relaxation first, for its bound and its time; the MIP follows only
# when the time left is at least ROOT_PER_LP times that LP's run. The MIP's first round of
# cut separation, which no callback reaches, ran 4.4 and 5.4 times its root LP's time on two
# masters of about 16,000 columns and 34,000 rows (830 x 18 and 544 x 20): on the first it
# ended at 15 s of a 10 s limit, with a bound no higher than the LP's. On 200 x 42 masters
# of the same size the MIP's rounds are short and its bound closes the gap 5 times as far
# as the LP's (0.08% against 0.41%), so it keeps running where the time allows it.
ROOT_PROBE_COLUMNS = 10_000
ROOT_PER_LP = 8.0
# A priori per-pair tangents (Master.add_pair_grid, where a deadline binds in the start):
# PAIR_GRID_POINTS per pair whose f_min is at least PAIR_GRID_BINDS times its least
# water-filled share (elsewhere no deadline can bind and the aggregated tangents suffice),
# at most PAIR_GRID_MAX_CUTS rows in all. Without them the master priced every pair it had
# not yet visited at its deadline-blind aggregated tangent (docs/exact.md has the figures).
# With 16,000 rows a 1,439 x 22 master's root did not finish within 10 s where it had
# without them (bound 60% below the incumbent instead of 19%); with 8,000, 17%.
PAIR_GRID_POINTS = 8
PAIR_GRID_MAX_CUTS = 8_000
PAIR_GRID_BINDS = 0.25
# Two cut points closer than this (relative) are the same cut.
CUT_RTOL = 1e-9
# An allocation within this (relative) of f_min is held at it: the deadline binds there.
BINDS_RTOL = 1e-9
# Under a time limit with a polish heuristic (see `search`): the heuristic first gets this
# share of the time limit; for energy the master then runs in slices of SLICE_SHARE of the
# time left (at least SLICE_MIN_S), and the heuristic gets POLISH_SHARE between slices
# (latency's master runs the rest of the time at once); a heuristic run never exceeds
# POLISH_MAX_S or half the time left.
POLISH_FIRST_SHARE = 0.1
POLISH_SHARE = 0.08
POLISH_MAX_S = 10.0
MIN_POLISH_S = 0.05  # a shorter polish is left out
SLICE_SHARE = 0.4
SLICE_MIN_S = 5.0
# Energy below this many UEs: the master usually proves the optimum in seconds (every
# shipped library instance), and neither the heuristic nor slicing pays: the master runs
# alone. Latency's descent runs first at every size: it takes 0.01-0.3 s below 200 UEs,
# and where the master cannot close the gap in time its own incumbent can be far off
# (held-out heavytail, 10 s: 0.4-7.8% above the descent's). Below this many UEs the
# descended incumbent adds no cuts, so the master takes the path it takes alone: with
# them it lost proofs it finds alone in 3-4 s of a 5 s limit (scale fuzz 222, 227).
POLISH_FIRST_MIN_UES = 200

# A fast improvement heuristic: (feasible assignment, seconds) -> an assignment no worse.
Polish = Callable[[np.ndarray, float], np.ndarray]


@dataclass
class Result:
    """What the search found: its best decision, the proven bound and why it stopped."""

    assignment: np.ndarray | None
    value: float  # objective of `assignment` (mean latency [s] or total energy [J]); inf if none
    bound: float  # proven lower bound on the optimum, same unit; -inf if none
    status: Status  # OPTIMAL, FEASIBLE, INFEASIBLE or TIMEOUT
    message: str = ""
    extra: dict = field(default_factory=dict)


def _tee(verbose: bool) -> list:
    return [sys.stderr] if verbose else []  # stdout may carry the solution JSON


class MasterOutOfTime(Exception):
    """The deadline passed while Pyomo built the master."""


class Master:
    """The MILP master for one instance and objective, kept alive across re-solves."""

    def __init__(self, instance: Instance, objective: Objective, *,
                 max_energy: float | None = None, deadline: float | None = None) -> None:
        """`deadline` (a time.perf_counter() value): MasterOutOfTime if it passes while the
        model is built (Pyomo takes seconds for a large one)."""
        began = time.perf_counter()
        self.instance, self.objective = instance, objective
        self._deadline = deadline
        self._check_time()  # a start that took the whole limit leaves no time to build
        N, M = instance.n_ues, instance.n_servers
        # Times in the instance's time unit, energies in its energy unit: the solver's
        # tolerances are absolute (mecopt.units).
        self.unit = objective_unit(instance, objective)
        C = instance.cycles / GHZ / (self.unit if objective is Objective.LATENCY else 1.0)
        F = instance.capacity_hz / GHZ
        low = np.where(instance.usable, instance.f_min, np.inf) / GHZ
        # Options that can meet the deadline alone; a pair whose f_min alone exceeds the
        # capacity never fits and is left out.
        ok = instance.option_ok.copy()
        ok[:, 1:] &= low <= F[None, :]
        if objective is Objective.ENERGY:
            ok[:, 1:] &= ~dominated_by_local(instance)
        self.ok, self.C, self.F, self.low = ok, C, F, low
        self.latency = objective is Objective.LATENCY

        m = pyo.ConcreteModel(name=f"master-{instance.name}-{objective.value}")
        m.options = pyo.Set(initialize=[(i, k) for i in range(N) for k in range(M + 1)
                                        if ok[i, k]], dimen=2)
        m.pairs = pyo.Set(initialize=[(i, k) for (i, k) in m.options if k > 0], dimen=2)
        m.x = pyo.Var(m.options, domain=pyo.Binary, doc="1 if UE i takes option k")
        m.assign = pyo.Constraint(range(N), rule=lambda m, i: sum(
            m.x[i, k] for k in range(M + 1) if ok[i, k]) == 1, doc="one option per UE")
        # Between the large parts too: each takes a third of a second at 2,000 x 20.
        self._check_time()
        on = {j: [i for i in range(N) if ok[i, j]] for j in range(1, M + 1)}
        self.on = on
        m.min_load = pyo.Constraint(
            [j for j in on if on[j]], rule=lambda m, j: sum(
                low[i, j - 1] * m.x[i, j] for i in on[j]) <= F[j - 1],
            doc="the minimum allocations that meet the deadlines fit the capacity [GHz]")
        self._check_time()
        energy_u = self.unit if objective is Objective.ENERGY else energy_unit(instance)
        e_loc, e_tx = instance.e_loc / energy_u, instance.e_tx / energy_u
        energy = sum(e_loc[i] * m.x[i, 0] if k == 0 else e_tx[i, k - 1] * m.x[i, k]
                     for (i, k) in m.options)
        if max_energy is not None:
            m.energy_cap = pyo.Constraint(expr=energy <= max_energy / energy_u,
                                          doc="total UE energy within the cap [energy unit]")
        m.no_good = pyo.ConstraintList(doc="server groups that do not fit after rounding")
        self._check_time()

        self.model = m
        self._pending: list = []
        self._agg_points: dict[int, list[float]] = {j: [] for j in on}
        self._band: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._pair_points: dict[tuple[int, int], list[float]] = {}
        self.gridded = False  # add_pair_grid has run
        if self.latency:
            self._add_latency_terms(m)
        else:
            m.cost = pyo.Objective(expr=energy, sense=pyo.minimize,
                                   doc="total energy [energy unit]")
        self._deadline = None  # built: the deadline was for building only
        self._columns = sum(len(v) for v in m.component_objects(pyo.Var))
        self.solver = _DeadlineHighs()
        cfg = self.solver.config
        cfg.load_solutions = False
        cfg.raise_exception_on_nonoptimal_result = False
        for key in ("check_for_new_or_removed_constraints", "check_for_new_or_removed_vars",
                    "check_for_new_or_removed_params", "check_for_new_objective",
                    "update_constraints", "update_vars", "update_named_expressions",
                    "update_objective", "update_parameters"):
            setattr(cfg.auto_updates, key, False)  # we tell the solver what changed
        self._started = False
        self.build_s = time.perf_counter() - began  # [s] (see LOAD_PER_BUILD)

    @property
    def loaded(self) -> bool:
        """Whether the model has been handed to HiGHS (by the first `solve`)."""
        return self._started

    def _check_time(self) -> None:
        if self._deadline is not None and time.perf_counter() > self._deadline:
            raise MasterOutOfTime

    # --------------------------------------------------------------- latency parts
    def _add_latency_terms(self, m: pyo.ConcreteModel) -> None:
        inst, C, F, low, on = self.instance, self.C, self.F, self.low, self.on
        servers = [j for j in on if on[j]]
        m.w = pyo.Var(servers, domain=pyo.NonNegativeReals,
                      doc="lower bound on server j's total compute time [time unit]")
        m.f = pyo.Var(m.pairs, domain=pyo.NonNegativeReals,
                      bounds=lambda _, i, j: (0.0, F[j - 1]), doc="GHz for UE i on server j")
        m.t = pyo.Var(m.pairs, domain=pyo.NonNegativeReals,
                      doc="lower bound on UE i's compute time on server j [time unit]")
        m.capacity = pyo.Constraint(servers, rule=lambda m, j: sum(
            m.f[i, j] for i in on[j]) <= F[j - 1], doc="allocations fit the capacity [GHz]")
        m.deadline = pyo.Constraint(m.pairs, rule=lambda m, i, j: m.f[i, j] >= low[i, j - 1]
                                    * m.x[i, j], doc="enough GHz to meet the deadline")
        self._check_time()
        m.only_if_assigned = pyo.Constraint(m.pairs, rule=lambda m, i, j: m.f[i, j]
                                            <= F[j - 1] * m.x[i, j], doc="no GHz if not there")
        m.pair_sum = pyo.Constraint(servers, rule=lambda m, j: m.w[j] >= sum(
            m.t[i, j] for i in on[j]), doc="per-pair bounds add up on a server")
        m.aggregated = pyo.ConstraintList(doc="tangents of (sum sqrt(C) x)^2 / F")
        m.perspective = pyo.ConstraintList(doc="tangents of C x^2 / f at f_k")
        t_loc, t_tx = inst.t_loc / self.unit, inst.t_tx / self.unit
        transfer = sum(t_loc[i] * m.x[i, 0] if k == 0 else t_tx[i, k - 1] * m.x[i, k]
                       for (i, k) in m.options)
        m.cost = pyo.Objective(expr=transfer + sum(m.w[j] for j in servers),
                               sense=pyo.minimize, doc="total latency [time unit]")
        self._check_time()

        # s_j as its own variable: each tangent is then a 2-term row, not a dense one.
        m.s = pyo.Var(servers, domain=pyo.NonNegativeReals,
                      doc="sum of sqrt(C_i) over the UEs on server j [sqrt(Gcycles per time unit)]")
        root = np.sqrt(C)
        m.n = pyo.Var(servers, domain=pyo.NonNegativeIntegers, doc="UEs on server j")
        m.count = pyo.Constraint(servers, rule=lambda m, j: m.n[j] == sum(
            m.x[i, j] for i in on[j]), doc="definition of n_j")
        m.root_sum = pyo.Constraint(servers, rule=lambda m, j: m.s[j] == sum(
            float(root[i]) * m.x[i, j] for i in on[j]), doc="definition of s_j")
        for j in servers:
            # With n UEs on server j, s_j lies in [sum of the n smallest sqrt(C), sum of the
            # n largest]; count cuts use it.
            r = np.sort(root[on[j]])
            self._band[j] = (np.r_[0.0, np.cumsum(r)], np.r_[0.0, np.cumsum(r[::-1])])
            # Largest s_j the capacity admits: UEs by f_min per sqrt(C), greedily.
            members = np.array(on[j])
            order = members[np.argsort(low[members, j - 1])]
            fits = np.cumsum(low[order, j - 1]) <= F[j - 1]
            s_max = float(root[order][fits].sum()) if fits.any() else float(root[members].max())
            step = max(AGGREGATE_SPACING * float(root[members].min()),
                       s_max / MAX_GRID_POINTS)
            for s in np.arange(step, s_max + step, step):
                self.add_aggregate_cut(j, float(s))
            self._check_time()

    def add_pair_grid(self) -> None:
        """Per-pair tangents of C_i x^2 / f at PAIR_GRID_POINTS allocations spread
        geometrically over each pair's range, from the larger of f_min and the UE's
        water-filled share were every UE that can use the server on it, up to F_j: where
        deadlines bind, the aggregated tangents are below the true compute time, and cuts at
        only the visited allocations leave every other pair's t_ij free down to 0. At most
        PAIR_GRID_MAX_CUTS in all (fewer points per pair on large masters, none above).
        Added once; later calls do nothing."""
        if self.gridded or not self.latency:
            return
        self.gridded = True
        began = time.perf_counter()
        root = np.sqrt(self.C)
        crowd = {j: float(root[on].sum()) for j, on in self.on.items() if on}
        pairs = [(i, j) for i, j in self.model.pairs
                 if self.low[i, j - 1] >= PAIR_GRID_BINDS * self.F[j - 1] * root[i] / crowd[j]]
        points = min(PAIR_GRID_POINTS, PAIR_GRID_MAX_CUTS // max(len(pairs), 1))
        if points < 1:
            return
        for i, j in pairs:
            F = self.F[j - 1]
            lo = min(max(self.low[i, j - 1], F * root[i] / crowd[j]), F)
            for f in np.geomspace(lo, F, points) if points > 1 else (lo,):
                self.add_pair_cut(i, j, float(f))
        # Loading the rows into HiGHS takes time as building them did (LOAD_PER_BUILD).
        self.build_s += time.perf_counter() - began

    def add_aggregate_cut(self, j: int, s: float) -> None:
        """Tangent of s^2 / F_j at s (s in the units of m.s), and its count-strengthened forms.

        s_j^2 / F = (2 s s_j - s^2) / F + (s_j - s)^2 / F, and with n_j UEs on the server s_j
        lies in band(n_j), so the last term is at least D(n_j) = dist(s, band(n_j))^2 / F.
        A line h(n) <= D(n) at every integer n keeps the cut valid; it lifts the bound where
        the LP relaxation splits UEs fractionally between servers (fractional n_j), which is
        what makes near-identical UEs hard.
        """
        if s <= 0 or not _new_point(self._agg_points[j], s):
            return
        m, F = self.model, self.F[j - 1]
        tangent = (2 * s * m.s[j] - s * s) / F
        self._pending.append(m.aggregated.add(m.w[j] >= tangent))
        lo, hi = self._band[j]
        dist = np.maximum(0.0, np.maximum(lo - s, s - hi))
        D = dist * dist / F
        n = np.arange(len(lo))
        k = int(np.searchsorted(lo, s, side="right")) - 1  # last count whose band starts <= s
        for a in (k - 1, k):
            if a < 0 or a + 1 >= len(lo) or D[a] + D[a + 1] <= 0:
                continue
            slope = D[a + 1] - D[a]
            line = D[a] + slope * (n - a)
            level = D[a] - max(0.0, float(np.max(line - D)))  # shifted down until valid
            if level <= 0 and level + slope <= 0:
                continue
            self._pending.append(m.aggregated.add(
                m.w[j] >= tangent + level + slope * (m.n[j] - a)))

    def add_pair_cut(self, i: int, j: int, f: float) -> None:
        """Tangent of C_i x^2 / f at (1, f) (f in GHz)."""
        points = self._pair_points.setdefault((i, j), [])
        if f <= 0 or not _new_point(points, f):
            return
        m, c = self.model, self.C[i]
        self._pending.append(m.perspective.add(
            m.t[i, j] >= c * (2 * m.x[i, j] / f - m.f[i, j] / (f * f))))

    def refine_near(self, assignment: np.ndarray) -> None:
        """Dense tangents around a good assignment's s_j, where the optimum most likely is:
        then the first master is nearly exact there and often proves the optimum at once."""
        root = np.sqrt(self.C)
        for j in self.on:
            if not self.on[j]:
                continue
            here = np.flatnonzero(assignment == j)
            centre = float(root[here].sum())
            step = FINE_SPACING * float(root[self.on[j]].min())
            for k in range(-FINE_POINTS, FINE_POINTS + 1):
                self.add_aggregate_cut(j, centre + k * step)

    def add_cuts_at(self, assignment: np.ndarray, allocation_hz: np.ndarray) -> None:
        """Cuts that make the master exact at this (water-filled) decision.

        Where no deadline binds on a server, the aggregated tangent at s_j is already exact
        there; per-pair cuts are added only on servers where some UE gets exactly f_min.
        """
        root = np.sqrt(self.C)
        for j in self.on:
            here = np.flatnonzero(assignment == j)
            if not len(here):
                continue
            self.add_aggregate_cut(j, float(root[here].sum()))
            f = allocation_hz[here] / GHZ
            if np.any(f <= self.low[here, j - 1] * (1 + BINDS_RTOL)):
                for i, fi in zip(here, f, strict=True):
                    self.add_pair_cut(int(i), j, float(fi))

    def add_no_good(self, j: int, members: np.ndarray) -> None:
        """These UEs together do not fit server j (found only after rounding)."""
        m = self.model
        self._pending.append(m.no_good.add(
            sum(m.x[int(i), j] for i in members) <= len(members) - 1))

    # --------------------------------------------------------------------- solve
    def _warm_start(self, assignment: np.ndarray) -> None:
        """Give HiGHS a feasible assignment as its MIP start (energy: the x are the only
        columns). Pyomo's contrib Highs interface has no warm start, so the start goes to
        its highspy model directly (built here first if need be). A UE on an option the
        master left out (dominated for energy) starts local: no worse and still feasible."""
        m, solver = self.model, self.solver
        if not self._started:
            solver.set_instance(m)
        highs = solver._solver_model
        column = solver._pyomo_var_to_solver_var_map
        a = np.where(self.ok[np.arange(len(assignment)), assignment], assignment, 0)
        value = np.zeros(highs.getNumCol())
        for i, k in enumerate(a):
            value[column[id(m.x[i, int(k)])]] = 1.0
        start = highspy.HighsSolution()
        start.col_value = list(value)
        start.value_valid = True
        highs.setSolution(start)

    @property
    def run_s(self) -> float:
        """Wall time [s] of HiGHS's last run on the master, without loading it."""
        return self.solver.run_s

    @property
    def columns(self) -> int:
        """The master's variables (all indices of every Pyomo Var)."""
        return self._columns

    def solve(self, *, time_limit: float | None, rel_gap: float, threads: int,
              verbose: bool, start: np.ndarray | None = None, relax: bool = False):
        """Solve the master; returns (termination, assignment or None, dual bound or None).

        `start`, a feasible assignment, is HiGHS's MIP start (energy only; ignored for
        latency, whose master has more columns than the assignment fixes). `relax` solves
        its LP relaxation only: no assignment, the LP's value as the bound."""
        m = self.model
        # The limit counts from here: adding the new cuts and loading the model into HiGHS
        # are part of it (_DeadlineHighs shortens the limit set here to what is left when
        # HiGHS starts).
        self.solver.deadline = None
        options = {"mip_rel_gap": rel_gap, "mip_abs_gap": 0.0, "output_flag": verbose,
                   **(HIGHS_OPTIONS if self.latency else
                      {"mip_heuristic_effort": WHOLE_HEURISTIC_EFFORT})}
        if time_limit is not None:
            options["time_limit"] = max(time_limit, 0.01)
            self.solver.deadline = time.perf_counter() + options["time_limit"]
        if self._started and self._pending:
            self.solver.add_constraints(self._pending)  # the persistent model grows in place
        self._pending = []
        if self.latency and time_limit is not None:
            if self._columns > PRESOLVE_MAX_COLUMNS:
                options["presolve"] = "off"
            else:
                options["presolve_rule_off"] = (MID_PRESOLVE_RULES
                                                if self._columns > ROOT_PROBE_COLUMNS
                                                else SLOW_PRESOLVE_RULES)
        # Always set: the persistent HiGHS keeps an option from the previous solve.
        options["solve_relaxation"] = relax
        if start is not None and not relax and not self.latency:
            self._warm_start(np.asarray(start, dtype=int))
        with SOLVER_LOCK:  # Pyomo captures fd 1 while it solves (mecopt.locks)
            if threads > 0:
                # HiGHS has one thread pool per process, sized by whoever ran first; a
                # different size is refused (the run ends with no status) unless the pool is
                # rebuilt.
                if not self._started:
                    highspy.Highs.resetGlobalScheduler(True)
                options["threads"] = threads
            res = self.solver.solve(m, tee=_tee(verbose), solver_options=options)
        self._started = True
        term = res.termination_condition
        if term in (TerminationCondition.interrupted, TerminationCondition.unknown) \
                and self.solver.deadline is not None \
                and time.perf_counter() > self.solver.deadline:
            term = TerminationCondition.maxTimeLimit  # our callback stopped it at the limit
        bound = res.objective_bound
        bound = None if bound is None or not math.isfinite(bound) else float(bound)
        x = None
        if relax:
            solved = term == TerminationCondition.convergenceCriteriaSatisfied
            value = res.incumbent_objective
            return term, None, float(value) if solved and value is not None else None
        if res.incumbent_objective is not None:
            values = res.solution_loader.get_vars(list(m.x.values()))
            x = np.zeros(self.instance.n_ues, dtype=int)
            for (i, k), var in m.x.items():
                if values[var] > 0.5:
                    x[i] = k
        return term, x, bound


class _NoInterruptWarning(logging.Filter):
    """Pyomo warns of HiGHS's "interrupted" status, which here is _DeadlineHighs's doing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "kInterrupt" not in record.getMessage()


logging.getLogger("pyomo.contrib.solver.solvers.highs").addFilter(_NoInterruptWarning())


class _DeadlineHighs(Highs):
    """Pyomo's persistent HiGHS interface that keeps to a deadline.

    HiGHS's time limit is taken from the deadline at the moment HiGHS starts: loading a
    large master into HiGHS (Pyomo's set_instance, on the first solve) takes seconds that
    HiGHS's own clock does not count. And HiGHS checks its limit too rarely in parts of a
    large solve (its presolve of a 2,000 x 20 latency master: 12 s for a limit of 2.7 s;
    such masters skip presolve, and smaller ones its probing and enumeration:
    PRESOLVE_MAX_COLUMNS, SLOW_PRESOLVE_RULES), so its simplex, interior-point and MIP
    interrupt callbacks stop it at the deadline too. It overrides `_solve`, the step of
    Pyomo's interface (pyomo.contrib.solver, Pyomo 6.10) between loading and running HiGHS.
    """

    deadline: float | None = None
    _watched: Any = None  # the highspy model the callbacks are on
    run_s: float = 0.0  # wall time of the last HiGHS run (after loading)

    def _solve(self):
        if self.deadline is not None:
            self._active_config.solver_options["time_limit"] = max(
                self.deadline - time.perf_counter(), 0.01)
            model = self._solver_model
            if self._watched is not model:
                model.cbSimplexInterrupt += self._stop_at_deadline
                model.cbIpmInterrupt += self._stop_at_deadline
                model.cbMipInterrupt += self._stop_at_deadline
                self._watched = model
        began = time.perf_counter()
        try:
            return super()._solve()
        finally:
            self.run_s = time.perf_counter() - began

    def _stop_at_deadline(self, event) -> None:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            event.interrupt()


def dominated_by_local(instance: Instance) -> np.ndarray:
    """(N, M) server options dominated for energy: UE i meets its deadline locally with no
    more energy than on server j. Any assignment that uses (i, j) stays feasible and is no
    worse with UE i local (local uses no server capacity), so these options can be dropped
    from the energy problem without losing an optimum. (Two servers have different
    capacities, so no server option dominates another.)"""
    return instance.local_ok[:, None] & (instance.e_loc[:, None] <= instance.e_tx)


def trivial_bound(instance: Instance, objective: Objective) -> float:
    """Each UE alone at its cheapest option (a whole server to itself): a valid lower bound
    in master units (total latency in `time_unit`s, energy in `energy_unit`s), so that
    even a search stopped at once reports a bound."""
    cost = alone_costs(instance, objective) / objective_unit(instance, objective)
    best = np.where(instance.option_ok, cost, np.inf).min(axis=1)
    return float(best.sum()) if np.all(np.isfinite(best)) else -math.inf


def _new_point(points: list[float], x: float) -> bool:
    """Insert x > 0 into the sorted `points` unless one within CUT_RTOL of it is there
    already (then False): a cut is added once, and the check stays cheap for thousands."""
    k = bisect.bisect_left(points, x)
    if any(abs(x - p) <= CUT_RTOL * x for p in points[max(k - 1, 0):k + 1]):
        return False
    points.insert(k, x)
    return True


def search(instance: Instance, objective: Objective, *, start: np.ndarray | None,
           gap: float, time_limit: float | None, threads: int, verbose: bool,
           max_energy: float | None = None, polish: Polish | None = None) -> Result:
    """Proven-optimal assignment (or the best found and a bound at the time limit).

    `polish(assignment, seconds)` is a fast improvement heuristic (mecopt.lns.improve for
    energy, mecopt.descend for latency), used under a time limit (for energy from
    POLISH_FIRST_MIN_UES UEs on): it improves the start before the first master solve. For
    energy the master then runs in time slices with the heuristic between them, each slice
    warm-started from the best assignment so far (HiGHS restarts its tree, and the best
    bound of all slices is kept); latency's master has no MIP start, so it runs the rest of
    the time at once, with cuts at the polished incumbent.
    """
    t0 = time.perf_counter()
    if not usable_options(instance).any(axis=1).all():  # some UE has no option: no search
        return Result(None, math.inf, -math.inf, Status.INFEASIBLE, extra={"iterations": 0})
    start = None if start is None else np.asarray(start, dtype=int)
    # The first polish runs before the master is built: Pyomo takes seconds to build a large
    # master (9 s for 948 UEs on 147 servers, latency), and a time limit spent on that left
    # the polish nothing, so the answer was the unpolished start.
    first, polish_s = None, 0.0
    if (start is not None and _polishes_first(instance, objective, time_limit, polish)
            and evaluate(instance, start).feasible):
        seconds = min(POLISH_FIRST_SHARE * time_limit, POLISH_MAX_S)
        if seconds > MIN_POLISH_S:
            tick = time.perf_counter()
            first = np.asarray(polish(start, seconds), dtype=int)
            polish_s = time.perf_counter() - tick
    run = _Search(instance, objective, t0=t0, time_limit=time_limit, verbose=verbose,
                  max_energy=max_energy, polish=polish)
    run.polish_s = polish_s
    if start is not None:
        run.consider(start)
        if objective is Objective.LATENCY and run.master is not None:
            run.master.refine_near(start)
            if deadline_binds(instance, start):
                run.master.add_pair_grid()
    if first is not None:
        run.consider(first, cuts=instance.n_ues >= POLISH_FIRST_MIN_UES)
        if verbose:
            print(f"[highs] polish {polish_s:.2f} s: incumbent "
                  f"{run.best_value / run.scale:.9g}", file=sys.stderr)
    return run.result(*run.loop(gap, threads))


def deadline_binds(instance: Instance, assignment: np.ndarray) -> bool:
    """Whether a deadline holds some offloaded UE of this assignment at its f_min when the
    servers are water-filled. Where none does in the start, the per-pair grid only slows
    the masters (greedy's starts: none on the paper and large libraries, one of the 20
    hetero instances, all 20 tight ones)."""
    a = np.asarray(assignment)
    on = np.flatnonzero(a > 0)
    if not len(on):
        return False
    ev = evaluate(instance, a)
    if not ev.feasible:
        return False
    f_min = instance.f_min[on, a[on] - 1]
    return bool(np.any(ev.allocation_hz[on] <= f_min * (1 + BINDS_RTOL)))


def _polishes_first(instance: Instance, objective: Objective, time_limit: float | None,
                    polish: Polish | None) -> bool:
    """Whether `search` polishes its start first: under a time limit with a polish, for
    latency at every size and for energy from POLISH_FIRST_MIN_UES UEs on."""
    return (polish is not None and time_limit is not None
            and (objective is Objective.LATENCY or instance.n_ues >= POLISH_FIRST_MIN_UES))


class _Search:
    """One run of `search`: the master, the incumbent and its value in master units (total
    latency or energy), the assignments the master returned, and the polish's time."""

    def __init__(self, instance: Instance, objective: Objective, *, t0: float,
                 time_limit: float | None, verbose: bool, max_energy: float | None,
                 polish: Polish | None) -> None:
        self.instance, self.objective, self.t0 = instance, objective, t0
        self.time_limit, self.verbose = time_limit, verbose
        self.max_energy, self.polish = max_energy, polish
        # None when the time limit passed while Pyomo built it: the answer is then the
        # (polished) start, with the trivial bound.
        self.master: Master | None = None
        try:
            self.master = Master(instance, objective, max_energy=max_energy,
                                 deadline=None if time_limit is None else t0 + time_limit)
        except MasterOutOfTime:
            pass
        # Master units per objective unit: the master minimizes total latency, not mean, in
        # the instance's time unit, and energy in its energy unit.
        self.scale = (instance.n_ues if objective is Objective.LATENCY else 1.0) \
            / objective_unit(instance, objective)
        self.best: np.ndarray | None = None
        self.best_value = math.inf
        self.seen: set[bytes] = set()
        self.distrust_start = False  # after a wrong answer from a MIP start (see `loop`)
        # Energy below POLISH_FIRST_MIN_UES UEs: the master alone is faster, as slicing it
        # restarts HiGHS's tree (instances/large, 10 s: 0.11% mean gap sliced, 0.04% not).
        self.slicing = (_polishes_first(instance, objective, time_limit, polish)
                        and objective is Objective.ENERGY)
        self.polish_s = 0.0

    def consider(self, a: np.ndarray, cuts: bool = True) -> bool:
        """Evaluate an assignment; add its cuts (latency, if `cuts`); return False if it
        does not fit."""
        instance, master = self.instance, self.master
        alloc, server_ok = waterfill(instance, a)
        if not server_ok.all():
            for j in np.flatnonzero(~server_ok) + 1:
                if master is not None:
                    master.add_no_good(int(j), np.flatnonzero(a == j))
            return False
        ev = evaluate(instance, a, alloc)
        if self.objective is Objective.LATENCY and cuts and master is not None:
            master.add_cuts_at(a, alloc)
        energy_ok = (self.max_energy is None
                     or ev.total_energy_j <= self.max_energy * (1 + 1e-12))
        value = ev.value(self.objective) * self.scale
        if ev.feasible and energy_ok and value < self.best_value:
            self.best, self.best_value = a.copy(), value
        return ev.feasible

    def run_polish(self, share: float) -> None:
        """Give the polish heuristic `share` of the time limit (capped) on the incumbent."""
        left = self.time_limit - (time.perf_counter() - self.t0)
        self._polish(min(share * self.time_limit, POLISH_MAX_S, 0.5 * left),
                     cuts=self.instance.n_ues >= POLISH_FIRST_MIN_UES)

    def polish_until_deadline(self) -> None:
        """Give the polish heuristic the rest of the time limit on the incumbent (when the
        master will not run, so its result adds no cuts)."""
        self._polish(self.time_limit - (time.perf_counter() - self.t0), cuts=False)

    def _polish(self, seconds: float, cuts: bool) -> None:
        """Run the polish heuristic for `seconds` on the incumbent and consider its result
        (left out when shorter than MIN_POLISH_S)."""
        if self.polish is None or self.best is None or seconds <= MIN_POLISH_S:
            return
        tick = time.perf_counter()
        self.consider(np.asarray(self.polish(self.best, seconds), dtype=int), cuts=cuts)
        self.polish_s += time.perf_counter() - tick
        if self.verbose:
            print(f"[highs] polish {seconds:.2f} s: incumbent {self.best_value / self.scale:.9g}",
                  file=sys.stderr)

    def closed(self, lower: float, gap: float) -> bool:
        """Whether the incumbent is within the relative gap of the bound `lower`."""
        return math.isfinite(self.best_value) and self.best_value - lower <= gap * abs(
            self.best_value)

    def loop(self, gap: float, threads: int) -> tuple[float, int, str, str]:
        """Solve the master and refine until the gap closes or time runs out: (lower
        bound, master solves, status, message)."""
        latency = self.objective is Objective.LATENCY
        lower = trivial_bound(self.instance, self.objective)
        iterations, status, message = 0, Status.TIMEOUT, ""
        if self.master is None:
            if self.closed(lower, gap):  # the trivial bound proves the start optimal
                return lower, 0, Status.OPTIMAL, ""
            return lower, 0, status, ("the time limit passed while Pyomo built the master "
                                      "(the answer is the start, with the trivial bound)")
        master_gap = gap / 4  # leave room for the outer loop's own gap
        probed, why = False, ""
        while True:
            if self.closed(lower, gap):
                status = Status.OPTIMAL
                break
            remaining = (None if self.time_limit is None
                         else self.time_limit - (time.perf_counter() - self.t0))
            if remaining is not None and remaining <= 0:
                break
            if (remaining is not None and not self.master.loaded
                    and remaining < LOAD_PER_BUILD * self.master.build_s):
                self.polish_until_deadline()
                if self.closed(lower, gap):
                    status = Status.OPTIMAL
                else:
                    message = ("too little time was left to hand the master to HiGHS (the "
                               "answer is the polished start)")
                break
            # A large latency master under a limit: its LP's bound, then the polish; a
            # mid-sized one its LP first, then the MIP if the time left allows its root.
            searched = latency and remaining is not None and self.polish is not None
            relax = searched and self.master.columns > LP_ONLY_COLUMNS
            probe = (searched and not probed and not relax
                     and self.master.columns > ROOT_PROBE_COLUMNS)
            piece = remaining
            if self.slicing and remaining > 2 * SLICE_MIN_S:
                piece = max(SLICE_MIN_S, SLICE_SHARE * remaining)
            term, x, bound = self.master.solve(
                time_limit=piece, rel_gap=master_gap, threads=threads, verbose=self.verbose,
                start=None if latency or self.distrust_start else self.best,
                relax=relax or probe)
            iterations += 1
            if probe:
                probed = True
                if bound is not None:
                    lower = max(lower, bound)
                left = self.time_limit - (time.perf_counter() - self.t0)
                root_s = ROOT_PER_LP * self.master.run_s
                if (term == TerminationCondition.convergenceCriteriaSatisfied
                        and left >= root_s and not self.closed(lower, gap)):
                    continue  # the MIP next
                relax = True
                if left < root_s:
                    why = (f"; its MIP was not run: {left:.1f} s were left, less than "
                           f"{ROOT_PER_LP:g} times the LP's {self.master.run_s:.2f} s")
            considered = False
            if (not latency and x is not None
                    and term == TerminationCondition.convergenceCriteriaSatisfied):
                considered = True
                if (self.consider(x)
                        and not self.closed(bound if bound is not None else lower, gap)):
                    # HiGHS called the master optimal, but its solution, which fits, is
                    # worth more than the optimum it reported: a wrong answer (seen with
                    # HiGHS 1.16 from a MIP start). Its bound is not trusted; the master is
                    # rebuilt and solved once more without a start.
                    if self.distrust_start:
                        status = Status.FEASIBLE
                        message = ("HiGHS reported an optimum that its solution does not "
                                   "attain, twice; stopped")
                        break
                    self.distrust_start = True
                    self.master = Master(self.instance, self.objective,
                                         max_energy=self.max_energy)
                    continue
            if term in (TerminationCondition.provenInfeasible,
                        TerminationCondition.infeasibleOrUnbounded):
                # Every feasible assignment satisfies the master, so this is a proof,
                # unless an incumbent exists (then it can only be numerical trouble).
                status = Status.INFEASIBLE if self.best is None else Status.FEASIBLE
                message = "" if self.best is None else "HiGHS called the master infeasible; stopped"
                break
            if bound is not None:
                lower = max(lower, bound)
            if self.verbose:
                print(f"[highs] master {iterations}: {term.name}, bound {lower / self.scale:.9g}, "
                      f"incumbent {self.best_value / self.scale:.9g}, "
                      f"{time.perf_counter() - self.t0:.2f} s", file=sys.stderr)
            if relax:
                self.polish_until_deadline()
                if self.closed(lower, gap):
                    status = Status.OPTIMAL
                else:
                    # The polish (a local search) may end at its local optimum with time
                    # left: then the limit is not what stopped the search.
                    left = self.time_limit - (time.perf_counter() - self.t0)
                    found = ("time limit reached before a feasible assignment was found"
                             if self.best is None else
                             "time limit reached before the gap closed" if left <= MIN_POLISH_S
                             else f"the gap did not close (the polish ended at its local optimum "
                                  f"with {left:.1f} s of the time limit left)")
                    message = (f"{found}; the master ({self.master.columns} columns) was solved "
                               f"as an LP only ({term.name}), the rest of the time went to the "
                               f"polish{why}")
                break
            if x is not None:
                key = x.tobytes()
                repeated = key in self.seen
                self.seen.add(key)
                if not considered:
                    self.consider(x)
                # A repeat means trouble only for latency's cut loop; an energy master in
                # time slices may well return the incumbent it was started from.
                if (repeated and latency
                        and self.best_value - lower > gap * abs(self.best_value)):
                    message = "the master repeated an assignment (numerical trouble); stopped"
                    status = Status.FEASIBLE
                    break
            if term == TerminationCondition.maxTimeLimit and not self.closed(lower, gap):
                if self.slicing and piece < remaining:
                    self.run_polish(POLISH_SHARE)  # then the next slice, from the better incumbent
                    continue
                break
            if x is None and term != TerminationCondition.convergenceCriteriaSatisfied:
                message = f"HiGHS stopped the master: {term.name}"
                break
        return lower, iterations, status, message

    def result(self, lower: float, iterations: int, status: str, message: str) -> Result:
        """The search's Result, in the objective's own units (mean latency or energy)."""
        if status == Status.TIMEOUT and self.best is not None:
            status = Status.FEASIBLE
        if status == Status.TIMEOUT:
            message = message or "time limit reached before a feasible assignment was found"
        elif status == Status.FEASIBLE and not message:
            message = "time limit reached before the gap closed"
        lower = min(lower, self.best_value)  # HiGHS's bound may overshoot by its tolerances
        cuts = 0
        if self.objective is Objective.LATENCY and self.master is not None:
            cuts = len(self.master.model.aggregated) + len(self.master.model.perspective)
        extra = {"iterations": iterations, "cuts": cuts, "polish_s": round(self.polish_s, 4),
                 "search_s": round(time.perf_counter() - self.t0, 4)}
        scale = self.scale
        return Result(self.best, self.best_value / scale,
                      lower / scale if math.isfinite(lower) else lower, status, message, extra)
