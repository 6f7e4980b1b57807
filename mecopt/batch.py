"""Many instances, one process: the engine behind `solve_many` and `mecopt solve` over
several instances.

Inputs are instances, parsed instance JSON, files, folders (their *.json but
reference.json, sorted), JSONL files (*.jsonl) or a JSONL stream (one instance per line).
An input that is not a valid instance becomes an `Unreadable` and then an error record: a
Solution with status "error" whose one-line message names the input and the field at
fault; the other instances are still solved.

The method is built once, so its set-up (LAMBO's model) is paid once. Its `solve_batch`
gets the instances a chunk at a time: LAMBO decodes a chunk in batched passes, the other
methods solve them one after another. `workers` > 1 spreads the chunks over that many
processes. Every instance gets the same seed and the whole time limit, as in separate
`solve` calls, and the solutions come back in input order.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mecopt.errors import InputError, refuse_existing
from mecopt.instance import Instance
from mecopt.method import Method, checked_seed, checked_time_limit
from mecopt.objective import Objective
from mecopt.reference import FILENAME as REFERENCE_FILE
from mecopt.registry import get_method
from mecopt.solution import Solution
from mecopt.status import Status

CHUNK = 256  # instances handed to one solve_batch call (LAMBO splits it further by size)


@dataclass(frozen=True)
class Unreadable:
    """An input that is not a valid instance: a name for its record, and why (one line)."""

    name: str
    message: str


Item = Instance | Unreadable
MethodSpec = str | type[Method] | Callable[..., Any]


# ------------------------------------------------------------------------------ inputs
def read_inputs(sources: Sequence[str | Path], stdin: TextIO | None = None) -> Iterator[Item]:
    """The instances of files, folders (their *.json but reference.json, sorted by name, as
    `mecopt bench` reads them), JSONL files (*.jsonl, one instance per line) and "-" (a
    JSONL stream on `stdin`), in that order. A folder without such a file, or a JSONL file
    that cannot be opened, is an InputError."""
    for source in sources:
        if str(source) == "-":
            yield from read_jsonl(stdin, label="stdin")
        elif Path(source).is_dir():
            files = sorted(p for p in Path(source).glob("*.json") if p.name != REFERENCE_FILE)
            if not files:
                raise InputError(f"{source}: no *.json file in this folder")
            yield from (load_file(f) for f in files)
        elif Path(source).suffix == ".jsonl":
            try:
                # Undecodable bytes spoil only their line, which then fails as JSON.
                stream = open(source, errors="replace")
            except OSError as exc:
                raise InputError(f"{source}: cannot read ({exc.strerror})") from None
            with stream:
                yield from read_jsonl(stream, label=str(source))
        else:
            yield load_file(source)


def read_instances(source: str | Path, warn: Callable[[str], None]) -> list[Instance]:
    """The valid instances of one folder, JSONL file or instance file (read_inputs), in
    order. Each unreadable one is skipped and reported through `warn` in one line (its file
    or line and the reason); InputError when none is left."""
    good, skipped = [], 0
    for item in read_inputs([source]):
        if isinstance(item, Unreadable):
            warn(f"skipped {item.message}")
            skipped += 1
        else:
            good.append(item)
    if not good:
        raise InputError(f"{source}: no valid instance ({skipped} skipped)")
    return good


def load_file(path: str | Path) -> Item:
    """An instance file, or an Unreadable named after the file."""
    try:
        return Instance.load(path)
    except InputError as exc:
        msg = str(exc)
        return Unreadable(Path(path).stem,
                          msg if msg.startswith(str(path)) else f"{path}: {msg}")


def read_jsonl(stream: TextIO | None, label: str = "stdin") -> Iterator[Item]:
    """One instance per non-blank line; a bad line is an Unreadable naming its number."""
    for number, line in enumerate(stream or sys.stdin, start=1):
        if not line.strip():
            continue
        where = f"{label} line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Unreadable(where, f"{where}: malformed JSON at column {exc.colno}: {exc.msg}")
            continue
        yield from_data(data, where)


def from_data(data: Any, where: str) -> Item:
    """Parsed instance JSON to an Instance, or an Unreadable ("<where>: <field>: why")."""
    try:
        return Instance.from_dict(data)
    except InputError as exc:
        name = data.get("name") if isinstance(data, dict) else None
        return Unreadable(name if isinstance(name, str) else where, f"{where}: {exc}")


def as_item(x: Instance | Mapping[str, Any] | str | Path | Unreadable, index: int) -> Item:
    """What `solve_many` accepts: an Instance, its parsed JSON, or a file path."""
    if isinstance(x, (Instance, Unreadable)):
        return x
    if isinstance(x, (str, Path)):
        return load_file(x)
    return from_data(x, f"instance {index}")


# File systems take names of at most 255 bytes; a longer instance name is cut to this many
# bytes and told apart by a hash of the whole name (a 300-character name was an OSError).
NAME_BYTES = 180


def file_name(name: str) -> str:
    """An instance name as a file name in an output folder: characters other than letters,
    digits, ".", "_" and "-" become "_", it never starts with ".", and a name longer than
    NAME_BYTES bytes is cut there and ends with 8 hex digits of its hash."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    safe = "_" + safe[1:] if safe.startswith(".") or not safe else safe
    if len(safe.encode()) > NAME_BYTES:
        cut = safe.encode()[:NAME_BYTES].decode(errors="ignore")
        safe = f"{cut}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return safe


