"""DROO: the order-preserving quantizer for M+1 options, the shipped checkpoint on the paper
library, the paper preset's layers, and a short training (what DROO shares with ARE:
test_paper_contenders.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import mecopt
from mecopt.cli.main import cli
from mecopt.errors import InputError
from mecopt.learned.baseline_nets import (
    PAPER_PARAMS,
    PRESETS,
    count_parameters,
    load_checkpoint,
    preset,
    shipped_path,
)
from mecopt.learned.droo import quantize

from conftest import library


@pytest.fixture(scope="module")
def paper():
    return library("paper")


def _probs(seed: int, n: int, options: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.random((n, options)) ** 3
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed,n,options", [(0, 12, 4), (1, 50, 5), (2, 7, 2)])
def test_quantizer_order_preserving(seed, n, options):
    probs = _probs(seed, n, options)
    cands = quantize(probs, n + 1)
    assert cands.shape == (n + 1, n)
    assert np.array_equal(cands[0], probs.argmax(axis=1)), "candidate 1 must be the argmax"
    top2 = np.sort(probs, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    second = np.argsort(probs, axis=1)[:, -2]
    for k in range(1, n + 1):
        changed = np.flatnonzero(cands[k] != cands[0])
        assert len(changed) == k, f"candidate {k + 1} changes {len(changed)} UEs, not {k}"
        # the changed UEs are exactly the k least confident ones, each on its second choice
        assert margin[changed].max() <= np.sort(margin)[k - 1]
        assert np.array_equal(cands[k, changed], second[changed])
    assert len({tuple(c) for c in cands}) == n + 1, "duplicate candidates"


def test_quantizer_caps_k_and_rejects_bad_input():
    probs = _probs(3, 5, 3)
    assert quantize(probs, 100).shape == (6, 5)
    assert quantize(probs, 1).shape == (1, 5)
    with pytest.raises(InputError, match="k"):
        quantize(probs, 0)
    with pytest.raises(InputError, match="probs"):
        quantize(probs[:, :1], 2)


@pytest.mark.parametrize("objective", ["Minimum latency", "Minimum energy"])
def test_feasible_on_paper_library(paper, objective):
    greedy_total, droo_total = 0.0, 0.0
    for inst in paper:
        sol = mecopt.solve(inst, objective, "droo")
        assert sol.feasible, f"{inst.name}: {sol.status} {sol.message}"
        assert mecopt.evaluate(inst, sol.assignment, sol.allocation_hz).feasible
        greedy_total += mecopt.solve(inst, objective, "greedy").objective_value
        droo_total += sol.objective_value
    # a trained model, not a random one: within 10% of greedy on average
    assert droo_total <= 1.10 * greedy_total


def test_paper_preset_parameter_count():
    n = count_parameters(preset("paper"))
    assert abs(n - PAPER_PARAMS) <= 0.01 * PAPER_PARAMS, n
    model_layers = PRESETS["paper"].layers
    with torch.device("meta"):
        from mecopt.learned.baseline_nets import OffloadNet

        net = OffloadNet(preset("paper"))
    assert sum(isinstance(m, torch.nn.Linear) for m in net.modules()) == model_layers == 60


def test_paper_preset_runs_forward():
    from mecopt.learned.baseline_nets import OffloadNet, features

    torch.manual_seed(0)
    net = OffloadNet(preset("paper")).eval()
    x = torch.from_numpy(features(mecopt.generate("paper", seed=9), mecopt.Objective.LATENCY))
    logits, share = net(x[None])
    assert logits.shape == (1, 50, 5) and share.shape == (1, 50)
    assert torch.isfinite(logits).all() and ((share > 0) & (share < 1)).all()


def test_bad_checkpoint_is_one_line_error(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="checkpoint"):
        load_checkpoint(path, "droo")
    with pytest.raises(InputError, match="method"):
        load_checkpoint(shipped_path("are"), "droo")


def test_train_baseline_droo_cli(tmp_path):
    out = tmp_path / "droo.pt"
    result = CliRunner().invoke(cli, ["train-baseline", "droo", "--seed", "3", "--frames",
                                      "200", "--quiet", "-o", str(out)])
    assert result.exit_code == 0, result.output
    model, info = load_checkpoint(out, "droo")
    assert info["step"] == 200 and 1 <= info["extra"]["k"] <= 51
    assert "--frames 200" in info["command"] and "--latency-labels" not in info["command"]
    sol = mecopt.solve(mecopt.generate("paper", seed=5), "latency", "droo",
                       checkpoint=str(out))
    assert sol.feasible
    bad = CliRunner().invoke(cli, ["train-baseline", "droo", "-o", str(tmp_path / "x.pt")])
    assert bad.exit_code == 2 and "--minutes" in bad.output
