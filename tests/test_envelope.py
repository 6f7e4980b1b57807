"""The training envelope that `checkpoint=auto` reads (learned/envelope.py)."""

from __future__ import annotations

import json

import numpy as np

import mecopt
from mecopt.learned.envelope import Envelope, envelope_path, measure, outside, shipped_envelope

from conftest import library


def test_the_training_families_lie_inside_and_other_families_outside():
    env = shipped_envelope("lambo-s")
    for inst in library("paper") + library("hetero") + library("large"):
        assert outside(inst, env) is None, inst.name
    for seed in range(8_000_000, 8_000_040):  # seeds neither the library nor training drew
        assert outside(mecopt.generate("paper", seed=seed), env) is None
        assert outside(mecopt.generate("hetero", seed=seed), env) is None
    for inst in library("tight"):
        assert outside(inst, env) is not None
    for family in ("manyserver", "heavytail", "sparse"):
        assert outside(mecopt.generate(family, seed=1), env) is not None


def test_outside_names_the_feature_that_leaves_the_envelope():
    env = shipped_envelope("lambo-s")
    inst = library("paper")[0]
    slow = inst.replace(cycles=inst.cycles * 20, local_hz=inst.local_hz * 20,
                        capacity_hz=inst.capacity_hz * 20)  # the same times, 20x the cycles
    assert outside(slow, env).startswith("UE feature log C = ")
    assert "outside lambo-s's training range" in outside(slow, env)


def test_the_shipped_envelope_is_what_its_command_measures():
    """`python -m mecopt.learned.envelope lambo-s` remakes the shipped file (here from
    fewer draws: the ranges can only be narrower)."""
    shipped = json.loads(envelope_path("lambo-s").read_text())
    assert shipped["source"].startswith("1000 instances per family of paper, hetero")
    small = measure(["paper", "paper", "hetero"], 200, draws=20)
    env = Envelope.from_json(shipped)
    for g, (lo, hi) in small.ranges.items():
        assert (lo >= env.ranges[g][0] - 1e-6).all() and (hi <= env.ranges[g][1] + 1e-6).all()
    again = Envelope.from_json(small.to_json())
    for g in small.ranges:
        assert np.array_equal(again.ranges[g][0], small.ranges[g][0])
