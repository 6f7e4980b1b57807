"""local, random and greedy."""

from __future__ import annotations

import numpy as np
import pytest

import mecopt

from conftest import library


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_greedy_never_beats_brute_force(objective, tiny_instances, tiny_optima):
    for inst in tiny_instances:
        best_a, best = tiny_optima[(inst.name, objective)]
        sol = mecopt.solve(inst, objective, "greedy")
        if best_a is None:
            assert sol.status == "infeasible" and sol.message
            continue
        assert sol.feasible
        assert sol.objective_value >= best * (1 - 1e-12)


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_greedy_feasible_on_library(objective):
    for inst in library("paper") + library("hetero"):
        sol = mecopt.solve(inst, objective, "greedy")
        assert sol.status == "feasible", (inst.name, sol.message)
        assert mecopt.evaluate(inst, np.array(sol.assignment), np.array(sol.allocation_hz)).feasible


def test_greedy_paper_split_matches_the_paper():
    # SPEC: under minimum latency every UE offloads, split about 7/7/14/22.
    sol = mecopt.solve(library("paper")[0], "latency", "greedy")
    counts = np.bincount(sol.assignment, minlength=5)
    assert counts[0] == 0
    assert abs(counts[1] - 7) <= 2 and abs(counts[2] - 7) <= 2
    assert abs(counts[3] - 14) <= 2 and abs(counts[4] - 22) <= 2


def test_local():
    sol = mecopt.solve(library("paper")[0], "energy", "local")
    assert sol.status == "feasible" and set(sol.assignment) == {0}
    sol = mecopt.solve(library("hetero")[0], "energy", "local")
    # hetero-000 is feasible: the all-local decision is not, and that proves nothing.
    assert sol.status == "no_solution" and "cannot meet their deadline locally" in sol.message


def test_random_is_seeded_and_feasible():
    inst = library("hetero")[2]
    a = mecopt.solve(inst, "latency", "random", seed=3)
    b = mecopt.solve(inst, "latency", "random", seed=3)
    c = mecopt.solve(inst, "latency", "random", seed=4)
    assert a.feasible and a.assignment == b.assignment
    assert a.assignment != c.assignment


def test_random_gives_up_honestly():
    inst = library("tiny")[8]  # infeasible
    sol = mecopt.solve(inst, "latency", "random", tries=5)
    assert sol.status == "infeasible" and sol.message.startswith("proven infeasible")
    # On a feasible instance where random draws miss, random says so and claims nothing.
    sol = mecopt.solve(library("hetero")[3], "energy", "random", tries=1, seed=1)
    assert sol.status == "no_solution" and "1 random draws" in sol.message


def test_greedy_energy_with_an_unreachable_server():
    # An unreachable pair has infinite energy; it must not poison the other options' costs.
    inst = library("paper")[0]
    rate = inst.rate_bps.copy()
    rate[:, 0] = 0.0
    inst = inst.replace(rate_bps=rate)
    sol = mecopt.solve(inst, "energy", "greedy")
    assert sol.feasible and 1 not in sol.assignment
    cheapest = np.concatenate([inst.e_loc[:, None], inst.e_tx], axis=1).argmin(axis=1)
    np.testing.assert_array_equal(sol.assignment, cheapest)  # capacity does not bind here
