"""A decode's deadline: rollout's loops (torch and numpy) check it at every step, so a
decode of thousands of UEs on a busy machine stops at a solve's time limit instead of
running past it."""

from __future__ import annotations

import time


class DecodeTimeout(RuntimeError):
    """A rollout given a deadline reached it before its last step."""


def check_deadline(deadline: float | None) -> None:
    """Raise DecodeTimeout once `deadline` (a time.perf_counter() value) has passed."""
    if deadline is not None and time.perf_counter() >= deadline:
        raise DecodeTimeout("the decode reached its deadline")
