"""`solve`: one entry point for every method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mecopt.instance import Instance
from mecopt.method import Method
from mecopt.objective import Objective
from mecopt.registry import get_method
from mecopt.solution import Solution


def solve(instance: Instance, objective: Objective | str = "latency",
          method: str | type[Method] | Callable[..., Any] = "greedy", *,
          time_limit: float | None = None, seed: int = 0, bound: bool = False,
          **options: Any) -> Solution:
    """Solve an instance for an objective ("latency", "energy" or a prompt such as
    "Minimum energy") with a method by name (see `mecopt methods`), a Method subclass or a
    callable. Method options pass through as keyword arguments.

    The returned Solution has always been checked by `evaluate`: only status "optimal" and
    "feasible" carry an accepted decision. A method that finds nothing feasible returns
    "no_solution" (or "timeout") with a message; "infeasible" means proven (SPEC section 3).
    With `bound=True` the solution carries a valid lower bound (mecopt.bound) and the gap it
    certifies, whatever the method.
    """
    cls = get_method(method)
    return cls(**options).solve(instance, objective, time_limit=time_limit, seed=seed,
                                bound=bound)
