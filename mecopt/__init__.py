"""mecopt: task offloading in multi-access edge computing.

N user devices each run one task locally or on one of M edge servers; mecopt chooses where
and how much server compute each offloaded task gets, to minimize mean latency or total
energy under deadlines and capacities. Exact (HiGHS), heuristic (greedy, DE, policy gradient)
and learned (LAMBO) methods sit behind one `solve(instance, objective, method)`.
"""

from mecopt.api import solve, solve_many
from mecopt.bounds import Bound, bound
from mecopt.certificate import certify_infeasible
from mecopt.descend import descend
from mecopt.errors import InputError
from mecopt.evaluation import BatchEvaluation, Evaluation, Violation, evaluate, evaluate_batch
from mecopt.generators import Drift, ScenarioStream, generate
from mecopt.instance import Instance
from mecopt.method import Method, Option, Outcome
from mecopt.objective import Objective
from mecopt.registry import availability, get_method, method_names
from mecopt.repair import Decoded, repair
from mecopt.solution import Solution
from mecopt.status import Status
from mecopt.waterfill import waterfill

__version__ = "0.1.0"

__all__ = [
    "BatchEvaluation", "Bound", "Decoded", "Drift", "Evaluation", "InputError", "Instance",
    "Method", "Objective", "Option", "Outcome", "ScenarioStream", "Solution", "Status",
    "Violation", "availability", "bound", "certify_infeasible", "descend", "evaluate",
    "evaluate_batch", "generate", "get_method", "method_names", "repair", "solve", "solve_many",
    "waterfill",
]
