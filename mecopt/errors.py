"""Errors mecopt raises for bad user input.

Every message is one line and names the field (and the UE or server) at fault, so the
CLI can print it as is, without a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Bad user input: a malformed file, a wrong shape, an unknown name or a bad value."""


def refuse_existing(paths: Iterable[str | Path], force: bool) -> None:
    """InputError for the first of `paths` that exists, unless `force`: outputs are checked
    before the work, so a long run never ends by overwriting a file."""
    for path in paths:
        if not force and Path(path).exists():
            raise InputError(f"{path} exists; pass --force to overwrite it")


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, for a message: "an object", "a list", "text",
    "true/false", "null" or "a number"."""
    return {dict: "an object", list: "a list", str: "text", bool: "true/false",
            type(None): "null"}.get(type(value), "a number")


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; an unreadable or malformed file is an InputError naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not an error
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
