"""Packing the UEs that must offload: a feasible decision found by search.

A UE whose local execution misses its deadline must run on a server; every other UE can run
locally, which needs no server capacity. So an instance has a feasible decision exactly when
the must-offload UEs can be packed onto the servers: each on a server it can use, the f_min
of each server's UEs summing to at most its capacity. That is bin packing with sizes that
depend on the bin. Near full it can be hard for a MILP solver: HiGHS took 98 s to find a
packing of 72 UEs on 43 servers at 96% of the capacity.

`pack` searches for a packing directly, by tabu search on the total overload (the capacity
exceeded, summed over servers):
1. Start: with an objective, each UE on its cheapest usable server for it (its cost alone
   there), so that the packing found stays near cheap decisions; without one, best-fit
   decreasing: the UEs by their smallest f_min, largest first, each to the server it fits
   most tightly, or, where it fits nowhere, to the one it overloads least.
2. Steps: the best move of one UE to another server, or swap of a UE on an overloaded server
   with a UE on another server, by the change in overload, each server's weighted; a UE may
   not return to a server it just left for a few steps (tabu tenure, drawn), unless that
   reaches a new least overload. Every step raises the weight of the servers still
   overloaded (guided local search), which ends the cycles of a plain tabu search. Ties are
   broken at random (seeded).
3. Stop when nothing is overloaded (a packing), or when the budget is spent: `max_steps`
   steps, or `max_work` entries evaluated (each step evaluates its K x M moves and its
   swaps, plus a fixed STEP_WORK for the step itself). None: no packing found; that is no
   proof, see mecopt.certificate. The budget counts work, not seconds, so the answer is
   the same on a fast and a slow machine (a limit in seconds made greedy's rescue, and so
   its decision, depend on the machine's speed). `time_limit` (seconds, off by default) is
   there for callers that need a wall-clock bound as well.

The construction's rescue anchor (mecopt.construct.anchor) tries this search, started from
the cheapest servers for the construction's objective, before HiGHS's feasibility MILP: the
search finds near-full packings in a fraction of a second; the MILP can also prove that
none exists.
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.instance import Instance, server_load, usable_options
from mecopt.objective import Objective
from mecopt.units import alone_costs
from mecopt.waterfill import fits

# Default search budget: steps, and entries evaluated (whichever ends first). 40 million
# entries take about 1-2 s on one core; a 954 x 31 packing took 34 million.
PACK_MAX_STEPS = 20_000
PACK_MAX_WORK = 40_000_000
# The cost of a step beyond its entries (the Python around them), in entries: on few UEs
# the steps themselves dominate (39 x 3: about 110 us a step for 1,600 entries).
STEP_WORK = 2_000
# Tabu tenure: a UE that leaves a server may not return for TENURE + (0..TENURE_SPREAD-1)
# steps.
TENURE = 15
TENURE_SPREAD = 5
# Each step adds this to the weight of every server still overloaded (guided local search).
WEIGHT_STEP = 0.3
# Capacities are searched slightly reduced, so that the packing fits after rounding.
ROOM = 1e-9


def pack(instance: Instance, objective: Objective | str | None = None, *, seed: int = 0,
         max_steps: int = PACK_MAX_STEPS, max_work: int = PACK_MAX_WORK,
         time_limit: float | None = None) -> np.ndarray | None:
    """A feasible assignment (N,): the must-offload UEs packed onto servers, every other UE
    local (0); or None when the search finds no packing within its budget (no proof).
    `objective`: the search starts from each UE's cheapest server for it (else from
    best-fit decreasing)."""
    a = np.zeros(instance.n_ues, dtype=int)
    must = np.flatnonzero(~instance.local_ok)
    if not len(must):
        return a
    usable = usable_options(instance)[must, 1:]  # (K, M): reachable, meets the deadline, fits
    if not usable.any(axis=1).all():
        return None
    scale = float(instance.capacity_hz.max())  # sizes near 1: the search's sums stay exact
    size = np.where(usable, instance.f_min[must], np.inf) / scale  # (K, M)
    capacity = instance.capacity_hz * (1 - ROOM) / scale  # (M,)
    start = None
    if objective is not None:
        cost = alone_costs(instance, Objective.parse(objective))[must, 1:]
        start = np.argmin(np.where(usable, cost, np.inf), axis=1)
    deadline = None if time_limit is None else time.perf_counter() + time_limit
    search = _Search(size, capacity, np.random.default_rng(seed), start)
    found = search.run(max_steps, max_work, deadline)
    if found is None:
        return None
    a[must] = found + 1
    return a if fits(server_load(instance, a), instance.capacity_hz).all() else None


class _Search:
    """The tabu search of `pack` on K UEs and M servers: sizes (K, M) (inf: not usable),
    capacities (M,), the current server of each UE (K,) and the servers' loads (M,)."""

    def __init__(self, size: np.ndarray, capacity: np.ndarray, rng: np.random.Generator,
                 start: np.ndarray | None = None) -> None:
        """`start`: each UE's first server (K,); None: best-fit decreasing."""
        self.size, self.capacity, self.rng = size, capacity, rng
        K, M = size.shape
        self.ues = np.arange(K)
        self.tabu = np.zeros((K, M), dtype=np.int64)  # step until which UE k may not enter j
        self.weight = np.ones(M)  # per server: grows while it stays overloaded
        if start is not None:
            self.server = np.asarray(start, dtype=int).copy()
            self.load = np.bincount(self.server, weights=size[self.ues, self.server],
                                    minlength=M)
            return
        self.server = np.zeros(K, dtype=int)
        self.load = np.zeros(M)
        smallest = size.min(axis=1)
        for k in np.argsort(-smallest, kind="stable"):  # best-fit decreasing
            room = capacity - self.load - size[k]
            ok = np.isfinite(size[k])
            fit = ok & (room >= 0)
            j = (np.flatnonzero(fit)[np.argmin(room[fit])] if fit.any()
                 else np.flatnonzero(ok)[np.argmax(room[ok])])
            self.server[k] = j
            self.load[j] += size[k, j]

    def overload(self, load: np.ndarray, servers: np.ndarray | None = None) -> np.ndarray:
        """Capacity exceeded at `load`, of every server or of `servers` (same shape)."""
        capacity = self.capacity if servers is None else self.capacity[servers]
        return np.maximum(load - capacity, 0.0)

    def run(self, max_steps: int, max_work: int, deadline: float | None
            ) -> np.ndarray | None:
        """Search until nothing is overloaded: the server of each UE, or None."""
        best = float(self.overload(self.load).sum())
        work = 0
        for step in range(1, max_steps + 1):
            if best <= 0.0:
                break
            if work >= max_work or (deadline is not None and time.perf_counter() > deadline):
                break
            over = self.overload(self.load)
            hot = int((over[self.server] > 0).sum())  # the UEs whose swaps _best_swap weighs
            work += self.size.size + hot * len(self.ues) + STEP_WORK
            current = float(over.sum())
            move = self._best_move(step, current, best)
            swap = self._best_swap(step, current, best)
            if move is None and swap is None:
                if not self.tabu.any():
                    return None  # no UE can go anywhere: nothing to search
                continue  # every step is tabu for now
            if swap is not None and (move is None or swap[0] < move[0]):
                _, p, q = swap
                jp, jq = self.server[p], self.server[q]
                self._relocate(p, jq, step)
                self._relocate(q, jp, step)
            else:
                _, k, j = move
                self._relocate(k, j, step)
            # Recomputed, not updated: sums would drift by rounding over many steps.
            self.load = np.bincount(self.server, weights=self.size[self.ues, self.server],
                                    minlength=len(self.capacity))
            over = self.overload(self.load)
            best = min(best, float(over.sum()))
            self.weight += WEIGHT_STEP * (over > 0)
        if self.overload(self.load).sum() > 0.0:
            return None
        return self.server.copy()

    def _relocate(self, k: int, j: int, step: int) -> None:
        """UE k to server j; it may not return to its old server for a tenure. (`run`
        recomputes the loads after each step.)"""
        self.tabu[k, self.server[k]] = step + TENURE + int(self.rng.integers(TENURE_SPREAD))
        self.server[k] = j

    @staticmethod
    def _allowed(weighted: np.ndarray, change: np.ndarray, tabu: np.ndarray, current: float,
                 best: float) -> np.ndarray:
        """`weighted` with tabu steps barred (inf) unless their `change` of the overload
        reaches a new least overload."""
        return np.where(tabu & (current + change >= best), np.inf, weighted)

    def _pick(self, change: np.ndarray) -> tuple[float, int] | None:
        """(change, flat index) of a least finite entry, ties at random; None if none."""
        flat = change.ravel()
        low = flat.min() if flat.size else np.inf
        if not np.isfinite(low):
            return None
        ties = np.flatnonzero(flat <= low + 1e-15)
        return float(low), int(ties[self.rng.integers(len(ties))])

    def _best_move(self, step: int, current: float, best: float
                   ) -> tuple[float, int, int] | None:
        """(overload change, UE, server) of the best move of one UE to another server."""
        size, load, server, ues = self.size, self.load, self.server, self.ues
        over = self.overload(load)
        own = size[ues, server]  # (K,)
        leave = self.overload(load[server] - own, server) - over[server]  # (K,)
        enter = self.overload(load[None, :] + size) - over[None, :]  # (K, M)
        change = leave[:, None] + enter
        weighted = self.weight[server][:, None] * leave[:, None] + self.weight[None, :] * enter
        weighted[ues, server] = np.inf
        picked = self._pick(self._allowed(weighted, change, self.tabu > step, current, best))
        if picked is None:
            return None
        k, j = divmod(picked[1], len(self.capacity))
        return picked[0], k, j

    def _best_swap(self, step: int, current: float, best: float
                   ) -> tuple[float, int, int] | None:
        """(overload change, p, q) of the best swap of a UE p on an overloaded server with a
        UE q on another server."""
        size, load, server, ues = self.size, self.load, self.server, self.ues
        over = self.overload(load)
        hot = np.flatnonzero(over[server] > 0)
        if not len(hot):
            return None
        jp, jq = server[hot][:, None], server[None, :]  # (H, 1), (1, K)
        # p's server loses p and gains q; q's server loses q and gains p.
        load_p = load[jp] - size[hot, server[hot]][:, None] + size[ues[None, :], jp]
        load_q = load[jq] - size[ues, server][None, :] + size[hot][:, server]
        gain_p, gain_q = self.overload(load_p, jp) - over[jp], self.overload(load_q, jq) - over[jq]
        change = gain_p + gain_q
        weighted = self.weight[jp] * gain_p + self.weight[jq] * gain_q
        weighted = np.where((jp == jq) | np.isnan(weighted), np.inf, weighted)
        tabu = (self.tabu[hot[:, None], jq] > step) | (self.tabu[ues[None, :], jp] > step)
        picked = self._pick(self._allowed(weighted, change, tabu, current, best))
        if picked is None:
            return None
        x, q = divmod(picked[1], len(ues))
        return picked[0], int(hot[x]), int(q)
