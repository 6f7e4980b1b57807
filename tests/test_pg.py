"""`pg`: feasible, near-optimal on tiny instances, seeded, time-limited, honest when stuck."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import mecopt

from conftest import library

SMALL = {"iterations": 50, "samples": 16}  # tests stay fast; the benchmark uses defaults


def _matches(solution, optimum):
    return solution.feasible and solution.objective_value <= optimum * (1 + 1e-9)


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_feasible_and_mostly_optimal_on_tiny(tiny_instances, tiny_optima, objective):
    hits, feasible_instances = 0, 0
    for inst in tiny_instances:
        sol = mecopt.solve(inst, objective, "pg", seed=0, **SMALL)
        _, optimum = tiny_optima[(inst.name, objective)]
        if not np.isfinite(optimum):
            assert sol.status == "infeasible", inst.name  # tiny-008
            assert sol.message
            continue
        feasible_instances += 1
        assert sol.feasible, f"{inst.name}: {sol.status} {sol.message}"
        assert mecopt.evaluate(inst, np.array(sol.assignment)).feasible
        hits += _matches(sol, optimum)
    # Measured: 9 of 9 (seed 0); seeds 1 and 2 miss tiny-001 energy (8 of 9).
    assert feasible_instances == 9 and hits >= 8


def test_the_policy_gradient_alone_improves_on_greedy(tiny_instances, tiny_optima):
    """Without the local descent the sampled policy still reaches most tiny optima
    (measured: 17 of 18 with seed 0, 13 to 14 with seeds 1 and 2; greedy reaches 12)."""
    hits = 0
    for inst in tiny_instances:
        for objective in ("latency", "energy"):
            _, optimum = tiny_optima[(inst.name, objective)]
            if np.isfinite(optimum):
                sol = mecopt.solve(inst, objective, "pg", seed=0, polish=False, **SMALL)
                hits += _matches(sol, optimum)
    assert hits >= 14


def test_learning_beats_greedy_on_a_hetero_latency_instance():
    inst = library("hetero")[12]
    greedy = mecopt.solve(inst, "latency", "greedy")
    pg = mecopt.solve(inst, "latency", "pg", seed=0, polish=False, **SMALL)
    # Measured: greedy 0.82192 s, pg without descent 0.81499 s (seed 1: 0.81069 s).
    assert pg.feasible and pg.objective_value < greedy.objective_value * 0.995


def test_same_seed_same_result_and_seeds_matter():
    inst = library("hetero")[11]
    runs = [mecopt.solve(inst, "latency", "pg", seed=s, polish=False, iterations=10, samples=8)
            for s in (0, 0, 1)]
    assert runs[0].assignment == runs[1].assignment
    assert runs[0].extra == runs[1].extra
    # Different seeds search differently (the greedy start they share may stay the best).
    assert runs[0].extra["last_batch_mean"] != runs[2].extra["last_batch_mean"]


def test_torch_thread_setting_is_restored():
    before = torch.get_num_threads()
    mecopt.solve(library("tiny")[0], "latency", "pg", seed=0, iterations=2, samples=4)
    assert torch.get_num_threads() == before


def test_time_limit_is_honoured():
    inst = max(library("hetero"), key=lambda i: i.n_ues * i.n_servers)
    start = time.perf_counter()
    sol = mecopt.solve(inst, "energy", "pg", seed=0, time_limit=0.5, iterations=100_000)
    elapsed = time.perf_counter() - start
    assert sol.feasible
    assert elapsed < 0.5 + 1.0, elapsed
    assert sol.extra["iterations"] < 100_000


@pytest.mark.parametrize("option, value", [("iterations", -1), ("samples", 1), ("lr", 0.0),
                                           ("entropy_weight", -0.1), ("start_bias", -1.0)])
def test_bad_options_name_the_option(option, value):
    with pytest.raises(mecopt.InputError, match=f"option {option}"):
        mecopt.solve(library("tiny")[0], "latency", "pg", **{option: value})
