"""What to run: the contenders (method specs), the instances with their reference optima,
and the plan of (method, instance, objective, seed) runs still to do."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mecopt.bench.row import Key, Row
from mecopt.errors import InputError
from mecopt.instance import Instance
from mecopt.method import Method, checked_seed
from mecopt.objective import Objective
from mecopt.reference import FILENAME as REFERENCE_FILE
from mecopt.reference import load_reference, optimum
from mecopt.registry import get_method
from mecopt.solution import _jsonable


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
            if key.strip() in options:  # the last would win without a word
                raise InputError(f"methods: option {key.strip()!r} given twice in {text!r}")
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
    for seed in seeds:  # before any run, not as an error record per run
        checked_seed(seed)
    return sorted(set(seeds), key=seeds.index)


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
    def key(self) -> Key:
        name = self.instance.name if isinstance(self.instance, Instance) else \
            self.instance["name"]
        return (self.spec.label, name, self.objective, self.seed)

    def describe(self) -> str:
        label, inst, obj, seed = self.key
        return f"{label} {inst} {obj} seed {seed}"


def hard_limit(time_limit: float | None, grace_s: float = 30.0) -> float | None:
    """When a run that ignores its time limit is stopped: twice the limit plus a grace."""
    return None if time_limit is None else 2.0 * time_limit + grace_s


def plan(col: Collection, specs: Sequence[MethodSpec], objectives: Sequence[Objective | str],
         seeds: Sequence[int], *, time_limit: float | None = None,
         done: Iterable[Row] = (), grace_s: float = 30.0,
         bound: bool = False) -> list[Run]:
    """Every run not already in `done`, instance by instance (so an interrupted benchmark
    has every method on the first instances rather than one method everywhere)."""
    if time_limit is not None and not time_limit > 0:
        raise InputError(f"time-limit: must be positive, got {time_limit}")
    done = list(done)
    finished = {r.key for r in done}
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


def _check_resume(done: Iterable[Row], specs: Sequence[MethodSpec],
                  time_limit: float | None) -> None:
    """Refuse to mix runs of one label made with other options or another time limit."""
    by_label = {s.label: s for s in specs}
    for row in done:
        spec = by_label.get(row.method)
        if spec is None:
            continue
        if row.time_limit_s != time_limit:
            def said(t):
                return "the method's default" if t is None else f"{t:g} s"
            raise InputError(f"time-limit: the folder has runs of {spec.label!r} with "
                             f"{said(row.time_limit_s)}, not {said(time_limit)}; "
                             "use another --out")
        if _jsonable(row.options) != _jsonable(dict(spec.options)) or \
                row.method_name != spec.name:
            raise InputError(f"methods: the folder has runs of {spec.label!r} as "
                             f"{row.method_name} {row.options}; give this one "
                             "another label")
