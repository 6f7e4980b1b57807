"""Instance: JSON round trip, validation errors, derived arrays."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import mecopt
from mecopt.errors import InputError

from conftest import INSTANCES


def base_dict() -> dict:
    return mecopt.generate("paper", n_ues=3, n_servers=2, seed=5).to_dict()


def test_round_trip_file(tmp_path):
    inst = mecopt.generate("hetero", seed=3)
    path = tmp_path / "x.json"
    inst.save(path)
    back = mecopt.Instance.load(path)
    assert back.to_dict() == inst.to_dict()
    np.testing.assert_array_equal(back.rate_bps, inst.rate_bps)
    assert path.read_text() == back.to_json()


def test_arrays_are_read_only():
    inst = mecopt.generate("paper", seed=0)
    with pytest.raises(ValueError):
        inst.cycles[0] = 1.0
    with pytest.raises(ValueError):
        inst.f_min[0, 0] = 1.0
    with pytest.raises(AttributeError):
        inst.name = "other"


def test_derived_arrays():
    inst = mecopt.Instance.load(INSTANCES / "paper" / "paper-000.json")
    i, j = 3, 2
    t_tx = inst.data_bits[i] / inst.rate_bps[i, j]
    assert inst.t_tx[i, j] == pytest.approx(t_tx, rel=1e-15)
    assert inst.e_tx[i, j] == pytest.approx(inst.tx_power_w[i] * t_tx, rel=1e-15)
    assert inst.f_min[i, j] == pytest.approx(inst.cycles[i] / (inst.deadline_s[i] - t_tx))
    assert inst.t_loc[i] == pytest.approx(inst.cycles[i] / inst.local_hz[i])
    assert inst.option_ok.shape == (inst.n_ues, inst.n_servers + 1)


def test_unreachable_and_too_slow_pairs_are_unusable():
    d = base_dict()
    d["rate_bps"][0][0] = 0.0
    d["rate_bps"][1][1] = 1.0  # 1 bit/s: the transfer alone misses the deadline
    inst = mecopt.Instance.from_dict(d)
    assert not inst.usable[0, 0] and np.isinf(inst.f_min[0, 0]) and np.isinf(inst.t_tx[0, 0])
    assert not inst.usable[1, 1] and np.isinf(inst.f_min[1, 1])
    assert inst.usable[2].all()


def mutate(path: tuple, value):
    d = copy.deepcopy(base_dict())
    target = d
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d


DELETE = object()

CASES = [
    (("format",), "other", "format: expected 'mecopt-instance'"),
    (("version",), 2, "version: expected 1"),
    (("ues",), DELETE, "ues: missing field"),
    (("servers",), DELETE, "servers: missing field"),
    (("rate_bps",), DELETE, "rate_bps: missing field"),
    (("ues", "cycles"), DELETE, "ues.cycles: missing field"),
    (("ues", "cycles"), [1e9, 1e9], "ues.cycles: expected length 3"),
    (("ues", "data_bits"), [[1.0]], "ues.data_bits: expected a 1-d array"),
    (("ues", "cycles", 1), float("nan"), "ues.cycles[1] (UE 1): not a finite number"),
    (("ues", "data_bits", 2), -5.0, "ues.data_bits[2] (UE 2): must be positive, got -5"),
    (("ues", "data_bits", 0), 0, "ues.data_bits[0] (UE 0): must be positive, got 0"),
    (("ues", "local_hz", 0), 0.0, "ues.local_hz[0] (UE 0): must be positive"),
    (("ues", "tx_power_w", 1), -1.0, "ues.tx_power_w[1] (UE 1): must be positive"),
    (("ues", "local_power_w", 2), 0.0, "ues.local_power_w[2] (UE 2): must be positive"),
    (("ues", "deadline_s", 0), -1.5, "ues.deadline_s[0] (UE 0): must be positive"),
    (("ues", "deadline_s", 0), float("inf"), "ues.deadline_s[0] (UE 0): not a finite number"),
    (("servers", "capacity_hz", 1), 0.0, "servers.capacity_hz[1] (server 2): must be positive"),
    (("servers", "capacity_hz"), [], "servers.capacity_hz: expected a non-empty list"),
    (("rate_bps",), [[1.0, 2.0]], "rate_bps: expected shape [3, 2]"),
    (("rate_bps", 1, 0), -3.0, "rate_bps[1][0] (UE 1, server 1): must be non-negative"),
    (("ues", "cycles"), "many", "ues.cycles: expected a list of numbers"),
    (("ues", "cycles"), ["a", "b", "c"], "ues.cycles: expected a list of numbers"),
    (("ues", "position_m"), [[0.0, 1.0]], "ues.position_m: expected shape [3, 2]"),
    (("ues", "cycles", 2), True, "ues.cycles[2] (UE 2): expected a number, got a boolean"),
    (("rate_bps", 1, 1), False,
     "rate_bps[1][1] (UE 1, server 2): expected a number, got a boolean"),
    # JSON integers have no size limit, floats do
    (("ues", "cycles", 1), 10**400, "ues.cycles: a number is too large for a float"),
    (("ues", "cycles", 2), 1e-320,
     "ues.cycles[2] (UE 2): 1e-320 is below the smallest normal number (2.23e-308)"),
    (("rate_bps", 0, 1), 5e-324,
     "rate_bps[0][1] (UE 0, server 2): 5e-324 is below the smallest normal number"),
]


@pytest.mark.parametrize("path,value,message", CASES, ids=[c[2][:40] for c in CASES])
def test_validation_messages(path, value, message):
    with pytest.raises(InputError) as err:
        mecopt.Instance.from_dict(mutate(path, value))
    text = str(err.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_malformed_json_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"format": "mecopt-instance", ')
    with pytest.raises(InputError, match=r"bad.json: malformed JSON at line 1"):
        mecopt.Instance.load(path)
    path.write_bytes(b'{"name": "\xff"}')  # not UTF-8: one line, not a UnicodeDecodeError
    with pytest.raises(InputError, match=r"bad.json: not UTF-8 text \(byte 10\)$"):
        mecopt.Instance.load(path)


def test_a_byte_order_mark_is_read_past(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(base_dict()).encode())
    assert mecopt.Instance.load(path).n_ues == 3


def test_top_level_not_an_object():
    with pytest.raises(InputError, match="expected a JSON object"):
        mecopt.Instance.from_dict(json.loads("[1, 2]"))


@pytest.mark.parametrize("change,message", [
    ({"cycles": "abc"}, "ues.cycles: expected numbers, got str 'abc'"),
    ({"cycles": [[1e9, 2.0], [3.0]]}, "ues.cycles: expected numbers, got list"),
    ({"capacity_hz": ["a"]}, "servers.capacity_hz: expected numbers"),
    ({"name": 3}, "name: expected a string, got 3"),
    ({"meta": "x"}, "meta: expected a dict, got str"),
])
def test_the_constructor_names_the_field_too(change, message):
    # Instance(...) from Python: a ValueError from numpy before, or accepted (name, meta).
    fields = dict(name="x", data_bits=[1e6, 2e6], cycles=[1e9, 1e9], local_hz=[1e9, 1e9],
                  tx_power_w=[1.0, 1.0], local_power_w=[1.0, 1.0], deadline_s=[1.5, 1.5],
                  capacity_hz=[5e9], rate_bps=[[1e7], [1e7]])
    mecopt.Instance(**fields)  # valid as given
    with pytest.raises(InputError) as err:
        mecopt.Instance(**{**fields, **change})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
