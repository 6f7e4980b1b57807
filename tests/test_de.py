"""`de`: feasible, near-optimal on tiny instances, seeded, time-limited, honest when stuck."""

from __future__ import annotations

import time

import numpy as np
import pytest

import mecopt

from conftest import library

SMALL = {"pop_size": 20, "generations": 30}  # tests stay fast; the benchmark uses defaults


def _matches(solution, optimum):
    return solution.feasible and solution.objective_value <= optimum * (1 + 1e-9)


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_feasible_and_mostly_optimal_on_tiny(tiny_instances, tiny_optima, objective):
    hits, feasible_instances = 0, 0
    for inst in tiny_instances:
        sol = mecopt.solve(inst, objective, "de", seed=0, **SMALL)
        _, optimum = tiny_optima[(inst.name, objective)]
        if not np.isfinite(optimum):
            assert sol.status == "infeasible", inst.name  # tiny-008
            assert sol.message
            continue
        feasible_instances += 1
        assert sol.feasible, f"{inst.name}: {sol.status} {sol.message}"
        assert mecopt.evaluate(inst, np.array(sol.assignment)).feasible
        hits += _matches(sol, optimum)
    # Measured: 9 of 9 for both objectives with seeds 0 and 2; seed 1 misses tiny-001 energy.
    assert feasible_instances == 9 and hits >= 8


def test_the_evolution_alone_finds_tiny_optima(tiny_instances, tiny_optima):
    """Without the local descent, DE from the greedy seed still reaches the optimum on most
    tiny instances (measured: 17 of 18 with seeds 0 and 2, 18 of 18 with seed 1; greedy
    alone reaches 12 of 18)."""
    hits = 0
    for inst in tiny_instances:
        for objective in ("latency", "energy"):
            _, optimum = tiny_optima[(inst.name, objective)]
            if np.isfinite(optimum):
                sol = mecopt.solve(inst, objective, "de", seed=0, polish=False, **SMALL)
                hits += _matches(sol, optimum)
    assert hits >= 16


def test_beats_greedy_on_a_hetero_latency_instance():
    inst = library("hetero")[12]
    greedy = mecopt.solve(inst, "latency", "greedy")
    de = mecopt.solve(inst, "latency", "de", seed=0, **SMALL)
    # Measured: greedy 0.82192 s, de 0.80451 s.
    assert de.feasible and de.objective_value < greedy.objective_value * 0.99


def test_same_seed_same_result_and_seeds_matter():
    inst = library("hetero")[11]
    runs = [mecopt.solve(inst, "latency", "de", seed=s, polish=False, pop_size=12, generations=5)
            for s in (0, 0, 1)]
    assert runs[0].assignment == runs[1].assignment
    assert runs[0].extra == runs[1].extra
    # Different seeds search differently (the greedy start they share may stay the best).
    assert runs[0].extra["last_population_mean"] != runs[2].extra["last_population_mean"]


def test_random_key_coding_works():
    inst = library("tiny")[3]
    sol = mecopt.solve(inst, "energy", "de", seed=0, coding="keys", **SMALL)
    assert sol.feasible


def test_time_limit_is_honoured():
    inst = max(library("hetero"), key=lambda i: i.n_ues * i.n_servers)
    start = time.perf_counter()
    sol = mecopt.solve(inst, "latency", "de", seed=0, time_limit=0.5, generations=100_000)
    elapsed = time.perf_counter() - start
    assert sol.feasible
    assert elapsed < 0.5 + 1.0, elapsed  # the finishing check and one generation of slack
    assert sol.extra["generations"] < 100_000


@pytest.mark.parametrize("option, value", [("pop_size", 2), ("generations", -1),
                                           ("coding", "binary"), ("variant", "DE/x/1/bin"),
                                           ("cr", 1.5)])
def test_bad_options_name_the_option(option, value):
    with pytest.raises(mecopt.InputError, match=f"option {option}"):
        mecopt.solve(library("tiny")[0], "latency", "de", **{option: value})
