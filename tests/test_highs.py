"""The exact expert `highs`: brute-force optima, infeasibility causes, time limits, options."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from click.testing import CliRunner

import mecopt
from mecopt.cli.main import cli
from mecopt.construct import greedy_assignment
from mecopt.errors import InputError
from mecopt.evaluation import evaluate_batch
from mecopt.objective import Objective
from mecopt.outer_approximation import deadline_binds
from mecopt.reference import load_reference, optimum

from conftest import INSTANCES, brute_force, library, plain_construction

TINY = library("tiny")


@pytest.mark.parametrize("objective", ["latency", "energy"])
@pytest.mark.parametrize("inst", TINY, ids=lambda i: i.name)
def test_highs_equals_brute_force_on_tiny(inst, objective, tiny_optima):
    best, value = tiny_optima[(inst.name, objective)]
    sol = mecopt.solve(inst, objective, "highs")
    if best is None:
        assert sol.status == "infeasible"
        assert sol.message.startswith("proven infeasible")
        return
    assert sol.status == "optimal", sol.message
    assert sol.objective_value == pytest.approx(value, rel=1e-7)
    assert sol.bound <= sol.objective_value
    assert sol.gap <= 1e-6


def binding_instance(seed: int) -> mecopt.Instance:
    """A small instance where deadlines bind at the latency optimum: most UEs must offload
    (slow local CPUs) and two have deadlines that need 25-45% of a server."""
    rng = np.random.default_rng(seed)
    base = mecopt.generate("hetero", n_ues=int(rng.integers(5, 8)), n_servers=2, seed=seed)
    capacity = np.full(2, np.median(base.cycles) * 6.0)
    inst = base.replace(local_hz=base.local_hz * 0.5, capacity_hz=capacity,
                        name=f"binding-{seed}")
    deadline = inst.deadline_s.copy()
    for i in rng.choice(inst.n_ues, size=2, replace=False):
        j = int(np.argmin(inst.t_tx[i]))
        deadline[i] = inst.t_tx[i, j] + inst.cycles[i] / (rng.uniform(0.25, 0.45) * capacity[j])
    return inst.replace(deadline_s=deadline)


def test_highs_equals_brute_force_when_deadlines_bind():
    """The per-pair cuts keep the latency search exact where the aggregated bound is not."""
    binding = 0
    for seed in range(300, 316):
        inst = binding_instance(seed)
        best, value = brute_force(inst, "latency")
        sol = mecopt.solve(inst, "latency", "highs")
        if best is None:
            assert sol.status == "infeasible"
            continue
        assert sol.status == "optimal", sol.message
        assert sol.objective_value == pytest.approx(value, rel=1e-7)
        binding += deadline_binds(inst, sol.assignment)
    assert binding >= 5, f"only {binding} of 16 instances have a binding deadline"


def test_tiny_008_is_infeasible_because_of_capacity():
    inst = next(i for i in TINY if i.name == "tiny-008")
    for objective in ("latency", "energy"):
        sol = mecopt.solve(inst, objective, "highs")
        assert sol.status == "infeasible"
        assert "must offload" in sol.message and "GHz" in sol.message
        assert "\n" not in sol.message


def test_infeasible_message_names_the_ue_without_options():
    inst = TINY[1]
    rate = inst.rate_bps.copy()
    rate[2] = 0.0  # UE 2 reaches no server ...
    local = inst.local_hz.copy()
    local[2] = inst.cycles[2] / (2 * inst.deadline_s[2])  # ... and is too slow locally
    bad = inst.replace(rate_bps=rate, local_hz=local)
    sol = mecopt.solve(bad, "latency", "highs")
    assert sol.status == "infeasible"
    assert "UE 2" in sol.message and "neither locally nor on any server" in sol.message


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_tiny_time_limit_gives_a_bound_not_a_crash(objective):
    # 85 UEs, 2 servers; neither objective is settled by the trivial bound
    inst = mecopt.Instance.load(INSTANCES / "hetero" / "hetero-003.json")
    sol = mecopt.solve(inst, objective, "highs", time_limit=1e-3)
    assert sol.status in ("feasible", "timeout")
    assert sol.bound is not None and np.isfinite(sol.bound)
    if sol.status == "feasible":
        assert sol.bound <= sol.objective_value
        assert sol.gap is not None and sol.gap > 1e-6


def brute_force_capped(inst, cap):
    """Minimum mean latency among assignments with total energy <= cap (or None)."""
    every = np.array(list(itertools.product(range(inst.n_servers + 1), repeat=inst.n_ues)))
    batch = evaluate_batch(inst, every)
    ok = batch.feasible & (batch.total_energy_j <= cap)
    return float(batch.mean_latency_s[ok].min()) if ok.any() else None


@pytest.mark.parametrize("name", ["tiny-001", "tiny-004", "tiny-009"])
def test_max_energy_gives_the_capped_latency_optimum(name, tiny_optima):
    inst = next(i for i in TINY if i.name == name)
    free = mecopt.solve(inst, "latency", "highs")
    e_min = tiny_optima[(name, "energy")][1]
    cap = e_min + 0.5 * (sum(free.energy_j) - e_min)  # between the two extremes
    sol = mecopt.solve(inst, "latency", "highs", max_energy=cap)
    assert sol.status == "optimal"
    assert sum(sol.energy_j) <= cap * (1 + 1e-12)
    assert sol.objective_value == pytest.approx(brute_force_capped(inst, cap), rel=1e-7)


def test_max_energy_below_the_minimum_energy_is_infeasible(tiny_optima):
    inst = TINY[1]
    e_min = tiny_optima[(inst.name, "energy")][1]
    for objective in ("latency", "energy"):
        sol = mecopt.solve(inst, objective, "highs", max_energy=0.99 * e_min)
        assert sol.status == "infeasible"
        assert sol.message.startswith("max_energy:")
        assert f"{e_min:.6g}" in sol.message
    ok = mecopt.solve(inst, "energy", "highs", max_energy=1.01 * e_min)
    assert ok.status == "optimal"
    assert ok.objective_value == pytest.approx(e_min, rel=1e-7)


@pytest.mark.parametrize("options, field", [({"max_energy": -1.0}, "max_energy"),
                                           ({"gap": 1.5}, "gap"), ({"threads": -1}, "threads"),
                                           ({"speed": 1}, "speed")])
def test_bad_options_name_the_field(options, field):
    with pytest.raises(InputError, match=f"option {field}"):
        mecopt.solve(TINY[0], "latency", "highs", **options)


def test_paper_000_latency_from_the_cli_is_proven_optimal():
    """The issue's acceptance check, against the shipped reference optimum."""
    path = INSTANCES / "paper" / "paper-000.json"
    result = CliRunner().invoke(cli, ["solve", str(path), "--method", "highs",
                                      "--objective", "latency"])
    assert result.exit_code == 0, result.output
    sol = mecopt.Solution.from_dict(__import__("json").loads(result.stdout))
    assert sol.status == "optimal" and sol.gap <= 1e-6
    ref = optimum(load_reference(INSTANCES / "paper" / "reference.json"), "paper-000", "latency")
    assert sol.objective_value == pytest.approx(ref, rel=2e-6)


