"""The base class every solver backend derives from.

`Method.solve` does the common work (option checking, seeding, timing, the feasibility
check, status and gap); a backend overrides the protected hook `_solve`, which returns an
`Outcome`: a proposed decision and what the backend knows about it.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from mecopt.certificate import certify_infeasible  # its LP and MILP load HiGHS when used
from mecopt.errors import InputError
from mecopt.evaluation import evaluate
from mecopt.instance import Instance
from mecopt.objective import Objective
from mecopt.solution import Solution
from mecopt.status import Status

# A method that ends without a decision: the certificate's packing MILP (mecopt.certificate)
# gets at most this many seconds, and no more than the time limit has left; with less than
# MIN_PROOF_S left it is skipped (the LP and the cheap proofs still run).
PROOF_TIME_LIMIT = 5.0
MIN_PROOF_S = 0.05


@dataclass(frozen=True)
class Option:
    """A method option: its type, default, help text and domain.

    The domain is declared once and checked when the method is built, with a one-line error
    naming the option: `low`/`high` bound a number (inclusive unless `low_inclusive` or
    `high_inclusive` is False), `choices` lists the allowed values. A float must also be
    finite. None leaves an option at its default (highs' `max_energy`: unset).
    `check_options` remains for what one option's domain cannot say (one option against
    another, a file that must exist).
    """

    type: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def __post_init__(self) -> None:
        if self.choices is not None:  # a list in the declaration; a tuple keeps it hashable
            object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def domain(self) -> str:
        """The domain as a phrase: "in [0, 1)", ">= 1", "in {integer, keys}"; "" if none."""
        if self.choices is not None:
            return "in {" + ", ".join(map(str, self.choices)) + "}"
        if self.low is not None and self.high is not None:
            return (f"in {'[' if self.low_inclusive else '('}{self.low:g}, "
                    f"{self.high:g}{']' if self.high_inclusive else ')'}")
        if self.low is not None:
            return f"{'>=' if self.low_inclusive else '>'} {self.low:g}"
        if self.high is not None:
            return f"{'<=' if self.high_inclusive else '<'} {self.high:g}"
        return ""

    @property
    def summary(self) -> str:
        """Type, domain and default on one line, for listings: "int >= 1, default 100"."""
        domain = f" {self.domain}" if self.domain else ""
        return f"{self.type.__name__}{domain}, default {self.default!r}"

    def parse(self, name: str, value: Any) -> Any:
        """Convert a value (possibly text from the CLI) to the option's type and check it
        against the domain. None leaves the option unset: its default."""
        if value is None:
            return self.default
        return self.check(name, self._convert(name, value))

    def check(self, name: str, value: Any) -> Any:
        """`value` (already of the option's type) if it lies in the domain, else InputError."""
        if value is None:
            return None
        if self.choices is not None:
            if value not in self.choices:
                raise InputError(f"option {name}: expected one of "
                                 f"{', '.join(map(str, self.choices))}, got {value!r}")
            return value
        if self.type is float and not math.isfinite(value):
            raise InputError(f"option {name}: must be finite, got {value}")
        if not (self._above_low(value) and self._below_high(value)):
            raise InputError(f"option {name}: must be {self.domain}, got {value}")
        return value

    def _above_low(self, value: Any) -> bool:
        if self.low is None:
            return True
        return value >= self.low if self.low_inclusive else value > self.low

    def _below_high(self, value: Any) -> bool:
        if self.high is None:
            return True
        return value <= self.high if self.high_inclusive else value < self.high

    def _convert(self, name: str, value: Any) -> Any:
        try:
            if self.type is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    return low in ("true", "1", "yes")
                return bool(value)
            if self.type is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return self.type(value)
        except (TypeError, ValueError):
            raise InputError(f"option {name}: expected {self.type.__name__}, got {value!r}") \
                from None


@dataclass
class Outcome:
    """What a backend returns from `_solve`.

    assignment None means nothing was found; then status is NO_SOLUTION (the method got stuck:
    the message says where), TIMEOUT, ERROR, or INFEASIBLE from an exact method that proved
    it. allocation None means "water-fill it". `status` is the backend's claim (OPTIMAL only
    when proven); the base class checks the decision and downgrades the claim if needed.
    """

    assignment: np.ndarray | None
    allocation_hz: np.ndarray | None = None
    status: Status | str = Status.FEASIBLE
    bound: float | None = None
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def checked_time_limit(time_limit: Any) -> float | None:
    """`time_limit` as seconds (None, or infinity: no limit), or InputError naming it."""
    if time_limit is None:
        return None
    if isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Real) \
            or not time_limit > 0:
        raise InputError(f"time_limit: must be a positive number of seconds, got "
                         f"{time_limit!r}")
    try:
        seconds = float(time_limit)
    except OverflowError:  # an integer beyond any float: no limit either
        return None
    return seconds if math.isfinite(seconds) else None


