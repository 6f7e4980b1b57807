"""The benchmark harness: every (method, instance, objective, seed) run through `solve`.

A benchmark lives in one output folder:

- ``runs.jsonl``: the journal, one JSON row per finished run, appended (and flushed) as each
  run ends, so an interrupted benchmark leaves every finished run on disk and ``resume``
  skips them;
- ``bench.json``: what was benchmarked (instances and their files, reference optima,
  skipped files, sessions with their wall time);
- rebuilt from those two after every session: ``results.csv`` and ``results.json`` (one row
  per run, with its gap), ``summary.md`` (per method and objective) and the plots
  ``bars-latency.png``, ``bars-energy.png`` and ``gap-vs-time.png``.

Gaps are relative, (value - best) / |best|, to the proven optimum in a ``reference.json``
beside the instances (basis "reference") or else to the best value any run of this
benchmark found (basis "best found"); each row says which. A row with a bound (an exact
method's own, or any method's with ``bound=True``, mecopt.bound) also has its certified gap,
(value - bound) / |value|: how far from optimal the answer can be, with no reference needed.

Library use: `run_bench` does everything; the CLI (`mecopt bench`) calls the steps one by
one (`collect_instances`, `parse_methods`, `open_out`, `plan`, `execute`, `write_outputs`)
to drive a progress bar.
"""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import os
import pickle
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mecopt
from mecopt.api import solve
from mecopt.errors import InputError
from mecopt.instance import Instance
from mecopt.method import Method
from mecopt.objective import Objective
from mecopt.reference import FILENAME as REFERENCE_FILE
from mecopt.reference import load_reference, optimum
from mecopt.registry import get_method
from mecopt.solution import _jsonable
from mecopt.status import Status

JOURNAL = "runs.jsonl"
MANIFEST = "bench.json"
OUTPUTS = ("results.csv", "results.json", "summary.md", "bars-latency.png", "bars-energy.png",
           "gap-vs-time.png")
# The files the harness writes: --force removes these and nothing else.
OWN_FILES = (JOURNAL, MANIFEST, *OUTPUTS)

# A reference optimum this far above a checked value means the reference (or the checker)
# is wrong; summary.md says so instead of hiding it.
BELOW_REFERENCE_RTOL = 1e-6

# Columns of results.csv, in order (results.json rows carry the same keys).
COLUMNS = ("method", "method_name", "options", "instance", "objective", "seed", "status",
           "feasible", "objective_value", "gap", "gap_basis", "best_known", "bound",
           "certified_gap", "wall_time_s", "time_limit_s", "message", "extra")


# ------------------------------------------------------------------------------ methods
@dataclass(frozen=True)
class MethodSpec:
    """A contender: a method (registry name, Method subclass or callable), its options, and
    the label that names it in the results (so one method can run with two settings)."""

    label: str
    method: str | type[Method] | Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> MethodSpec:
        """Parse ``[LABEL=]NAME[:KEY=VALUE...]``, e.g. ``greedy``, ``de:generations=50`` or
        ``lambo_s=lambo:samples=64``. The label defaults to the text itself."""
        text = text.strip()
        head, *pairs = text.split(":")
        label, sep, name = head.partition("=")
        if not sep:
            label, name = text, head
        label, name = label.strip(), name.strip()
        if not name or not label:
            raise InputError(f"methods: cannot read {text!r}; expected [LABEL=]NAME[:KEY=VALUE...]")
        options = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise InputError(f"methods: option {pair!r} of {text!r} is not KEY=VALUE")
            options[key.strip()] = value.strip()
        return cls(label, name, options)

    @property
    def name(self) -> str:
        """The method's registry name (or the class / callable name)."""
        if isinstance(self.method, str):
            return self.method
        return getattr(self.method, "name", "") or getattr(self.method, "__name__", "custom")

    def check(self) -> None:
        """Fail fast, before any run: the method exists, is available and takes the options."""
        cls = get_method(self.method)
        ok, why = cls.availability()
        if not ok:
            raise InputError(f"method {self.name!r} is unavailable: {why}")
        cls(**self.options)


