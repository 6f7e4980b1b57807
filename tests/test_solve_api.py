"""solve(), the registry and the checks every returned solution goes through."""

from __future__ import annotations

import numpy as np
import pytest

import mecopt
from mecopt import Method, Option, Outcome
from mecopt.errors import InputError

from conftest import library


def test_unknown_method_lists_valid_names():
    with pytest.raises(InputError) as err:
        mecopt.solve(library("tiny")[0], "latency", "nope")
    assert "method: unknown 'nope'; valid:" in str(err.value)
    assert "greedy" in str(err.value) and "local" in str(err.value)


def test_unknown_objective():
    with pytest.raises(InputError, match="objective: unknown"):
        mecopt.solve(library("tiny")[0], "throughput", "greedy")


def test_unknown_option_and_bad_value():
    with pytest.raises(InputError, match="option foo: unknown for method 'random'; valid: tries"):
        mecopt.solve(library("tiny")[0], "latency", "random", foo=1)
    with pytest.raises(InputError, match="option tries: expected int, got 'many'"):
        mecopt.solve(library("tiny")[0], "latency", "random", tries="many")
    with pytest.raises(InputError, match="option tries: must be >= 1"):
        mecopt.solve(library("tiny")[0], "latency", "random", tries="0")


def test_callable_method():
    inst = library("paper")[0]

    def everyone_on_server_4(instance, objective, *, time_limit, seed):
        """all on the biggest server"""
        return np.full(instance.n_ues, 4)

    sol = mecopt.solve(inst, "latency", everyone_on_server_4)
    assert sol.method == "everyone_on_server_4" and sol.status == "feasible"
    assert sol.objective_value == pytest.approx(
        mecopt.evaluate(inst, np.full(50, 4)).mean_latency_s)


def test_a_wrong_claim_is_caught():
    inst = library("tiny")[1]

    class Liar(Method):
        name = "liar"

        def _solve(self, instance, objective, *, time_limit, seed):
            return Outcome(np.ones(instance.n_ues, dtype=int), status="optimal", bound=0.0)

    sol = mecopt.solve(inst, "energy", Liar)
    assert sol.status == "error" and "checker rejects" in sol.message
    assert sol.extra["violations"]


def test_a_crash_is_a_result():
    class Crasher(Method):
        name = "crasher"

        def _solve(self, instance, objective, *, time_limit, seed):
            raise RuntimeError("boom")

    sol = mecopt.solve(library("tiny")[0], "latency", Crasher)
    assert sol.status == "error" and sol.message == "RuntimeError: boom"


def test_options_are_typed():
    class Typed(Method):
        name = "typed"
        options = {"k": Option(int, 3, "count"), "flag": Option(bool, False, "switch")}

        def _solve(self, instance, objective, *, time_limit, seed):
            assert isinstance(self.config["k"], int) and isinstance(self.config["flag"], bool)
            return Outcome(np.zeros(instance.n_ues, dtype=int), extra=dict(self.config))

    sol = mecopt.solve(library("paper")[0], "latency", Typed, k="7", flag="yes")
    assert sol.extra == {"k": 7, "flag": True}


def test_gap_from_bound_and_solution_round_trip(tmp_path):
    inst = library("paper")[0]
    greedy = mecopt.solve(inst, "latency", "greedy")

    def with_bound(instance, objective, *, time_limit, seed):
        return Outcome(np.array(greedy.assignment), bound=greedy.objective_value * 0.99)

    sol = mecopt.solve(inst, "latency", with_bound)
    assert sol.gap == pytest.approx(0.01, rel=1e-9)
    sol.save(tmp_path / "s.json")
    back = mecopt.Solution.load(tmp_path / "s.json")
    assert back.to_dict() == sol.to_dict()


def test_solution_validation(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"format": "mecopt-solution", "version": 1, "instance": "x"}')
    with pytest.raises(InputError, match="objective: missing field"):
        mecopt.Solution.load(path)


@pytest.mark.parametrize("key,value,message", [
    ("wall_time_s", [1.0], "wall_time_s: expected a number or null, got a list"),
    ("objective_value", "1.5", "objective_value: expected a number or null, got text"),
    ("bound", True, "bound: expected a number or null, got true/false"),
    ("extra", 3, "extra: expected an object, got a number"),
    ("message", {}, "message: expected a string, got an object"),
])
def test_solution_fields_of_the_wrong_kind_are_named(key, value, message):
    # Found by mutating solution files through `mecopt evaluate`: these were tracebacks.
    inst = mecopt.generate("paper", 6, 2, seed=1)
    data = mecopt.solve(inst, "latency", "greedy").to_dict()
    data[key] = value
    with pytest.raises(InputError) as err:
        mecopt.Solution.from_dict(data)
    assert str(err.value) == message


def test_methods_listing():
    table = mecopt.availability()
    assert table["greedy"][0] and table["local"][0] and table["random"][0]
    assert {"highs", "de", "pg", "lambo"} <= set(table)


@pytest.mark.parametrize("kwargs,message", [
    ({"seed": -1}, "seed: expected an integer in [0, 2^63), got -1"),
    ({"seed": 2**63}, "seed: expected an integer in [0, 2^63)"),
    ({"seed": 1.5}, "seed: expected an integer in [0, 2^63), got 1.5"),
    ({"seed": True}, "seed: expected an integer in [0, 2^63), got True"),
    ({"time_limit": "3"}, "time_limit: must be a positive number of seconds, got '3'"),
    ({"time_limit": float("nan")}, "time_limit: must be a positive number of seconds"),
    ({"time_limit": 0}, "time_limit: must be a positive number of seconds, got 0"),
])
def test_seed_and_time_limit_are_checked_before_any_method_runs(kwargs, message):
    # A negative seed was an `error` status from numpy in some methods and not in others,
    # a huge one torch's overflow, a string time limit a TypeError.
    inst = mecopt.generate("paper", 6, 2, seed=1)
    for call in (mecopt.solve, mecopt.solve_many):
        with pytest.raises(InputError) as err:
            call(inst if call is mecopt.solve else [inst], "energy", "random", **kwargs)
        assert str(err.value).startswith(message)


def test_numpy_seeds_and_unset_options_are_accepted():
    inst = mecopt.generate("paper", 6, 2, seed=1)
    a = mecopt.solve(inst, "energy", "random", seed=np.int64(7), tries=None)  # None: default
    b = mecopt.solve(inst, "energy", "random", seed=7, time_limit=np.float32(5))
    assert a.status == b.status == "feasible" and a.assignment == b.assignment


def test_an_infinite_time_limit_is_no_limit_and_none_the_methods_default():
    seen = []

    class Timed(Method):
        name = "timed"
        default_time_limit = 30.0

        def _solve(self, instance, objective, *, time_limit, seed):
            seen.append(time_limit)
            return Outcome(np.zeros(instance.n_ues, dtype=int))

    inst = mecopt.generate("paper", 4, 1, seed=0)
    for limit in (None, float("inf"), 5, 10**400):  # the last was an OverflowError
        mecopt.solve(inst, "latency", Timed, time_limit=limit)
        mecopt.solve_many([inst], "latency", Timed, time_limit=limit)
    assert seen == [30.0, 30.0, None, None, 5.0, 5.0, None, None]