# Seeds reach numpy (non-negative only) and torch (a signed 64-bit integer).
SEED_LIMIT = 2**63


def checked_seed(seed: Any) -> int:
    """`seed` as an int, or InputError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
            or not 0 <= seed < SEED_LIMIT:
        raise InputError(f"seed: expected an integer in [0, 2^63), got {seed!r}")
    return int(seed)


class Method:
    """A solver backend. Subclasses set `name`, `description`, `options` and override `_solve`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options: ClassVar[dict[str, Option]] = {}
    default_time_limit: ClassVar[float | None] = None
    # An exact method's INFEASIBLE is a proof; anyone else's needs a certificate
    # (mecopt.certificate), or it becomes NO_SOLUTION.
    exact: ClassVar[bool] = False

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(available, reason): a method with a missing optional dependency says why."""
        return True, ""

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            valid = ", ".join(sorted(self.options)) or "none"
            raise InputError(f"option {unknown[0]}: unknown for method {self.name!r}; valid: "
                             f"{valid}")
        self.config = {k: opt.default for k, opt in self.options.items()}
        for key, value in options.items():
            self.config[key] = self.options[key].parse(key, value)
        self.check_options(self.config)

    def check_options(self, config: dict[str, Any]) -> None:
        """Hook for checks an option's declared domain cannot express (one option against
        another, a file that must exist): raise InputError naming the option."""

    def solve(self, instance: Instance, objective: Objective | str, *,
              time_limit: float | None = None, seed: int = 0, bound: bool = False) -> Solution:
        """Solve and check. Never raises for a backend failure: the status says what happened.

        With `bound`, the solution also carries a valid lower bound (mecopt.bounds, or the
        method's own if it is tighter) and the certified gap; the bound's time is in
        extra["bound_s"], not in wall_time_s.
        """
        return self.solve_batch([instance], objective, time_limit=time_limit, seed=seed,
                                bound=bound)[0]

    def solve_batch(self, instances: Sequence[Instance], objective: Objective | str, *,
                    time_limit: float | None = None, seed: int = 0,
                    bound: bool = False) -> list[Solution]:
        """`solve` for several instances, solutions in input order: each instance gets the
        whole time limit and the same seed, as in separate calls, and each solution is
        checked by `finish`. A backend that shares work across instances (LAMBO decodes
        them in one batched pass) overrides `_solve_batch`; by default they are solved one
        after another.
        """
        objective = Objective.parse(objective)
        self.require_available()
        given, seed = time_limit, checked_seed(seed)
        time_limit = checked_time_limit(time_limit)
        if given is None:  # not infinity: that is no limit, whatever the method's default
            time_limit = self.default_time_limit
        timed = self._screened_solve_batch(list(instances), objective, time_limit=time_limit,
                                           seed=seed)
        sols = []
        for instance, (outcome, elapsed) in zip(instances, timed, strict=True):
            sol = finish(instance, objective, self.name, outcome, elapsed, exact=self.exact,
                         time_left=None if time_limit is None else time_limit - elapsed)
            if bound:
                attach_bound(instance, objective, sol)
            sols.append(sol)
        return sols

    def _solve(self, instance: Instance, objective: Objective, *, time_limit: float | None,
               seed: int) -> Outcome:
        raise NotImplementedError

    def _screened_solve_batch(self, instances: list[Instance], objective: Objective, *,
                              time_limit: float | None, seed: int
                              ) -> list[tuple[Outcome, float]]:
        """`_solve_batch` on the instances that the certificate's solver-free proofs
        (a UE with no option, a must-offload UE that fits no server, must-offload demand
        above all capacity) leave open; the others are answered INFEASIBLE at once with the
        proof, whatever the method: a method would only search in vain, then prove the same
        (lambo decoded a 5,000-UE instance twice, 10 s, before saying so)."""
        screened: dict[int, tuple[Outcome, float]] = {}
        for k, instance in enumerate(instances):
            start = time.perf_counter()
            proof = certify_infeasible(instance, lp=False, packing=False)
            if proof is not None:
                screened[k] = (Outcome(None, status=Status.INFEASIBLE, message=proof),
                               time.perf_counter() - start)
        rest = [instance for k, instance in enumerate(instances) if k not in screened]
        solved = iter(self._solve_batch(rest, objective, time_limit=time_limit, seed=seed)
                      if rest else [])
        return [screened[k] if k in screened else next(solved) for k in range(len(instances))]

    def require_available(self) -> None:
        """InputError (one line, with the reason) when `availability` says the method cannot
        run here."""
        ok, why = self.availability()
        if not ok:
            raise InputError(f"method {self.name!r} is unavailable: {why}")

    @property
    def batches(self) -> bool:
        """Whether `_solve_batch` shares work across instances (so callers should hand it
        many at once) rather than solving them one after another."""
        return type(self)._solve_batch is not Method._solve_batch

    def _solve_batch(self, instances: list[Instance], objective: Objective, *,
                     time_limit: float | None, seed: int) -> list[tuple[Outcome, float]]:
        """Hook: (outcome, wall seconds) per instance, in order. The default runs `_solve`
        on each in turn."""
        return [self._timed_solve(instance, objective, time_limit=time_limit, seed=seed)
                for instance in instances]

    def _timed_solve(self, instance: Instance, objective: Objective, *,
                     time_limit: float | None, seed: int) -> tuple[Outcome, float]:
        """`_solve` and its wall time; a backend failure is a result (ERROR), not a crash."""
        start = time.perf_counter()
        try:
            outcome = self._solve(instance, objective, time_limit=time_limit, seed=seed)
        except InputError:
            raise
        except Exception as exc:
            outcome = failure(exc)
        return outcome, time.perf_counter() - start


def failure(exc: Exception) -> Outcome:
    """The ERROR outcome of a backend that raised: the exception's first line."""
    return Outcome(None, status=Status.ERROR,
                   message=f"{type(exc).__name__}: {exc}".splitlines()[0])


def finish(instance: Instance, objective: Objective, method: str, outcome: Outcome,
           wall_time_s: float, *, exact: bool = False,
           time_left: float | None = None) -> Solution:
    """Turn a backend's outcome into a checked Solution (the only way solutions are made).

    The status says only what is known (SPEC section 3): a decision the checker rejects is
    never OPTIMAL or FEASIBLE, and "no decision" is INFEASIBLE only when proven, by an exact
    method (`exact`) or by a certificate (mecopt.certificate) whose proof the message gives;
    otherwise it is NO_SOLUTION with the method's own account of where it got stuck.
    `time_left`: seconds of the call's time limit the method left (None: no limit); the
    certificate's packing MILP gets at most those, and the certificate's time counts in
    the solution's wall time.
    """
    try:
        status = Status(outcome.status)
    except ValueError:
        outcome = Outcome(None, status=Status.ERROR, message=f"method {method!r} returned an "
                          f"unknown status {outcome.status!r}")
        status = Status.ERROR
    sol = Solution(instance=instance.name, objective=objective.value, method=method,
                   status=status, wall_time_s=wall_time_s, message=outcome.message,
                   bound=outcome.bound, extra=dict(outcome.extra))
    if outcome.assignment is None:
        if status.has_decision:
            sol.status = Status.ERROR
            sol.message = f"method {method!r} returned no assignment but claimed {status}"
        elif status in (Status.INFEASIBLE, Status.NO_SOLUTION):
            _no_decision(instance, sol, exact, time_left)
        elif status is Status.TIMEOUT:
            _timed_out(instance, sol)
        sol.message = sol.message or "no feasible assignment found"
        return sol
    ev = evaluate(instance, np.asarray(outcome.assignment), outcome.allocation_hz)
    sol.assignment = ev.assignment.tolist()
    sol.allocation_hz = ev.allocation_hz.tolist()
    sol.latency_s = ev.latency_s.tolist()
    sol.energy_j = ev.energy_j.tolist()
    sol.objective_value = ev.value(objective)
    if not ev.feasible:
        if status.has_decision:
            sol.status = Status.ERROR
            sol.message = (f"method {method!r} returned a decision the checker rejects: "
                           f"{ev.violations[0].message}")
        elif status in (Status.INFEASIBLE, Status.NO_SOLUTION):
            _no_decision(instance, sol, exact, time_left)
        sol.extra["violations"] = [v.message for v in ev.violations]
        sol.objective_value = None if not np.isfinite(ev.value(objective)) else sol.objective_value
        return sol
    if not status.has_decision:
        sol.status = Status.FEASIBLE  # the checker accepts it; say what we have
    if sol.bound is not None and sol.objective_value is not None:
        sol.gap = relative_gap(sol.objective_value, sol.bound)
    return sol


def attach_bound(instance: Instance, objective: Objective, sol: Solution) -> None:
    """Give `sol` the better of its own bound and mecopt.bound's, and the gap it certifies."""
    from mecopt.bounds import bound as lower_bound  # scipy/HiGHS work only when asked

    found = lower_bound(instance, objective, upper=sol.objective_value if sol.feasible else None)
    sol.extra["bound_s"] = found.wall_time_s
    if sol.bound is None or found.value > sol.bound:
        sol.bound = found.value
        sol.extra["bound_method"] = found.how
    if sol.objective_value is not None and sol.feasible:
        # A bound above a checked value can only be the solvers' rounding.
        sol.bound = min(sol.bound, sol.objective_value)
        sol.gap = relative_gap(sol.objective_value, sol.bound)


def relative_gap(value: float, bound: float) -> float:
    """(value - bound) / |value|, at least 0: how far from optimal `value` can be."""
    return max(0.0, (value - bound) / max(abs(value), 1e-12))


def _no_decision(instance: Instance, sol: Solution, exact: bool,
                 time_left: float | None) -> None:
    """Set INFEASIBLE when proven (an exact method's word, or a certificate), else
    NO_SOLUTION with the method's own message. The certificate's packing MILP gets at most
    `time_left` seconds (PROOF_TIME_LIMIT without a limit)."""
    if exact and sol.status is Status.INFEASIBLE:
        return
    packing_s = PROOF_TIME_LIMIT if time_left is None else min(PROOF_TIME_LIMIT, time_left)
    proof = _timed_proof(sol, instance, packing=packing_s >= MIN_PROOF_S,
                         packing_time_limit=max(packing_s, MIN_PROOF_S))
    if proof is not None:
        sol.status = Status.INFEASIBLE
        sol.message = proof
        return
    sol.status = Status.NO_SOLUTION
    if sol.message:
        sol.message += "; no proof that the instance is infeasible"


def _timed_out(instance: Instance, sol: Solution) -> None:
    """A search that ran out of time with nothing may have searched an infeasible instance:
    say INFEASIBLE when a certificate proves it, else keep TIMEOUT."""
    # Without the packing MILP: the time limit has passed already; its LP and the cheaper
    # checks take milliseconds.
    proof = _timed_proof(sol, instance, packing=False)
    if proof is not None:
        sol.status = Status.INFEASIBLE
        sol.message = f"{proof} (found after the time limit: {sol.message})" \
            if sol.message else proof


def _timed_proof(sol: Solution, instance: Instance, **options: Any) -> str | None:
    """certify_infeasible(instance, **options), its time added to the solution's wall time
    (the caller waited for it) and kept in extra["proof_s"]."""
    start = time.perf_counter()
    proof = certify_infeasible(instance, **options)
    spent = time.perf_counter() - start
    sol.wall_time_s += spent
    sol.extra["proof_s"] = spent
    return proof
