"""LAMBO on a GPU: the same decisions as on the CPU, and training that runs there.

These need a CUDA device, so they are skipped, with that reason, on machines without one
(CI has none). `benchmarks/device_check.sh` runs them on a lent GPU machine.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mecopt
from mecopt.generators import generate
from mecopt.learned.checkpoint import load_model
from mecopt.learned.features import make_batch
from mecopt.learned.rollout import costs, rollout
from mecopt.learned.train import TrainConfig, train
from mecopt.objective import Objective

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (benchmarks/device_check.sh)")

OBJECTIVES = (Objective.LATENCY, Objective.ENERGY)


def _rows() -> tuple[list[mecopt.Instance], list[Objective]]:
    insts = [generate("paper", 50, 4, seed=600_000 + k) for k in range(4)]
    insts += [generate("hetero", 20 + 20 * k, None, seed=610_000 + k) for k in range(4)]
    return [i for i in insts for _ in OBJECTIVES], [o for _ in insts for o in OBJECTIVES]


def test_greedy_decoding_on_cuda_matches_the_cpu():
    insts, objs = _rows()
    decoded = {}
    for device in ("cpu", "cuda"):
        model, _ = load_model(None, device)
        batch = make_batch(insts, objs, device=device)
        with torch.inference_mode():
            out = rollout(model, batch)
        value, _ = costs(batch, out)
        decoded[device] = (out.assignment.cpu().numpy(), value)
    a_cpu, v_cpu = decoded["cpu"]
    a_gpu, v_gpu = decoded["cuda"]
    # Float32 kernels differ between devices, so a near-tie may flip; nearly all must agree.
    assert (a_cpu == a_gpu).all(axis=1).mean() >= 0.9
    assert np.all(np.isfinite(v_gpu))
    assert np.allclose(v_gpu, v_cpu, rtol=1e-3)


def test_solve_with_device_cuda_is_feasible_and_checked():
    inst = generate("hetero", 60, None, seed=620_000)
    for objective in OBJECTIVES:
        for samples in (1, 16):
            sol = mecopt.solve(inst, objective, "lambo", device="cuda", samples=samples)
            assert sol.feasible, sol.message
            assert mecopt.evaluate(inst, sol.assignment, sol.allocation_hz).feasible


def test_a_few_acl_steps_on_cuda_write_a_checkpoint_the_cpu_loads(tmp_path):
    out = tmp_path / "cuda.pt"
    result = train(TrainConfig(steps=6, device="cuda", batch_instances=2, samples=4,
                               imitation=0.5, validate_every=3, n_valid=1, quiet=True,
                               output=str(out)))
    assert result["steps"] == 6
    model, info = load_model(out, "cpu")
    assert info["step"] >= 3
    assert all(p.device.type == "cpu" for p in model.parameters())
