"""Gaps: how far a checked value lies above the best known one, and their summary over runs.

The harness's results and the scripts in benchmarks/ all measure with these functions, so
every table in the docs means the same thing by "gap".
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from mecopt.bench.row import Row

K = TypeVar("K", bound=Hashable)

REFERENCE = "reference"  # the best known value is a proven optimum (reference.json)
BEST_FOUND = "best found"  # ... or the best value any run of this benchmark found


def relative_gap(value: float, best: float) -> float:
    """(value - best) / |best|. Not clipped: a negative gap to a proven optimum means the
    optimum (or the checker) is wrong, and the reports say so."""
    return (value - best) / max(abs(best), 1e-300)


def certified_gap(value: float, bound: float) -> float:
    """(value - bound) / |value|: how far from optimal a value can be, given a lower bound."""
    return max(0.0, (value - bound) / max(abs(value), 1e-300))


def best_known(values: Iterable[tuple[K, float]], reference: Mapping[K, float]
               ) -> dict[K, tuple[float, str]]:
    """Per key, the best known value and its basis: the proven optimum in `reference`
    (`REFERENCE`) where there is one, else the least of the key's checked `values`
    (`BEST_FOUND`). A key with neither is absent."""
    found: dict[K, float] = {}
    for key, value in values:
        found[key] = min(found.get(key, math.inf), value)
    known = {key: (value, BEST_FOUND) for key, value in found.items()}
    known.update({key: (value, REFERENCE) for key, value in reference.items()})
    return known


def add_gaps(rows: Sequence[Row], reference: Mapping[tuple[str, str], float]) -> list[Row]:
    """Copies of the rows with best_known, gap_basis, gap and certified_gap.

    The best known value of (instance, objective) is the proven optimum from the reference
    when there is one, else the best checked value of any run here (`best_known`). The gap
    (`relative_gap`) is defined for feasible runs only, and not when no run is feasible.
    The certified gap (`certified_gap`) is defined for feasible rows with a bound.
    """
    def checked(r: Row) -> bool:
        return r.feasible and r.objective_value is not None

    known = best_known((((r.instance, r.objective), r.objective_value) for r in rows
                        if checked(r)), reference)
    out = []
    for r in rows:
        best, basis = known.get((r.instance, r.objective), (None, None))
        ok = checked(r)
        out.append(dataclasses.replace(
            r, best_known=best, gap_basis=basis,
            gap=relative_gap(r.objective_value, best) if ok and best is not None else None,
            certified_gap=certified_gap(r.objective_value, r.bound)
            if ok and r.bound is not None else None))
    return out


@dataclass(frozen=True)
class GapSummary:
    """The mean and the worst of some runs' gaps (None where no gap is defined)."""

    count: int  # runs with a gap
    mean: float | None
    worst: float | None

    @classmethod
    def of(cls, gaps: Iterable[float | None]) -> GapSummary:
        """Summarize the defined gaps (None entries, runs without a gap, are left out)."""
        known = [g for g in gaps if g is not None]
        if not known:
            return cls(0, None, None)
        return cls(len(known), statistics.fmean(known), max(known))

    def cells(self, width: int = 8, digits: int = 3) -> str:
        """"mean% worst%", as the benchmark scripts print them (see `pct_cell`)."""
        return f"{pct_cell(self.mean, width, digits)} {pct_cell(self.worst, width, digits)}"


def percent(x: float | None) -> float | None:
    """A gap in percent, None kept."""
    return None if x is None else 100 * x


def pct_cell(x: float | None, width: int = 8, digits: int = 3) -> str:
    """A gap in percent for a fixed-width table: `width` digits wide then "%", or "-"."""
    return f"{100 * x:{width}.{digits}f}%" if x is not None else "-".rjust(width + 1)
