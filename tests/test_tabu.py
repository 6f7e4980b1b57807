"""mecopt.tabu: the energy tabu search across the capacity boundary."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import mecopt
from mecopt import InputError, descend, evaluate, evaluate_batch
from mecopt.lns import improve_with_stats
from mecopt.tabu import tabu_search

from conftest import INSTANCES, plain_construction


def optimum(inst: mecopt.Instance) -> float:
    """The least energy over every decision (brute force: a few UEs only)."""
    every = np.array(list(itertools.product(range(inst.n_servers + 1), repeat=inst.n_ues)))
    check = evaluate_batch(inst, every)
    return float(np.where(check.feasible, check.value("energy"), np.inf).min())


def stuck(seed: int) -> tuple[mecopt.Instance, np.ndarray, float]:
    """A tight 9 x 2 draw, the plain construction's decision (greedy's without its gain
    ejections, from which descend gets stuck on these seeds) descended, and that descent's
    energy."""
    inst = mecopt.generate("tight", n_ues=9, n_servers=2, seed=seed)
    start = plain_construction(inst)
    a, value = descend(inst, "energy", start)
    return inst, a, value


# 3, 30, 34: descend's room moves reach the optimum (test_room)
@pytest.mark.parametrize("seed", [70, 214])
def test_tabu_reaches_the_optimum_where_descend_is_stuck(seed):
    inst, start, value = stuck(seed)
    best = optimum(inst)
    assert value > best * (1 + 1e-9)  # descend's local optimum is not the optimum
    a, found = tabu_search(inst, start, max_steps=300, seed=0)
    check = evaluate(inst, a)
    assert check.feasible
    assert found == pytest.approx(check.total_energy_j, rel=1e-12)
    assert found == pytest.approx(best, rel=1e-9)


@pytest.mark.parametrize("family,seed", [("tight", 0), ("tight", 1), ("hetero", 2),
                                         ("sparse", 3), ("paper", 4)])
def test_tabu_returns_a_feasible_decision_never_worse_than_its_start(family, seed):
    inst = mecopt.generate(family, seed=seed)
    start = mecopt.solve(inst, "energy", method="greedy")
    a, found = tabu_search(inst, np.asarray(start.assignment), max_steps=150, seed=seed)
    check = evaluate(inst, a)
    assert check.feasible
    assert found == pytest.approx(check.total_energy_j, rel=1e-12)
    assert found <= start.objective_value * (1 + 1e-12)


def test_tabu_keeps_its_start_when_it_is_optimal():
    inst, start, _ = stuck(3)
    best, _ = tabu_search(inst, start, max_steps=300, seed=0)
    again, value = tabu_search(inst, best, max_steps=300, seed=1)
    assert value == pytest.approx(optimum(inst), rel=1e-9)
    assert evaluate(inst, again).feasible


def test_tabu_is_reproducible_by_seed():
    inst = mecopt.generate("tight", seed=5)
    start = np.asarray(mecopt.solve(inst, "energy", method="greedy").assignment)
    runs = [tabu_search(inst, start, max_steps=200, seed=s) for s in (7, 7)]
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]


def test_tabu_needs_a_limit():
    inst, start, _ = stuck(3)
    with pytest.raises(ValueError, match="deadline, max_steps or stall"):
        tabu_search(inst, start)


def test_tabu_refuses_a_start_that_is_not_a_feasible_assignment():
    inst, start, _ = stuck(3)
    with pytest.raises(InputError, match="assignment: expected 9 entries"):
        tabu_search(inst, start[:4], max_steps=10)
    crowded = np.full(inst.n_ues, 1)  # every UE on server 1: over its capacity
    assert not evaluate(inst, crowded).feasible
    with pytest.raises(InputError, match="feasible starting assignment"):
        tabu_search(inst, crowded, max_steps=10)


def test_energy_lns_runs_the_tabu_search_before_its_freed_sets():
    inst, start, _ = stuck(214)
    a, value, stats = improve_with_stats(inst, "energy", start, time_limit=5.0, max_steps=0,
                                         whole=False, use_descend=False)
    assert "tabu" in stats.by_kind  # nothing else ran: no freed set, no descent
    assert value == pytest.approx(optimum(inst), rel=1e-9)
    assert evaluate(inst, a).feasible


def test_tabu_polish_returns_its_input_when_nothing_is_better():
    from mecopt.polish import tabu_polish

    inst, start, _ = stuck(34)
    best = optimum(inst)
    a, value, seconds = tabu_polish(inst, start, evaluate(inst, start).total_energy_j, None)
    assert value == pytest.approx(best, rel=1e-9) and seconds >= 0
    again, same, _ = tabu_polish(inst, a, value, None)
    assert np.array_equal(again, a) and same == value


def test_lambo_energy_polish_ends_with_the_tabu_search_unless_turned_off():
    inst = mecopt.generate("tight", n_ues=30, n_servers=3, seed=11)
    on = mecopt.solve(inst, "energy", method="lambo", polish=True, lns_polish=False)
    off = mecopt.solve(inst, "energy", method="lambo", polish=True, tabu=False,
                       lns_polish=False)
    assert on.extra["polish_tabu_s"] >= 0 and "polish_tabu_s" not in off.extra
    assert on.objective_value <= off.objective_value * (1 + 1e-12)
    latency = mecopt.solve(inst, "latency", method="lambo", polish=True)
    assert "polish_tabu_s" not in latency.extra  # energy only


def test_the_polishs_tabu_search_is_bounded_by_steps_so_its_answer_repeats():
    inst = mecopt.generate("tight", seed=8)
    # Without the LNS rounds after it, whose sub-problems are bounded by seconds.
    runs = [mecopt.solve(inst, "energy", method="lambo", polish=True, lns_polish=False)
            for _ in range(2)]
    assert np.array_equal(runs[0].assignment, runs[1].assignment)


@pytest.mark.parametrize("family,seed", [("tight", 0), ("sparse", 3), ("sparse", 4)])
def test_the_search_starts_at_prices_where_no_single_move_pays(family, seed):
    from mecopt.tabu import _Search

    inst = mecopt.generate(family, seed=seed)
    greedy = np.asarray(mecopt.solve(inst, "energy", method="greedy").assignment)
    start, _ = descend(inst, "energy", greedy)
    search = _Search(inst, start.copy(), np.random.default_rng(0))
    value = float(search.cost[search.ues, search.a].sum())
    move = search._best_move(1, value, value)
    assert move is not None and move[0] >= -1e-9  # no move lowers the penalized sum
    # ... and the prices are the least that do this: at 1% less, a move into the most
    # expensive server (priced above the floor on these draws) pays.
    j = int(np.argmax(search.weight))
    search.weight[j] *= 0.99
    cheaper = search._best_move(1, value, value)
    assert cheaper is not None and cheaper[0] < 0 and cheaper[2] == j


def test_the_polishs_tabu_search_runs_again_from_a_better_answer():
    from mecopt.polish import POLISH_TABU_STALL, POLISH_TABU_STEPS, tabu_polish

    # One of the four library tight instances (008, 010, 014, 019) where, from the polish
    # without its tabu search and LNS rounds, a first run improves and a second goes further.
    inst = mecopt.Instance.load(INSTANCES / "tight" / "tight-014.json")
    start = mecopt.solve(inst, "energy", method="lambo", polish=True, tabu=False,
                         lns_polish=False)
    a = np.asarray(start.assignment)
    _, once = tabu_search(inst, a, stall=POLISH_TABU_STALL, max_steps=POLISH_TABU_STEPS, seed=0)
    chained, value, _ = tabu_polish(inst, a, start.objective_value, None, seed=0)
    assert once < start.objective_value  # the first run improves ...
    assert value < once * (1 - 1e-9)  # ... and a second run from its answer goes further
    assert evaluate(inst, chained).feasible
    assert value == pytest.approx(evaluate(inst, chained).total_energy_j, rel=1e-12)
