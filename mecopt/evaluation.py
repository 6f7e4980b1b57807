"""The one evaluation of an offloading decision, used by every solver and by the checker.

`evaluate` computes per-UE latency and energy, both objective values and a feasibility
report that names each violated constraint. `evaluate_batch` does the same for a population
of assignments (water-filled) without the per-constraint report, for search methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mecopt.errors import InputError
from mecopt.instance import Instance
from mecopt.objective import Objective
from mecopt.waterfill import fits, waterfill

# Relative slack on deadlines: a UE given exactly f_min finishes at T up to rounding.
DEADLINE_RTOL = 1e-9


@dataclass(frozen=True)
class Violation:
    """One violated constraint: which one, which UE and/or server (1-based), and by how much."""

    constraint: str  # "assignment" | "unusable" | "allocation" | "capacity" | "deadline"
    ue: int | None
    server: int | None
    amount: float  # how far past the limit, in the constraint's unit
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Evaluation:
    """Everything about one decision: costs per UE, objective values and violations."""

    assignment: np.ndarray  # (N,) ints, 0 = local, j = server j
    allocation_hz: np.ndarray  # (N,) 0 for local UEs
    latency_s: np.ndarray  # (N,)
    energy_j: np.ndarray  # (N,)
    mean_latency_s: float
    total_energy_j: float
    violations: list[Violation] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return not self.violations

    def value(self, objective: Objective | str) -> float:
        """The objective value: mean latency [s] or total energy [J]."""
        objective = Objective.parse(objective)
        return self.mean_latency_s if objective is Objective.LATENCY else self.total_energy_j

    def report(self, limit: int = 10) -> str:
        """A human summary of the violations (empty when feasible)."""
        lines = [v.message for v in self.violations[:limit]]
        if len(self.violations) > limit:
            lines.append(f"... and {len(self.violations) - limit} more")
        return "\n".join(lines)


def objective_value(instance: Instance, assignment: np.ndarray, allocation_hz: np.ndarray,
                    objective: Objective | str) -> float:
    """The objective value of a decision (no feasibility check)."""
    return evaluate(instance, assignment, allocation_hz).value(objective)


def evaluate(instance: Instance, assignment, allocation_hz=None) -> Evaluation:
    """Evaluate one decision. Without an allocation, the servers are water-filled.

    Raises InputError only for a wrong shape; every other fault (an option out of range, an
    unusable pair, a capacity or deadline overrun, a non-positive allocation) is reported as
    a Violation.
    """
    N, M = instance.n_ues, instance.n_servers
    a_raw = np.asarray(assignment)
    if a_raw.shape != (N,):
        raise InputError(f"assignment: expected {N} entries (one per UE), got shape "
                         f"{list(a_raw.shape)}")
    if not np.all(np.isfinite(a_raw.astype(float))) or np.any(a_raw.astype(float) % 1 != 0):
        raise InputError("assignment: entries must be integers (0 = local, j = server j)")
    a = a_raw.astype(int)
    violations: list[Violation] = []
    valid = (a >= 0) & (a <= M)
    for i in np.flatnonzero(~valid):
        violations.append(Violation("assignment", int(i), None, float(a[i]),
                                    f"assignment: UE {i} has option {a[i]}, not in 0..{M}"))
    offl = valid & (a > 0)
    j = np.where(offl, a - 1, 0)
    unusable = offl & ~instance.usable[np.arange(N), j]
    for i in np.flatnonzero(unusable):
        why = ("unreachable (rate 0)" if instance.rate_bps[i, j[i]] == 0
               else f"transmission alone takes {instance.t_tx[i, j[i]]:.6g} s >= deadline "
                    f"{instance.deadline_s[i]:.6g} s")
        violations.append(Violation("unusable", int(i), int(a[i]), 0.0,
                                    f"unusable: UE {i} on server {a[i]}: {why}"))

    if allocation_hz is None:
        a_fill = np.where(offl & ~unusable, a, 0)
        alloc, _ = waterfill(instance, a_fill)
    else:
        alloc = np.asarray(allocation_hz, dtype=float)
        if alloc.shape != (N,):
            raise InputError(f"allocation_hz: expected {N} entries (one per UE), got shape "
                             f"{list(alloc.shape)}")
        if not np.all(np.isfinite(alloc)):
            raise InputError("allocation_hz: entries must be finite numbers")
        alloc = np.where(offl, alloc, 0.0)
        for i in np.flatnonzero(offl & (alloc <= 0)):
            violations.append(Violation("allocation", int(i), int(a[i]), float(-alloc[i]),
                                        f"allocation: UE {i} on server {a[i]} gets "
                                        f"{alloc[i]:.6g} Hz, must be positive"))

    # Costs: local, or transmission plus server compute.
    C = instance.cycles
    t_tx = np.where(offl, instance.t_tx[np.arange(N), j], 0.0)
    e_tx = np.where(offl, instance.e_tx[np.arange(N), j], 0.0)
    with np.errstate(divide="ignore"):
        compute = np.where(offl & (alloc > 0), C / np.where(alloc > 0, alloc, 1.0), np.inf)
    latency = np.where(offl, t_tx + compute, instance.t_loc)
    energy = np.where(offl, e_tx, instance.e_loc)
    latency = np.where(valid, latency, np.nan)
    energy = np.where(valid, energy, np.nan)

    load = np.bincount(j[offl], weights=alloc[offl], minlength=M)
    violations += _capacity_violations(instance, load, water_filled=allocation_hz is None)
    # Deadlines (unusable pairs are already reported).
    violations += _deadline_violations(instance, a, latency, valid & ~unusable)
    return Evaluation(
        assignment=a, allocation_hz=alloc, latency_s=latency, energy_j=energy,
        mean_latency_s=float(np.mean(latency)), total_energy_j=float(np.sum(energy)),
        violations=violations,
    )


def _capacity_violations(instance: Instance, load: np.ndarray, *,
                         water_filled: bool) -> list[Violation]:
    """A capacity violation for every server whose allocated load (M,) does not fit."""
    out = []
    for s in np.flatnonzero(~fits(load, instance.capacity_hz)):
        over = load[s] - instance.capacity_hz[s]
        need = ""
        if water_filled:
            need = " (the minimum allocations that meet the deadlines exceed the capacity)"
        out.append(Violation("capacity", None, int(s + 1), float(over),
                             f"capacity: server {s + 1} is allocated {load[s]:.6g} Hz, "
                             f"over its {instance.capacity_hz[s]:.6g} Hz by "
                             f"{over:.6g} Hz{need}"))
    return out


def _deadline_violations(instance: Instance, a: np.ndarray, latency: np.ndarray,
                         checked: np.ndarray) -> list[Violation]:
    """A deadline violation for every checked UE (mask (N,)) whose latency is over."""
    out = []
    late = checked & (latency > instance.deadline_s * (1 + DEADLINE_RTOL))
    for i in np.flatnonzero(late):
        where = "locally" if a[i] == 0 else f"on server {a[i]}"
        over = latency[i] - instance.deadline_s[i]
        out.append(Violation("deadline", int(i), int(a[i]) or None, float(over),
                             f"deadline: UE {i} {where} takes {latency[i]:.6g} s, over "
                             f"its {instance.deadline_s[i]:.6g} s by {over:.6g} s"))
    return out


@dataclass(frozen=True)
class BatchEvaluation:
    """Objective values and feasibility of a population of water-filled assignments."""

    mean_latency_s: np.ndarray  # (P,)
    total_energy_j: np.ndarray  # (P,)
    feasible: np.ndarray  # (P,) bool
    allocation_hz: np.ndarray  # (P, N)

    def value(self, objective: Objective | str) -> np.ndarray:
        objective = Objective.parse(objective)
        return self.mean_latency_s if objective is Objective.LATENCY else self.total_energy_j


def evaluate_batch(instance: Instance, assignments: np.ndarray) -> BatchEvaluation:
    """Evaluate P assignments (P, N) at once, each water-filled.

    Agrees with `evaluate(instance, a).feasible` and its objective values for every row (a
    test pins this). Options out of range raise InputError; unusable pairs and overloaded
    servers make a row infeasible, with objective values computed as if f = f_min there.
    """
    a = np.atleast_2d(np.asarray(assignments)).astype(int)
    N, M = instance.n_ues, instance.n_servers
    if a.shape[1] != N:
        raise InputError(f"assignments: expected {N} columns (one per UE), got {a.shape[1]}")
    if a.size and (a.min() < 0 or a.max() > M):
        raise InputError(f"assignments: options must be in 0..{M}")
    rows = np.arange(N)
    ok_option = instance.option_ok[rows, a]  # (P, N): the chosen option can meet the deadline
    alloc, server_ok = waterfill(instance, np.where(ok_option, a, 0))  # only usable pairs
    jj = np.maximum(a - 1, 0)  # the server index of offloaded UEs (a <= M, checked above)
    offl = a > 0
    with np.errstate(invalid="ignore"):
        t_tx = np.where(offl, instance.t_tx[rows, jj], 0.0)
        compute = np.where(offl & (alloc > 0),
                           instance.cycles / np.where(alloc > 0, alloc, 1.0), np.inf)
        latency = np.where(offl, t_tx + compute, instance.t_loc)
        energy = np.where(offl, instance.e_tx[rows, jj], instance.e_loc)
    feasible = ok_option.all(axis=1) & server_ok.all(axis=1)
    return BatchEvaluation(latency.mean(axis=1), energy.sum(axis=1), feasible, alloc)
