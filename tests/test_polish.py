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
