import pytest

from mecopt import Objective
from mecopt.errors import InputError


@pytest.mark.parametrize("text,expected", [
    ("latency", Objective.LATENCY), ("energy", Objective.ENERGY),
    ("Minimum latency", Objective.LATENCY), ("Minimum energy", Objective.ENERGY),
    ("MINIMUM ENERGY", Objective.ENERGY), ("minimize the mean latency", Objective.LATENCY),
    ("min delay", Objective.LATENCY), ("Minimize total energy consumption.", Objective.ENERGY),
    (Objective.ENERGY, Objective.ENERGY),
])
def test_parse(text, expected):
    assert Objective.parse(text) is expected


@pytest.mark.parametrize("text", ["maximum latency", "throughput", "", "energy latency"])
def test_unknown_lists_accepted(text):
    with pytest.raises(InputError, match="accepted: latency, energy, 'Minimum latency'"):
        Objective.parse(text)


def test_prompt_round_trip():
    for obj in Objective:
        assert Objective.parse(obj.prompt) is obj
