"""What `de` and `pg` (the search experts) share: feasible and mostly optimal on tiny
instances, the search alone (without the local descent) beats greedy there, seeded, and
time-limited. Method-specific checks live in test_de.py and test_pg.py."""

from __future__ import annotations

import time

import numpy as np
import pytest

import mecopt

from conftest import library

# Per method: small settings that keep the tests fast (the benchmark uses the defaults),
# the measured hit counts they must keep, the option that bounds the search, and the extra
# field that shows how the search went.
CASES = {
    "de": {"small": {"pop_size": 20, "generations": 30},
           # Measured: 9 of 9 for both objectives with seeds 0 and 2 (seed 1 misses tiny-001
           # energy); without descent 15, 16, 17, 17, 16 of 18 with seeds 0-4 (17, 18, 17,
           # 17, 15 before energy greedy took the efficiency order, which changed the starts
           # on tiny-001 and tiny-004 energy); greedy 11.
           "hits": 8, "alone_hits": 14,
           "probe": {"pop_size": 12, "generations": 5}, "probe_field": "last_population_mean",
           "budget": "generations"},
    "pg": {"small": {"iterations": 50, "samples": 16},
           # Measured: 9 of 9 (seed 0), seeds 1 and 2 miss tiny-001 energy; without descent
           # 17 of 18 with seed 0, 13 to 14 with seeds 1 and 2; greedy 12.
           "hits": 8, "alone_hits": 14,
           "probe": {"iterations": 10, "samples": 8}, "probe_field": "last_batch_mean",
           "budget": "iterations"},
}


def _matches(solution, optimum):
    return solution.feasible and solution.objective_value <= optimum * (1 + 1e-9)


@pytest.mark.parametrize("method", CASES)
@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_feasible_and_mostly_optimal_on_tiny(tiny_instances, tiny_optima, method, objective):
    hits, feasible_instances = 0, 0
    for inst in tiny_instances:
        sol = mecopt.solve(inst, objective, method, seed=0, **CASES[method]["small"])
        _, optimum = tiny_optima[(inst.name, objective)]
        if not np.isfinite(optimum):
            assert sol.status == "infeasible", inst.name  # tiny-008
            assert sol.message
            continue
        feasible_instances += 1
        assert sol.feasible, f"{inst.name}: {sol.status} {sol.message}"
        assert mecopt.evaluate(inst, np.array(sol.assignment)).feasible
        hits += _matches(sol, optimum)
    assert feasible_instances == 9 and hits >= CASES[method]["hits"]


@pytest.mark.parametrize("method", CASES)
def test_the_search_alone_reaches_most_tiny_optima(tiny_instances, tiny_optima, method):
    """Without the local descent the search from the greedy start still reaches more tiny
    optima than greedy alone (12 of 18)."""
    hits = 0
    for inst in tiny_instances:
        for objective in ("latency", "energy"):
            _, optimum = tiny_optima[(inst.name, objective)]
            if np.isfinite(optimum):
                sol = mecopt.solve(inst, objective, method, seed=0, polish=False,
                                   **CASES[method]["small"])
                hits += _matches(sol, optimum)
    assert hits >= CASES[method]["alone_hits"]


@pytest.mark.parametrize("method", CASES)
def test_same_seed_same_result_and_seeds_matter(method):
    inst = library("hetero")[11]
    case = CASES[method]
    runs = [mecopt.solve(inst, "latency", method, seed=s, polish=False, **case["probe"])
            for s in (0, 0, 1)]
    assert runs[0].assignment == runs[1].assignment
    assert runs[0].extra == runs[1].extra
    # Different seeds search differently (the greedy start they share may stay the best).
    assert runs[0].extra[case["probe_field"]] != runs[2].extra[case["probe_field"]]


@pytest.mark.parametrize("method", CASES)
@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_time_limit_is_honoured(method, objective):
    """The limit bounds the search; loading the libraries (torch for pg, on its first call in
    a process) is not part of it, so one tiny warm-up call comes first."""
    inst = max(library("hetero"), key=lambda i: i.n_ues * i.n_servers)
    budget = CASES[method]["budget"]
    mecopt.solve(library("tiny")[0], objective, method, seed=0, **CASES[method]["probe"])
    start = time.perf_counter()
    sol = mecopt.solve(inst, objective, method, seed=0, time_limit=0.5, **{budget: 100_000})
    elapsed = time.perf_counter() - start
    assert sol.feasible
    assert elapsed < 0.5 + 1.0, elapsed  # the finishing check and one step of slack
    assert sol.extra[budget] < 100_000
