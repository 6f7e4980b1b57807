"""The result of a solve: the solution JSON of SPEC section 3, plus an `extra` dict."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mecopt.errors import InputError, json_kind, read_json
from mecopt.status import STATUSES, Status

FORMAT = "mecopt-solution"
VERSION = 1


@dataclass
class Solution:
    """One result type for every method.

    `status` (a `Status`) says what we have: OPTIMAL (proven, with bound and gap), FEASIBLE
    (checked feasible, not proven optimal), INFEASIBLE (proven that no decision exists: the
    message gives the proof), NO_SOLUTION (the method found nothing and proved nothing),
    TIMEOUT (stopped by the time limit with nothing feasible), or ERROR (the method failed;
    the message says how). Only OPTIMAL and FEASIBLE solutions carry a decision that the
    checker accepted. `bound` is a valid lower bound on the optimum when known, and `gap`
    then says how far from optimal the decision can be.
    """

    instance: str
    objective: str
    method: str
    status: Status
    assignment: list[int] = field(default_factory=list)
    allocation_hz: list[float] = field(default_factory=list)
    objective_value: float | None = None
    latency_s: list[float] = field(default_factory=list)
    energy_j: list[float] = field(default_factory=list)
    bound: float | None = None
    gap: float | None = None
    wall_time_s: float = 0.0
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def feasible(self) -> bool:
        return Status(self.status).has_decision

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "instance": self.instance,
            "objective": self.objective, "method": self.method, "status": Status(self.status).value,
            "assignment": [int(x) for x in self.assignment],
            "allocation_hz": [_num(x) for x in self.allocation_hz],
            "objective_value": _num(self.objective_value),
            "latency_s": [_num(x) for x in self.latency_s],
            "energy_j": [_num(x) for x in self.energy_j],
            "bound": _num(self.bound), "gap": _num(self.gap),
            "wall_time_s": float(self.wall_time_s), "message": self.message,
            "extra": _jsonable(self.extra),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Solution:
        if not isinstance(data, dict):
            raise InputError("solution: expected a JSON object at the top level")
        if data.get("format") != FORMAT:
            raise InputError(f"format: expected {FORMAT!r}, got {data.get('format')!r}")
        if data.get("version") != VERSION:
            raise InputError(f"version: expected {VERSION}, got {data.get('version')!r}")
        for key in ("instance", "objective", "method", "status", "assignment"):
            if key not in data:
                raise InputError(f"{key}: missing field")
        if data["status"] not in STATUSES:
            raise InputError(f"status: expected one of {', '.join(STATUSES)}, got "
                             f"{data['status']!r}")
        for key in ("assignment", "allocation_hz", "latency_s", "energy_j"):
            value = data.get(key, [])
            if not isinstance(value, list) or not all(
                    isinstance(x, (int, float)) or x is None for x in value):
                raise InputError(f"{key}: expected a list of numbers")
        if not all(isinstance(x, int) for x in data["assignment"]):
            raise InputError("assignment: expected integers (0 = local, j = server j)")
        for key in ("objective_value", "bound", "gap", "wall_time_s"):
            value = data.get(key)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))):
                raise InputError(f"{key}: expected a number or null, got {json_kind(value)}")
        for key, kind in (("message", str), ("extra", dict)):
            if key in data and not isinstance(data[key], kind):
                raise InputError(f"{key}: expected {'a string' if kind is str else 'an object'}"
                                 f", got {json_kind(data[key])}")
        return cls(
            instance=str(data["instance"]), objective=str(data["objective"]),
            method=str(data["method"]), status=data["status"],
            assignment=list(data["assignment"]),
            allocation_hz=[_back(x) for x in data.get("allocation_hz", [])],
            objective_value=_back(data.get("objective_value")),
            latency_s=[_back(x) for x in data.get("latency_s", [])],
            energy_j=[_back(x) for x in data.get("energy_j", [])],
            bound=_back(data.get("bound")), gap=_back(data.get("gap")),
            wall_time_s=float(data.get("wall_time_s") or 0.0),
            message=str(data.get("message", "")), extra=dict(data.get("extra", {})),
        )

    @classmethod
    def load(cls, path: str | Path) -> Solution:
        data = read_json(path)
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    def summary(self) -> str:
        """One short human line for any number of servers: method, status, objective value,
        gap, time and where the UEs went (`placement`)."""
        parts = [f"{self.method}: {self.status}"]
        if self.objective_value is not None:
            unit = "s mean latency" if self.objective == "latency" else "J total energy"
            parts.append(f"{self.objective_value:.6g} {unit}")
        if self.gap is not None:
            parts.append(f"gap {self.gap:.2e}")
        parts.append(f"{self.wall_time_s:.3f} s")
        line = ", ".join(parts)
        if self.assignment and self.feasible:
            line += " | " + placement(self.assignment)
        if self.message:
            line += f" | {self.message}"
        return line


def placement(assignment: list[int]) -> str:
    """Where the UEs went, in a few words whatever M: "local 3, offloaded 47 to 12 servers,
    busiest server 7 (9 UEs)"."""
    counts = np.bincount(np.asarray(assignment, dtype=int), minlength=2)
    local, per_server = int(counts[0]), counts[1:]
    text = f"local {local}, offloaded {int(per_server.sum())}"
    used = int(np.count_nonzero(per_server))
    if used:
        busiest = int(np.argmax(per_server))  # the lowest index on ties
        most = int(per_server[busiest])
        text += (f" to {used} server{'s' * (used > 1)}, busiest server {busiest + 1} "
                 f"({most} UE{'s' * (most > 1)})")
    return text


def _num(x: Any) -> float | None:
    """JSON has no inf/nan: store them as null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _back(x: Any) -> float | None:
    return None if x is None else float(x)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return _num(x)
    return x
