"""The rollout's decoding strategies, chosen by name, and its environment's contract."""

from __future__ import annotations

import math

import pytest
import torch

from mecopt.errors import InputError
from mecopt.generators import generate
from mecopt.learned.env import OffloadEnv
from mecopt.learned.features import make_batch
from mecopt.learned.model import PRESETS, Lambo
from mecopt.learned.rollout import rollout
from mecopt.learned.strategies import STRATEGIES, Forced, Greedy, Sampling, strategy
from mecopt.objective import Objective

torch.set_num_threads(1)


def _batch():
    insts = [generate("hetero", n, m, seed=200_000 + k)
             for k, (n, m) in enumerate([(60, 2), (35, 3)])]
    return make_batch(insts, [Objective.LATENCY, Objective.ENERGY])


def _model() -> Lambo:
    torch.manual_seed(5)
    return Lambo(PRESETS["lambo-s"]).eval()


def test_strategies_are_chosen_by_name():
    assert isinstance(strategy("greedy"), Greedy)
    s = strategy("sampling", temperature=2.0)
    assert isinstance(s, Sampling) and s.temperature == 2.0
    assert isinstance(strategy("forced", assignment=torch.zeros(1, 3, dtype=torch.long)), Forced)
    assert set(STRATEGIES) == {"greedy", "sampling", "forced"}
    with pytest.raises(InputError, match="strategy: unknown 'beam'; valid: greedy, sampling"):
        strategy("beam")
    with pytest.raises(InputError, match="temperature: must be > 0"):
        Sampling(temperature=0)


def test_forcing_the_greedy_decisions_replays_the_greedy_rollout():
    """Teacher forcing on the policy's own greedy decisions takes the same path, so it has
    the same log-probabilities, entropies and shares (bit for bit within one loop; the numpy
    and torch loops' statistics agree to float rounding, test_numpy_decode.py)."""
    model, batch = _model(), _batch()
    with torch.no_grad():
        for loop in ("torch", "numpy"):
            greedy = rollout(model, batch, strategy("greedy"), loop=loop)
            forced = rollout(model, batch, strategy("forced", assignment=greedy.assignment),
                             loop=loop)
            for field in ("assignment", "log_prob", "step_log_prob", "entropy", "share",
                          "feasible"):
                assert torch.equal(getattr(greedy, field), getattr(forced, field)), field


def test_a_forced_assignment_must_have_one_row_per_decode():
    model, batch = _model(), _batch()
    with pytest.raises(InputError, match=r"forced assignment: expected shape \[4, 60\]"):
        rollout(model, batch, Forced(torch.zeros(2, 60, dtype=torch.long)), samples=2)


def test_the_environment_masks_what_no_longer_fits():
    """Step the environment by hand, always onto the first allowed server: the mask drops a
    server once its remaining capacity cannot hold the UE's f_min, and the loads stay
    within the capacities."""
    batch = _batch()
    env = OffloadEnv(batch, samples=1)
    masked_for_capacity = 0
    for step in env.steps():
        allowed = ~env.blocked(step)
        masked_for_capacity += int((~step.barred & ~allowed).sum())
        servers = allowed[:, 1:]
        a = torch.where(servers.any(1), servers.float().argmax(1) + 1, 0)
        env.step(a, step)
    assert masked_for_capacity > 0, "capacity binds on these instances"
    load = env._state[:, 1:, 0]
    assert (load <= batch.capacity * (1 + 1e-12)).all()
    assert env.feasible().shape == (2,)


def test_sampling_a_row_of_nan_logits_draws_an_allowed_option():
    # Features beyond float range gave NaN logits, and multinomial raised (an `error`
    # status from lambo samples=4 on capacities of 1e-100 Hz beside CPUs of 1e200 Hz).
    logits = torch.tensor([[0.0, 1.0, -math.inf], [math.nan, math.nan, math.nan]])
    blocked = torch.tensor([[False, False, True], [True, False, True]])
    draw = Sampling(1.0, torch.Generator().manual_seed(0))
    draw.start(1, torch.zeros((2, 3), dtype=torch.long))
    for _ in range(20):
        a = draw.choose(0, logits, torch.log_softmax(logits, 1), blocked)
        assert a[0].item() in (0, 1) and a[1].item() == 1
