"""mecopt.packing: the must-offload UEs packed by tabu search, and the anchor that uses it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import mecopt
import mecopt.construct as construct
import mecopt.relaxation as relaxation
from mecopt.evaluation import evaluate
from mecopt.instance import usable_options
from mecopt.packing import _Search, pack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_packing import planted  # noqa: E402


def full_alike(seed: int = 0, local_ues: int = 0) -> mecopt.Instance:
    """40 servers filled to capacity by their planted UEs, each UE reaching every server
    at nearly the same f_min: the kind HiGHS's MILP finds no packing of in 5 s."""
    return planted(seed, 40, 1.0, reach=40, spread=0.02, local_ues=local_ues)  # "alike"


def _search(inst: mecopt.Instance) -> _Search:
    must = ~inst.local_ok
    size = np.where(usable_options(inst)[must, 1:], inst.f_min[must], np.inf)
    return _Search(size / 1e9, inst.capacity_hz / 1e9, np.random.default_rng(0))


def test_pack_finds_a_full_packing_best_fit_decreasing_misses():
    inst = full_alike()
    start = _search(inst)
    assert start.overload(start.load).sum() > 0  # the start alone overloads a server
    a = pack(inst)
    assert a is not None
    assert (a > 0).all()  # every UE must offload here
    assert evaluate(inst, a).feasible


def test_pack_leaves_local_ues_local_and_is_seeded():
    inst = full_alike(4, local_ues=30)
    a = pack(inst, seed=3)
    assert a is not None and evaluate(inst, a).feasible
    assert (a[inst.local_ok] == 0).all() and (a[~inst.local_ok] > 0).all()
    assert np.array_equal(a, pack(inst, seed=3))


def test_pack_budget_counts_work_not_seconds(monkeypatch):
    """The default budget is work: a clock that runs 100 s per reading (a very slow
    machine) changes nothing; a budget of one step's work ends the search unpacked."""
    import mecopt.packing as packing

    inst = full_alike(2)
    a = pack(inst)
    assert a is not None
    clock = iter(range(0, 10**9, 100))
    monkeypatch.setattr(packing.time, "perf_counter", lambda: float(next(clock)))
    assert np.array_equal(pack(inst), a)
    must = int((~inst.local_ok).sum())
    assert pack(inst, max_work=must * inst.n_servers) is None


def test_pack_without_must_offload_ues_is_all_local():
    inst = mecopt.generate("paper", seed=0)
    if (~inst.local_ok).any():  # the paper family can have must-offload UEs; drop them
        inst = inst.replace(deadline_s=inst.t_loc * 2)
    assert (pack(inst) == 0).all()


def test_pack_gives_up_on_an_unpackable_instance():
    """Two UEs of 0.6 GHz, one server of 1 GHz: no packing, so None after the budget."""
    inst = mecopt.Instance(
        name="two-in-one", data_bits=[1e3, 1e3], cycles=[0.6e9, 0.6e9], local_hz=[0.1e9] * 2,
        tx_power_w=[1.0] * 2, local_power_w=[1.0] * 2, deadline_s=[1.0] * 2,
        capacity_hz=[1e9], rate_bps=[[1e9], [1e9]])
    assert pack(inst, max_steps=50) is None


def test_anchor_packs_by_search_before_highs(monkeypatch):
    """The anchor of a full packing comes from the search: HiGHS's MILP is not asked (only
    the LP relaxation, the anchor's cheap proof that no packing exists, runs first)."""
    lp = relaxation.assignment_lp

    def no_milp(*args, **kwargs):
        if kwargs.get("integer"):
            raise AssertionError("HiGHS's MILP was asked")
        return lp(*args, **kwargs)

    monkeypatch.setattr(relaxation, "assignment_lp", no_milp)
    inst = full_alike(0, local_ues=20)
    a = construct.anchor(inst)
    assert a is not None and evaluate(inst, a).feasible


def test_greedy_finds_a_decision_on_a_full_packing(monkeypatch):
    """Its sweep and ejection get stuck there; the anchor's packing rescues it."""
    inst = full_alike(5, local_ues=20)
    for objective in ("latency", "energy"):
        sol = mecopt.solve(inst, objective, "greedy")
        assert sol.status == mecopt.Status.FEASIBLE, sol.message
    monkeypatch.setattr(construct, "anchor", lambda instance, objective=None: None)
    assert construct.greedy_assignment(inst, "energy")[0] is None


def test_anchor_falls_back_to_highs_when_the_search_finds_nothing(monkeypatch):
    monkeypatch.setattr(construct, "_ANCHORS", type(construct._ANCHORS)())
    import mecopt.packing as packing

    monkeypatch.setattr(packing, "pack", lambda instance, objective=None: None)
    inst = planted(0, 10, 0.99)
    a = construct.anchor(inst)
    assert a is not None and evaluate(inst, a).feasible


def test_pack_for_an_objective_starts_from_the_cheapest_servers():
    """With room for everybody, the packing for an objective is each UE's cheapest server
    for it, and costs no more than the best-fit-decreasing one."""
    from mecopt.units import alone_costs

    inst = full_alike(0)
    inst = inst.replace(capacity_hz=inst.capacity_hz * 100)
    for objective in (mecopt.Objective.ENERGY, mecopt.Objective.LATENCY):
        cost = np.where(usable_options(inst), alone_costs(inst, objective), np.inf)
        cheapest = np.argmin(cost[:, 1:], axis=1) + 1
        a, fitted = pack(inst, objective), pack(inst)
        assert np.array_equal(a, cheapest)
        n = np.arange(inst.n_ues)
        assert cost[n, a].sum() <= cost[n, fitted].sum()
