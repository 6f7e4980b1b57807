"""`solve` and `solve_many`: one entry point for every method."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
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


def solve_many(instances: Iterable[Instance | Mapping[str, Any] | str | Path],
               objective: Objective | str = "latency",
               method: str | type[Method] | Callable[..., Any] = "greedy", *,
               time_limit: float | None = None, seed: int = 0, bound: bool = False,
               workers: int = 1, **options: Any) -> list[Solution]:
    """`solve` over many instances in one process: one Solution per instance, in input order.

    Each instance may be an Instance, its parsed JSON or a file path. The method is built
    once (LAMBO loads its model once and decodes the instances in batched passes, with the
    decisions it gives each one alone); every instance gets the same seed and the whole time
    limit, as in separate `solve` calls, and every decision is checked by `evaluate`. An
    input that is not a valid instance gives a Solution with status "error" whose message
    names the input and the field; the others are still solved. `workers` > 1 solves in
    that many processes. A bad method, option or time limit raises InputError at once.
    """
    # The batch runner brings multiprocessing and concurrent.futures: a single solve does
    # without them.
    from mecopt.batch import as_item, solve_stream

    items = (as_item(x, k) for k, x in enumerate(instances))
    return list(solve_stream(items, objective, method, time_limit=time_limit, seed=seed,
                             bound=bound, workers=workers, **options))