def test_threads_option_after_highs_ran_elsewhere_in_the_process(tiny_optima):
    """HiGHS sizes one thread pool per process; asking for another size must still work."""
    import highspy

    other = highspy.Highs()
    other.setOptionValue("output_flag", False)
    other.setOptionValue("threads", 2)
    other.addVar(0.0, 1.0)
    other.run()
    inst = TINY[4]
    for threads in (1, 0):
        sol = mecopt.solve(inst, "energy", "highs", threads=threads)
        assert sol.status == "optimal", sol.message
        assert sol.objective_value == pytest.approx(tiny_optima[(inst.name, "energy")][1],
                                                    rel=1e-7)


# ------------------------------------------------------------------ dominance, warm start
def test_dominated_options_are_local_and_no_cheaper():
    from mecopt.outer_approximation import dominated_by_local

    for inst in library("hetero")[:5]:
        dom = dominated_by_local(inst)
        i, j = np.nonzero(dom)
        assert inst.local_ok[i].all()
        assert np.all(inst.e_loc[i] <= inst.e_tx[i, j])
        assert dom.any(), f"{inst.name}: nothing dominated, the test checks nothing"


@pytest.mark.parametrize("inst", TINY, ids=lambda i: i.name)
def test_dropping_dominated_options_keeps_the_energy_optimum(inst, tiny_optima):
    """Brute force over the assignments that avoid dominated options finds the optimum."""
    from mecopt.outer_approximation import dominated_by_local

    best, value = tiny_optima[(inst.name, "energy")]
    n, m = inst.n_ues, inst.n_servers
    every = np.array(list(itertools.product(range(m + 1), repeat=n)), dtype=int)
    dom = np.c_[np.zeros(n, dtype=bool), dominated_by_local(inst)]
    keep = ~dom[np.arange(n), every].any(axis=1)
    batch = evaluate_batch(inst, every[keep])
    values = np.where(batch.feasible, batch.total_energy_j, np.inf)
    if best is None:
        assert not np.isfinite(values).any()
    else:
        assert values.min() == pytest.approx(value, rel=1e-12)


