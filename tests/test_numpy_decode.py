"""The decode loop in numpy (learned/numpy_decode.py) against rollout's torch loop."""

from __future__ import annotations

import pytest
import torch

from mecopt.generators import generate
from mecopt.learned import load_cached
from mecopt.learned.features import make_batch
from mecopt.learned.model import PRESETS, Lambo
from mecopt.learned.numpy_decode import NUMPY_MAX_ROWS, runs_in_numpy
from mecopt.learned.rollout import rollout
from mecopt.learned.strategies import Forced, Greedy, Sampling
from mecopt.objective import Objective

torch.set_num_threads(1)

# Families the shipped models did and did not train on; capacity binds on tight, sparse
# and manyserver, where decodes meet full servers and dead ends.
FAMILIES = ("paper", "hetero", "world", "tight", "sparse", "manyserver", "heavytail")


def both_loops(model: Lambo, insts: list, objective: Objective, stats: bool = False):
    batch = make_batch(insts, [objective] * len(insts), energy_order=model.cfg.energy_order)
    with torch.inference_mode():
        return (rollout(model, batch, stats=stats, loop="torch"),
                rollout(model, batch, stats=stats, loop="numpy"))


@pytest.mark.parametrize("checkpoint", ["lambo-s", "lambo-w"])
@pytest.mark.parametrize("objective", list(Objective))
def test_the_numpy_loop_decides_as_the_torch_loop(checkpoint, objective):
    """The shipped models, alone and in a padded batch (mixed N and M), seven families; the
    same assignments, dead ends and shares, and (the batch) the same statistics."""
    model, _ = load_cached("lambo", checkpoint, "cpu")
    insts = [generate(f, n_ues=20 + 11 * k, n_servers=2 + k % 5, seed=9_780_000 + k)
             for k, f in enumerate(FAMILIES)]
    dead_ends = 0
    for group in [[i] for i in insts] + [insts]:
        ref, fast = both_loops(model, group, objective)
        assert torch.equal(ref.assignment, fast.assignment), [i.name for i in group]
        assert torch.equal(ref.feasible, fast.feasible)
        assert torch.allclose(ref.share, fast.share, atol=1e-5)
        dead_ends += int((~ref.feasible).sum())
    ref, fast = both_loops(model, insts, objective, stats=True)
    assert torch.equal(ref.assignment, fast.assignment)
    assert torch.allclose(ref.step_log_prob, fast.step_log_prob, atol=1e-4)
    assert torch.allclose(ref.entropy, fast.entropy, atol=1e-4)
    assert (ref.entropy > 0).any() and (ref.step_log_prob[:, 1:] == 0).any(), "padding steps"
    if objective is Objective.ENERGY and checkpoint == "lambo-s":
        assert dead_ends > 0, "the cases should include a decode that meets a dead end"


def test_the_numpy_loop_decides_as_the_torch_loop_for_an_untrained_network():
    """Random weights spread the logits differently from trained ones."""
    torch.manual_seed(3)
    model = Lambo(PRESETS["lambo-s"]).eval()
    insts = [generate("hetero", 40, 3, seed=9_780_100 + k) for k in range(4)]
    for objective in Objective:
        ref, fast = both_loops(model, insts, objective)
        assert torch.equal(ref.assignment, fast.assignment)


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_the_numpy_loop_samples_and_forces_as_the_torch_loop(temperature):
    """Sampling (best of k, its first decode greedy) draws through the strategy's own
    generator in both loops: the same draws from the same seed; forcing replays them."""
    model, _ = load_cached("lambo", "lambo-w", "cpu")
    insts = [generate(f, n_ues=25 + 7 * k, n_servers=2 + k, seed=9_780_200 + k)
             for k, f in enumerate(("hetero", "tight", "world"))]
    for objective in Objective:
        batch = make_batch(insts, [objective] * 3, energy_order=model.cfg.energy_order)
        runs = []
        with torch.inference_mode():
            for loop in ("torch", "numpy"):
                gen = torch.Generator().manual_seed(12)
                runs.append(rollout(model, batch, Sampling(temperature, gen, greedy_first=True),
                                    samples=4, loop=loop))
            ref, fast = runs
            assert torch.equal(ref.assignment, fast.assignment)
            assert torch.allclose(ref.log_prob, fast.log_prob, atol=1e-4)
            assert (ref.assignment[1::4] != ref.assignment[0::4]).any(), "the draws differ"
            forced = rollout(model, batch, Forced(ref.assignment), samples=4, loop="numpy")
        assert torch.equal(forced.assignment, ref.assignment)
        assert torch.allclose(forced.log_prob, ref.log_prob, atol=1e-4)


def test_rollout_takes_the_numpy_loop_for_few_rows_without_gradients_only():
    model, _ = load_cached("lambo", "lambo-s", "cpu")
    cpu = torch.device("cpu")
    with torch.inference_mode():
        assert runs_in_numpy(model, 1, cpu)
        assert runs_in_numpy(model, NUMPY_MAX_ROWS, cpu)
        assert not runs_in_numpy(model, NUMPY_MAX_ROWS + 1, cpu), "large batches: torch"
        assert not runs_in_numpy(model, 1, torch.device("meta"))
    assert not runs_in_numpy(model, 1, cpu), "training (gradients) stays in torch"
    batch = make_batch([generate("paper")], [Objective.LATENCY])
    with pytest.raises(ValueError, match="gradients"):
        rollout(model, batch, Greedy(), loop="numpy")