def parse_methods(text: str) -> list[MethodSpec]:
    """Comma-separated method specs (see `MethodSpec.parse`); labels must be unique."""
    specs = [MethodSpec.parse(part) for part in text.split(",") if part.strip()]
    if not specs:
        raise InputError("methods: give at least one method")
    labels = [s.label for s in specs]
    dup = next((x for x in labels if labels.count(x) > 1), None)
    if dup is not None:
        raise InputError(f"methods: {dup!r} appears twice; give the second one a LABEL=")
    return specs


def parse_objectives(text: str) -> list[Objective]:
    """Comma-separated objectives, e.g. "latency,energy"."""
    out = []
    for part in text.split(","):
        if part.strip():
            obj = Objective.parse(part)
            if obj not in out:
                out.append(obj)
    if not out:
        raise InputError("objectives: give at least one of latency, energy")
    return out


def parse_seeds(text: str) -> list[int]:
    """Comma-separated integer seeds, e.g. "0,1,2"."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"seeds: expected comma-separated integers, got {text!r}") from None
    if not seeds:
        raise InputError("seeds: give at least one seed")
    return sorted(set(seeds), key=seeds.index)


# ---------------------------------------------------------------------------- instances
@dataclass
class Collection:
    """The instances found under the given paths, the files skipped, and reference optima."""

    instances: list[tuple[Instance, Path]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    # (instance name, objective) -> proven optimum, from reference.json beside the instance
    reference: dict[tuple[str, str], float] = field(default_factory=dict)
    reference_files: dict[str, str] = field(default_factory=dict)  # path -> its "command"


def collect_instances(paths: Iterable[str | Path]) -> Collection:
    """Instance files, and folders of them (every *.json but reference.json, not recursive).

    A file that does not load is skipped with its one-line error; two files with one
    instance name keep the first. Raises InputError for a missing path, a malformed
    reference.json, or when no instance loads at all.
    """
    col = Collection()
    seen: dict[str, Path] = {}
    references: dict[Path, dict[str, Any] | None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.glob("*.json") if p.name != REFERENCE_FILE)
        elif path.is_file():
            files = [path]
        else:
            raise InputError(f"{path}: no such file or folder")
        for file in files:
            try:
                inst = Instance.load(file)
            except InputError as exc:
                msg = str(exc)
                col.skipped.append((str(file), msg if msg.startswith(str(file))
                                    else f"{file}: {msg}"))
                continue
            if inst.name in seen:
                col.skipped.append((str(file), f"{file}: instance name {inst.name!r} already "
                                               f"taken by {seen[inst.name]}"))
                continue
            seen[inst.name] = file
            col.instances.append((inst, file))
            folder = file.parent
            if folder not in references:
                ref_path = folder / REFERENCE_FILE
                references[folder] = load_reference(ref_path) if ref_path.is_file() else None
                if references[folder] is not None:
                    col.reference_files[str(ref_path)] = str(references[folder].get(
                        "command", ""))
            ref = references[folder]
            if ref is not None:
                for obj in Objective:
                    value = optimum(ref, inst.name, obj.value)
                    if value is not None:
                        col.reference[(inst.name, obj.value)] = value
    if not col.instances:
        why = f" ({len(col.skipped)} files skipped: {col.skipped[0][1]})" if col.skipped else ""
        raise InputError(f"instances: none found{why}")
    return col


# --------------------------------------------------------------------------------- runs
@dataclass
class Run:
    """One (method, instance, objective, seed) run to do."""

    spec: MethodSpec
    instance: Instance | dict[str, Any]  # a dict (the instance JSON) when sent to a worker
    objective: str
    seed: int
    time_limit: float | None
    hard_limit: float | None  # seconds after which the run is stopped as a timeout
    bound: bool = False  # also compute mecopt.bound, for the certified gap

    @property
    def key(self) -> tuple[str, str, str, int]:
        name = self.instance.name if isinstance(self.instance, Instance) else \
            self.instance["name"]
        return (self.spec.label, name, self.objective, self.seed)

    def describe(self) -> str:
        label, inst, obj, seed = self.key
        return f"{label} {inst} {obj} seed {seed}"


def row_key(row: dict[str, Any]) -> tuple[str, str, str, int]:
    return (row["method"], row["instance"], row["objective"], int(row["seed"]))


def hard_limit(time_limit: float | None, grace_s: float = 30.0) -> float | None:
    """When a run that ignores its time limit is stopped: twice the limit plus a grace."""
    return None if time_limit is None else 2.0 * time_limit + grace_s


def plan(col: Collection, specs: Sequence[MethodSpec], objectives: Sequence[Objective | str],
         seeds: Sequence[int], *, time_limit: float | None = None,
         done: Iterable[dict[str, Any]] = (), grace_s: float = 30.0,
         bound: bool = False) -> list[Run]:
    """Every run not already in `done`, instance by instance (so an interrupted benchmark
    has every method on the first instances rather than one method everywhere)."""
    if time_limit is not None and not time_limit > 0:
        raise InputError(f"time-limit: must be positive, got {time_limit}")
    done = list(done)
    finished = {row_key(r) for r in done}
    _check_resume(done, specs, time_limit)
    runs = []
    for inst, _ in col.instances:
        for obj in objectives:
            obj = Objective.parse(obj).value
            for spec in specs:
                for seed in seeds:
                    run = Run(spec, inst, obj, int(seed), time_limit,
                              hard_limit(time_limit, grace_s), bound)
                    if run.key not in finished:
                        runs.append(run)
    return runs


def _check_resume(done: Iterable[dict[str, Any]], specs: Sequence[MethodSpec],
                  time_limit: float | None) -> None:
    """Refuse to mix runs of one label made with other options or another time limit."""
    by_label = {s.label: s for s in specs}
    for row in done:
        spec = by_label.get(row["method"])
        if spec is None:
            continue
        if row.get("time_limit_s") != time_limit:
            def said(t):
                return "the method's default" if t is None else f"{t:g} s"
            raise InputError(f"time-limit: the folder has runs of {spec.label!r} with "
                             f"{said(row.get('time_limit_s'))}, not {said(time_limit)}; "
                             "use another --out")
        if _jsonable(row.get("options", {})) != _jsonable(dict(spec.options)) or \
                row.get("method_name") != spec.name:
            raise InputError(f"methods: the folder has runs of {spec.label!r} as "
                             f"{row.get('method_name')} {row.get('options')}; give this one "
                             "another label")


class _HardTimeout(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` in a backend
    swallows it."""


