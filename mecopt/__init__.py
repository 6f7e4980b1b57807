"""mecopt: task offloading in multi-access edge computing.

N user devices each run one task locally or on one of M edge servers; mecopt chooses where
and how much server compute each offloaded task gets, to minimize mean latency or total
energy under deadlines and capacities. Exact (HiGHS), heuristic (greedy, DE, policy gradient)
and learned (LAMBO) methods sit behind one `solve(instance, objective, method)`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Three public functions share their module's name: importing the module anywhere would
# set the package attribute to the module, so these are bound now, before that can happen.
from mecopt.descend import descend
from mecopt.repair import Decoded, repair
from mecopt.waterfill import waterfill

__version__ = "0.1.0"

# The rest of the public API, name -> module, imported on first use (PEP 562): `mecopt solve`
# starts without the batch runner's multiprocessing, the bounds' solvers or the generators.
_LAZY = {
    "solve": "mecopt.api", "solve_many": "mecopt.api",
    "Bound": "mecopt.bounds", "bound": "mecopt.bounds",
    "certify_infeasible": "mecopt.certificate",
    "InputError": "mecopt.errors",
    "BatchEvaluation": "mecopt.evaluation", "Evaluation": "mecopt.evaluation",
    "Violation": "mecopt.evaluation", "evaluate": "mecopt.evaluation",
    "evaluate_batch": "mecopt.evaluation",
    "Drift": "mecopt.generators", "ScenarioStream": "mecopt.generators",
    "generate": "mecopt.generators",
    "Instance": "mecopt.instance",
    "Method": "mecopt.method", "Option": "mecopt.method", "Outcome": "mecopt.method",
    "Objective": "mecopt.objective",
    "availability": "mecopt.registry", "get_method": "mecopt.registry",
    "method_names": "mecopt.registry",
    "Solution": "mecopt.solution",
    "Status": "mecopt.status",
}

if TYPE_CHECKING:  # what static tools see; at run time __getattr__ imports these
    from mecopt.api import solve, solve_many
    from mecopt.bounds import Bound, bound
    from mecopt.certificate import certify_infeasible
    from mecopt.errors import InputError
    from mecopt.evaluation import BatchEvaluation, Evaluation, Violation, evaluate, evaluate_batch
    from mecopt.generators import Drift, ScenarioStream, generate
    from mecopt.instance import Instance
    from mecopt.method import Method, Option, Outcome
    from mecopt.objective import Objective
    from mecopt.registry import availability, get_method, method_names
    from mecopt.solution import Solution
    from mecopt.status import Status

__all__ = [
    "BatchEvaluation", "Bound", "Decoded", "Drift", "Evaluation", "InputError", "Instance",
    "Method", "Objective", "Option", "Outcome", "ScenarioStream", "Solution", "Status",
    "Violation", "availability", "bound", "certify_infeasible", "descend", "evaluate",
    "evaluate_batch", "generate", "get_method", "method_names", "repair", "solve", "solve_many",
    "waterfill",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'mecopt' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
