"""Greedy's decision, finished: the construction, then the shared improvements in order.

One pipeline, shared by the `greedy` method and LAMBO's guard (learned/lambo_method.py), so
that LAMBO outside its training envelope starts from exactly the decision `greedy` answers:

1. the construction (mecopt.construct) in each of the given orders, the cheapest kept;
2. energy, where the LP relaxation prices capacity: also the priced build
   (mecopt.construct.priced_construction);
3. each build improved by `improve`: relocation passes (mecopt.relocate), matching rounds
   (mecopt.rematch) and, where they changed anything, the passes again; for energy then
   room rounds (mecopt.room.room_rounds), followed again by the passes and the rounds
   where they moved a UE;
4. the cheaper finished build kept.

docs/heuristics.md measures what each step adds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mecopt.construct import cheapest_construction, priced_construction
from mecopt.evaluation import evaluate
from mecopt.instance import Instance
from mecopt.objective import Objective
from mecopt.relocate import relocate
from mecopt.rematch import rematch
from mecopt.room import room_rounds

__all__ = ["Finish", "improve", "greedy_decision"]


@dataclass(frozen=True)
class Finish:
    """Which improvements follow the construction (the `greedy` method's options)."""

    relocate: bool = True  # false: the construction alone (and nothing below)
    rematch: bool = True
    room: bool = True  # energy only
    priced: bool = True  # energy only: also the build at the LP's capacity prices


def improve(instance: Instance, objective: Objective, assignment: np.ndarray, *,
            seed: int = 0, deadline: float | None = None,
            finish: Finish = Finish()) -> np.ndarray:
    """A feasible `assignment` (N,) improved as `finish` says (see the module doc); never
    worse, always feasible. `seed` picks the matching rounds' freed UEs; `deadline` is a
    time.perf_counter() value that every step checks."""
    if not finish.relocate:
        return assignment
    a = relocate(instance, objective, assignment, deadline=deadline)
    if finish.rematch:
        matched = rematch(instance, objective, a, seed=seed, deadline=deadline)
        if (matched != a).any():
            a = relocate(instance, objective, matched, deadline=deadline)
    if objective is Objective.ENERGY and finish.room:
        roomed = room_rounds(instance, a, deadline=deadline)
        if (roomed != a).any():
            a = relocate(instance, objective, roomed, deadline=deadline)
            if finish.rematch:
                a = rematch(instance, objective, a, seed=seed, deadline=deadline)
    return a


def greedy_decision(instance: Instance, objective: Objective, orders: list[np.ndarray], *,
                    seed: int = 0, deadline: float | None = None,
                    finish: Finish = Finish()) -> tuple[np.ndarray | None, float, str]:
    """Greedy's finished decision (the module doc) as (assignment, water-filled value, ""),
    or (None, inf, where the construction got stuck) when it finds none. Past `deadline`
    the priced build is left out and each step stops early; the answer stays feasible."""
    built, _, why = cheapest_construction(instance, objective, orders, deadline)
    if built is None:
        return None, float("inf"), why
    candidates = [built]
    if objective is Objective.ENERGY and finish.priced and \
            (deadline is None or time.perf_counter() < deadline):
        priced = priced_construction(instance)
        # A stuck sweep may already have kept the priced build: improve it once.
        if priced is not None and not np.array_equal(priced, built):
            candidates.append(priced)
    finished = [improve(instance, objective, a, seed=seed, deadline=deadline, finish=finish)
                for a in candidates]
    values = [evaluate(instance, a).value(objective) for a in finished]
    k = int(np.argmin(values))
    return finished[k], float(values[k]), ""