def _on_alarm(signum, frame):
    raise _HardTimeout


def run_one(run: Run) -> dict[str, Any]:
    """Do one run and return its row. Never raises for a method's failure: an exception or
    an overrun becomes a row with status "error" or "timeout"."""
    inst = run.instance if isinstance(run.instance, Instance) else Instance.from_dict(run.instance)
    _, _, obj, seed = run.key
    row = _error_row(run, "")
    # SIGALRM stops a run that ignores its time limit; only possible in the main thread.
    alarm = (run.hard_limit is not None and hasattr(signal, "setitimer")
             and threading.current_thread() is threading.main_thread())
    start = time.perf_counter()
    previous = None
    try:
        if alarm:
            previous = signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, run.hard_limit)
        sol = solve(inst, obj, run.spec.method, time_limit=run.time_limit, seed=seed,
                    bound=run.bound, **run.spec.options)
    except _HardTimeout:
        row.update(status=Status.TIMEOUT.value, wall_time_s=time.perf_counter() - start,
                   message=f"stopped by the harness after {run.hard_limit:g} s (time limit "
                           f"{run.time_limit:g} s)")
        return row
    except Exception as exc:  # whatever escapes solve is still one run's result
        row.update(wall_time_s=time.perf_counter() - start,
                   message=f"{type(exc).__name__}: {exc}".splitlines()[0])
        return row
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    row.update(status=Status(sol.status).value, feasible=sol.feasible,
               # only a decision the checker accepted has a value worth comparing
               objective_value=sol.objective_value if sol.feasible else None,
               bound=sol.bound, wall_time_s=sol.wall_time_s, message=sol.message,
               extra=_jsonable(sol.extra))
    return row


