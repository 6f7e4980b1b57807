"""The shared local search: never worse, reaches the optima it should, and its neighbour bound
never rules out an improvement."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

import mecopt
from mecopt.construct import greedy_assignment
from mecopt.descend import (
    _BOUND_MARGIN,
    _PRUNE_SLACK,
    _SCREEN_FROM,
    _apply,
    _Bound,
    _Screen,
    descend,
)
from mecopt.evaluation import evaluate, evaluate_batch
from mecopt.repair import repair

from conftest import library

# The module itself (`mecopt.descend` names the function, which mecopt re-exports).
descend_module = sys.modules["mecopt.descend"]

OBJECTIVES = (mecopt.Objective.LATENCY, mecopt.Objective.ENERGY)


def _greedy_neighbourhoods(kind, objective, rng, changes, n=512):
    """For the first 6 instances of a library with a greedy solution a: (instance, a, ues,
    opts, evaluate_batch of the neighbours), up to n neighbours of a that each set `changes`
    UEs to random options that meet their deadlines (descend only proposes such options)."""
    for inst in library(kind)[:6]:
        a, _ = greedy_assignment(inst, objective)
        if a is None:
            continue
        ues = np.stack([rng.permutation(inst.n_ues)[:changes] for _ in range(n)])
        opts = rng.integers(0, inst.n_servers + 1, ues.shape)
        reach = inst.option_ok[ues, opts].all(axis=1)
        ues, opts = ues[reach], opts[reach]
        yield inst, a, ues, opts, evaluate_batch(inst, _apply(a, ues, opts))


def _trading_pairs(inst, a):
    """Every swap descend could make: pairs i < j on different options, each allowed on the
    other's, in (i, j) order."""
    ok = inst.option_ok
    i, j = np.triu_indices(inst.n_ues, k=1)
    keep = (a[i] != a[j]) & ok[i, a[j]] & ok[j, a[i]]
    return i[keep], j[keep]


def test_descend_never_worsens_and_reaches_tiny_optima(tiny_instances, tiny_optima):
    hits = total = 0
    for inst in tiny_instances:
        for objective in OBJECTIVES:
            a, _ = greedy_assignment(inst, objective)
            if a is None:
                continue
            start = evaluate_batch(inst, a[None]).value(objective)[0]
            b, value = descend(inst, objective, a)
            ev = evaluate(inst, b)
            assert ev.feasible and value <= start + 1e-15
            assert ev.value(objective) == pytest.approx(value, rel=1e-12)
            total += 1
            hits += value <= tiny_optima[(inst.name, objective.value)][1] * (1 + 1e-9)
    # Measured: greedy + descend reaches the brute-force optimum in 17 of 18 cases.
    assert total == 18 and hits >= 16


