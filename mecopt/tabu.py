"""Energy: tabu search with strategic oscillation across the capacity boundary.

Energy is a generalized assignment problem: a UE's energy depends on its option only, and a
server holds a set of UEs when their f_min sum to at most its capacity. `mecopt.descend`
moves between feasible decisions only, so where capacities bind its local optima are walled
in: a better decision can need several UEs moved at once, through decisions that overload a
server on the way. This search walks through those. It minimizes

    energy + sum over servers of weight_j x overload_j

(overload: the f_min on server j above its capacity), from a feasible decision:
1. Steps: the best move of one UE to another usable option (local included where the UE
   meets its deadline there) or swap of two UEs on different options, by the change of that
   sum; a UE may not return to an option it just left for a drawn tenure, unless the step
   gives a feasible decision better than the best found (aspiration). Ties are broken at
   random (seeded). Swaps pair some UEs (those on overloaded servers first, the rest drawn;
   SWAP_CELLS pairs in all) with every UE, so a step stays a few milliseconds at 2,000 UEs.
2. Oscillation: the weights start at the start's prices (per server, the most energy a UE
   would save per unit of overload by moving there, and at least one UE's energy per median
   size), so that no single move pays at first. After an infeasible step the weight of
   every overloaded server grows by UP; after a feasible step every weight shrinks by DOWN.
   The search therefore drifts into overload where that saves energy, is pushed back where
   it stays, and keeps crossing the boundary where the optima of a binding GAP lie.
3. The best feasible decision seen is returned; the search stops after `max_steps` steps,
   `stall` steps without a new best, or at `deadline`.

Measured against `descend`, LNS and DE, and what it is used for: docs/heuristics.md
("Tabu search for energy").
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.errors import InputError
from mecopt.evaluation import evaluate_batch
from mecopt.instance import Instance, usable_options
from mecopt.objective import Objective
from mecopt.units import alone_costs

# Tabu tenure: a UE that leaves an option may not return for TENURE..TENURE + SPREAD - 1
# steps.
TENURE, TENURE_SPREAD = 7, 5
# The weight of an overloaded server grows by UP after an infeasible step; every weight
# shrinks by DOWN after a feasible one, within [WEIGHT_LOW, WEIGHT_HIGH] times one UE's
# energy per median size (the start's prices are kept within the same bounds).
UP, DOWN = 1.1, 0.9
WEIGHT_LOW, WEIGHT_HIGH = 1e-3, 1e6
# A step evaluates the swaps of SWAP_CELLS // N UEs (at least MIN_SWAP_ROWS) with every UE:
# about 2 ms at any N.
SWAP_CELLS, MIN_SWAP_ROWS = 32_768, 16
# Capacities are searched slightly reduced, so that the decision fits after rounding.
ROOM = 1e-9
# A new best must improve by more than this (relative): equal-energy steps are not progress.
IMPROVE_RTOL = 1e-12


def tabu_search(instance: Instance, assignment: np.ndarray, *, deadline: float | None = None,
                max_steps: int | None = None, stall: int | None = None, seed: int = 0
                ) -> tuple[np.ndarray, float]:
    """The best feasible decision found from the feasible `assignment` (N,) and its energy
    (J): `assignment` itself when nothing better is found (InputError if it is not a
    feasible assignment). `deadline`: a time.perf_counter() value; `max_steps`, `stall`
    (steps without a new best): None for no limit; at least one limit must be given. Bounded
    by steps only, the result depends on the seed alone."""
    if deadline is None and max_steps is None and stall is None:
        raise ValueError("tabu_search needs a deadline, max_steps or stall")
    a = np.asarray(assignment, dtype=int).copy()
    if a.shape != (instance.n_ues,):
        raise InputError(f"assignment: expected {instance.n_ues} entries (one per UE), got "
                         f"shape {list(a.shape)}")
    first = evaluate_batch(instance, a[None])
    if not first.feasible[0]:
        raise InputError("assignment: the tabu search needs a feasible starting assignment")
    best = _Search(instance, a.copy(), np.random.default_rng(seed)).run(deadline, max_steps,
                                                                         stall)
    if not np.array_equal(best, a):
        # The one feasibility checker has the last word: the search's sums could round
        # across a capacity.
        check = evaluate_batch(instance, best[None])
        if check.feasible[0]:
            return best, float(check.value(Objective.ENERGY)[0])
    return a, float(first.value(Objective.ENERGY)[0])


class _Search:
    """The state of `tabu_search`: costs and sizes per (UE, option) (option 0 local, size 0,
    capacity inf), the decision, the options' loads and the penalty weights."""

    def __init__(self, instance: Instance, a: np.ndarray, rng: np.random.Generator) -> None:
        N, M = instance.n_ues, instance.n_servers
        ok = usable_options(instance)
        ok[np.arange(N), a] = True  # the start is feasible, so its options are usable
        cost = np.where(ok, alone_costs(instance, Objective.ENERGY), np.inf)
        scale = float(instance.capacity_hz.max())  # sizes near 1
        size = np.zeros((N, M + 1))
        size[:, 1:] = np.where(ok[:, 1:], instance.f_min, np.inf) / scale
        # Energies near 1 too: one UE's energy per median size is then the weights' scale.
        finite = cost[np.isfinite(cost)]
        unit = float(np.median(finite[finite > 0])) if (finite > 0).any() else 1.0
        self.cost, self.size, self.a, self.rng = cost / unit, size, a, rng
        self.capacity = np.r_[np.inf, instance.capacity_hz * (1 - ROOM) / scale]
        sizes = size[:, 1:][np.isfinite(size[:, 1:]) & (size[:, 1:] > 0)]
        w0 = 1.0 / float(np.median(sizes)) if len(sizes) else 1.0
        self.low, self.high = w0 * WEIGHT_LOW, w0 * WEIGHT_HIGH
        self.ues = np.arange(N)
        self.tabu = np.zeros((N, M + 1), dtype=np.int64)  # step until UE k may not enter j
        self.load = self._loads()
        self.weight = np.r_[0.0, self._start_weights(w0)]  # local: no capacity, no weight

    def _start_weights(self, w0: float) -> np.ndarray:
        """(M,) the weights the search starts from: per server, the most energy one UE
        would save per unit of overload by moving there, and at least `w0` (one UE's
        energy per median size), within [low, high]. At these prices no single move pays,
        so the feasible start is a local optimum of the penalized sum and the search leaves
        it step by step. With `w0` for all, where every server is nearly full the first
        steps overloaded most servers at once for cheap UEs, and evicting them again left
        the search a few percent above its start for the rest of its steps. The floor keeps
        a server that no UE wants from being a free place to overload."""
        enter = self._over(self.load[None, :] + self.size) - self._over(self.load)[None, :]
        save = self.cost[self.ues, self.a][:, None] - self.cost
        with np.errstate(divide="ignore", invalid="ignore"):  # an unusable option: inf
            ratio = np.where((enter > 0) & (save > 0), save / enter, 0.0)
        return np.clip(np.maximum(ratio[:, 1:].max(axis=0), w0), self.low, self.high)

    def _loads(self) -> np.ndarray:
        return np.bincount(self.a, weights=self.size[self.ues, self.a],
                           minlength=len(self.capacity))

    def _over(self, load: np.ndarray, options: np.ndarray | None = None) -> np.ndarray:
        capacity = self.capacity if options is None else self.capacity[options]
        return np.maximum(load - capacity, 0.0)

    def run(self, deadline: float | None, max_steps: int | None, stall: int | None
            ) -> np.ndarray:
        """Search within the limits: the best feasible decision seen."""
        ues, cost = self.ues, self.cost
        best_a, best = self.a.copy(), float(cost[ues, self.a].sum())
        last = 0  # step of the last new best
        step = 0
        while (max_steps is None or step < max_steps) and (stall is None or step - last < stall):
            if deadline is not None and time.perf_counter() >= deadline:
                break
            step += 1
            value = float(cost[ues, self.a].sum())
            move = self._best_move(step, value, best)
            swap = self._best_swap(step, value, best)
            if move is None and swap is None:
                if not (self.tabu > step).any():
                    break  # no UE has anywhere else to go
                continue
            if swap is not None and (move is None or swap[0] < move[0]):
                _, p, q = swap
                ap, aq = self.a[p], self.a[q]
                self._relocate(p, aq, step)
                self._relocate(q, ap, step)
            else:
                _, k, j = move
                self._relocate(k, j, step)
            self.load = self._loads()  # recomputed: sums would drift by rounding
            over = self._over(self.load)
            if over.any():
                self.weight = np.where(over > 0, np.minimum(self.weight * UP, self.high),
                                       self.weight)
                continue
            self.weight[1:] = np.maximum(self.weight[1:] * DOWN, self.low)
            value = float(cost[ues, self.a].sum())
            if value < best * (1 - IMPROVE_RTOL):
                best_a, best, last = self.a.copy(), value, step
        return best_a

    def _relocate(self, k: int, j: int, step: int) -> None:
        """UE k to option j; it may not return to its old option for a tenure."""
        self.tabu[k, self.a[k]] = step + TENURE + int(self.rng.integers(TENURE_SPREAD))
        self.a[k] = j

    def _pick(self, score: np.ndarray) -> tuple[float, int] | None:
        """(score, flat index) of a least finite entry, ties at random; None if none."""
        flat = score.ravel()
        low = flat.min() if flat.size else np.inf
        if not np.isfinite(low):
            return None
        ties = np.flatnonzero(flat <= low + 1e-12 * max(1.0, abs(low)))
        return float(low), int(ties[self.rng.integers(len(ties))])

    def _best_move(self, step: int, value: float, best: float
                   ) -> tuple[float, int, int] | None:
        """(score change, UE, option) of the best allowed move of one UE."""
        a, load, size, ues, w = self.a, self.load, self.size, self.ues, self.weight
        over = self._over(load)
        leave = self._over(load[a] - size[ues, a], a) - over[a]  # (N,) overload change
        enter = self._over(load[None, :] + size) - over[None, :]  # (N, M+1)
        enter[:, 0] = 0.0
        gain = self.cost - self.cost[ues, a][:, None]  # energy change
        score = gain + w[a][:, None] * leave[:, None] + w[None, :] * enter
        score[ues, a] = np.inf
        # Aspiration: a tabu move may be taken when it gives a new best feasible decision.
        feasible = over.sum() + leave[:, None] + enter <= 0.0
        aspire = feasible & (value + gain < best * (1 - IMPROVE_RTOL))
        picked = self._pick(np.where((self.tabu > step) & ~aspire, np.inf, score))
        if picked is None:
            return None
        k, j = divmod(picked[1], score.shape[1])
        return picked[0], k, j

    def _best_swap(self, step: int, value: float, best: float
                   ) -> tuple[float, int, int] | None:
        """(score change, p, q) of the best allowed swap of a UE p among the step's rows
        with any UE q on another option."""
        a, load, size, ues, w, cost = self.a, self.load, self.size, self.ues, self.weight, \
            self.cost
        over = self._over(load)
        rows, n_rows = ues, max(SWAP_CELLS // len(ues), MIN_SWAP_ROWS)
        if len(ues) > n_rows:  # UEs on overloaded servers first, then drawn ones
            hot = np.flatnonzero(over[a] > 0)
            if len(hot) >= n_rows:
                rows = self.rng.choice(hot, n_rows, replace=False)
            else:
                cold = np.setdiff1d(ues, hot)
                rows = np.r_[hot, self.rng.choice(cold, n_rows - len(hot), replace=False)]
        jp, jq = a[rows][:, None], a[None, :]  # (R, 1), (1, N)
        # p's option loses p and gains q; q's option loses q and gains p.
        load_p = load[jp] - size[rows, a[rows]][:, None] + size[ues[None, :], jp]
        load_q = load[jq] - size[ues, a][None, :] + size[rows][:, a]
        dp, dq = self._over(load_p, jp) - over[jp], self._over(load_q, jq) - over[jq]
        dp, dq = np.where(jp == 0, 0.0, dp), np.where(jq == 0, 0.0, dq)
        gain = cost[rows[:, None], jq] + cost[ues[None, :], jp] \
            - cost[rows, a[rows]][:, None] - cost[ues, a][None, :]
        with np.errstate(invalid="ignore"):  # inf - inf: an unusable option, barred below
            score = gain + w[jp] * dp + w[jq] * dq
        score = np.where((jp == jq) | np.isnan(score), np.inf, score)
        feasible = over.sum() + dp + dq <= 0.0
        aspire = feasible & (value + gain < best * (1 - IMPROVE_RTOL))
        tabu = (self.tabu[rows[:, None], jq] > step) | (self.tabu[ues[None, :], jp] > step)
        picked = self._pick(np.where(tabu & ~aspire, np.inf, score))
        if picked is None:
            return None
        x, q = divmod(picked[1], len(ues))
        return picked[0], int(rows[x]), int(q)
