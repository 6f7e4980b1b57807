"""Greedy's decision, finished: the construction, then the shared improvements in order.

One pipeline, shared by the `greedy` method and LAMBO's guard (learned/lambo_method.py), so
that LAMBO outside its training envelope starts from exactly the decision `greedy` answers:

1. the construction (mecopt.construct) in each of the given orders: the cheapest and the
   first order's go on;
2. the priced build, a second decision built at the capacity prices of a relaxation:
   - energy, where the LP relaxation prices capacity: the construction with each option
     priced at its energy plus its f_min at the LP's duals
     (mecopt.construct.priced_construction);
   - latency, from DUAL_BUILD_MIN_UES UEs (or when the caller has the rounding): each
     UE's cheapest option at the prices of the Lagrangian dual bound, made feasible by the
     shared repair (mecopt.polish.latency_rounding). The construction places each UE
     given only those placed before it; the dual spreads the UEs over the servers by what
     they gain there. Improved as below, it was at or below the finished construction on
     all 48 development draws (paper, hetero, large, sparse, world and a blind mix of
     300-1,800 UEs; the construction's mean 3.4% above it, 64% on one 1,251-UE draw where
     three UEs in four must offload), for 1-140 ms;
3. each build improved by `improve`: relocation passes (mecopt.relocate), matching rounds
   (mecopt.rematch) and, where they changed anything, the passes again; for energy then
   room rounds (mecopt.room.room_rounds), followed again by the passes and the rounds
   where they moved a UE, and that cycle again while the room rounds move a UE (at most
   ROOM_CYCLES times);
4. the cheapest finished build kept.

docs/heuristics.md measures what each step adds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mecopt.construct import constructions, priced_construction
from mecopt.evaluation import evaluate
from mecopt.instance import Instance
from mecopt.objective import Objective
from mecopt.polish import latency_rounding
from mecopt.relocate import relocate
from mecopt.rematch import rematch
from mecopt.room import room_rounds

__all__ = ["Finish", "improve", "greedy_decision", "DUAL_BUILD_MIN_UES"]

# Greedy's latency priced build (the dual's rounding) from this many UEs. The dual needs
# scipy.optimize, about 0.3 s to import, which would triple a greedy CLI solve of the
# library's 50-100 UEs (its start-up target is 0.3 s, docs/batch.md); there the
# construction, finished, is within 0.4% of the optima, where at 300-2,000 UEs it was up
# to 64% above the dual's build.
DUAL_BUILD_MIN_UES = 100

# Cycles of room rounds, relocation and matching (energy) at most: the extra cycles took
# 30-190 ms at 300-1,200 UEs on development draws, and none of them moved a UE in a third.
ROOM_CYCLES = 5


@dataclass(frozen=True)
class Finish:
    """The `greedy` method's options: how its construction ejects, and which improvements
    follow the construction."""

    relocate: bool = True  # false: the construction alone (and nothing below)
    rematch: bool = True
    room: bool = True  # energy only
    priced: bool = True  # also the build at a relaxation's capacity prices (step 2)
    # energy: the construction's gain ejections (mecopt.construct); false leaves the plain
    # rule, each UE to its cheapest fitting option, ejecting only where none fits
    gain: bool = True


def improve(instance: Instance, objective: Objective, assignment: np.ndarray, *,
            seed: int = 0, deadline: float | None = None,
            finish: Finish = Finish()) -> np.ndarray:
    """A feasible `assignment` (N,) improved as `finish` says (see the module doc); never
    worse, always feasible. `seed` picks the matching rounds' freed UEs; `deadline` is a
    time.perf_counter() value that every step checks."""
    if not finish.relocate:
        return assignment

    def passes(start: np.ndarray) -> np.ndarray:
        """Relocation, then the matching rounds and relocation again where they changed
        anything."""
        a = relocate(instance, objective, start, deadline=deadline)
        if finish.rematch:
            matched = rematch(instance, objective, a, seed=seed, deadline=deadline)
            if (matched != a).any():
                a = relocate(instance, objective, matched, deadline=deadline)
        return a

    a = passes(assignment)
    if objective is Objective.ENERGY and finish.room:
        # Room moves open single moves and matchings, and those open room moves again
        # (mixed device classes, 1,223 UEs: 0.58% lower on a second cycle; sparse-large:
        # up to 1.8% over two), so the cycle repeats while the rounds move a UE.
        for _ in range(ROOM_CYCLES):
            roomed = room_rounds(instance, a, deadline=deadline)
            if (roomed == a).all():
                break
            a = passes(roomed)
    return a


def greedy_decision(instance: Instance, objective: Objective, orders: list[np.ndarray], *,
                    seed: int = 0, deadline: float | None = None,
                    finish: Finish = Finish(), priced: np.ndarray | None = None
                    ) -> tuple[np.ndarray | None, float, str]:
    """Greedy's finished decision (the module doc) as (assignment, water-filled value, ""),
    or (None, inf, where the construction got stuck) when it finds none. Past `deadline`
    the priced build is left out and each step stops early; the answer stays feasible.
    `priced`: the priced build when the caller has it already (LAMBO's guard rounds the
    latency dual itself), a feasible assignment."""
    built, why = constructions(instance, objective, orders, deadline, gain_ejection=finish.gain)
    if not built:
        return None, float("inf"), why
    cheapest = min(built, key=lambda b: b[2])
    candidates = [cheapest[1]]
    if built[0][0] == 0 and cheapest is not built[0]:
        # The first order's too: improved, a dearer construction can end lower (paper
        # latency), and `orders=all` is then never above `orders=one`.
        candidates.append(built[0][1])
    if finish.priced and priced is None and (deadline is None
                                             or time.perf_counter() < deadline):
        if objective is Objective.ENERGY:
            priced = priced_construction(instance)
        elif instance.n_ues >= DUAL_BUILD_MIN_UES:
            priced = latency_rounding(instance)
    if finish.priced and priced is not None and not np.array_equal(priced, cheapest[1]):
        # (A stuck energy sweep may already have kept the priced build: improved once.)
        candidates.append(priced)
    finished = [improve(instance, objective, a, seed=seed, deadline=deadline, finish=finish)
                for a in candidates]
    values = [evaluate(instance, a).value(objective) for a in finished]
    k = int(np.argmin(values))
    return finished[k], float(values[k]), ""
