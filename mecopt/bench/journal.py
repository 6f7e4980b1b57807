"""The journal: a benchmark's folder and its records.

``runs.jsonl`` holds one JSON line per finished run, appended and flushed as each run ends,
so an interrupted benchmark keeps every finished run and --resume skips them; ``bench.json``
(the manifest) records what was benchmarked, over all sessions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mecopt
from mecopt.bench.row import Key, Row
from mecopt.bench.spec import Collection, MethodSpec
from mecopt.errors import InputError

JOURNAL = "runs.jsonl"
MANIFEST = "bench.json"
OUTPUTS = ("results.csv", "results.json", "summary.md", "bars-latency.png", "bars-energy.png",
           "gap-vs-time.png")
# The files the harness writes: --force removes these and nothing else.
OWN_FILES = (JOURNAL, MANIFEST, *OUTPUTS)


def open_out(out: str | Path, *, resume: bool = False, force: bool = False) -> list[Row]:
    """Prepare the output folder and return the rows already in it (for resume).

    A non-empty folder is refused unless `resume` (continue it) or `force` (delete the
    harness's own files in it and start over; other files stay).
    """
    out = Path(out)
    if resume and force:
        raise InputError("out: give --resume or --force, not both")
    if out.exists() and not out.is_dir():
        raise InputError(f"out: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if not any(out.iterdir()):
        return []
    if resume:
        if not (out / JOURNAL).exists() and not (out / MANIFEST).exists():
            raise InputError(f"out: {out} is not empty and holds no benchmark ({JOURNAL}); "
                             "use another folder")
        return read_journal(out, repair=True)
    if force:
        for name in OWN_FILES:
            (out / name).unlink(missing_ok=True)
        return []
    raise InputError(f"out: {out} is not empty; pass --resume to continue that benchmark or "
                     "--force to start it over")


def read_journal(out: str | Path, *, repair: bool = False) -> list[Row]:
    """The finished runs in out/runs.jsonl (the last row of a key wins). A line cut short
    by a crash is dropped; with `repair` the file is rewritten without it so that appending
    goes on cleanly."""
    path = Path(out) / JOURNAL
    if not path.exists():
        return []
    rows: dict[Key, Row] = {}
    bad = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            row = Row.from_dict(json.loads(line))
            rows[row.key] = row
        except (json.JSONDecodeError, TypeError, ValueError):
            bad += 1
    if bad and repair:
        write_atomic(path, "".join(_line(r) for r in rows.values()))
    return list(rows.values())


def _line(row: Row) -> str:
    return json.dumps(row.to_dict(gaps=False)) + "\n"


def append(path: Path, row: Row) -> None:
    """Append a finished run to the journal, on disk before this returns."""
    with path.open("a") as fh:
        fh.write(_line(row))
        fh.flush()
        os.fsync(fh.fileno())


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write via a temporary file, so an interrupt never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(text, bytes):
        tmp.write_bytes(text)
    else:
        tmp.write_text(text)
    os.replace(tmp, path)


def write_manifest(out: str | Path, col: Collection, specs: Sequence[MethodSpec] = (), *,
                   command: str = "", elapsed_s: float | None = None, n_runs: int = 0) -> None:
    """Record what this session benchmarked in out/bench.json (merging earlier sessions)."""
    path = Path(out) / MANIFEST
    old = read_manifest(out)
    # Method labels in the order given: tables and plots follow it.
    methods = list(dict.fromkeys([*old.get("methods", []), *(s.label for s in specs)]))
    instances = dict(old.get("instances", {}))
    instances.update({inst.name: str(p) for inst, p in col.instances})
    reference = {f"{k[0]}|{k[1]}": v for k, v in manifest_reference(old).items()}
    reference.update({f"{k[0]}|{k[1]}": v for k, v in col.reference.items()})
    sessions = list(old.get("sessions", []))
    if elapsed_s is not None:
        sessions.append({"finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         "command": command, "runs": n_runs, "elapsed_s": round(elapsed_s, 3)})
    data = {"format": "mecopt-bench", "version": 1, "mecopt_version": mecopt.__version__,
            "methods": methods, "instances": instances, "reference_files": {
                **old.get("reference_files", {}), **col.reference_files},
            "reference": reference,
            "skipped": [{"path": p, "error": e} for p, e in col.skipped],
            "sessions": sessions}
    write_atomic(path, json.dumps(data, indent=1) + "\n")


def read_manifest(out: str | Path) -> dict[str, Any]:
    """out/bench.json's data, or {} when there is none yet."""
    path = Path(out) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def manifest_reference(manifest: dict[str, Any]) -> dict[tuple[str, str], float]:
    """The manifest's reference optima by (instance name, objective)."""
    out = {}
    for key, value in manifest.get("reference", {}).items():
        name, _, obj = key.rpartition("|")
        out[(name, obj)] = float(value)
    return out