# ---------------------------------------------------------------------------- journal
def open_out(out: str | Path, *, resume: bool = False, force: bool = False
             ) -> list[dict[str, Any]]:
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


def read_journal(out: str | Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The finished runs in out/runs.jsonl (the last row of a key wins). A line cut short
    by a crash is dropped; with `repair` the file is rewritten without it so that appending
    goes on cleanly."""
    path = Path(out) / JOURNAL
    if not path.exists():
        return []
    rows: dict[tuple, dict[str, Any]] = {}
    bad = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows[row_key(row)] = row
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            bad += 1
    if bad and repair:
        _write_atomic(path, "".join(json.dumps(r) + "\n" for r in rows.values()))
    return list(rows.values())


def _append(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _write_atomic(path: Path, text: str | bytes) -> None:
    """Write via a temporary file, so an interrupt never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(text, bytes):
        tmp.write_bytes(text)
    else:
        tmp.write_text(text)
    os.replace(tmp, path)


def _init_worker() -> None:
    # Ctrl-C goes to the parent, which stops the workers; one thread per process because
    # the workers already share the cores among themselves.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def execute(runs: Sequence[Run], out: str | Path, *, workers: int = 1,
            on_start: Callable[[Run], None] | None = None) -> Iterator[dict[str, Any]]:
    """Do the runs, append each row to out/runs.jsonl as it finishes, and yield it.

    `workers` > 1 runs in that many processes (methods must then be registry names or
    importable classes and callables). On an interrupt the workers are stopped; every row
    already yielded is in the journal.
    """
    if workers < 1:
        raise InputError(f"workers: must be >= 1, got {workers}")
    journal = Path(out) / JOURNAL
    if workers == 1 or len(runs) <= 1:
        for run in runs:
            if on_start is not None:
                on_start(run)
            row = run_one(run)
            _append(journal, row)
            yield row
        return
    for spec in {id(r.spec): r.spec for r in runs}.values():
        try:
            pickle.dumps(spec)
        except Exception:
            raise InputError(f"workers: method {spec.label!r} cannot be sent to a worker "
                             "process (define it at module level, or use one worker)") from None
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                               mp_context=multiprocessing.get_context("spawn"))
    finished = False
    try:
        pending: dict[Future, Run] = {}
        queue = list(reversed(runs))

        def submit() -> None:
            # Keep only `workers` runs in flight, so on_start names what is running now.
            while queue and len(pending) < workers:
                run = queue.pop()
                if on_start is not None:
                    on_start(run)
                as_data = Run(run.spec, run.instance.to_dict() if isinstance(
                    run.instance, Instance) else run.instance, run.objective, run.seed,
                    run.time_limit, run.hard_limit, run.bound)
                pending[pool.submit(run_one, as_data)] = run

        submit()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                run = pending.pop(fut)
                try:
                    row = fut.result()
                except Exception as exc:  # a worker died (e.g. out of memory)
                    row = _error_row(run, f"worker failed: {type(exc).__name__}: {exc}")
                _append(journal, row)
                yield row
            submit()
        finished = True
    finally:
        if not finished:
            # Interrupted: stop the runs in flight instead of waiting for them.
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _error_row(run: Run, message: str) -> dict[str, Any]:
    """A run's row before it has a result: status "error" until something better is known."""
    label, name, obj, seed = run.key
    return {"method": label, "method_name": run.spec.name,
            "options": _jsonable(run.spec.options), "instance": name, "objective": obj,
            "seed": seed, "status": Status.ERROR.value, "feasible": False, "objective_value": None,
            "bound": None, "wall_time_s": 0.0, "time_limit_s": run.time_limit,
            "message": message.splitlines()[0] if message else "", "extra": {}}


