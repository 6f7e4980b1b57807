"""What DROO and ARE (the paper's deep-learning contenders) share: the shipped checkpoints
load with weights_only, nothing feasible is reported as "infeasible", a system of another
size is a one-line error, and the paper preset has the paper's parameter count.
Method-specific checks live in test_droo.py and test_are.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mecopt
from mecopt.errors import InputError
from mecopt.learned.baseline_nets import PAPER_PARAMS, count_parameters, preset, shipped_path

from conftest import library

METHODS = ("droo", "are")


@pytest.mark.parametrize("method", METHODS)
def test_shipped_checkpoint_loads_weights_only(method):
    ckpt = torch.load(shipped_path(method), map_location="cpu", weights_only=True)
    assert ckpt["method"] == method and ckpt["preset"] == "small"
    assert (ckpt["config"]["n_ues"], ckpt["config"]["n_servers"]) == (50, 4)
    assert shipped_path(method).stat().st_size < 1_000_000


@pytest.mark.parametrize("method", METHODS)
def test_infeasible_instance_is_reported_honestly(method):
    inst = library("paper")[0]
    # Local execution too slow for the deadline and servers at 5% of their capacity: no UE
    # can run locally, and even the smallest minimum allocations of all UEs exceed the
    # total capacity, so nothing is feasible.
    bad = inst.replace(local_hz=inst.local_hz * 0.5, capacity_hz=inst.capacity_hz * 0.05)
    assert not bad.local_ok.any()
    assert np.where(bad.usable, bad.f_min, np.inf).min(axis=1).sum() > bad.capacity_hz.sum()
    for objective in ("latency", "energy"):
        sol = mecopt.solve(bad, objective, method)
        assert sol.status == "infeasible", sol.message
        assert not sol.assignment and sol.message


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_ues, n_servers", [(20, 4), (50, 6)])
def test_size_mismatch_is_one_line_error(method, n_ues, n_servers):
    inst = mecopt.generate("paper", n_ues=n_ues, n_servers=n_servers, seed=3)
    with pytest.raises(InputError) as err:
        mecopt.solve(inst, "latency", method)
    msg = str(err.value)
    assert "\n" not in msg
    assert f"{n_ues} UEs x {n_servers} servers" in msg and "50 UEs x 4 servers" in msg


def test_paper_preset_parameter_count():
    """Both contenders use the same network family; the paper's agents have 326,662."""
    n = count_parameters(preset("paper"))
    assert abs(n - PAPER_PARAMS) <= 0.01 * PAPER_PARAMS, n
    assert PAPER_PARAMS == 326_662
