"""Typed method options: the domain an Option declares is the one check, with a one-line
error naming the option and the bound it violates."""

from __future__ import annotations

import math

import pytest

from mecopt import Option
from mecopt.errors import InputError
from mecopt.registry import get_method, method_names


def build(method: str, **options):
    return get_method(method)(**options)


@pytest.mark.parametrize("method, options, message", [
    # below an inclusive low
    ("random", {"tries": 0}, "option tries: must be >= 1, got 0"),
    ("de", {"pop_size": "3"}, "option pop_size: must be >= 4, got 3"),
    # at an exclusive low
    ("pg", {"lr": 0}, "option lr: must be > 0, got 0.0"),
    ("highs", {"max_energy": 0}, "option max_energy: must be > 0, got 0.0"),
    # above (or at an exclusive) high
    ("de", {"cr": 1.5}, "option cr: must be in [0, 1], got 1.5"),
    ("highs", {"gap": 1}, "option gap: must be in [0, 1), got 1.0"),
    ("scip", {"gap": -0.1}, "option gap: must be in [0, 1), got -0.1"),
    # not in choices
    ("de", {"coding": "binary"}, "option coding: expected one of integer, keys, got 'binary'"),
    ("de", {"variant": "DE/x/1/bin"}, "option variant: expected one of DE/rand/1/bin, "
                                      "DE/rand/1/exp, DE/best/1/bin, DE/best/1/exp, got"),
    # wrong type
    ("random", {"tries": "many"}, "option tries: expected int, got 'many'"),
    ("random", {"tries": 2.5}, "option tries: expected int, got 2.5"),
    ("pg", {"polish": "maybe"}, "option polish: expected bool, got 'maybe'"),
    # a float must be finite
    ("greedy", {"lns": math.inf}, "option lns: must be finite, got inf"),
    ("greedy", {"lns": "nan"}, "option lns: must be finite, got nan"),
])
def test_a_value_outside_the_domain_is_a_one_line_error(method, options, message):
    with pytest.raises(InputError) as err:
        build(method, **options)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_values_inside_the_domain_are_accepted_and_converted():
    de = build("de", pop_size="4", cr="1", coding="keys", variant="DE/rand/1/exp")
    assert (de.config["pop_size"], de.config["cr"], de.config["coding"]) == (4, 1.0, "keys")
    highs = build("highs", gap=0, threads=0, max_energy=None)
    assert highs.config["gap"] == 0.0 and highs.config["max_energy"] is None


def test_every_registered_method_declares_defaults_inside_its_domains():
    checked = 0
    for name in method_names():
        try:
            cls = get_method(name)
        except InputError:  # an optional dependency is missing: nothing to check
            continue
        for key, opt in cls.options.items():
            assert opt.help, f"{name}:{key} has no help text"
            if opt.default is not None:
                assert isinstance(opt.default, opt.type), f"{name}:{key} default's type"
            assert opt.check(key, opt.default) == opt.default, f"{name}:{key}"
            checked += 1
    assert checked >= 20


def test_positional_option_has_no_domain():
    opt = Option(int, 3, "anything goes")
    assert opt.domain == "" and opt.summary == "int, default 3"
    assert opt.parse("n", "-7") == -7


@pytest.mark.parametrize("opt, domain", [
    (Option(float, 0.5, "h", low=0, high=1), "in [0, 1]"),
    (Option(float, 0.5, "h", low=0, high=1, low_inclusive=False, high_inclusive=False),
     "in (0, 1)"),
    (Option(int, 2, "h", low=2), ">= 2"),
    (Option(float, 1e-3, "h", low=0, low_inclusive=False), "> 0"),
    (Option(int, 0, "h", high=10), "<= 10"),
    (Option(float, 0.0, "h", high=1e-6, high_inclusive=False), "< 1e-06"),
    (Option(str, "a", "h", choices=["a", "b"]), "in {a, b}"),
])
def test_domain_text(opt, domain):
    assert opt.domain == domain
    assert opt.summary.endswith(f"{domain}, default {opt.default!r}")
    assert opt.check("x", opt.default) == opt.default


def test_upper_bound_alone():
    opt = Option(int, 0, "h", high=10)
    with pytest.raises(InputError, match=r"^option n: must be <= 10, got 11$"):
        opt.parse("n", 11)