# ------------------------------------------------------------------------------- gaps
def add_gaps(rows: Sequence[dict[str, Any]], reference: dict[tuple[str, str], float]
             ) -> list[dict[str, Any]]:
    """Copies of the rows with best_known, gap_basis, gap and certified_gap.

    The best known value of (instance, objective) is the proven optimum from the reference
    when there is one, else the best checked value of any run here. The gap is
    (value - best) / |best| for feasible runs and None otherwise (also when no run is
    feasible). It is not clipped: a negative gap to a reference means the reference is wrong.
    The certified gap is (value - bound) / |value| for feasible rows with a bound.
    """
    best_found: dict[tuple[str, str], float] = {}
    for r in rows:
        if r["feasible"] and r["objective_value"] is not None:
            k = (r["instance"], r["objective"])
            best_found[k] = min(best_found.get(k, math.inf), r["objective_value"])
    out = []
    for r in rows:
        k = (r["instance"], r["objective"])
        if k in reference:
            best, basis = reference[k], "reference"
        elif k in best_found:
            best, basis = best_found[k], "best found"
        else:
            best, basis = None, None
        gap = None
        if best is not None and r["feasible"] and r["objective_value"] is not None:
            gap = (r["objective_value"] - best) / max(abs(best), 1e-300)
        certified = None
        if r["feasible"] and r["objective_value"] is not None and r.get("bound") is not None:
            value = r["objective_value"]
            certified = max(0.0, (value - r["bound"]) / max(abs(value), 1e-300))
        out.append({**r, "gap": gap, "gap_basis": basis, "best_known": best,
                    "certified_gap": certified})
    return out


# ---------------------------------------------------------------------------- outputs
def write_manifest(out: str | Path, col: Collection, specs: Sequence[MethodSpec] = (), *,
                   command: str = "", elapsed_s: float | None = None, n_runs: int = 0) -> None:
    """Record what this session benchmarked in out/bench.json (merging earlier sessions)."""
    path = Path(out) / MANIFEST
    old = json.loads(path.read_text()) if path.exists() else {}
    # Method labels in the order given: tables and plots follow it.
    methods = list(dict.fromkeys([*old.get("methods", []), *(s.label for s in specs)]))
    instances = dict(old.get("instances", {}))
    instances.update({inst.name: str(p) for inst, p in col.instances})
    reference = {f"{k[0]}|{k[1]}": v for k, v in _reference_from(old).items()}
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
    _write_atomic(path, json.dumps(data, indent=1) + "\n")


def _reference_from(manifest: dict[str, Any]) -> dict[tuple[str, str], float]:
    out = {}
    for key, value in manifest.get("reference", {}).items():
        name, _, obj = key.rpartition("|")
        out[(name, obj)] = float(value)
    return out


