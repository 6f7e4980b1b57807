"""LAMBO checkpoints: a plain dict (format, preset, config, state_dict, command, step,
metrics) written with torch.save and read with torch.load(weights_only=True).

A checkpoint whose config or weights do not match the code gives a one-line InputError.
The shipped lambo-s checkpoint is package data, found through importlib.resources.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from mecopt.errors import InputError
from mecopt.learned import LAMBO_CHECKPOINT, shipped_checkpoint
from mecopt.learned.configs import ENERGY_ORDERS
from mecopt.learned.model import Lambo, LamboConfig

FORMAT = "mecopt-lambo"
VERSION = 1
SHIPPED = LAMBO_CHECKPOINT


def shipped_path() -> Path:
    """The checkpoint that ships inside the package (learned/checkpoints/lambo-s.pt)."""
    return shipped_checkpoint(SHIPPED)


def save_checkpoint(path: str | Path, model: Lambo, *, preset: str, command: str, step: int,
                    metrics: dict[str, Any]) -> None:
    """Write the checkpoint dict (weights moved to the CPU)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    ckpt = {"format": FORMAT, "version": VERSION, "preset": preset,
            "config": model.cfg.to_dict(), "state_dict": state, "command": command,
            "step": int(step), "metrics": dict(metrics)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{path}.tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint behind


def load_checkpoint_dict(path: str | Path, fmt: str) -> dict[str, Any]:
    """torch.load(weights_only=True) of a checkpoint dict whose "format" is `fmt`; a missing,
    corrupt or foreign file is a one-line InputError (shared with learned/baseline_nets.py)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path}: no such file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: one line, no traceback
        raise InputError(f"checkpoint {path}: cannot read ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        raise InputError(f"checkpoint {path}: format: expected {fmt!r}")
    return ckpt


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, checked for format; InputError naming the problem otherwise."""
    ckpt = load_checkpoint_dict(path, FORMAT)
    for key in ("config", "state_dict", "step", "metrics", "command"):
        if key not in ckpt:
            raise InputError(f"checkpoint {path}: {key}: missing field")
    return ckpt


def config_from(ckpt: dict[str, Any], path: str | Path) -> LamboConfig:
    """The LamboConfig a checkpoint was trained with: the code's fields, where a field added
    after the checkpoint was written (one with a default) takes its default."""
    fields = {f.name: f for f in dataclasses.fields(LamboConfig)}
    given = set(ckpt["config"])
    extra = sorted(given - set(fields))
    missing = sorted(k for k in set(fields) - given
                     if fields[k].default is dataclasses.MISSING)
    if extra or missing:
        what = f"unknown field {extra[0]!r}" if extra else f"missing field {missing[0]!r}"
        raise InputError(f"checkpoint {path}: config does not match this code ({what})")
    cfg = LamboConfig(**ckpt["config"])
    if cfg.energy_order not in ENERGY_ORDERS:
        raise InputError(f"checkpoint {path}: energy_order: expected "
                         f"{' or '.join(ENERGY_ORDERS)}, got {cfg.energy_order!r}")
    return cfg


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu"
               ) -> tuple[Lambo, dict[str, Any]]:
    """(model in eval mode, checkpoint dict without the weights); None = the shipped one."""
    path = shipped_path() if path is None else Path(path)
    ckpt = read_checkpoint(path)
    model = Lambo(config_from(ckpt, path))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        first = [s.strip() for s in str(exc).splitlines() if s.strip()][1:2] or [str(exc)]
        raise InputError(f"checkpoint {path}: weights do not match the config "
                         f"({first[0][:200]})") from None
    model.to(device).eval()
    info = {k: v for k, v in ckpt.items() if k != "state_dict"}
    return model, info