# ------------------------------------------------------------------------------ solving
def solve_stream(items: Iterable[Item], objective: Objective | str = "latency",
                 method: MethodSpec = "greedy", *, time_limit: float | None = None,
                 seed: int = 0, bound: bool = False, workers: int = 1,
                 **options: Any) -> Iterator[Solution]:
    """Solve every item and yield one Solution per item, in input order (an Unreadable
    yields its error record). A bad method, option or time limit raises InputError here,
    before anything is solved; `workers` > 1 solves in that many processes (the method must
    then be a name, or a class or function defined at module level)."""
    objective = Objective.parse(objective)
    solver = get_method(method)(**options)  # options are checked here, once
    solver.require_available()
    checked_time_limit(time_limit)  # here, before anything is solved; each solve reads it
    seed = checked_seed(seed)
    if workers < 1:
        raise InputError(f"workers: must be >= 1, got {workers}")
    common = dict(time_limit=time_limit, seed=seed, bound=bound)
    if workers == 1:
        return (sol for chunk in _chunks(items, CHUNK)
                for sol in solve_chunk(solver, chunk, objective, **common))
    try:
        pickle.dumps(method)
    except Exception:
        raise InputError("workers: the method cannot be sent to a worker process (define it "
                         "at module level, or use one worker)") from None
    return _in_processes(list(items), solver, method, options, objective, common, workers)


def _in_processes(items: list[Item], solver: Method, method: MethodSpec,
                  options: dict[str, Any], objective: Objective, common: dict[str, Any],
                  workers: int) -> Iterator[Solution]:
    # One instance per task balances slow exact solves; a batching method gets a share of
    # the instances per task, so that its passes stay wide.
    size = min(CHUNK, math.ceil(len(items) / workers)) if solver.batches else 1
    jobs = [(method, options, chunk, objective, common) for chunk in _chunks(items, size)]
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        for solved in pool.map(_worker_chunk, jobs):
            yield from solved


def solve_chunk(solver: Method, items: Sequence[Item], objective: Objective, *,
                time_limit: float | None, seed: int, bound: bool) -> list[Solution]:
    """One `solve_batch` call over the chunk's instances, error records for the rest. An
    InputError that a backend raises for one instance fails only that one."""
    good = [it for it in items if isinstance(it, Instance)]
    common = dict(time_limit=time_limit, seed=seed, bound=bound)
    try:
        solved = solver.solve_batch(good, objective, **common)
    except InputError:
        solved = [_solve_alone(solver, inst, objective, common) for inst in good]
    found = iter(solved)
    return [next(found) if isinstance(it, Instance) else error_record(it, objective, solver.name)
            for it in items]


def error_record(item: Unreadable, objective: Objective, method: str) -> Solution:
    """The record of an input that could not be solved: status error, the reason as message."""
    return Solution(instance=item.name, objective=objective.value, method=method,
                    status=Status.ERROR, message=item.message)


def _solve_alone(solver: Method, inst: Instance, objective: Objective,
                 common: dict[str, Any]) -> Solution:
    try:
        return solver.solve(inst, objective, **common)
    except InputError as exc:
        return error_record(Unreadable(inst.name, f"{inst.name}: {exc}"), objective,
                            solver.name)


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


# One solver per worker process and (method, options): LAMBO's model loads once per worker.
_SOLVERS: dict[bytes, Method] = {}


def _worker_chunk(job: tuple) -> list[Solution]:
    method, options, chunk, objective, common = job
    key = pickle.dumps((method, sorted(options.items())))
    if key not in _SOLVERS:
        _SOLVERS[key] = get_method(method)(**options)
    return solve_chunk(_SOLVERS[key], chunk, objective, **common)


def _init_worker() -> None:
    # Ctrl-C goes to the parent, which stops the pool; one BLAS thread per process, since
    # the workers already share the cores.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


# ------------------------------------------------------------------------------ outputs
def output_paths(items: Sequence[Item], folder: str | Path, *, force: bool = False) -> list[Path]:
    """Where each item's solution goes in `folder`: <instance name>.json (see `file_name`).
    Raises InputError, before anything is solved, when `folder` is a file, when two items
    would share a file, or when a file is already there (unless `force`)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder (several instances need a "
                         "folder, one <instance name>.json each)")
    paths, first = [], {}
    for k, item in enumerate(items):
        path = folder / f"{file_name(item.name)}.json"
        if path in first:
            raise InputError(f"{path}: inputs {first[path] + 1} and {k + 1} are both named "
                             f"{item.name!r}; rename one")
        first[path] = k
        paths.append(path)
    refuse_existing(paths, force)
    return paths