def load_results(out: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows of a benchmark folder with their gaps, and its manifest."""
    path = Path(out) / MANIFEST
    manifest = json.loads(path.read_text()) if path.exists() else {}
    rows = add_gaps(read_journal(out), _reference_from(manifest))
    return sorted(rows, key=_sort_key(rows, manifest.get("methods", []))), manifest


def _sort_key(rows: Sequence[dict[str, Any]], methods: Sequence[str]
              ) -> Callable[[dict[str, Any]], tuple]:
    labels = dict.fromkeys([*methods, *(r["method"] for r in rows)])
    order = {m: i for i, m in enumerate(labels)}
    objectives = {o.value: i for i, o in enumerate(Objective)}
    return lambda r: (objectives.get(r["objective"], 9), order[r["method"]], r["instance"],
                      r["seed"])


def write_outputs(out: str | Path) -> list[dict[str, Any]]:
    """Rebuild results.csv, results.json, summary.md and the plots from the journal."""
    out = Path(out)
    rows, manifest = load_results(out)
    _write_atomic(out / "results.json", json.dumps([_jsonable(r) for r in rows], indent=1)
                  + "\n")
    _write_atomic(out / "results.csv", to_csv(rows))
    _write_atomic(out / "summary.md", summary_markdown(rows, manifest))
    write_plots(rows, out)
    return rows


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        cells = dict(r)
        for key in ("options", "extra"):
            cells[key] = json.dumps(_jsonable(r.get(key, {})), sort_keys=True)
        for key in ("objective_value", "gap", "best_known", "bound", "time_limit_s"):
            cells[key] = "" if r.get(key) is None else repr(float(r[key]))
        writer.writerow(cells)
    return buf.getvalue()


@dataclass
class Stats:
    """One method on one objective."""

    method: str
    objective: str
    runs: int
    feasible: int
    errors: int
    timeouts: int
    no_solution: int
    infeasible: int
    mean_gap: float | None
    worst_gap: float | None
    basis: str
    median_time_s: float
    mean_value: float | None
    mean_certified_gap: float | None = None


def summarize(rows: Sequence[dict[str, Any]]) -> list[Stats]:
    """Per method and objective: feasible share, mean and worst gap, median wall time."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["objective"]), []).append(r)
    stats = []
    for (method, obj), rs in groups.items():
        gaps = [r["gap"] for r in rs if r["gap"] is not None]
        values = [r["objective_value"] for r in rs if r["feasible"]]
        bases = {r["gap_basis"] for r in rs if r["gap"] is not None}
        certified = [r["certified_gap"] for r in rs if r.get("certified_gap") is not None]

        def count(status: str, rs=rs) -> int:
            return sum(r["status"] == status for r in rs)

        stats.append(Stats(
            method, obj, len(rs), sum(bool(r["feasible"]) for r in rs), count("error"),
            count("timeout"), count("no_solution"), count("infeasible"),
            statistics.fmean(gaps) if gaps else None, max(gaps) if gaps else None,
            " + ".join(sorted(bases)) if bases else "-",
            statistics.median(r["wall_time_s"] for r in rs),
            statistics.fmean(values) if values else None,
            statistics.fmean(certified) if certified else None))
    return stats


def _pct(x: float | None) -> str:
    """A gap in percent, keeping small nonzero gaps visible (0.0003% is not 0.00%)."""
    if x is None:
        return "-"
    return f"{100 * x:.3g}%" if abs(100 * x) < 1000 else f"{100 * x:.0f}%"


def _time(x: float) -> str:
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def summary_markdown(rows: Sequence[dict[str, Any]], manifest: dict[str, Any]) -> str:
    """summary.md: the table, then what could distort it (no feasible run, values below a
    reference optimum, errors, skipped files)."""
    unit = {"latency": "mean latency [s]", "energy": "total energy [J]"}
    lines = ["# Benchmark summary", ""]
    n_inst = len({r["instance"] for r in rows})
    lines.append(f"{len(rows)} runs on {n_inst} instances. Gap = (value - best known) / best "
                 "known, over feasible runs only; best known is the proven optimum from "
                 "reference.json (basis \"reference\") or else the best value found in this "
                 "benchmark (\"best found\").")
    lines.append("")
    for obj in dict.fromkeys(r["objective"] for r in rows):
        lines += [f"## {obj}: {unit.get(obj, obj)}", "",
                  "| method | runs | feasible | no solution | infeasible | errors | timeouts "
                  "| mean value | mean gap | worst gap | gap basis | certified gap "
                  "| median time |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
        for s in summarize([r for r in rows if r["objective"] == obj]):
            mean = "-" if s.mean_value is None else f"{s.mean_value:.6g}"
            lines.append(f"| {s.method} | {s.runs} | {s.feasible / s.runs:.0%} | "
                         f"{s.no_solution} | {s.infeasible} | {s.errors} | {s.timeouts} | "
                         f"{mean} | {_pct(s.mean_gap)} | {_pct(s.worst_gap)} | {s.basis} | "
                         f"{_pct(s.mean_certified_gap)} | {_time(s.median_time_s)} |")
        lines.append("")
    none = sorted({(r["instance"], r["objective"]) for r in rows if r["best_known"] is None})
    if none:
        lines += ["## No feasible run (gap undefined)", ""]
        lines += [f"- {inst} ({obj})" for inst, obj in none] + [""]
    below = [r for r in rows if r["gap_basis"] == "reference" and r["gap"] is not None
             and r["gap"] < -BELOW_REFERENCE_RTOL]
    if below:
        lines += ["## Warning: checked values below the reference optimum", "",
                  "These contradict reference.json: the reference or the checker is wrong.", ""]
        lines += [f"- {r['method']} on {r['instance']} ({r['objective']}, seed {r['seed']}): "
                  f"gap {r['gap']:.3e}" for r in below] + [""]
    failed = [r for r in rows if r["status"] in ("error", "timeout", "no_solution")]
    if failed:
        lines += ["## Errors, timeouts and runs with no solution", ""]
        lines += [f"- {r['method']} on {r['instance']} ({r['objective']}, seed {r['seed']}): "
                  f"{r['status']}: {r['message']}" for r in failed[:50]]
        if len(failed) > 50:
            lines.append(f"- ... and {len(failed) - 50} more (see results.csv)")
        lines.append("")
    if manifest.get("reference_files"):
        lines += ["## Reference optima", ""]
        lines += [f"- {path}" + (f", made by `{cmd}`" if cmd else "")
                  for path, cmd in manifest["reference_files"].items()] + [""]
    if manifest.get("skipped"):
        lines += ["## Skipped files", ""]
        lines += [f"- {s['error']}" for s in manifest["skipped"]] + [""]
    sessions = manifest.get("sessions", [])
    if sessions:
        total = sum(s["elapsed_s"] for s in sessions)
        lines += ["## Sessions", "", f"Total wall time {total:.1f} s over {len(sessions)} "
                  "session(s):", ""]
        lines += [f"- {s['finished_utc']}: {s['runs']} runs in {s['elapsed_s']:.1f} s"
                  + (f" (`{s['command']}`)" if s.get("command") else "") for s in sessions]
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ plots
def write_plots(rows: Sequence[dict[str, Any]], out: str | Path) -> list[Path]:
    """bars-<objective>.png per objective present (mean value per method with its standard
    deviation, like the paper's Figs 5 and 6) and gap-vs-time.png (log time axis)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas

    out = Path(out)
    written = []
    objectives = list(dict.fromkeys(r["objective"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    for obj in objectives:
        fig = Figure(figsize=(max(4.5, 0.9 * len(methods) + 1.5), 3.8), layout="constrained")
        ax = fig.add_subplot()
        _bars(ax, [r for r in rows if r["objective"] == obj], methods, colors, obj)
        path = out / f"bars-{obj}.png"
        _save(fig, path)
        written.append(path)
    fig = Figure(figsize=(5.2 * max(1, len(objectives)), 4.0), layout="constrained")
    for k, obj in enumerate(objectives):
        ax = fig.add_subplot(1, len(objectives), k + 1)
        _scatter(ax, [r for r in rows if r["objective"] == obj], methods, colors, obj)
    path = out / "gap-vs-time.png"
    _save(fig, path)
    written.append(path)
    return written


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    _write_atomic(path, buf.getvalue())


def _bars(ax, rows, methods, colors, obj: str) -> None:
    import numpy as np

    labels, means, stds, notes = [], [], [], []
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        if not rs:
            continue
        values = np.array([r["objective_value"] for r in rs if r["feasible"]], dtype=float)
        labels.append(m)
        means.append(values.mean() if len(values) else np.nan)
        stds.append(values.std() if len(values) else 0.0)
        share = len(values) / len(rs)
        notes.append("" if share == 1 else f"{share:.0%} feasible")
    x = np.arange(len(labels))
    ax.bar(x, np.nan_to_num(means), yerr=stds, capsize=4,
           color=[colors[m] for m in labels], edgecolor="black", linewidth=0.5)
    for xi, mean, std, note in zip(x, means, stds, notes, strict=True):
        if np.isfinite(mean):
            ax.annotate(f"{mean:.4g}", (xi, mean + std), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 2), textcoords="offset points")
        text = "none feasible" if not np.isfinite(mean) else note
        if text:  # inside the bar's foot, clear of the error bar
            ax.annotate(text, (xi, 0), ha="center", va="bottom", fontsize=7, rotation=90,
                        xytext=(0, 4), textcoords="offset points")
    ax.set_xticks(x, labels, rotation=30 if len(labels) > 5 else 0, ha="right"
                  if len(labels) > 5 else "center")
    ax.set_ylabel("mean latency per UE [s]" if obj == "latency" else "total UE energy [J]")
    ax.set_title(f"Minimum {obj} (mean ± std over feasible runs)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def _scatter(ax, rows, methods, colors, obj: str) -> None:
    for m in methods:
        rs = [r for r in rows if r["method"] == m and r["gap"] is not None]
        if not rs:
            continue
        t = [max(r["wall_time_s"], 1e-4) for r in rs]  # log axis: clamp zero times
        g = [100 * r["gap"] for r in rs]
        ax.scatter(t, g, s=12, alpha=0.5, color=colors[m], label=m)
        ax.scatter([statistics.median(t)], [statistics.fmean(g)], s=90, marker="D",
                   color=colors[m], edgecolor="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=0.1)  # gaps span 0 to thousands of percent
    gaps = [100 * r["gap"] for r in rows if r["gap"] is not None]
    if gaps:  # room above the top diamond; no negative half when no gap is negative
        ax.set_ylim(bottom=-0.01 if min(gaps) >= 0 else None, top=max(1.0, max(gaps)) * 3)
    bases = {r["gap_basis"] for r in rows if r["gap"] is not None}
    ax.set_xlabel("wall time per run [s]")
    ax.set_ylabel(f"gap to {' / '.join(sorted(bases)) or 'best known'} [%]")
    ax.set_title(f"Minimum {obj} (diamond: median time, mean gap)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")


# ----------------------------------------------------------------------------- facade
@dataclass
class BenchReport:
    """What `run_bench` did."""

    rows: list[dict[str, Any]]  # every row in the folder, with gaps
    new_runs: int
    skipped: list[tuple[str, str]]
    elapsed_s: float


def run_bench(instances: Iterable[str | Path], methods: Sequence[MethodSpec | str],
              objectives: Sequence[Objective | str] = ("latency", "energy"), *,
              out: str | Path, seeds: Sequence[int] = (0,), time_limit: float | None = None,
              workers: int = 1, resume: bool = False, force: bool = False,
              grace_s: float = 30.0, command: str = "", bound: bool = False
              ) -> BenchReport:
    """Benchmark methods on instance files/folders and write every output into `out`.

    Methods are `MethodSpec`s or spec strings ("greedy", "de:generations=50"). A run that
    raises or overruns (twice `time_limit` plus `grace_s`) becomes an error or timeout row.
    With `bound`, every run also gets mecopt.bound's lower bound and its certified gap.
    Even when interrupted, the outputs are rebuilt from the runs that finished.
    """
    start = time.perf_counter()
    col = collect_instances(instances)
    specs = [m if isinstance(m, MethodSpec) else MethodSpec.parse(m) for m in methods]
    for spec in specs:
        spec.check()
    done = open_out(out, resume=resume, force=force)
    runs = plan(col, specs, objectives, seeds, time_limit=time_limit, done=done,
                grace_s=grace_s, bound=bound)
    n = 0
    try:
        for _ in execute(runs, out, workers=workers):
            n += 1
    finally:
        write_manifest(out, col, specs, command=command,
                       elapsed_s=time.perf_counter() - start, n_runs=n)
        rows = write_outputs(out)
    return BenchReport(rows, n, col.skipped, time.perf_counter() - start)