@pytest.mark.parametrize("kind", ["tiny", "hetero"])
@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("changes", [1, 2, 3])
def test_neighbour_bound_is_below_every_feasible_value_and_fits_is_exact(kind, objective, changes):
    # descend skips neighbours whose bound cannot improve: the bound must never exceed a
    # feasible neighbour's true value by a sizeable part of its margin, or descend would
    # miss an improvement (measured: at most 2e-15 relative, rounding).
    rng = np.random.default_rng(changes)
    checked = overloaded = 0
    for inst, a, ues, opts, batch in _greedy_neighbourhoods(kind, objective, rng, changes):
        bound = _Bound(inst, objective).of(a, ues, opts)
        value = batch.value(objective)[batch.feasible]
        checked += len(value)
        assert np.all(bound[batch.feasible] <= value * (1 + _BOUND_MARGIN / 5))
        if objective is mecopt.Objective.ENERGY:  # energy does not depend on the allocation
            assert np.allclose(bound[batch.feasible], value, rtol=1e-12)
        # Capacity is all that can fail here, and `fits` sees it from the changes alone.
        fits = _Bound(inst, objective).fits(a, ues, opts)
        np.testing.assert_array_equal(fits, batch.feasible)
        overloaded += int((~fits).sum())
    assert checked > 100
    if kind == "tiny":  # capacity binds there
        assert overloaded > 50


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_bound_of_moves_and_swaps_equals_the_general_count(objective):
    # The bound reads moves and swaps (descend's own neighbourhoods) without searching
    # for servers changed twice; with one neighbour that changes nothing added, the same
    # neighbours go through the general count, which must give the same bounds and fits.
    checked = 0
    for inst in library("hetero")[:4] + library("tiny")[:4]:
        a, _ = greedy_assignment(inst, objective)
        if a is None:
            continue
        ok = inst.option_ok
        ue, opt = np.nonzero(ok & (np.arange(ok.shape[1])[None] != a[:, None]))
        i, j = _trading_pairs(inst, a)
        bound = _Bound(inst, objective)
        bound.anchor(a, evaluate_batch(inst, a[None]).allocation_hz[0])
        for ues, opts in ((ue[:, None], opt[:, None]),
                          (np.stack([i, j], 1), np.stack([a[j], a[i]], 1))):
            general_ues = np.concatenate([ues, ues[:1]])
            general_opts = np.concatenate([opts, a[ues[:1]]])  # the last changes nothing
            P = len(ues)
            for kw in ({}, {"overloaded": True}, {"anchored": True}):
                np.testing.assert_allclose(bound.of(a, ues, opts, **kw),
                                           bound.of(a, general_ues, general_opts, **kw)[:P],
                                           rtol=1e-14)
            np.testing.assert_array_equal(bound.fits(a, ues, opts),
                                          bound.fits(a, general_ues, general_opts)[:P])
            checked += P
    assert checked > 1000


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_swaps_keep_every_pair_the_bound_lets_through(objective):
    # A swap round reads only the pairs `_Bound.swaps` returns, so it must return every
    # trading pair whose bound `of` would let through (and, anchored, whose anchored bound
    # would too), in the order of all pairs (which breaks ties), and nothing that cannot
    # trade. Checked at a local optimum of single moves (where descend asks for swaps),
    # against its value and against looser values that let many pairs through, and from a
    # random assignment.
    rng = np.random.default_rng(7)
    insts = library("hetero")[:3] + library("tiny")[:3] + [
        mecopt.generate("world", 300, 8, seed=11), mecopt.generate("sparse", seed=4),
        mecopt.generate("tight", seed=1)]  # deadlines bind on the last two
    checked = pruned = total = 0
    for inst in insts:
        a, _ = greedy_assignment(inst, objective)
        if a is None:
            continue
        starts = [descend(inst, objective, a, swaps=False, chains=False, exchanges=False)[0]]
        starts.append(np.where(rng.random(inst.n_ues) < 0.5, a, 0))  # local is always open
        for start in starts:
            batch = evaluate_batch(inst, start[None])
            value = float(batch.value(objective)[0])
            bound = _Bound(inst, objective)
            bound.anchor(start, batch.allocation_hz[0])
            i_all, j_all = _trading_pairs(inst, start)
            ues, opts = np.stack([i_all, j_all], 1), np.stack([start[j_all], start[i_all]], 1)
            low = bound.of(start, ues, opts)
            anchored = bound.of(start, ues, opts, anchored=True)
            for target in (value, value * 1.001, value * 1.05):
                margin = target - _BOUND_MARGIN * abs(target)
                for use_anchor in {False, bound.latency}:
                    i, j = bound.swaps(start, inst.option_ok, target, anchored=use_anchor)
                    assert np.all(i < j) and np.all(np.diff(i * inst.n_ues + j) > 0)
                    assert np.all(start[i] != start[j])
                    assert inst.option_ok[i, start[j]].all()
                    assert inst.option_ok[j, start[i]].all()
                    passed = low < margin
                    if use_anchor:
                        passed &= anchored < margin
                    kept = set(zip(i.tolist(), j.tolist(), strict=True))
                    assert set(zip(i_all[passed].tolist(), j_all[passed].tolist(),
                                   strict=True)) <= kept
                    checked += int(passed.sum())
                    if target == value and start is starts[0]:
                        pruned += len(i_all) - len(i)
                        total += len(i_all)
    assert checked > 100
    # At a local optimum of moves most trading pairs cannot pass (else nothing is saved).
    assert pruned > 0.8 * total


