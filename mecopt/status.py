"""What a solution's status says (SPEC section 3; the same meanings as Pyomo and SCIP)."""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    """The status of a solve. A str enum: `Status.OPTIMAL == "optimal"` holds.

    - OPTIMAL: a checked decision, proven optimal within the stated gap;
    - FEASIBLE: a checked decision, not proven optimal;
    - INFEASIBLE: proven that no decision exists, by an exact method or by a certificate that
      the message names (mecopt.certificate); a heuristic never says it because it got stuck;
    - NO_SOLUTION: the method found no decision and proved nothing (the message says where
      it got stuck);
    - TIMEOUT: the time limit passed with no decision;
    - ERROR: the method failed (the message says how).
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    NO_SOLUTION = "no_solution"
    TIMEOUT = "timeout"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    @property
    def has_decision(self) -> bool:
        """True for the statuses that carry a checked decision."""
        return self in (Status.OPTIMAL, Status.FEASIBLE)


STATUSES = tuple(s.value for s in Status)
