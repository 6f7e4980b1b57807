"""The linear assignment problem (rows to distinct columns at least cost), for mecopt.rematch.

scipy.optimize.linear_sum_assignment solves it, but importing scipy.optimize costs a
command about 0.15-0.35 s, more than a whole greedy solve on the library (the CLI's
start-up budget, benchmarks/bench_startup.py). Small problems are therefore solved here by
the same method (shortest augmenting paths with dual potentials, Crouse 2016, one row at a
time, each Dijkstra step vectorised over the columns): 0.1-0.3 ms on the library's rounds
of 4-12 rows, against 1-25 ms on 100-400 rows, where scipy takes 0.1-2.3 ms and its import
is paid back.
"""

from __future__ import annotations

import numpy as np

__all__ = ["assign", "SCIPY_ROWS"]

# From this many rows on, scipy's solver (imported on first use).
SCIPY_ROWS = 64


def assign(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment of every row of `cost` (R, C), R <= C, to a distinct column;
    inf marks a forbidden pair. Returns (rows, cols) as scipy's linear_sum_assignment does;
    ValueError when no assignment of finite cost exists."""
    cost = np.asarray(cost, dtype=float)
    if cost.shape[0] >= SCIPY_ROWS:
        from scipy.optimize import linear_sum_assignment

        return linear_sum_assignment(cost)
    return shortest_augmenting_paths(cost)


def shortest_augmenting_paths(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`assign` in numpy: each row in turn is joined by the cheapest augmenting path under
    the dual potentials u (rows) and v (columns), found by Dijkstra over reduced costs."""
    R, C = cost.shape
    if R > C:
        raise ValueError(f"cost: {R} rows, more than its {C} columns")
    u, v = np.zeros(R), np.zeros(C)
    col_of, row_of = np.full(R, -1), np.full(C, -1)
    for row in range(R):
        dist = np.full(C, np.inf)  # shortest reduced path cost to each column
        via = np.full(C, -1)  # the row before each column on that path
        open_ = np.ones(C, dtype=bool)
        seen_rows, seen_cols = [row], []
        i, reach = row, 0.0
        while True:
            through = reach + cost[i] - u[i] - v
            better = open_ & (through < dist)
            dist[better], via[better] = through[better], i
            candidate = np.where(open_, dist, np.inf)
            reach = candidate.min()
            if not np.isfinite(reach):
                raise ValueError("cost: no assignment of finite cost")
            ties = np.flatnonzero(candidate == reach)
            free = ties[row_of[ties] < 0]  # end the path at a free column when one ties
            j = int(free[0] if len(free) else ties[0])
            open_[j] = False
            seen_cols.append(j)
            if row_of[j] < 0:
                break
            i = int(row_of[j])
            seen_rows.append(i)
        u[row] += reach
        for k in seen_rows[1:]:
            u[k] += reach - dist[col_of[k]]
        cols = np.array(seen_cols)
        v[cols] -= reach - dist[cols]
        while True:  # flip the path back to `row`
            i = int(via[j])
            row_of[j] = i
            col_of[i], j = j, col_of[i]
            if i == row:
                break
    return np.arange(R), col_of
