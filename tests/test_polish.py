"""The shared `lns` option (mecopt.polish) on the methods that take it."""

from __future__ import annotations

import pytest

import mecopt

from conftest import library


@pytest.mark.parametrize("method, options", [
    ("greedy", {}),
    ("de", {"generations": 5, "pop_size": 8}),
    ("pg", {"iterations": 5}),
    ("lambo", {"polish": True}),
])
def test_lns_never_worsens_and_says_what_it_did(method, options):
    inst = library("hetero")[3]  # the hetero instance where energy is hardest
    plain = mecopt.solve(inst, "energy", method, seed=0, **options)
    more = mecopt.solve(inst, "energy", method, seed=0, lns=0.3, **options)
    assert plain.feasible and more.feasible
    assert more.objective_value <= plain.objective_value * (1 + 1e-12)
    assert more.extra["lns_s"] <= 0.3 + 0.5  # one sub-problem may overrun a little
    assert more.extra["value_before_lns"] == pytest.approx(plain.objective_value, rel=1e-9)


@pytest.mark.parametrize("method", ["greedy", "de", "pg", "lambo"])
def test_lns_option_is_checked(method):
    with pytest.raises(mecopt.InputError, match="option lns"):
        mecopt.solve(library("tiny")[0], "energy", method, lns=-1)


@pytest.mark.parametrize("method, options", [
    ("de", {"generations": 0, "pop_size": 8}),
    ("pg", {"iterations": 0}),
])
def test_energy_starts_include_the_lp_rounding(method, options):
    """With no search steps DE and PG return their best polished start. On this sparse
    instance (capacities bind) the LP rounding's descent beats every greedy start, so
    `lp_start` (on by default) must reach it and `lp_start=false` must not."""
    import numpy as np

    from mecopt.polish import lp_rounding_start

    inst = mecopt.generate("sparse", seed=7100000)
    greedy = mecopt.solve(inst, "energy", "greedy")
    rounded = lp_rounding_start(inst, np.array(greedy.assignment), None)
    assert rounded is not None and rounded[1] < greedy.objective_value
    with_lp = mecopt.solve(inst, "energy", method, seed=0, **options)
    without = mecopt.solve(inst, "energy", method, seed=0, lp_start=False, **options)
    assert with_lp.objective_value <= rounded[1] * (1 + 1e-9)
    assert without.objective_value > rounded[1] * (1 + 1e-9)


@pytest.mark.parametrize("method, options", [
    ("de", {"generations": 0, "pop_size": 8}),
    ("pg", {"iterations": 0}),
])
def test_latency_starts_include_the_dual_rounding(method, options):
    """For latency `lp_start` seeds with the Lagrangian dual's rounding, descended. On this
    heavytail instance it is below every greedy start's descent (measured: 0.64044 s against
    0.64086 s), so with no search steps DE and PG reach it only with the option."""
    from mecopt.polish import relaxation_start

    inst = mecopt.generate("heavytail", seed=7100005)
    greedy = mecopt.solve(inst, "latency", "greedy")
    rounded = relaxation_start(inst, mecopt.Objective.LATENCY, greedy.assignment, None)
    assert rounded is not None
    with_dual = mecopt.solve(inst, "latency", method, seed=0, **options)
    without = mecopt.solve(inst, "latency", method, seed=0, lp_start=False, **options)
    assert with_dual.objective_value <= rounded[1] * (1 + 1e-9)
    assert without.objective_value > rounded[1] * (1 + 1e-9)


@pytest.mark.parametrize("method, options", [
    ("de", {"generations": 2, "pop_size": 8}),
    ("pg", {"iterations": 2}),
])
def test_energy_lns_gets_the_polished_lp_rounding(method, options, monkeypatch):
    """DE and PG hand the LP rounding they polished to LNS, which would descend it again."""
    import mecopt.lns as lns

    seen = []
    real = lns.improve_with_stats

    def spy(*args, **kwargs):
        seen.append(kwargs.get("polished_rounding"))
        return real(*args, **kwargs)

    monkeypatch.setattr(lns, "improve_with_stats", spy)
    inst = mecopt.generate("sparse", seed=7100000)
    mecopt.solve(inst, "energy", method, seed=0, lns=0.2, **options)
    mecopt.solve(inst, "energy", method, seed=0, lns=0.2, polish=False, **options)
    assert seen[0] is not None and seen[0].shape == (inst.n_ues,)
    assert seen[1] is None  # not polished: LNS descends it itself


