"""The linear relaxation of the assignment problem, solved by HiGHS.

One LP serves two purposes: with the UEs' energies as costs it is the LP relaxation of the
energy problem (a generalized assignment problem), a lower bound on the minimum energy
(mecopt.bound); with zero costs it is a feasibility test whose infeasibility proves that no
assignment fits the capacities (mecopt.certificate).

Variables x[i, k] in [0, 1] for each option that can meet UE i's deadline on its own (and,
for a server, whose f_min alone fits the capacity); rows: each UE takes one option in total,
and each server's minimum allocations fit its capacity. Units are GHz (SPEC: raw SI
coefficients near 1e-9 would be dropped by HiGHS as zero), and the costs are divided by
their `mecopt.units.cost_unit` inside the model (results come back in the caller's units).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import highspy
import numpy as np

from mecopt.instance import Instance, usable_options
from mecopt.locks import SOLVER_LOCK
from mecopt.units import cost_unit

GHZ = 1e9


@dataclass(frozen=True)
class LPResult:
    """What the LP says: "optimal" (value and x) or "infeasible" (a proof)."""

    status: str  # "optimal" | "feasible" (a MILP stopped early) | "infeasible" | "other"
    value: float  # the LP optimum (cost units); nan unless optimal
    x: np.ndarray | None  # (N, M+1) fractional assignment; None unless optimal
    price: np.ndarray | None = None  # (M,) capacity prices >= 0 per Hz (the LP's duals)
    dual_bound: float = float("nan")  # a MILP's proven lower bound on its optimum


def assignment_lp(instance: Instance, cost: np.ndarray | None = None, *,
                  ues: np.ndarray | None = None, integer: bool = False,
                  capacity_scale: float = 1.0, time_limit: float | None = None,
                  options: dict | None = None) -> LPResult:
    """Solve min sum cost[i, k] x[i, k] over the relaxed assignment polytope.

    `cost` is (N, M+1) (entries on unusable options are ignored); None means a pure
    feasibility test (all zero). `ues` restricts the problem to those UEs (the others are
    left out, as if they used no capacity); `integer` makes it the MILP itself;
    `capacity_scale` multiplies the capacities (below 1 leaves room for rounding);
    `options` are HiGHS options (e.g. a node limit for a MILP's root bound).
    """
    N, M = instance.n_ues, instance.n_servers
    ok = usable_options(instance)
    if ues is not None:
        keep = np.zeros(N, dtype=bool)
        keep[np.asarray(ues, dtype=int)] = True
        ok &= keep[:, None]
    if not ok[keep if ues is not None else slice(None)].any(axis=1).all():
        return LPResult("infeasible", float("nan"), None)
    rows = np.arange(N) if ues is None else np.flatnonzero(keep)
    c = np.zeros((N, M + 1)) if cost is None else np.asarray(cost, dtype=float)
    unit = cost_unit(c[rows], ok[rows])  # HiGHS's tolerances are absolute (mecopt.units)
    weight = np.where(ok[:, 1:], instance.f_min, 0.0) / GHZ
    h, r, kk = assignment_model(ok[rows], c[rows] / unit, weight[rows],
                                instance.capacity_hz * capacity_scale / GHZ, integer=integer)
    ii = rows[r]
    if time_limit is not None:
        h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
    for key, value in (options or {}).items():
        h.setOptionValue(key, value)
    run_highs(h)
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return LPResult("infeasible", float("nan"), None)
    optimal = status == highspy.HighsModelStatus.kOptimal
    found = integer and h.getInfo().primal_solution_status == 2  # a MILP's incumbent
    dual_bound = unit * float(h.getInfo().mip_dual_bound) if integer else float("nan")
    if not (optimal or found):
        return LPResult("other", float("nan"), None, dual_bound=dual_bound)
    x = np.zeros((N, M + 1))
    solution = h.getSolution()
    x[ii, kk] = np.asarray(solution.col_value)
    # A <= row of a minimization has a dual <= 0; its negation is the capacity's price.
    price = None if integer else unit * np.maximum(
        -np.asarray(solution.row_dual)[len(rows):], 0.0) / GHZ
    return LPResult("optimal" if optimal else "feasible", unit * float(
        h.getInfo().objective_function_value), x, price, dual_bound)


def assignment_model(ok: np.ndarray, cost: np.ndarray, weight: np.ndarray,
                     capacity: np.ndarray, *, integer: bool) -> tuple[highspy.Highs,
                                                                      np.ndarray, np.ndarray]:
    """The assignment problem of K UEs loaded into a fresh, quiet HiGHS, in model units.

    ok (K, M+1): the options each UE may take; cost (K, M+1); weight (K, M): each UE's
    minimum allocation on each server [GHz]; capacity (M,) [GHz]. Rows: each UE takes one
    option (= 1), then each server's weights fit its capacity. Returns (highs, row, col):
    variable v is UE row[v] on option col[v], UE-major. Shared by the LP relaxation, the
    certificate's packing MILP and LNS's sub-problems (mecopt.lns).
    """
    K, M = weight.shape
    row, col = np.nonzero(ok)
    on_server = col > 0
    starts = np.r_[0, np.cumsum(1 + on_server)]
    first = starts[:-1]
    index = np.empty(starts[-1], dtype=np.int32)
    coef = np.empty(starts[-1])
    index[first], coef[first] = row, 1.0  # the UE's row
    index[first[on_server] + 1] = K + col[on_server] - 1  # its server's capacity row
    coef[first[on_server] + 1] = weight[row[on_server], col[on_server] - 1]
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(row), K + M
    lp.col_cost_ = cost[row, col]
    lp.col_lower_ = np.zeros(len(row))
    lp.col_upper_ = np.ones(len(row))
    lp.row_lower_ = np.r_[np.ones(K), np.full(M, -highspy.kHighsInf)]
    lp.row_upper_ = np.r_[np.ones(K), capacity]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = starts.astype(np.int32)
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = coef
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(row), K + M
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * len(row)
    h = quiet_highs()
    h.passModel(lp)
    return h, row, col


# HiGHS's primal-heuristic effort (its option mip_heuristic_effort, default 0.05) on a whole
# energy instance: the `highs` method's energy master and LNS's whole-instance step. On
# small GAPs that its default search does not close, the incumbent is what more effort
# changes: a heavy-tailed draw of 74 UEs on 7 servers, 10 s from greedy's decision, 5.2408 J
# at 0.05 and 5.1786 J at 0.5 (SCIP: 5.1796 J in 60 s); tight-007 24.966 J against 25.026 J
# in 5 s. The instances it proves took the same time (docs/notes/2026-12-07-what-the-
# decode-is.md). The freed sets' sub-problems keep the default: they are bounded to 0.2 s.
WHOLE_HEURISTIC_EFFORT = 0.5


def run_highs(h: highspy.Highs) -> None:
    """h.run(), one HiGHS run at a time per process (mecopt.locks)."""
    with SOLVER_LOCK:
        h.run()


@contextmanager
def _fd1_to_null() -> Iterator[None]:
    """File descriptor 1 on the null device for the block. Not Pyomo's capture_output:
    importing Pyomo here made every later `import scipy` run Pyomo's scipy hook, which
    imports scipy.stats and more (0.4-0.6 s on a lambo latency call's first guard)."""
    if sys.stdout is not None:  # None when the process started without a descriptor 1
        sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # descriptor 1 is closed: the banner has nowhere to go anyway
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


_banner_silenced = False  # HiGHS prints its banner once per process


def quiet_highs() -> highspy.Highs:
    """A HiGHS instance that prints nothing: the first one in a process prints a banner
    straight to file descriptor 1, where the CLI may be writing a solution JSON. Only that
    first construction redirects the descriptor, which other threads (`mecopt serve`'s
    server) may be writing to."""
    global _banner_silenced
    with SOLVER_LOCK:
        if _banner_silenced:
            h = highspy.Highs()
        else:
            with _fd1_to_null():
                h = highspy.Highs()
            _banner_silenced = True
    h.setOptionValue("output_flag", False)
    return h
