"""Decoding strategies of the LAMBO rollout: how each step's option is picked from the policy.

A strategy is a small object with two hooks (the shape of RL4CO's decoding strategies):
`start`, once before the first step, and `choose`, at every step, which returns each
decode's option. Pick one by name with `strategy(name, **options)`:

- "greedy" (`Greedy`): the most likely allowed option;
- "sampling" (`Sampling(temperature, generator, greedy_first)`): a draw from the softmax of
  the logits / temperature; with greedy_first, the first decode of every batch row is greedy
  (best of k then costs one rollout, not a greedy one and a sampled one);
- "forced" (`Forced(assignment)`): teacher forcing, the given options (imitation); a
  forced option the mask forbids falls back to an allowed one.

Only `choose` differs; the log-probabilities the rollout records are always those of the
policy itself (the temperature only shapes the draw).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from mecopt.errors import InputError


class Strategy:
    """Picks one option per decode at every step of a rollout."""

    name: ClassVar[str]

    def start(self, samples: int, order: torch.Tensor) -> None:
        """Called before the first step: `samples` decodes per batch row (decode r belongs to
        row r // samples); order (R, N), the UE decided at each step."""

    def choose(self, step: int, logits: torch.Tensor, log_p: torch.Tensor | None,
               blocked: torch.Tensor) -> torch.Tensor:
        """The option (R,) long of each decode at step `step`. logits (R, K), -inf where
        blocked; log_p (R, K) their log-softmax, None when the rollout records no
        statistics; blocked (R, K) bool, the options not allowed."""
        raise NotImplementedError


@dataclass
class Greedy(Strategy):
    """The most likely allowed option (argmax)."""

    name: ClassVar[str] = "greedy"

    def choose(self, step: int, logits: torch.Tensor, log_p: torch.Tensor | None,
               blocked: torch.Tensor) -> torch.Tensor:
        return logits.argmax(1)


@dataclass(eq=False)  # holds a generator and tensors: compared by identity
class Sampling(Strategy):
    """A draw from softmax(logits / temperature), seeded by `generator`."""

    name: ClassVar[str] = "sampling"
    temperature: float = 1.0
    generator: torch.Generator | None = None
    greedy_first: bool = False  # each batch row's first decode greedy, the others sampled
    _greedy_rows: torch.Tensor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise InputError(f"temperature: must be > 0, got {self.temperature}")

    def start(self, samples: int, order: torch.Tensor) -> None:
        if self.greedy_first:
            self._greedy_rows = torch.arange(len(order), device=order.device) % samples == 0
        else:
            self._greedy_rows = None

    def choose(self, step: int, logits: torch.Tensor, log_p: torch.Tensor | None,
               blocked: torch.Tensor) -> torch.Tensor:
        # exp(log_p) when the rollout has it: one operation fewer than a softmax.
        p = torch.softmax(logits / self.temperature, 1) \
            if self.temperature != 1.0 or log_p is None else log_p.exp()
        broken = ~torch.isfinite(p).all(1)
        if broken.any():
            # Features beyond float range (capacities of 1e-100 Hz beside CPUs of 1e200 Hz)
            # give NaN logits, which multinomial refuses: such a row draws uniformly among
            # its allowed options (the guard and the repair judge the decision anyway).
            allowed = (~blocked).float()
            allowed = torch.where(allowed.sum(1, keepdim=True) > 0, allowed,
                                  torch.ones_like(allowed))
            p = torch.where(broken[:, None], allowed, p)
        a = torch.multinomial(p, 1, generator=self.generator).squeeze(1)
        if self._greedy_rows is not None:
            a = torch.where(self._greedy_rows, logits.argmax(1), a)
        return a


@dataclass(eq=False)
class Forced(Strategy):
    """Teacher forcing: the options of `assignment` (R, N) long, in UE order (0 = local)."""

    name: ClassVar[str] = "forced"
    assignment: torch.Tensor
    _by_step: tuple[torch.Tensor, ...] = field(default=(), init=False, repr=False)
    _rows: torch.Tensor | None = field(default=None, init=False, repr=False)

    def start(self, samples: int, order: torch.Tensor) -> None:
        if self.assignment.shape != order.shape:
            raise InputError(f"forced assignment: expected shape {list(order.shape)} (batch "
                             f"rows x samples, N), got {list(self.assignment.shape)}")
        self._by_step = self.assignment.gather(1, order).unbind(1)
        self._rows = torch.arange(len(order), device=order.device)

    def choose(self, step: int, logits: torch.Tensor, log_p: torch.Tensor | None,
               blocked: torch.Tensor) -> torch.Tensor:
        a = self._by_step[step]
        # A masked forced option (a row with no label) falls back to an allowed one; callers
        # give such rows no weight.
        return torch.where(blocked[self._rows, a], (~blocked).float().argmax(1), a)


STRATEGIES: dict[str, type[Strategy]] = {s.name: s for s in (Greedy, Sampling, Forced)}


def strategy(name: str, **options) -> Strategy:
    """The decoding strategy called `name` ("greedy", "sampling", "forced") with its options,
    e.g. strategy("sampling", temperature=2.0, generator=gen)."""
    if name not in STRATEGIES:
        raise InputError(f"strategy: unknown {name!r}; valid: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](**options)