def test_lambo_energy_polish_ends_with_lns_rounds_unless_turned_off(monkeypatch):
    """Heavy-tailed tasks, 30 UEs on 4 servers: the tabu search's answer is 4.8% above the
    optimum, which the LNS rounds reach (here the first freed set is the whole instance).
    The policy's doubt steers the freed sets although greedy's decision wins the guard."""
    import mecopt.lns as lns
    from mecopt.polish import POLISH_LNS_STALL, POLISH_WHOLE_NODES

    seen = []
    real = lns.improve_with_stats

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(lns, "improve_with_stats", spy)
    inst = mecopt.generate("heavytail", n_ues=30, n_servers=4, seed=31)
    off = mecopt.solve(inst, "energy", method="lambo", polish=True, lns_polish=False)
    assert not seen and "polish_lns_s" not in off.extra
    on = mecopt.solve(inst, "energy", method="lambo", polish=True)
    assert seen[0]["stall_rounds"] == POLISH_LNS_STALL and seen[0]["tabu"] is False
    # No time limit: after the rounds, HiGHS on the whole instance within a node limit.
    assert seen[0]["whole_after_stall"] is True
    assert seen[0]["whole_nodes"] == POLISH_WHOLE_NODES
    assert seen[0]["weights"] is not None  # the policy's doubt steers the freed sets,
    assert on.extra["guard"] != "decode"  # whichever start won the guard
    assert on.extra["polish_lns_s"] >= 0
    assert on.extra["value_polished"] == pytest.approx(on.objective_value)
    exact = mecopt.solve(inst, "energy", method="highs")
    assert exact.status == "optimal"
    assert on.objective_value == pytest.approx(exact.objective_value, rel=1e-6)
    assert off.objective_value > exact.objective_value * 1.01
    latency = mecopt.solve(inst, "latency", method="lambo", polish=True)
    assert "polish_lns_s" not in latency.extra and len(seen) == 1  # energy only
    # With a time limit, HiGHS gets the whole instance for what the stalled rounds leave.
    limited = mecopt.solve(inst, "energy", method="lambo", polish=True, time_limit=30)
    assert seen[1]["whole_after_stall"] is True and seen[1]["whole_nodes"] is None
    # ... unless `lns` is to have the time left.
    mecopt.solve(inst, "energy", method="lambo", polish=True, lns=1, time_limit=30)
    assert seen[2]["whole_after_stall"] is False
    assert limited.objective_value == pytest.approx(exact.objective_value, rel=1e-6)


def test_methods_answer_optimal_where_their_lns_proves_it():
    """The same heavy-tailed instance: LNS reaches the optimum and meets the LP
    relaxation's bound there, so lambo's polish, greedy and DE with LNS say `optimal`; what
    no proof covers (the polish's tabu answer alone, latency) stays `feasible`."""
    inst = mecopt.generate("heavytail", n_ues=30, n_servers=4, seed=31)
    exact = mecopt.solve(inst, "energy", method="highs")
    assert exact.status == "optimal"
    for method, options in [("lambo", {"polish": True}), ("greedy", {"lns": 3.0}),
                            ("de", {"lns": 3.0, "generations": 5})]:
        sol = mecopt.solve(inst, "energy", method=method, time_limit=30, **options)
        assert sol.status == "optimal", (method, sol.extra)
        assert sol.objective_value == pytest.approx(exact.objective_value, rel=1e-6)
        assert sol.extra.get("lns_proven") or sol.extra.get("polish_lns_proven")
        assert sol.bound is not None and sol.bound <= sol.objective_value  # what proves it
        assert sol.bound == pytest.approx(sol.objective_value, rel=1e-6) and sol.gap <= 1e-6
    tabu_only = mecopt.solve(inst, "energy", method="lambo", polish=True, lns_polish=False)
    assert tabu_only.status == "feasible"
    latency = mecopt.solve(inst, "latency", method="lambo", polish=True)
    assert latency.status == "feasible" and "polish_lns_proven" not in latency.extra


def test_an_unproven_lns_answer_carries_the_lp_bound_below_the_optimum():
    """tight 120 x 5: the polish reaches the optimum, but the LP relaxation (which its LNS
    solved) has a gap of 0.4% and HiGHS's 1,000 nodes on the whole instance do not close
    it, so nothing proves it: the answer stays `feasible` and carries the LP bound, below
    the exact optimum. On tight 40 x 5 (an LP gap of 1.5%) the nodes prove the optimum."""
    inst = mecopt.generate("tight", n_ues=120, n_servers=5, seed=1)
    sol = mecopt.solve(inst, "energy", method="lambo", polish=True)
    exact = mecopt.solve(inst, "energy", method="highs")
    assert exact.status == "optimal"
    assert sol.status == "feasible" and "polish_lns_proven" not in sol.extra
    assert sol.bound == pytest.approx(sol.extra["lns_bound"])
    assert sol.bound <= exact.objective_value * (1 + 1e-9)
    assert exact.objective_value <= sol.objective_value * (1 + 1e-9)
    assert sol.gap == pytest.approx((sol.objective_value - sol.bound) / sol.objective_value)
    assert sol.gap > 0.001
    small = mecopt.generate("tight", n_ues=40, n_servers=5, seed=1)
    proven = mecopt.solve(small, "energy", method="lambo", polish=True)
    optimum = mecopt.solve(small, "energy", method="highs").objective_value
    assert proven.status == "optimal" and proven.extra["polish_lns_proven"]
    assert proven.objective_value == pytest.approx(optimum, rel=1e-9)
    assert proven.bound <= proven.objective_value and proven.gap < 1e-6
