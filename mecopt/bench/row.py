"""One run's result, typed: a line of runs.jsonl and, with its gaps, a row of results.json."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mecopt.status import Status

# Columns of results.csv, in order (results.json rows carry the same keys).
COLUMNS = ("method", "method_name", "options", "instance", "objective", "seed", "status",
           "feasible", "objective_value", "gap", "gap_basis", "best_known", "bound",
           "certified_gap", "wall_time_s", "time_limit_s", "message", "extra")
# The fields `add_gaps` fills in: results rows have them, journal lines do not.
GAP_FIELDS = ("gap", "gap_basis", "best_known", "certified_gap")

Key = tuple[str, str, str, int]  # (method label, instance, objective, seed)


@dataclass
class Row:
    """One (method, instance, objective, seed) run.

    The fields are in the order of a runs.jsonl line, then the four gap fields of
    results.json. Values are kept as given (no float or int coercion), so a row read from
    JSON writes back the same JSON text.
    """

    method: str  # the label given in the method spec
    method_name: str  # the registry name (or the class / callable name)
    options: dict[str, Any]
    instance: str
    objective: str
    seed: int
    # The result; the defaults are a run's state before it has one ("error" until then).
    status: Status = Status.ERROR
    feasible: bool = False  # the checker accepted the decision
    objective_value: float | None = None  # only for feasible runs
    bound: float | None = None
    wall_time_s: float = 0.0
    time_limit_s: float | None = None
    message: str = ""  # one line
    extra: dict[str, Any] = field(default_factory=dict)
    # Filled by mecopt.bench.report.add_gaps.
    gap: float | None = None
    gap_basis: str | None = None  # "reference", "best found", or None when nothing is known
    best_known: float | None = None
    certified_gap: float | None = None

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def key(self) -> Key:
        """What identifies the run: a journal keeps one row per key."""
        return (self.method, self.instance, self.objective, int(self.seed))

    def to_dict(self, *, gaps: bool = True) -> dict[str, Any]:
        """The row as JSON data: with `gaps` as in results.json, without as in runs.jsonl."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["status"] = self.status.value
        if not gaps:
            for name in GAP_FIELDS:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Row:
        """A row from a journal line or a results.json row (unknown keys are ignored).
        Raises TypeError when a key field is missing, ValueError for an unknown status."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a row is a JSON object, not {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def row_key(row: Row | Mapping[str, Any]) -> Key:
    """(method label, instance, objective, seed) of a row or of a journal line's data."""
    if isinstance(row, Row):
        return row.key
    return (row["method"], row["instance"], row["objective"], int(row["seed"]))
