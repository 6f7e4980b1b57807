"""LAMBO (the learned solver) and the paper's deep-learning contenders, DROO and ARE.

This module imports no torch: the registry asks `availability` whether a learned method
can run before anything heavy is loaded."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

LAMBO_CHECKPOINT = "lambo-s.pt"  # the shipped LAMBO model, in learned/checkpoints/


def shipped_checkpoint(filename: str) -> Path:
    """A checkpoint that ships inside the package: learned/checkpoints/<filename>."""
    return Path(str(resources.files("mecopt.learned") / "checkpoints" / filename))


def availability(filename: str) -> tuple[bool, str]:
    """Whether a learned method can run: torch is installed and its shipped checkpoint
    exists; otherwise (False, why). Torch is found, not imported: `mecopt methods` and the
    other methods must not pay its second of start-up."""
    if importlib.util.find_spec("torch") is None:
        return False, "torch is not installed"
    path = shipped_checkpoint(filename)
    if not path.is_file():
        return False, f"the shipped checkpoint {path} is missing"
    return True, ""
