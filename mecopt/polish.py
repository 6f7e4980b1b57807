"""The `lns` option that greedy, DE, PG and LAMBO share: finish a method's decision with
large-neighbourhood search (mecopt.lns) for a given number of seconds.

One option, one meaning everywhere: `--option lns=S` runs `mecopt.lns.improve` on the
method's final decision for at most S seconds (and never past the method's time limit);
0, the default, leaves the method as it was.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mecopt.instance import Instance
from mecopt.method import Option
from mecopt.objective import Objective

LNS_OPTION = Option(float, 0.0, "seconds of large-neighbourhood search (mecopt.lns) on the "
                                "final decision, within the time limit; 0 = off", low=0)


def finish_with_lns(instance: Instance, objective: Objective, assignment: np.ndarray, *,
                    seconds: float, deadline: float | None, seed: int,
                    weights: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Improve a feasible decision by LNS for `seconds` (capped by `deadline`, a
    time.perf_counter() value); returns it with what LNS did, for the solution's extra."""
    if seconds <= 0:
        return assignment, {}
    from mecopt.lns import improve_with_stats  # HiGHS sub-problems only when asked

    limit = seconds
    if deadline is not None:
        limit = min(limit, deadline - time.perf_counter())
    if limit <= 0:
        return assignment, {"lns_s": 0.0}
    a, _, stats = improve_with_stats(instance, objective, assignment, time_limit=limit,
                                     seed=seed, weights=weights)
    return a, {"lns_s": stats.wall_s, "lns_steps": stats.steps, "lns_accepted": stats.accepted,
               "value_before_lns": stats.start_value}
