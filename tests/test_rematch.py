"""Matching rounds (mecopt.rematch): exact round costs, the best matching in one round,
never worse, and greedy's use of them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import mecopt
from mecopt.construct import greedy_assignment
from mecopt.evaluation import evaluate
from mecopt.generators import generate
from mecopt.matching import SCIPY_ROWS, assign, shortest_augmenting_paths
from mecopt.rematch import _freed, rematch, round_costs
from mecopt.units import alone_costs

from conftest import INSTANCES, check_never_worse, library

OBJECTIVES = (mecopt.Objective.LATENCY, mecopt.Objective.ENERGY)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("family, seed", [("hetero", 3), ("tight", 4), ("sparse", 5)])
def test_round_costs_are_exact(family, seed, objective):
    """Any assignment of the freed UEs (one per server at most, local any number) changes the
    objective's total by exactly its change in summed round costs: checked on the round's
    best assignment and on random ones built from the same freed set."""
    inst = generate(family, seed=seed)
    a, _ = greedy_assignment(inst, objective)
    rng = np.random.default_rng(seed)
    freed = _freed(a, inst.n_servers, rng)
    cost = round_costs(inst, objective, a, freed)
    M, R = inst.n_servers, len(freed)
    scale = inst.n_ues if objective is mecopt.Objective.LATENCY else 1
    now = np.where(a[freed] > 0, a[freed] - 1, M + np.arange(R))
    base = evaluate(inst, a).value(objective) * scale

    def check(cols):
        moved = a.copy()
        moved[freed] = np.where(cols < M, cols + 1, 0)
        result = evaluate(inst, moved)
        assert result.feasible
        change = cost[np.arange(R), cols].sum() - cost[np.arange(R), now].sum()
        assert result.value(objective) * scale - base == pytest.approx(
            change, rel=1e-9, abs=1e-9 * base)

    _, best = linear_sum_assignment(cost)
    check(best)
    checked = 0
    for _ in range(200):  # random assignments: each server to at most one freed UE
        cols = now.copy()
        for r in rng.permutation(R)[:3]:
            free = np.flatnonzero(np.isfinite(cost[r]) & ~np.isin(np.arange(M + R), cols))
            if len(free):
                cols[r] = rng.choice(free)
        if np.isfinite(cost[np.arange(R), cols]).all() and not np.array_equal(cols, now):
            check(cols)
            checked += 1
    assert checked >= 20


def test_one_round_finds_the_best_matching():
    """12 UEs, 30 servers, every UE local at the start: the first round frees them all, so
    it ends at the best decision with at most one UE per server, which a linear assignment
    over the UEs' costs alone on each server (or local) gives independently."""
    inst = generate("hetero", seed=7, n_ues=12, n_servers=30)
    inst = inst.replace(deadline_s=inst.t_loc * 3)
    start = np.zeros(inst.n_ues, dtype=int)
    for objective in OBJECTIVES:
        alone = alone_costs(inst, objective)
        cost = np.where(inst.option_ok[:, 1:], alone[:, 1:], np.inf)
        local = np.full((inst.n_ues, inst.n_ues), np.inf)
        np.fill_diagonal(local, alone[:, 0])
        rows, cols = linear_sum_assignment(np.hstack([cost, local]))
        best = np.hstack([cost, local])[rows, cols].sum()
        out = rematch(inst, objective, start, max_rounds=1)
        scale = inst.n_ues if objective is mecopt.Objective.LATENCY else 1
        assert evaluate(inst, out).value(objective) * scale == pytest.approx(best, rel=1e-9)
        assert np.bincount(out[out > 0], minlength=inst.n_servers + 1).max() <= 1


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_rematch_is_feasible_and_never_worse(objective):
    check_never_worse(lambda inst, obj, a, seed: rematch(inst, obj, a, seed=seed), objective)


def test_the_round_limit_and_the_deadline_stop_it():
    inst = library("paper")[0]
    a, _ = greedy_assignment(inst, "latency")
    assert np.array_equal(rematch(inst, "latency", a, max_rounds=0), a)
    assert np.array_equal(rematch(inst, "latency", a, deadline=0.0), a)
    assert np.array_equal(rematch(inst, "latency", a, seed=3),
                          rematch(inst, "latency", a, seed=3))


def test_greedy_rematches_unless_told_not_to():
    """Greedy's mean latency gap to the proven optima on the paper library, with relocation
    only and with the matching rounds too: 0.274% and 0.046% (measured). Rounds that found
    nothing, or valued exchanges wrongly, would leave it above 0.2%."""
    from mecopt.reference import load_reference, optimum

    ref = load_reference(INSTANCES / "paper" / "reference.json")
    before, after = [], []
    for inst in library("paper"):
        best = optimum(ref, inst.name, "latency")
        plain = mecopt.solve(inst, "latency", "greedy", rematch=False)
        matched = mecopt.solve(inst, "latency", "greedy")
        assert matched.objective_value <= plain.objective_value
        before.append(plain.objective_value / best - 1)
        after.append(matched.objective_value / best - 1)
    assert np.mean(before) > 0.002
    assert np.mean(after) < 0.001


def test_the_numpy_assignment_agrees_with_scipys():
    """Random rectangular problems with forbidden pairs and ties (integer costs): the same
    optimal cost as scipy's solver, each row on a distinct allowed column."""
    rng = np.random.default_rng(0)
    for k in range(300):
        R = int(rng.integers(1, 25))
        C = R + int(rng.integers(0, 25))
        cost = rng.integers(0, 5 if k % 2 else 1000, (R, C)).astype(float)
        cost[rng.random((R, C)) < 0.6] = np.inf
        cost[np.arange(R), rng.permutation(C)[:R]] = rng.integers(0, 1000, R)  # one exists
        rows, cols = shortest_augmenting_paths(cost)
        ref_rows, ref_cols = linear_sum_assignment(cost)
        assert len(set(cols)) == R and np.isfinite(cost[rows, cols]).all()
        assert cost[rows, cols].sum() == pytest.approx(cost[ref_rows, ref_cols].sum())
    with pytest.raises(ValueError, match="no assignment of finite cost"):
        shortest_augmenting_paths(np.array([[1.0, np.inf], [2.0, np.inf]]))
    big = rng.random((SCIPY_ROWS, SCIPY_ROWS + 3))
    assert assign(big)[1].tolist() == linear_sum_assignment(big)[1].tolist()