@pytest.mark.parametrize("kind", ["tiny", "hetero"])
@pytest.mark.parametrize("changes", [1, 2, 3])
@pytest.mark.parametrize("from_sorted", [False, True])
def test_latency_screen_agrees_with_the_full_evaluation(kind, changes, from_sorted, monkeypatch):
    # The screen water-fills only the servers a neighbour changes (a small chunk outright,
    # a large one from each server's sorted UEs, waterfill.ServerFill: both are checked);
    # its values must match evaluate_batch's to rounding and its capacity verdict must
    # match, or descend could take another step. A neighbour it calls unsure is evaluated
    # in full by descend; such calls must stay rare.
    monkeypatch.setattr(descend_module, "_SORTED_SCREEN_FROM", 0 if from_sorted else 10**12)
    objective = mecopt.Objective.LATENCY
    rng = np.random.default_rng(30 + changes)
    checked = infeasible = 0
    for inst, a, ues, opts, batch in _greedy_neighbourhoods(kind, objective, rng, changes):
        bound = _Bound(inst, objective)
        screen = _Screen(inst, a, evaluate_batch(inst, a[None]).allocation_hz[0], bound)
        value, fit, unsure = screen.values(ues, opts)
        np.testing.assert_array_equal(fit, batch.feasible)
        sure = fit & ~unsure
        np.testing.assert_allclose(value[sure], batch.value(objective)[sure], rtol=1e-12)
        checked += int(sure.sum())
        infeasible += int((~fit).sum())
        assert unsure.sum() <= 0.01 * len(unsure)
    assert checked > 100
    if kind == "tiny":
        assert infeasible > 50


def test_descend_takes_the_same_steps_with_and_without_the_screen(monkeypatch):
    # With every neighbour of a chunk evaluated in full (the screen keeping all), descend
    # must reach the same assignment: the screen only saves water-filling. (The value can
    # differ in its last bits: evaluate_batch's cumulative sums run over the whole batch,
    # and the screen changes which rows share it.)
    insts = [mecopt.generate("world", 200, 6, seed=5), mecopt.generate("sparse", seed=3),
             mecopt.generate("tight", 210, 6, seed=2)]
    assert all(i.n_ues >= _SCREEN_FROM for i in insts)  # the screen runs on these
    screened = [descend(i, "latency", greedy_assignment(i, "latency")[0]) for i in insts]
    monkeypatch.setattr(_Screen, "shortlist", lambda self, ues, *rest: np.ones(len(ues), bool))
    full = [descend(i, "latency", greedy_assignment(i, "latency")[0]) for i in insts]
    for (a, v), (b, w) in zip(screened, full, strict=True):
        np.testing.assert_array_equal(a, b)
        assert v == pytest.approx(w, rel=1e-13)


@pytest.mark.parametrize("kind", ["tiny", "hetero"])
@pytest.mark.parametrize("changes", [1, 2, 3])
def test_anchored_latency_bound_is_valid_and_tighter(kind, changes):
    # Anchored on the current allocation, the latency bound keeps the exact compute time of
    # every server a neighbour leaves unchanged and adds a Lagrangian bound at the current
    # capacity prices for the others: still below every feasible neighbour's value, never
    # below the plain bound, and exact for the current assignment (strong duality: the
    # prices are water-filling's own).
    objective = mecopt.Objective.LATENCY
    rng = np.random.default_rng(20 + changes)
    checked = tighter = 0
    for inst, a, ues, opts, batch in _greedy_neighbourhoods(kind, objective, rng, changes):
        bound = _Bound(inst, objective)
        plain = bound.of(a, ues, opts)
        bound.anchor(a, evaluate_batch(inst, a[None]).allocation_hz[0])
        anchored = bound.of(a, ues, opts, anchored=True)
        value = batch.value(objective)[batch.feasible]
        checked += len(value)
        assert np.all(anchored[batch.feasible] <= value * (1 + _BOUND_MARGIN / 5))
        assert np.all(anchored >= plain * (1 - 1e-12))
        tighter += int(np.sum(anchored > plain * (1 + 1e-9)))
        on = a > 0
        dual = (np.bincount(a[on] - 1, weights=bound.share[on, a[on]], minlength=inst.n_servers)
                - bound.price * inst.capacity_hz)
        np.testing.assert_allclose(dual, bound.exact, rtol=1e-9, atol=1e-12)
    assert checked > 100
    if kind == "hetero":  # f_min binds on some servers there
        assert tighter > 200, (tighter, checked)  # measured: 449, 372, 316 of about 2,900


