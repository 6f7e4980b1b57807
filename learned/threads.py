"""Torch's CPU thread count for one piece of work: the setting is process-wide, so each user
(LAMBO's decode and encoder, PG's search) sets it for its own work and restores it after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block on `threads` torch CPU threads (None: as set), then restore the
    setting."""
    import torch  # here, so that importing this module does not load torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