def test_master_warm_start_is_highs_incumbent():
    """HiGHS returns the MIP start as its incumbent even with no time to find one itself;
    a start on a dominated option is moved to local, which is no worse."""
    from mecopt.objective import Objective
    from mecopt.outer_approximation import Master, dominated_by_local

    inst = mecopt.Instance.load(INSTANCES / "hetero" / "hetero-003.json")
    opt = mecopt.solve(inst, "energy", "highs")
    assert opt.status == "optimal"
    start = np.array(opt.assignment)
    master = Master(inst, Objective.ENERGY)
    _, x, _ = master.solve(time_limit=1e-3, rel_gap=1e-6, threads=0, verbose=False,
                           start=start)
    assert x is not None
    assert mecopt.evaluate(inst, x).total_energy_j == pytest.approx(opt.objective_value,
                                                                    rel=1e-9)
    dom = dominated_by_local(inst)
    assert not dom[np.flatnonzero(x > 0), x[x > 0] - 1].any()


def test_energy_time_limit_runs_the_polish_first(monkeypatch):
    """Under a time limit the energy search polishes first and feeds the result back (here
    on a small instance, where it would otherwise go straight to the master)."""
    from mecopt import outer_approximation
    from mecopt.construct import greedy_assignment
    from mecopt.lns import improve
    from mecopt.objective import Objective
    from mecopt.outer_approximation import search

    monkeypatch.setattr(outer_approximation, "POLISH_FIRST_MIN_UES", 0)

    inst = mecopt.Instance.load(INSTANCES / "hetero" / "hetero-012.json")
    start, _ = greedy_assignment(inst, Objective.ENERGY)
    ref = optimum(load_reference(INSTANCES / "hetero" / "reference.json"), inst.name, "energy")
    calls = []

    def polish(a, seconds):
        calls.append(seconds)
        assert evaluate_batch(inst, np.asarray(a)[None]).feasible[0]
        return improve(inst, "energy", a, time_limit=seconds)[0]

    res = search(inst, Objective.ENERGY, start=start, gap=1e-6, time_limit=20.0, threads=0,
                 verbose=False, polish=polish)
    assert calls and calls[0] <= 0.1 * 20.0 + 1e-9
    assert res.status == "optimal"
    assert res.value == pytest.approx(ref, rel=1e-7)
    assert res.extra["polish_s"] > 0


def test_latency_time_limit_descends_the_start_first(monkeypatch):
    """Under a time limit the latency search first gives the shared local search a tenth
    of the limit on its start, at every size (POLISH_FIRST_MIN_UES is energy's), after the
    two descents that chose the start (each within a tenth of the limit too), and still
    proves the optimum; without a time limit it goes straight to the master."""
    import importlib

    from mecopt import outer_approximation

    descend_module = importlib.import_module("mecopt.descend")  # mecopt.descend: the function

    monkeypatch.setattr(outer_approximation, "POLISH_FIRST_MIN_UES", 10**9)
    inst = mecopt.Instance.load(INSTANCES / "hetero" / "hetero-012.json")
    ref = optimum(load_reference(INSTANCES / "hetero" / "reference.json"), inst.name,
                  "latency")
    real, calls = descend_module.descend, []

    def spy(instance, objective, a, *, deadline=None, **kwargs):
        calls.append(deadline - time.perf_counter())
        return real(instance, objective, a, deadline=deadline, **kwargs)

    monkeypatch.setattr(descend_module, "descend", spy)
    sol = mecopt.solve(inst, "latency", "highs", time_limit=20.0)
    assert len(calls) == 3 and all(0 < c <= 0.1 * 20.0 for c in calls)
    assert sol.status == "optimal" and sol.extra["polish_s"] > 0
    assert sol.objective_value == pytest.approx(ref, rel=1e-6)
    calls.clear()
    assert mecopt.solve(inst, "latency", "highs").status == "optimal" and not calls


def test_latency_descent_below_200_ues_leaves_the_master_its_own_path():
    """Below POLISH_FIRST_MIN_UES UEs the descended incumbent adds no cuts: the master
    solves the same models, with the same cuts, as without the descent."""
    from mecopt.descend import descend
    from mecopt.outer_approximation import search

    inst = mecopt.Instance.load(INSTANCES / "hetero" / "hetero-012.json")
    start, _ = greedy_assignment(inst, Objective.LATENCY)

    def polish(a, seconds):
        return descend(inst, Objective.LATENCY, a, deadline=time.perf_counter() + seconds)[0]

    runs = [search(inst, Objective.LATENCY, start=start, gap=1e-6, time_limit=20.0,
                   threads=0, verbose=False, polish=p) for p in (None, polish)]
    assert [r.status for r in runs] == ["optimal", "optimal"]
    assert runs[1].extra["polish_s"] > 0
    assert runs[0].extra["cuts"] == runs[1].extra["cuts"]
    assert runs[0].extra["iterations"] == runs[1].extra["iterations"]
    assert runs[0].value == pytest.approx(runs[1].value, rel=1e-12)