@pytest.mark.parametrize("kind", ["tiny", "hetero"])
@pytest.mark.parametrize("changes", [1, 2])
def test_overloaded_bound_is_below_the_reported_value_of_every_neighbour(kind, changes):
    # descend picks its ejection-chain starts among the moves this bound does not rule out,
    # so it must stay below evaluate_batch's value (f = f_min on an overloaded server) for
    # infeasible neighbours too.
    objective = mecopt.Objective.LATENCY
    rng = np.random.default_rng(10 + changes)
    infeasible = 0
    exact = 0
    for inst, a, ues, opts, batch in _greedy_neighbourhoods(kind, objective, rng, changes):
        reported = batch.value(objective)
        bound = _Bound(inst, objective).of(a, ues, opts, overloaded=True)
        assert np.all(bound <= reported * (1 + 1e-12))
        infeasible += int((~batch.feasible).sum())
        if changes == 1:
            # chain_starts' bound of single moves: the server a move joins counts its sum
            # C / f_min alone where it surely overloads, the one it leaves its anchored
            # bound. Still below the reported value, and equal to it for the moves from
            # local that surely overload (nothing else changes).
            moves = opts[:, 0] != a[ues[:, 0]]
            u, o, reported = ues[moves, 0], opts[moves, 0], reported[moves]
            bound = _Bound(inst, objective)
            bound.anchor(a, evaluate_batch(inst, a[None]).allocation_hz[0])
            sure = ~bound.fits(a, u[:, None], o[:, None], slack=_PRUNE_SLACK)
            tight = bound.of_moves_reported(a, u, o, sure)
            assert np.all(tight <= reported * (1 + 1e-12))
            from_local = sure & (a[u] == 0)
            np.testing.assert_allclose(tight[from_local], reported[from_local], rtol=1e-12)
            exact += int(from_local.sum())
    assert infeasible > (50 if kind == "tiny" else 0)
    if changes == 1 and kind == "tiny":
        assert exact > 10


def test_descend_skips_tied_neighbours(monkeypatch):
    # Identical UEs on identical servers: every swap, and every move between servers, ties.
    # The bound rules them out, so a descent from a local optimum evaluates few neighbours
    # and stays there (measured: 1 row, the start; when ties were evaluated, 2,151 rows for
    # latency and 5,633 for energy).
    n, m = 120, 4
    inst = mecopt.Instance(
        name="clones", data_bits=np.full(n, 1e6), cycles=np.full(n, 1e9),
        local_hz=np.full(n, 1e9), tx_power_w=np.full(n, 0.5), local_power_w=np.full(n, 1.0),
        deadline_s=np.full(n, 1.5), capacity_hz=np.full(m, 12e9),
        rate_bps=np.full((n, m), 1e7))
    rows = []

    def counted(instance, assignments, *args, **kwargs):
        rows.append(len(assignments))
        return evaluate_batch(instance, assignments, *args, **kwargs)

    monkeypatch.setattr(sys.modules["mecopt.descend"], "evaluate_batch", counted)
    for objective in OBJECTIVES:
        a, value = descend(inst, objective, greedy_assignment(inst, objective)[0])
        rows.clear()
        b, again = descend(inst, objective, a)
        np.testing.assert_array_equal(a, b)
        assert again == value
        assert sum(rows) < 50, (objective, sum(rows))


