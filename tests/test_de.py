"""`de`: what only it does (the shared search checks are in test_search_heuristics.py)."""

from __future__ import annotations

import time

import pytest

import mecopt

from conftest import library

SMALL = {"pop_size": 20, "generations": 30}  # tests stay fast; the benchmark uses defaults


def test_beats_greedy_on_a_hetero_latency_instance():
    inst = library("hetero")[0]
    greedy = mecopt.solve(inst, "latency", "greedy", relocate=False)  # the construction
    de = mecopt.solve(inst, "latency", "de", seed=0, **SMALL)
    # Measured: greedy 0.73853 s, de 0.71890 s. (On all 20 hetero instances DE is 0.57-3.15%
    # below greedy with these settings; on hetero-012, this test's instance until greedy's
    # latency sent UEs local when faster, 0.99%.)
    assert de.feasible and de.objective_value < greedy.objective_value * 0.99


def test_random_key_coding_works():
    inst = library("tiny")[3]
    sol = mecopt.solve(inst, "energy", "de", seed=0, coding="keys", **SMALL)
    assert sol.feasible


@pytest.mark.parametrize("option, value", [("pop_size", 2), ("generations", -1),
                                           ("coding", "binary"), ("variant", "DE/x/1/bin"),
                                           ("cr", 1.5)])
def test_bad_options_name_the_option(option, value):
    with pytest.raises(mecopt.InputError, match=f"option {option}"):
        mecopt.solve(library("tiny")[0], "latency", "de", **{option: value})


@pytest.mark.parametrize("method", ["de", "pg"])
def test_a_time_limit_spent_by_the_first_start_builds_no_more(monkeypatch, method):
    # At 2,000 x 20 each greedy construction takes about 0.35 s: under a 0.2 s limit DE
    # built all four (1.4 s) and PG three before looking at the clock.
    import importlib

    import mecopt.construct

    real, calls = mecopt.construct.greedy_assignment, []

    def slow(*args, **kwargs):
        calls.append(1)
        time.sleep(0.3)
        return real(*args, **kwargs)

    module = importlib.import_module(f"mecopt.solvers.{method}")
    monkeypatch.setattr(module, "greedy_assignment", slow)
    sol = mecopt.solve(mecopt.generate("hetero", 60, 4, seed=5), "energy", method,
                       time_limit=0.2)
    assert sol.feasible and len(calls) == 1
