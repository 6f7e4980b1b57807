"""LAMBO (the learned solver) and the paper's deep-learning contenders, DROO and ARE.

This module imports no torch: the registry asks `availability` whether a learned method
can run before anything heavy is loaded, and the methods load their models through
`load_cached` (torch is imported then, once per process)."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from mecopt.errors import InputError

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


@lru_cache(maxsize=1)
def shipped_names() -> tuple[str, ...]:
    """The checkpoints shipped in learned/checkpoints/, by name (file name without .pt)."""
    folder = shipped_checkpoint("")
    return tuple(sorted(p.stem for p in folder.glob("*.pt"))) if folder.is_dir() else ()


def resolve_checkpoint(checkpoint: str) -> str:
    """A `checkpoint` option's file: "" (the method's shipped default), a path, or the name
    of a shipped checkpoint ("lambo-w" for learned/checkpoints/lambo-w.pt). A path that
    exists wins over a name."""
    checkpoint = str(checkpoint)
    if checkpoint and not Path(checkpoint).is_file() and checkpoint in shipped_names():
        return str(shipped_checkpoint(f"{checkpoint}.pt"))
    return checkpoint


def load_cached(method: str, checkpoint: str = "", device: str = "cpu"
                ) -> tuple[Any, dict[str, Any]]:
    """(model in eval mode, checkpoint dict without the weights) of a learned method
    ("lambo", "droo" or "are") from `checkpoint` ("" = the shipped one; a file, or a shipped
    checkpoint's name, resolve_checkpoint).

    Loaded once per (method, checkpoint, device) in a process, so only a method's first call
    pays for it; a missing or mismatched file is a one-line InputError. DROO and ARE models
    load on the CPU whatever `device` says."""
    return _load_cached(method, str(checkpoint), str(device))


def check_checkpoint(method: str, checkpoint: str, device: str = "cpu") -> None:
    """The `checkpoint` option of a learned method: "" (the shipped one), a file or a
    shipped checkpoint's name that loads; a one-line InputError otherwise. The model stays
    cached for the solve."""
    if checkpoint and not Path(resolve_checkpoint(checkpoint)).is_file():
        raise InputError(f"option checkpoint: no such file {checkpoint!r} (nor a shipped "
                         f"checkpoint: {', '.join(shipped_names())})")
    load_cached(method, checkpoint, device)


@lru_cache(maxsize=8)
def _load_cached(method: str, checkpoint: str, device: str) -> tuple[Any, dict[str, Any]]:
    checkpoint = resolve_checkpoint(checkpoint)  # once per (method, checkpoint, device)
    if method == "lambo":
        from mecopt.learned.checkpoint import load_model

        return load_model(checkpoint or None, device)
    from mecopt.learned.baseline_nets import load_checkpoint, shipped_path

    return load_checkpoint(checkpoint or shipped_path(method), method)
