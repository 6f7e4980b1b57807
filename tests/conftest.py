"""Shared test helpers: the instance library, a brute-force optimum, whether a deadline
binds a water-filling, a plain construction and the check that an improvement step never
worsens greedy's decision."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import mecopt
from mecopt.evaluation import evaluate_batch

ROOT = Path(__file__).resolve().parents[1]
INSTANCES = ROOT / "instances"


def library(kind: str) -> list[mecopt.Instance]:
    """The shipped instances of one kind (paper, hetero, tiny), sorted by name."""
    return [mecopt.Instance.load(p) for p in sorted((INSTANCES / kind).glob(f"{kind}-*.json"))]


def check_never_worse(improve, objective) -> None:
    """`improve(instance, objective, assignment, seed)` keeps greedy's decision feasible and
    never raises its objective, on three draws each of five generated families."""
    from mecopt.construct import greedy_assignment
    from mecopt.evaluation import evaluate
    from mecopt.generators import generate

    for family in ("hetero", "tight", "sparse", "heavytail", "manyserver"):
        for seed in range(3):
            inst = generate(family, seed=100 + seed)
            a, _ = greedy_assignment(inst, objective)
            result = evaluate(inst, improve(inst, objective, a, seed))
            assert result.feasible
            assert result.value(objective) <= evaluate(inst, a).value(objective)


def brute_force(instance: mecopt.Instance, objective: str) -> tuple[np.ndarray | None, float]:
    """The optimum over all (M+1)^N assignments, water-filled: (assignment, value), or
    (None, inf) when nothing is feasible. For N <= 8, M <= 3 (at most 65,536 assignments)."""
    n, m = instance.n_ues, instance.n_servers
    assert (m + 1) ** n <= 70_000, f"too many assignments to enumerate: {(m + 1) ** n}"
    every = np.array(list(itertools.product(range(m + 1), repeat=n)), dtype=int)
    batch = evaluate_batch(instance, every)
    values = np.where(batch.feasible, batch.value(objective), np.inf)
    k = int(np.argmin(values))
    return (every[k], float(values[k])) if np.isfinite(values[k]) else (None, float("inf"))


def plain_construction(instance: mecopt.Instance, objective: str = "energy") -> np.ndarray:
    """The shared construction in the placement order without greedy's gain ejections: a
    weaker start (greedy's energy decision before those ejections) for tests that need a
    local search or a solver to improve on it. Asserts that it found a decision."""
    from mecopt.construct import construct
    from mecopt.objective import Objective

    obj = Objective.parse(objective)
    a, stuck = construct(instance, obj, np.full((1, instance.n_ues), -1))
    assert not stuck[0]
    return a[0]


@pytest.fixture(scope="session")
def tiny_instances() -> list[mecopt.Instance]:
    return library("tiny")


@pytest.fixture(scope="session")
def tiny_optima(tiny_instances) -> dict[tuple[str, str], tuple[np.ndarray | None, float]]:
    """Brute-force optimum per (instance name, objective) for instances/tiny."""
    return {(inst.name, obj): brute_force(inst, obj) for inst in tiny_instances
            for obj in ("latency", "energy")}
