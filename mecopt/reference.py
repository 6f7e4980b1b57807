"""Reference optima beside an instance library (reference.json).

Format ("mecopt-reference", version 1):
    {"format": "mecopt-reference", "version": 1,
     "command": "<the command that made the file>", "solver": "highs",
     "optima": {"<instance name>": {"latency": {"value": v, "gap": g, "time_s": t},
                                    "energy":  {...}}}}
Only proven optima (status "optimal") are stored; a missing entry means "not proven".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mecopt.errors import InputError, read_json

FORMAT = "mecopt-reference"
VERSION = 1
FILENAME = "reference.json"


def load_reference(path: str | Path) -> dict[str, Any]:
    """Read a reference file; raises InputError naming the problem."""
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path}: format: expected {FORMAT!r}")
    if not isinstance(data.get("optima"), dict):
        raise InputError(f"{path}: optima: missing or not an object")
    return data


def optimum(reference: dict[str, Any], instance: str, objective: str) -> float | None:
    """The proven optimum for (instance, objective), or None."""
    entry = reference.get("optima", {}).get(instance, {}).get(objective)
    return None if entry is None else float(entry["value"])


def save_reference(path: str | Path, optima: dict[str, dict[str, dict[str, float]]],
                   command: str, solver: str = "highs") -> None:
    data = {"format": FORMAT, "version": VERSION, "command": command, "solver": solver,
            "optima": {k: optima[k] for k in sorted(optima)}}
    Path(path).write_text(json.dumps(data, indent=1) + "\n")