def test_descend_past_its_deadline_returns_the_start():
    inst = library("hetero")[0]
    for objective in OBJECTIVES:
        start = repair(inst, objective, np.zeros(inst.n_ues, dtype=int)).assignment[0]
        value = evaluate_batch(inst, start[None]).value(objective)[0]
        b, v = descend(inst, objective, start, deadline=time.perf_counter())
        np.testing.assert_array_equal(b, start)
        assert v == value
        assert descend(inst, objective, start)[1] < value  # there was something to find


def test_max_work_stops_the_descent_after_that_many_ue_evaluations():
    """A budget of UE evaluations: none returns the start, a larger one follows the same path
    further (never higher), and a large one reaches the local optimum; the same budget gives
    the same answer every time."""
    inst = library("hetero")[0]
    for objective in OBJECTIVES:
        start = repair(inst, objective, np.zeros(inst.n_ues, dtype=int)).assignment[0]
        value = evaluate_batch(inst, start[None]).value(objective)[0]
        optimum = descend(inst, objective, start)[1]
        budgets = (0, 20 * inst.n_ues, 200 * inst.n_ues, 2_000 * inst.n_ues, 10**12)
        values = [descend(inst, objective, start, max_work=w)[1] for w in budgets]
        assert values[0] == value and values[-1] == optimum
        assert all(b <= a for a, b in zip(values, values[1:], strict=False))
        assert any(optimum < v < value for v in values[1:-1]), (objective, values)
        again = descend(inst, objective, start, max_work=budgets[2])
        assert again[1] == values[2]


def test_latency_chain_starts_are_the_best_overloading_moves_of_a_full_evaluation():
    # chain_starts water-fills the overloading moves best bound first and stops once the
    # next bound lies above the _CHAIN_STARTS-th best value found; it must return what
    # evaluating every candidate returns, in the same order (value, then move index), up
    # to values equal within rounding.
    # From greedy's decisions more than _CHAIN_STARTS moves qualify on some instances, so
    # the search stops early there; from their local optima of the moves, fewer.
    from mecopt.descend import _CHAIN_STARTS, _best, _Budget, _Descent

    latency = mecopt.Objective.LATENCY
    checked = more = 0
    for inst in [mecopt.generate("tight", seed=s) for s in range(4)] + [
            mecopt.generate("sparse", seed=4), mecopt.generate("world", 300, 4, seed=2)]:
        a, _ = greedy_assignment(inst, latency)
        for start in (a, descend(inst, latency, a, swaps=False, chains=False,
                                 exchanges=False)[0]):
            batch = evaluate_batch(inst, start[None])
            search = _Descent(inst, latency, start, float(batch.value(latency)[0]),
                              batch.allocation_hz[0], _Budget(None, None))
            ue, opt = np.nonzero(inst.option_ok
                                 & (np.arange(inst.n_servers + 1)[None] != start[:, None]))
            low = search.bound.of(start, ue[:, None], opt[:, None], overloaded=True)
            over = ~search.bound.fits(start, ue[:, None], opt[:, None], slack=-_PRUNE_SLACK)
            near = np.flatnonzero(over & (low < search.value + 1e-9 * abs(search.value)))
            moves = evaluate_batch(inst, _apply(start, ue[near, None], opt[near, None]))
            raw = moves.value(latency)
            more += int((~moves.feasible & (raw < search.value * (1 - 1e-12))).sum()
                        > _CHAIN_STARTS)
            full = near[_best(inst, latency, _apply(start, ue[near, None], opt[near, None]),
                              search.value)[1]]
            got = search.chain_starts(ue, opt)
            # The same moves in the same order, up to values equal within rounding (the
            # batch a move is water-filled in moves its value's last bits).
            value_of = dict(zip(near.tolist(), raw.tolist(), strict=True))
            got_v = np.array([value_of[m] for m in got.tolist()])
            full_v = np.array([value_of[m] for m in full.tolist()])
            assert len(got) == len(full)
            np.testing.assert_allclose(got_v, full_v, rtol=1e-12)
            checked += len(full)
    assert checked > 100 and more >= 2