def test_concurrent_solves_in_threads_all_succeed():
    """`mecopt serve` solves in a thread pool: Pyomo's capture of fd 1 and HiGHS's scheduler
    are process-wide, so concurrent highs solves must not trip over each other (they did:
    "Captured output ... does not match sys.stdout", then a hang)."""
    from concurrent.futures import ThreadPoolExecutor

    insts = [mecopt.Instance.load(INSTANCES / "tiny" / f"tiny-00{k}.json") for k in range(6)]
    alone = [mecopt.solve(i, "latency", "highs") for i in insts]
    pool = ThreadPoolExecutor(6)
    futures = [pool.submit(mecopt.solve, i, "latency", "highs", threads=1) for i in insts * 2]
    try:  # without the lock this hung: fail instead of waiting for ever
        together = [f.result(timeout=120) for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for a, b in zip(alone * 2, together, strict=True):
        assert b.status == a.status, b.message
        if a.feasible:
            assert b.objective_value == pytest.approx(a.objective_value, rel=1e-6)


def test_a_wrong_optimum_from_the_mip_start_is_not_believed(monkeypatch):
    """On this instance HiGHS 1.16, given the plain construction's assignment (greedy's
    before its gain ejections) as MIP start, calls the start optimal while reporting an
    optimum below it. The search must not loop on it until the time limit: it rebuilds the
    master and solves it without a start, reaching the optimum that a fresh master finds
    (1.5295518 J, the start is 1.5297888 J; greedy now finds the optimum itself here)."""
    import mecopt.solvers.highs as highs_module
    from mecopt.lns import _EnergyLNS

    inst = mecopt.generate("paper", 50, 4, seed=250009)
    start = plain_construction(inst)
    monkeypatch.setattr(highs_module, "greedy_assignment", lambda *args, **kw: (start, ""))
    sol = mecopt.solve(inst, "energy", "highs", time_limit=20.0)
    assert sol.status == "optimal" and sol.wall_time_s < 10.0
    assert sol.objective_value == pytest.approx(1.5295517705840338, rel=1e-9)
    assert sol.objective_value < mecopt.evaluate(inst, start).value("energy")
    # LNS's sub-MILP on every UE, from the same start, calls nothing proven that is not.
    found = _EnergyLNS(inst, np.random.default_rng(0), None, None).solve(
        start, np.arange(inst.n_ues), 5.0)
    assert found is not None
    a, proven = found
    value = mecopt.evaluate(inst, a).value("energy")
    assert not proven or value == pytest.approx(sol.objective_value, rel=1e-9)


def test_cut_points_are_added_once_and_kept_sorted():
    from mecopt.outer_approximation import CUT_RTOL, _new_point

    points: list[float] = []
    for x in (3.0, 1.0, 2.0, 2.0 * (1 + CUT_RTOL / 2), 2.0 * (1 + 10 * CUT_RTOL), 1.0):
        _new_point(points, x)
    assert points == [1.0, 2.0, 2.0 * (1 + 10 * CUT_RTOL), 3.0]


def test_the_first_latency_master_has_at_most_max_grid_points_per_server():
    """Tasks over a wide range (heavytail) would need thousands of tangent points per server
    at the fixed spacing; the grid is capped, and the search stays exact (its later cuts
    come from the incumbents)."""
    from mecopt.objective import Objective
    from mecopt.outer_approximation import FINE_POINTS, MAX_GRID_POINTS, Master

    inst = mecopt.generate("heavytail", seed=5_000_001)
    master = Master(inst, Objective.LATENCY)
    grid = max(len(p) for p in master._agg_points.values())
    assert MAX_GRID_POINTS // 2 < grid <= MAX_GRID_POINTS + 1
    master.refine_near(np.zeros(inst.n_ues, dtype=int))
    assert max(len(p) for p in master._agg_points.values()) <= grid + 2 * FINE_POINTS + 1


def _master_bound(inst: mecopt.Instance, grid: bool) -> float:
    from mecopt.outer_approximation import Master

    master = Master(inst, Objective.LATENCY)
    if grid:
        master.add_pair_grid()
    _, _, bound = master.solve(time_limit=None, rel_gap=1e-9, threads=1, verbose=False)
    return bound


def test_the_pair_grid_raises_the_latency_masters_bound_where_deadlines_bind():
    """The per-pair grid only adds valid cuts, so a master's bound can only rise; where
    deadlines bind it rises (without it the master prices every unvisited pair's compute
    time at the aggregated, deadline-blind tangent)."""
    raised = 0
    for seed in range(300, 308):
        inst = binding_instance(seed)
        with_grid, without = _master_bound(inst, True), _master_bound(inst, False)
        if with_grid is None or without is None:
            continue
        assert with_grid >= without * (1 - 1e-7)
        raised += with_grid > without * (1 + 1e-4)
    assert raised >= 3, f"the grid raised the bound on only {raised} of 8 instances"


def _grid_rows(inst: mecopt.Instance) -> int:
    from mecopt.outer_approximation import Master

    master = Master(inst, Objective.LATENCY)
    before = len(master.model.perspective)
    master.add_pair_grid()
    master.add_pair_grid()  # once only
    return len(master.model.perspective) - before


def test_the_pair_grid_is_capped_and_left_out_where_no_deadline_can_bind(monkeypatch):
    import mecopt.outer_approximation as oa

    inst = mecopt.generate("hetero", seed=3)
    loose = inst.replace(deadline_s=np.full(inst.n_ues, 1e6))  # f_min about 1e-6 of a share
    assert _grid_rows(loose) == 0
    binding = inst.replace(capacity_hz=inst.capacity_hz * 0.2)
    full = _grid_rows(binding)
    assert full > 0
    monkeypatch.setattr(oa, "PAIR_GRID_MAX_CUTS", full // 3)
    assert 0 < _grid_rows(binding) <= full // 3


def test_the_pair_grid_goes_in_where_a_deadline_binds_in_the_start(monkeypatch):
    """Before the first master, and only where the start holds some offloaded UE at its
    f_min: the paper library's greedy starts hold none, and there the grid's rows only
    slow the proofs."""
    from mecopt.outer_approximation import Master

    gridded = []
    real_solve = Master.solve
    monkeypatch.setattr(Master, "solve", lambda self, **kw: gridded.append(self.gridded)
                        or real_solve(self, **kw))
    binding = next(inst for inst in map(binding_instance, range(300, 316))
                   if deadline_binds(inst, greedy_assignment(inst, "latency")[0]))
    assert mecopt.solve(binding, "latency", "highs").status == "optimal"
    assert gridded and all(gridded)
    gridded.clear()
    paper = INSTANCES / "paper" / "paper-000.json"
    inst = mecopt.Instance.load(paper)
    assert not deadline_binds(inst, greedy_assignment(inst, "latency")[0])
    assert mecopt.solve(inst, "latency", "highs").status == "optimal"
    assert gridded and not any(gridded)


def test_a_master_solve_past_its_deadline_reports_the_time_limit():
    """The limit counts from the call (loading the model into HiGHS included), and HiGHS,
    stopped by the interrupt callbacks or its own clock, reports maxTimeLimit."""
    from pyomo.contrib.solver.common.results import TerminationCondition

    from mecopt.objective import Objective
    from mecopt.outer_approximation import Master

    inst = mecopt.generate("heavytail", seed=5_000_001)
    master = Master(inst, Objective.LATENCY)
    term, x, _ = master.solve(time_limit=1e-3, rel_gap=1e-6, threads=0, verbose=False)
    assert term == TerminationCondition.maxTimeLimit and x is None


def _record_options(monkeypatch, master) -> list[dict]:
    """The solver options of each of `master`'s HiGHS solves from now on."""
    seen, real = [], master.solver.solve

    def spy(model, **kwargs):
        seen.append(dict(kwargs["solver_options"]))
        return real(model, **kwargs)

    monkeypatch.setattr(master.solver, "solve", spy)
    return seen


@pytest.mark.parametrize("time_limit", [None, 5.0])
def test_a_latency_master_under_a_time_limit_runs_presolve_without_its_slow_rules(
        monkeypatch, time_limit):
    """HiGHS's probing and enumeration do not stop at the time limit (12.6 s of presolve for
    a 10 s limit on a 1,139 x 13 latency master): under a limit a latency master turns them
    off, and a master above PRESOLVE_MAX_COLUMNS all of presolve; without a limit, and for
    energy, HiGHS keeps its defaults."""
    from mecopt import outer_approximation
    from mecopt.objective import Objective
    from mecopt.outer_approximation import SLOW_PRESOLVE_RULES, Master

    inst = mecopt.generate("hetero", seed=3)
    for objective in (Objective.LATENCY, Objective.ENERGY):
        master = Master(inst, objective)
        seen = _record_options(monkeypatch, master)
        term, x, _ = master.solve(time_limit=time_limit, rel_gap=1e-6, threads=0,
                                  verbose=False)
        assert x is not None
        limited = objective is Objective.LATENCY and time_limit is not None
        assert seen[-1].get("presolve_rule_off") == (SLOW_PRESOLVE_RULES if limited else None)
        assert "presolve" not in seen[-1]
        if limited:
            assert SLOW_PRESOLVE_RULES == 2**15 + 2**16  # HiGHS's probing and enumeration
            monkeypatch.setattr(outer_approximation, "PRESOLVE_MAX_COLUMNS", 0)
            master.solve(time_limit=time_limit, rel_gap=1e-6, threads=0, verbose=False)
            assert seen[-1]["presolve"] == "off" and "presolve_rule_off" not in seen[-1]


def _master_out_of_time(monkeypatch) -> None:
    """Every master `search` builds from now on finds its deadline passed."""
    from mecopt import outer_approximation

    real = outer_approximation.Master

    def slow(instance, objective, **kwargs):
        return real(instance, objective, **{**kwargs, "deadline": time.perf_counter() - 1.0})

    monkeypatch.setattr(outer_approximation, "Master", slow)


def test_a_time_limit_spent_building_the_master_answers_the_polished_start(monkeypatch):
    """Pyomo takes seconds to build a large master: a deadline that passes meanwhile stops
    the build, and `highs` answers the start polished first (before the build), with the
    trivial bound and a message, instead of running past its limit."""
    from mecopt.objective import Objective
    from mecopt.outer_approximation import Master, MasterOutOfTime

    inst = mecopt.generate("heavytail", seed=5_000_001)
    with pytest.raises(MasterOutOfTime):
        Master(inst, Objective.LATENCY, deadline=time.perf_counter() - 1.0)
    _master_out_of_time(monkeypatch)
    greedy, _ = greedy_assignment(inst, Objective.LATENCY)
    sol = mecopt.solve(inst, "latency", "highs", time_limit=5)
    assert sol.status == "feasible" and "while Pyomo built the master" in sol.message
    assert sol.extra["polish_s"] > 0 and sol.extra["iterations"] == 0
    assert sol.objective_value < mecopt.evaluate(inst, greedy).mean_latency_s
    assert sol.bound is not None and sol.bound <= sol.objective_value


def test_a_start_the_trivial_bound_proves_is_optimal_without_a_master(monkeypatch):
    """10 UEs on 200 servers: each UE's cheapest option alone (the trivial bound) is the
    optimum. A time limit that passes while Pyomo builds the master (1-2 s for this grid
    of 200 servers) still answers `optimal`, not `feasible`."""

    inst = mecopt.generate("hetero", 10, 200, seed=9_770_210)
    _master_out_of_time(monkeypatch)
    sol = mecopt.solve(inst, "latency", "highs", time_limit=5)
    assert sol.status == "optimal" and sol.extra["iterations"] == 0
    assert sol.bound == pytest.approx(sol.objective_value, rel=1e-6)


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_a_master_whose_hand_over_would_not_fit_is_not_handed_over(monkeypatch, objective):
    """Handing a master to HiGHS cannot be stopped: where it would not fit in the time left
    (LOAD_PER_BUILD times the build), HiGHS never starts, and the polish gets the rest of
    the limit instead."""
    from mecopt import outer_approximation

    inst = mecopt.generate("heavytail", seed=5_000_001)
    monkeypatch.setattr(outer_approximation, "POLISH_FIRST_MIN_UES", 0)
    monkeypatch.setattr(outer_approximation, "LOAD_PER_BUILD", 1e9)
    calls, rest = [], []
    monkeypatch.setattr(outer_approximation.Master, "solve",
                        lambda self, **kwargs: calls.append(kwargs))
    real = outer_approximation._Search.polish_until_deadline

    def spy(self):
        rest.append(self.time_limit - (time.perf_counter() - self.t0))
        return real(self)

    monkeypatch.setattr(outer_approximation._Search, "polish_until_deadline", spy)
    greedy, _ = greedy_assignment(inst, objective)
    # 5 s: a fresh test process's first solve spends about 2 s on lazy imports.
    sol = mecopt.solve(inst, objective, "highs", time_limit=5)
    assert not calls and sol.extra["iterations"] == 0
    assert len(rest) == 1 and rest[0] > 0
    assert sol.status == "feasible" and "hand the master to HiGHS" in sol.message
    assert sol.extra["polish_s"] > 0
    assert sol.bound is not None and sol.bound <= sol.objective_value
    assert sol.objective_value <= mecopt.evaluate(inst, greedy).value(objective)


def test_energy_time_limit_starts_the_master_from_greedys_descent(monkeypatch):
    """Under a time limit the energy search starts from the descent of greedy's decision
    (HiGHS's tree may never improve a poor start); without one, from greedy's own."""
    from mecopt.descend import descend

    inst = mecopt.Instance.load(INSTANCES / "tight" / "tight-003.json")
    greedy, _ = greedy_assignment(inst, Objective.ENERGY)
    descended, value = descend(inst, Objective.ENERGY, greedy)
    assert value < mecopt.evaluate(inst, greedy).total_energy_j
    starts = _spy_starts(monkeypatch)
    sol = mecopt.solve(inst, "energy", "highs", time_limit=30)
    assert np.array_equal(starts[-1], descended) and sol.status == "optimal"
    assert mecopt.solve(inst, "energy", "highs").status == "optimal"
    assert np.array_equal(starts[-1], greedy)


def test_latency_starts_from_the_better_of_greedy_and_the_dual_rounding(monkeypatch):
    """The latency search's first incumbent is the cheaper of greedy's decision and the
    Lagrangian dual's rounding; either way the optimum is proven."""
    import mecopt.solvers.highs as highs_module
    from mecopt.polish import latency_rounding

    inst = mecopt.Instance.load(INSTANCES / "hetero" / "hetero-012.json")
    ref = optimum(load_reference(INSTANCES / "hetero" / "reference.json"), inst.name,
                  "latency")
    greedy, _ = greedy_assignment(inst, Objective.LATENCY)
    rounded = latency_rounding(inst)
    assert rounded is not None
    assert highs_module._better(inst, Objective.LATENCY, greedy, rounded) is (
        rounded if mecopt.evaluate(inst, rounded).mean_latency_s
        < mecopt.evaluate(inst, greedy).mean_latency_s else greedy)
    assert highs_module._better(inst, Objective.LATENCY, None, None) is None
    for make in (latency_rounding, lambda instance: None):
        monkeypatch.setattr(highs_module, "latency_rounding", make)
        sol = mecopt.solve(inst, "latency", "highs")
        assert sol.status == "optimal"
        assert sol.objective_value == pytest.approx(ref, rel=1e-6)


def test_latency_time_limit_starts_from_the_better_of_two_descents(monkeypatch):
    """Under a time limit the latency search starts from the better of two descents: of
    the better of greedy's construction and the dual's rounding, and of the `greedy`
    method's finished decision. On paper seed 25 the second is the lower one, so the start
    is below the first descent; without a time limit the start is the undescended one."""
    import mecopt.solvers.highs as highs_module
    from mecopt.construct import placement_order
    from mecopt.descend import descend
    from mecopt.improve import greedy_decision
    from mecopt.polish import latency_rounding

    latency = Objective.LATENCY
    inst = mecopt.generate("paper", seed=25)
    rounded = latency_rounding(inst)
    first = highs_module._better(inst, latency, greedy_assignment(inst, latency)[0], rounded)
    first_value = descend(inst, latency, first)[1]
    finished = greedy_decision(inst, latency, [placement_order(inst, latency)],
                               priced=rounded)[0]
    second_value = descend(inst, latency, finished)[1]
    assert second_value < first_value * (1 - 1e-6)
    starts = _spy_starts(monkeypatch)
    sol = mecopt.solve(inst, "latency", "highs", time_limit=30)
    assert mecopt.evaluate(inst, starts[-1]).mean_latency_s == pytest.approx(second_value,
                                                                             rel=1e-12)
    assert sol.objective_value <= second_value * (1 + 1e-12)
    mecopt.solve(inst, "latency", "highs")
    assert np.array_equal(starts[-1], first)


def _spy_starts(monkeypatch) -> list:
    """Record the start of every outer-approximation search from now on."""
    from mecopt import outer_approximation

    real, starts = outer_approximation.search, []

    def spy(instance, objective, *, start, **kwargs):
        starts.append(start)
        return real(instance, objective, start=start, **kwargs)

    monkeypatch.setattr(outer_approximation, "search", spy)
    return starts


def _spy_relax(monkeypatch) -> list:
    """Record, for every master solve from now on, whether it solved the LP relaxation."""
    from mecopt.outer_approximation import Master

    relaxed = []
    real = Master.solve

    def spy(self, **kwargs):
        relaxed.append(kwargs.get("relax", False))
        return real(self, **kwargs)

    monkeypatch.setattr(Master, "solve", spy)
    return relaxed


def test_a_mid_sized_latency_master_solves_its_lp_first(monkeypatch):
    """Between ROOT_PROBE_COLUMNS and LP_ONLY_COLUMNS a latency master under a time limit
    solves its LP relaxation first; the MIP follows only with ROOT_PER_LP times the LP's run
    left (HiGHS's first round of cuts at the MIP root does not stop at the limit)."""
    from mecopt import outer_approximation

    inst = mecopt.generate("hetero", seed=3)
    exact = mecopt.solve(inst, "latency", "highs")
    relaxed = _spy_relax(monkeypatch)
    monkeypatch.setattr(outer_approximation, "ROOT_PROBE_COLUMNS", 0)
    # Time enough: the LP, then the MIP (which must not inherit the LP's relaxation).
    monkeypatch.setattr(outer_approximation, "ROOT_PER_LP", 0.0)
    sol = mecopt.solve(inst, "latency", "highs", time_limit=20)
    assert relaxed[0] is True and relaxed[1:] and not any(relaxed[1:])
    assert sol.status == "optimal"
    assert sol.objective_value == pytest.approx(exact.objective_value, rel=1e-6)
    # Never time enough: the LP's bound, and the polish the rest of the time.
    relaxed.clear()
    monkeypatch.setattr(outer_approximation, "ROOT_PER_LP", 1e9)
    sol = mecopt.solve(inst, "latency", "highs", time_limit=5)
    assert relaxed == [True] and sol.extra["iterations"] == 1
    assert sol.bound <= exact.objective_value * (1 + 1e-9) <= sol.objective_value * (1 + 2e-9)
    if sol.status == "feasible":
        assert "its MIP was not run" in sol.message


def test_a_large_latency_master_under_a_time_limit_is_solved_as_an_lp(monkeypatch):
    """HiGHS's MIP root does not stop at the limit while it separates cuts (31 s of a 20 s
    limit at 1,358 x 17): under a time limit a latency master above LP_ONLY_COLUMNS gives
    its LP relaxation's bound and the polish the rest of the time. Without a limit the MIP
    runs as before."""
    from mecopt import outer_approximation
    from mecopt.units import objective_unit

    inst = mecopt.generate("hetero", seed=3)
    relaxed = _spy_relax(monkeypatch)
    monkeypatch.setattr(outer_approximation, "LP_ONLY_COLUMNS", 0)
    exact = mecopt.solve(inst, "latency", "highs")
    assert exact.status == "optimal" and not any(relaxed)
    sol = mecopt.solve(inst, "latency", "highs", time_limit=5)
    assert relaxed[-1] is True and sol.extra["iterations"] == 1
    assert sol.status in ("optimal", "feasible")
    assert exact.objective_value * (1 - 1e-9) <= sol.objective_value
    # The LP's bound: below the optimum, above the trivial bound the search starts from.
    assert sol.bound <= exact.objective_value * (1 + 1e-9)
    latency = mecopt.Objective.LATENCY
    trivial = outer_approximation.trivial_bound(inst, latency) \
        * objective_unit(inst, latency) / inst.n_ues  # master units -> mean seconds
    assert trivial < sol.bound
    if sol.status == "feasible":
        assert "was solved as an LP only" in sol.message
    # On hetero-001 the polish ends at its local optimum at once: the message says the gap
    # did not close, not that the time limit was reached.
    early = mecopt.solve(mecopt.generate("hetero", seed=1), "latency", "highs", time_limit=30)
    assert early.status == "feasible" and early.wall_time_s < 20
    assert early.message.startswith("the gap did not close (the polish ended at its local "
                                    "optimum with ")
    assert "time limit reached" not in early.message
    # Under an energy cap there is no polish: the MIP stays the search.
    capped = mecopt.solve(inst, "latency", "highs", time_limit=5,
                          max_energy=2 * sum(exact.energy_j))
    assert relaxed[-1] is False and capped.feasible


def test_a_master_whose_deadline_has_passed_is_not_built(monkeypatch):
    # A start that took the whole limit used to leave a 2,000 x 20 master to build anyway
    # (0.65 s of Pyomo past a 0.2 s limit).
    from mecopt import outer_approximation as oa

    built = []
    monkeypatch.setattr(oa.pyo, "ConcreteModel", lambda *a, **k: built.append(1))
    inst = mecopt.generate("hetero", 40, 3, seed=1)
    with pytest.raises(oa.MasterOutOfTime):
        oa.Master(inst, mecopt.Objective.ENERGY, deadline=time.perf_counter() - 1)
    assert not built
