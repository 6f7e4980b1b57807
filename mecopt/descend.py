"""The shared local search: a best-improvement descent that polishes a feasible assignment.

`descend` moves one UE, swaps two UEs, follows an ejection chain, applies cyclic and path
exchanges through several servers (mecopt.exchange), or for energy brings a UE onto a full
server by moving several off it (room moves, mecopt.room), over whole
neighbourhoods evaluated at once with `evaluate_batch`, after a cheap lower bound (`_Bound`)
has set aside the neighbours that cannot improve. DE, PG, LNS, the Pareto front's starts and
LAMBO's polish apply it to their best assignments.
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.errors import InputError
from mecopt.evaluation import evaluate, evaluate_batch
from mecopt.exchange import candidates
from mecopt.instance import Instance
from mecopt.objective import Objective
from mecopt.room import room_moves
from mecopt.waterfill import ServerFill, fits, waterfill

__all__ = ["descend"]


def descend(instance: Instance, objective: Objective | str, assignment: np.ndarray, *,
            swaps: bool = True, chains: bool = True, exchanges: bool = True,
            rooms: bool = True, deadline: float | None = None,
            max_work: float | None = None, max_rounds: int = 10_000
            ) -> tuple[np.ndarray, float]:
    """Best-improvement local search from a feasible assignment: (assignment, value).

    Each round evaluates a neighbourhood at once with `evaluate_batch` and takes its best
    feasible improvement, trying in turn until one improves:
    1. every single-UE move (UE i to any other deadline-meeting option);
    2. for energy, if `exchanges`, cyclic and path exchanges through up to
       mecopt.exchange.MAX_LENGTH servers, found in the improvement graph (mecopt.exchange;
       its chain costs are exact): the most negative chains, and all server-disjoint ones
       at once;
    3. if `swaps`, every exchange of the options of two UEs;
    4. if `chains`, ejection chains of depth two: a move from step 1 that would improve the
       objective but overloads its server (at most `_CHAIN_STARTS` of them, most promising
       first), combined with moving one UE already on that server to any other option;
    5. for energy, if `rooms`, room moves (mecopt.room): one UE onto a full server where it
       saves energy, and the UEs there that add the least energy per GHz freed to their
       cheapest other fitting options, as many as it takes; where none improves, the
       same with chains (an evictee may go to another full server that makes room for
       it the same way);
    6. for latency, if `exchanges`, the exchanges of step 2, last: each arc of the latency
       graph costs a server's water-filling, and here each chain found is a gain from a
       local optimum of steps 1-5, so the result is never worse than without them.
    Neighbours whose lower bound (`_Bound`) cannot beat the current value are skipped
    unevaluated (swap pairs are not even built unless a sum of one-UE terms below their
    bound's change can beat it, `_Bound.swaps`); the others are evaluated best bound
    first, a chunk at a time, until the next bound cannot beat the best value found (for
    energy the bound is the exact value, so the first chunk almost always decides); from
    _SCREEN_FROM UEs a latency chunk is screened on the servers each neighbour changes
    first, and only the neighbours that can be the chunk's best are water-filled in full
    (`_Screen`). The chain starts come from the
    moves that may overload a server and whose bound may beat the current value. None of
    this changes the result (save which of two equal-valued neighbours comes first), only
    the speed (docs/heuristics.md, "The shared repair", has the measurements).
    It stops at a local optimum, after `max_rounds`, at `deadline` (a time.perf_counter()
    value) or once `max_work` UE evaluations are spent (a neighbour evaluated counts N, one
    screened _SCREEN_WORK: a budget that, unlike a deadline, gives the same answer on any
    machine). Both are checked between neighbourhoods and between chunks of one, so a large
    swap neighbourhood cannot overrun them by more than one chunk. It never returns
    something worse or infeasible.
    """
    objective = Objective.parse(objective)
    a = np.asarray(assignment, dtype=int).copy()
    first = evaluate_batch(instance, a[None])
    if not first.feasible[0]:
        raise InputError("assignment: descend needs a feasible starting assignment")
    search = _Descent(instance, objective, a, float(first.value(objective)[0]),
                      first.allocation_hz[0], _Budget(deadline, max_work))
    for _ in range(max_rounds):
        if search.late():
            break
        best = search.improve(swaps=swaps, chains=chains, exchanges=exchanges, rooms=rooms)
        if best is None:
            break
        search.a, search.value, search.allocation = best
    return search.a, search.value


class _Budget:
    """When a descent stops: a time.perf_counter() `deadline` and/or `work`, a number of UE
    evaluations (N per neighbour evaluated, _SCREEN_WORK per neighbour screened)."""

    def __init__(self, deadline: float | None, work: float | None) -> None:
        self.deadline, self.work, self.spent = deadline, work, 0

    def spend(self, evaluations: int) -> None:
        self.spent += evaluations

    def over(self) -> bool:
        return ((self.work is not None and self.spent >= self.work)
                or (self.deadline is not None and time.perf_counter() >= self.deadline))


class _Descent:
    """The state of one `descend`: the current assignment and value, and its neighbourhoods."""

    def __init__(self, instance: Instance, objective: Objective, a: np.ndarray, value: float,
                 allocation: np.ndarray, budget: _Budget) -> None:
        self.instance, self.objective, self.budget = instance, objective, budget
        self.a, self.value, self.allocation = a, value, allocation  # allocation: water-filled
        self.ok = instance.option_ok
        self.options = np.arange(self.ok.shape[1])
        self.bound = _Bound(instance, objective)
        self.energy = objective is Objective.ENERGY

    def late(self) -> bool:
        return self.budget.over()

    def anchored_bound(self) -> _Bound:
        """The bound, anchored at the current assignment (`_Bound.anchor`, made once per
        assignment)."""
        bound = self.bound
        if bound.anchored is None or not np.array_equal(self.a, bound.anchored):
            bound.anchor(self.a, self.allocation)
        return bound

    def improve(self, *, swaps: bool, chains: bool, exchanges: bool, rooms: bool
                ) -> tuple[np.ndarray, float, np.ndarray] | None:
        """One round: the best improving move, else (energy) exchange, else swap, else
        ejection chain, else (energy) room move, else (latency) exchange, as (assignment,
        value, allocation); or None."""
        a, ok = self.a, self.ok
        ue, opt = np.nonzero(ok & (self.options[None] != a[:, None]))
        best = self.best_of(ue[:, None], opt[:, None])
        if best is None and exchanges and self.energy and not self.late():
            # Energy's graph is exact and cheaper than the swaps below, which it mostly
            # contains (two-cycles, and paths through a local UE).
            best = self._exchange()
        if best is None and swaps and not self.late():
            bound = self.anchored_bound() if self.bound.latency else self.bound
            i, j = bound.swaps(a, ok, self.value, anchored=bound.latency)
            best = self.best_of(np.stack([i, j], 1), np.stack([a[j], a[i]], 1))
        if best is None and chains and not self.late():
            # The chain starts need every move's value, so only now are all moves evaluated.
            promising = self.chain_starts(ue, opt)
            if len(promising):
                best = self.best_of(*_ejections(ok, a, ue[promising], opt[promising]))
        if best is None and rooms and self.energy and not self.late():
            best = _best(self.instance, self.objective,
                         room_moves(self.instance, a, chains=False), self.value,
                         self.budget)[0]
        if best is None and rooms and self.energy and not self.late():
            # Chains through a second full server only where single room moves find
            # nothing: the descent then follows the same path and can only end lower.
            best = _best(self.instance, self.objective, room_moves(self.instance, a),
                         self.value, self.budget)[0]
        if best is None and exchanges and not self.energy and not self.late():
            # Latency's exchanges come last: its graph water-fills a server per arc, and
            # from a local optimum of the rest each chain is a strict gain.
            best = self._exchange()
        return best

    def _exchange(self) -> tuple[np.ndarray, float, np.ndarray] | None:
        """The best improving exchange (mecopt.exchange) among the most negative chains
        and all server-disjoint ones at once; or None."""
        cand = candidates(self.instance, self.objective, self.a, combine=True)
        return _best(self.instance, self.objective, cand, self.value, self.budget)[0]

    def best_of(self, ues: np.ndarray, opts: np.ndarray
                ) -> tuple[np.ndarray, float, np.ndarray] | None:
        """The best improving neighbour among a (ues, opts) neighbourhood: the neighbours
        the bound does not rule out are evaluated best bound first, a chunk at a time, until
        the next bound cannot beat the best value found."""
        a, value, bound = self.a, self.value, self.bound
        low = bound.of(a, ues, opts)
        keep = low < value - _BOUND_MARGIN * abs(value)  # only what may improve
        ues, opts, low = ues[keep], opts[keep], low[keep]
        if bound.latency and len(low) > _ANCHOR_FROM:  # worth the anchored bound's cost
            low = self.anchored_bound().of(a, ues, opts, anchored=True)
            keep = low < value - _BOUND_MARGIN * abs(value)
            ues, opts, low = ues[keep], opts[keep], low[keep]
        if self.energy:  # capacity is energy's only constraint: skip what cannot fit
            fit = bound.fits(a, ues, opts, slack=_PRUNE_SLACK)
            ues, opts, low = ues[fit], opts[fit], low[fit]
        order = np.argsort(low, kind="stable")
        best, bar = None, value
        first, size = 0, _SHORTLIST
        screen = None if self.energy or len(a) < _SCREEN_FROM \
            else _Screen(self.instance, a, self.allocation, bound)
        while first < len(order):
            if first and (self.late() or low[order[first]] >= bar - _BOUND_MARGIN * abs(bar)):
                break
            idx = order[first:first + size]
            u, o = ues[idx], opts[idx]
            if screen is not None:  # only the shortlisted neighbours are built
                keep = screen.shortlist(u, o, bar)
                self.budget.spend(len(u) * _SCREEN_WORK)
                u, o = u[keep], o[keep]
            cand = _apply(a, u, o)
            found, _ = _best(self.instance, self.objective, cand, bar, self.budget)
            if found is not None:
                best, bar = found, found[1]
            first, size = first + size, 2 * size
        return best

    def chain_starts(self, ue: np.ndarray, opt: np.ndarray) -> np.ndarray:
        """Among the moves (UE ue[r] to option opt[r]), those that would improve but overload
        their server, most promising first."""
        a, value, bound = self.a, self.value, self.bound
        if self.energy:  # exact values and loads, no water-filling needed
            low = bound.of(a, ue[:, None], opt[:, None])
            over = ~bound.fits(a, ue[:, None], opt[:, None])
            near = np.flatnonzero(over & (low < value - 1e-12 * abs(value)))
            return near[np.argsort(low[near], kind="stable")][:_CHAIN_STARTS]
        # Only moves that may overload a server can be chain starts, and only those whose
        # value (as evaluate_batch reports it, f = f_min where overloaded) may beat ours.
        # They are water-filled best bound first, a chunk at a time, until the next bound
        # lies above the _CHAIN_STARTS-th best value found (by more than rounding): the
        # others cannot be among the most promising.
        loose, strict = bound.fits_at(a, ue[:, None], opt[:, None], (_PRUNE_SLACK, -_PRUNE_SLACK))
        low = self.anchored_bound().of_moves_reported(a, ue, opt, sure=~loose)
        near = np.flatnonzero(~strict & (low < value + 1e-9 * abs(value)))
        near = near[np.argsort(low[near], kind="stable")]
        target = value - 1e-12 * abs(value)  # what `_best` counts as beating `value`
        moves, values = np.zeros(0, dtype=int), np.zeros(0)
        first, size = 0, _SHORTLIST
        while first < len(near):
            if first and self.late():
                break
            if len(values) >= _CHAIN_STARTS:
                kth = np.partition(values, _CHAIN_STARTS - 1)[_CHAIN_STARTS - 1]
                if low[near[first]] > kth + 1e-9 * abs(value):
                    break
            idx = near[first:first + size]
            batch = evaluate_batch(self.instance, _apply(a, ue[idx, None], opt[idx, None]))
            raw = batch.value(self.objective)
            hit = ~batch.feasible & (raw < target)
            moves, values = np.r_[moves, idx[hit]], np.r_[values, raw[hit]]
            first, size = first + size, 2 * size
        # Best value first, ties by move index: the order of evaluating all of them.
        return moves[np.lexsort((moves, values))][:_CHAIN_STARTS]


# How many overloading moves an ejection-chain round starts from (the most promising ones).
_CHAIN_STARTS = 32
# Latency neighbours left after the plain bound from which the anchored bound is worth its
# cost (on paper and hetero few are left and evaluating them is cheaper).
_ANCHOR_FROM = 256
# Neighbours evaluated in the first chunk, best bound first; each later chunk is twice as
# large. For energy the bound is the exact value, so the first chunk almost always decides.
_SHORTLIST = 4
# A neighbour is evaluated only when its bound lies below the value to beat by more than
# this (relative). `_best` takes only gains above 1e-12 of the value, and the bound is the
# exact energy or a lower bound on the latency, both up to rounding far below the margin, so
# no neighbour that `_best` would take is skipped. A tie is: swapping two identical UEs, or
# moving one between two identical servers, changes nothing, and with a margin above zero
# every tie was evaluated (490 identical UEs on 8 identical servers: some 100,000 tied swaps
# per round, 12 s for one energy polish).
_BOUND_MARGIN = 5e-13
# Relative margin of the bound's own capacity test, whose loads are summed in another order
# than water-filling's: energy neighbours are skipped unevaluated only when they overload a
# server by more than this, and latency chain starts are taken among the moves that come
# within it of a capacity. Far above waterfill's FIT_TOL, so neither loses a neighbour.
_PRUNE_SLACK = 1e-9


def _apply(a: np.ndarray, ues: np.ndarray, opts: np.ndarray) -> np.ndarray:
    """The neighbours (P, N) of `a` that set UEs ues[p] (P, c) to options opts[p]."""
    rows = np.repeat(a[None], len(ues), axis=0)
    rows[np.arange(len(ues))[:, None], ues] = opts
    return rows


def _ejections(ok: np.ndarray, a: np.ndarray, ue: np.ndarray,
               opt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ues, opts) (P, 2): for each start (UE ue[r] moved to server opt[r]), that move plus
    moving one other UE already on that server to any other deadline-meeting option."""
    options = np.arange(ok.shape[1])
    ues, opts = [], []
    for i, k in zip(ue, opt, strict=True):
        on_k = np.flatnonzero(a == k)
        on_k = on_k[on_k != i]
        j, o = np.nonzero(ok[on_k] & (options[None] != k))
        ues.append(np.stack([np.full(len(j), i), on_k[j]], 1))
        opts.append(np.stack([np.full(len(j), k), o], 1))
    if not ues:
        return np.zeros((0, 2), dtype=int), np.zeros((0, 2), dtype=int)
    return np.concatenate(ues), np.concatenate(opts)


class _Bound:
    """A lower bound on the objective value of neighbours of an assignment, if feasible,
    computed from the changes alone (far cheaper than `evaluate_batch`): local search
    skips the neighbours that cannot improve.

    Energy does not depend on the allocation, so its bound is the exact total energy.
    Latency: a server's compute time sum_i C_i / f_i under sum_i f_i <= F_j is at least
    (sum_i sqrt C_i)^2 / F_j (the water-filling value when no f_min binds), so the bound is
    the mean of every UE's t_loc or t_tx plus those server terms. `anchor` makes it tighter
    for the neighbours of one assignment (`of(..., anchored=True)`): a server a neighbour
    leaves unchanged keeps its exact compute time (water-filling shares a server's capacity
    among its own UEs only), and a changed one is also bounded by its Lagrangian at the
    current capacity price, sum over its UEs of min over f >= f_min of (C / f + price * f),
    less price * F (weak duality; exact for the current UE set). Where f_min binds, the
    plain bound rules out few neighbours: on a world instance of 495 UEs on 3 servers a
    polish took 37 s of swap rounds with the plain bound alone, 1.8 s with the anchored
    one. Options out of reach give inf. `fits` checks the servers' minimum allocations
    against their capacities, from the changes alone too.
    """

    def __init__(self, instance: Instance, objective: Objective) -> None:
        local, remote = ((instance.e_loc, instance.e_tx) if objective is Objective.ENERGY
                         else (instance.t_loc, instance.t_tx))
        self.fixed = np.concatenate([local[:, None], remote], axis=1)  # (N, M+1) per option
        self.root = np.repeat(np.sqrt(instance.cycles)[:, None], self.fixed.shape[1], axis=1)
        # f_min per option (local 0; inf where the pair cannot meet the deadline).
        self.f_min = np.concatenate([np.zeros((instance.n_ues, 1)), instance.f_min], axis=1)
        self.capacity = instance.capacity_hz
        self.capacity_k = np.r_[1.0, self.capacity]  # per option column (local's 1 unread)
        self.latency = objective is Objective.LATENCY
        with np.errstate(divide="ignore"):  # C / f_min: 0 for local and unusable pairs
            self.c_over_f_min = np.where((self.f_min > 0) & np.isfinite(self.f_min),
                                         instance.cycles[:, None] / self.f_min, 0.0)
        self.cycles = instance.cycles
        self.anchored: np.ndarray | None = None  # the assignment `exact` belongs to
        self.exact = np.zeros(instance.n_servers)  # its per-server compute times [s]

    def anchor(self, a: np.ndarray, allocation: np.ndarray) -> None:
        """Record the exact per-server compute times of the feasible assignment `a` under
        its water-filled `allocation` (N,) and each server's capacity price, for the latency
        bound of its neighbours."""
        M = len(self.capacity)
        on = a > 0
        j = a[on] - 1
        c, f, m = self.cycles[on], allocation[on], self.f_min[on, a[on]]
        self.exact = np.bincount(j, weights=c / f, minlength=M)
        # The price: water-filling gives f = sqrt(C / price) to every UE above its f_min.
        # Where every UE sits at f_min, any price from max C / f_min^2 up fits; an empty
        # server gets 0 (its Lagrangian term is then 0 and the plain term decides).
        free = f > m * (1 + 1e-9)
        price = np.zeros(M)
        np.maximum.at(price, j, np.where(free, 0.0, c / m ** 2))
        with np.errstate(invalid="ignore"):
            mean = (np.bincount(j[free], weights=c[free] / f[free] ** 2, minlength=M)
                    / np.bincount(j[free], minlength=M))
        price = np.where(np.isfinite(mean), mean, price)
        # Each (UE, server) pair's share of the Lagrangian: min over f >= f_min of
        # C / f + price * f, so that the sum over a server's UEs less price * F bounds its
        # compute time for any UE set (weak duality), exactly for the current one.
        usable = np.isfinite(self.f_min[:, 1:]) & (self.f_min[:, 1:] > 0)
        fm = np.where(usable, self.f_min[:, 1:], 1.0)
        C = self.cycles[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            h = np.where(np.sqrt(C / price[None, :]) >= fm, 2 * np.sqrt(C * price[None, :]),
                         C / fm + price[None, :] * fm)
        self.share = np.c_[np.zeros(len(C)), np.where(usable, h, 0.0)]
        self.price = price
        self.price_k = np.r_[0.0, price]
        self.anchored = a.copy()

    def swaps(self, a: np.ndarray, ok: np.ndarray, value: float, anchored: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
        """The swaps that may beat `value` by `of`'s test, as UE pairs (i, j), i < j, in
        that order (the order of all pairs, which breaks ties in the descent): UEs on two
        different options, each allowed on the other's.

        A swap's bound is the current one plus its change, and that change is at least
        L[i, a[j]] + L[j, a[i]], where L[u, o] is the change of UE u's own term and the
        first-order change of the server terms when u alone moves to o (latency: a server's
        (sum sqrt C)^2 / F is convex in the sum, so the swap's change is at least its
        gradient times the change of the sum; energy: exact). So only pairs with L[i, a[j]]
        + L[j, a[i]] below the margin to `value` can pass `of`'s test: from each (i, o),
        the UEs on o that could complete such a pair are found through the least L of o's
        UEs per option. At a local optimum of the moves this leaves a few thousand of the
        hundreds of thousands of pairs that trade options at 2,000 UEs.

        Where deadlines bind, that bound is loose and most pairs stay. anchored=True
        (latency, `a` the assignment last given to `anchor`) also requires the anchored
        bound's change to be below the margin, through its Lagrangian part, which is a sum
        of one-UE terms too: a pair it rules out cannot improve, so the best improving swap
        is kept (among equal values another may be evaluated first).
        """
        N, K = self.fixed.shape
        rows = np.arange(N)
        own = self.fixed[rows, a]
        target = value - _BOUND_MARGIN * abs(value)
        if self.latency:
            roots = np.bincount(a, weights=self.root[rows, a], minlength=K)[1:]
            slope = np.r_[0.0, 2 * roots / self.capacity]  # d(sum^2 / F) / d(sum); local 0
            tests = [(own.sum() + (roots ** 2 / self.capacity).sum(),
                      self.fixed - own[:, None] + self.root * (slope[None] - slope[a][:, None]))]
            if anchored:
                # A changed server's anchored term is at least its Lagrangian less the
                # dual, which moves by the shares of the UEs that join and leave; `slack`
                # is that Lagrangian less the exact time now (0 where the capacity is used).
                exact = np.r_[0.0, self.exact]
                share_now = self.share[rows, a]
                slack = (np.bincount(a, weights=share_now, minlength=K)
                         - self.price_k * self.capacity_k - exact)
                tests.append((own.sum() + exact.sum(), self.fixed - own[:, None]
                              + self.share - share_now[:, None] + slack[None, :]))
            target *= N  # `of` divides the latency sum by N
        else:
            tests = [(own.sum(), self.fixed - own[:, None])]
        # `of` keeps a swap when base + its change < target; each limit is looser than
        # that by far more than the sums' rounding.
        limits, changes = [], []
        for base, change in tests:
            with np.errstate(invalid="ignore"):  # inf - inf for unusable pairs, masked next
                change = np.where(ok, change, np.inf)
            change[rows, a] = np.inf  # staying is not a move
            changes.append(change)
            limits.append(target - base + 1e-9 * (abs(target) + abs(base)))
        # The UEs grouped by option (each group in index order) and each group's least
        # change to every option: least[o, p] over the UEs on o of their change to p.
        by_option = np.argsort(a, kind="stable")
        count = np.bincount(a, minlength=K)
        first = np.cumsum(count) - count
        present = np.flatnonzero(count)
        # (i, o): i's move to o can be half of a pair below every limit; its partners are
        # the UEs on o, each tested with its own change to a[i].
        half = np.ones((N, K), dtype=bool)
        for change, limit in zip(changes, limits, strict=True):
            least = np.full((K, K), np.inf)
            least[present] = np.minimum.reduceat(change[by_option], first[present], axis=0)
            half &= change + least.T[a] < limit
        ue, opt = np.nonzero(half)
        n = count[opt]
        row = np.repeat(np.arange(len(ue)), n)
        j = by_option[np.repeat(first[opt] - np.cumsum(n) + n, n) + np.arange(n.sum())]
        i, o = ue[row], opt[row]
        keep = i < j  # each pair is found from both of its UEs
        i, j, o = i[keep], j[keep], o[keep]
        for change, limit in zip(changes, limits, strict=True):
            keep = change[i, o] + change[j, a[i]] < limit
            i, j, o = i[keep], j[keep], o[keep]
        order = np.argsort(i * N + j, kind="stable")
        return i[order], j[order]

    def fits(self, a: np.ndarray, ues: np.ndarray, opts: np.ndarray,
             slack: float = 0.0) -> np.ndarray:
        """(P,) whether every server still holds the minimum allocations of its UEs after
        the changes (`mecopt.waterfill.fits` on capacities scaled by 1 + slack): at slack 0
        necessary for feasibility, and for energy sufficient."""
        return self.fits_at(a, ues, opts, (slack,))[0]

    def fits_at(self, a: np.ndarray, ues: np.ndarray, opts: np.ndarray,
                slacks: tuple[float, ...]) -> list[np.ndarray]:
        """`fits` at each of `slacks`, the neighbours' loads summed once."""
        changes = _Changes(a, ues, opts, self.f_min.shape[1])
        base, after = changes.sums(self.f_min)
        verdicts = []
        for slack in slacks:
            capacity = self.capacity_k * (1 + slack)
            with np.errstate(invalid="ignore"):  # inf - inf where a UE leaves an unusable pair
                base_ok = fits(base, capacity)
                out = np.ones(len(ues), dtype=bool)
                for (col, counted, _), load in zip(changes.servers, after, strict=True):
                    out &= fits(load, capacity[col]) | ~counted
            base_ok[0] = True
            if not base_ok.all():  # a server over capacity already fits only if changed to
                over = sum((counted & ~base_ok[col]).astype(int)
                           for col, counted, _ in changes.servers)
                out &= over == np.count_nonzero(~base_ok)
            verdicts.append(out)
        return verdicts

    def of(self, a: np.ndarray, ues: np.ndarray, opts: np.ndarray,
           overloaded: bool = False, anchored: bool = False) -> np.ndarray:
        """(P,) bounds of the neighbours that set UEs ues[p] (P, c) to options opts[p].

        anchored=True (latency, `a` the assignment last given to `anchor`) keeps the exact
        compute time of each server a neighbour leaves unchanged and bounds the others by
        the larger of the two bounds above: tighter, and a little dearer to compute.

        overloaded=True bounds the value `evaluate_batch` reports even for a neighbour that
        overloads a server: there it computes with f = f_min, whose sum C_i / f_min can be
        below (sum sqrt C_i)^2 / F_j, so each server counts the smaller of the two (for a
        server that fits it is the first).
        """
        N, K = self.fixed.shape
        changes = _Changes(a, ues, opts, K)
        total = changes.total(self.fixed)
        if not self.latency:
            return total
        # Each server's term before (K,) and, at the changed servers, after (P,): the
        # neighbour's server terms are the current ones plus the changes.
        capacity = self.capacity_k
        base, roots = changes.sums(self.root)
        before = base ** 2 / capacity
        after = [r ** 2 / capacity[col] for (col, _, _), r in zip(changes.servers, roots,
                                                                   strict=True)]
        if overloaded:
            base, at_min = changes.sums(self.c_over_f_min)
            before = np.minimum(before, base)
            after = [np.minimum(x, y) for x, y in zip(after, at_min, strict=True)]
        elif anchored:
            _, shares = changes.sums(self.share)
            before = np.r_[0.0, self.exact]
            dual = self.price_k * capacity
            after = [np.maximum(x, y - dual[col])
                     for (col, _, _), x, y in zip(changes.servers, after, shares, strict=True)]
        total = total + before[1:].sum()
        for (col, counted, _), x in zip(changes.servers, after, strict=True):
            total = total + np.where(counted, x - before[col], 0.0)
        return total / N

    def of_moves_reported(self, a: np.ndarray, ue: np.ndarray, opt: np.ndarray,
                          sure: np.ndarray) -> np.ndarray:
        """(P,) bounds of the value `evaluate_batch` reports for the moves of UE ue[p] to
        option opt[p] (not its own) from `a`, the feasible assignment last given to
        `anchor`, overloading or not. The server a move leaves still fits: its anchored
        bound. The server it joins: where `sure` (it overloads even at 1 + _PRUNE_SLACK
        times its capacity) its sum of C / f_min, the value reported there (f = f_min);
        elsewhere the smaller of that and the plain bound, as of(overloaded=True). The
        other servers keep their exact compute times."""
        N, K = self.fixed.shape
        changes = _Changes(a, ue[:, None], opt[:, None], K)
        (join, join_counted, _), (leave, leave_counted, _) = changes.servers
        _, (root_join, root_leave) = changes.sums(self.root)
        _, (min_join, _) = changes.sums(self.c_over_f_min)
        _, (_, share_leave) = changes.sums(self.share)
        capacity, before = self.capacity_k, np.r_[0.0, self.exact]
        joined = np.where(sure, min_join, np.minimum(root_join ** 2 / capacity[join], min_join))
        left = np.maximum(root_leave ** 2 / capacity[leave],
                          share_leave - self.price_k[leave] * capacity[leave])
        total = (changes.total(self.fixed) + before[1:].sum()
                 + np.where(join_counted, joined - before[join], 0.0)
                 + np.where(leave_counted, left - before[leave], 0.0))
        return total / N


class _Changes:
    """What P neighbours of an assignment `a` change, each setting UEs ues[p] (P, c) to
    options opts[p]: the servers, at most 2c of the M, that a UE joins or leaves. The bound
    reads those alone (reading all M per neighbour was most of a latency descent's time at
    1,000-2,000 UEs, where a swap round has a million neighbours). `servers` lists, per
    changed place, (its option column (P,), counted (P,): False for local and for a repeat
    of an earlier place, the terms (sign, flat index into an (N, K) array, where (P,) or
    None) that the change adds there)."""

    def __init__(self, a: np.ndarray, ues: np.ndarray, opts: np.ndarray, K: int) -> None:
        self.a, self.K = a, K
        c = ues.shape[1]
        cur = a[ues]
        self.joins, self.leaves = ues * K + opts, ues * K + cur  # flat indices (P, c)
        # A move or a swap (most rounds): two distinct servers change, no repeats to find.
        if c == 1 and np.all(opts != cur):
            self.servers = [(opts[:, 0], opts[:, 0] > 0, [(1, self.joins[:, 0], None)]),
                            (cur[:, 0], cur[:, 0] > 0, [(-1, self.leaves[:, 0], None)])]
        elif c == 2 and np.array_equal(opts, cur[:, ::-1]) and np.all(cur[:, 0] != cur[:, 1]):
            self.servers = [(opts[:, k], opts[:, k] > 0,
                             [(1, self.joins[:, k], None), (-1, self.leaves[:, 1 - k], None)])
                            for k in range(2)]
        else:
            places = [*opts.T, *cur.T]
            self.servers = []
            for s, col in enumerate(places):
                counted = col > 0
                for earlier in places[:s]:
                    counted &= earlier != col
                terms = ([(1, self.joins[:, k], opts[:, k] == col) for k in range(c)]
                         + [(-1, self.leaves[:, k], cur[:, k] == col) for k in range(c)])
                self.servers.append((col, counted, terms))

    def total(self, w: np.ndarray) -> np.ndarray:
        """(P,) the sum over all UEs of w (N, K) (UE i on option o counting w[i, o]) after
        each neighbour's changes."""
        out = w[np.arange(len(self.a)), self.a].sum()
        for k in range(self.joins.shape[1]):
            out = out + (np.take(w, self.joins[:, k]) - np.take(w, self.leaves[:, k]))
        return out

    def sums(self, w: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """(the per-option-column sums (K,) of w (N, K) for `a`, the sums after each
        neighbour's changes at each place of `servers` (P,))."""
        base = np.bincount(self.a, weights=w[np.arange(len(self.a)), self.a], minlength=self.K)
        after = []
        for col, _, terms in self.servers:
            total = base[col]
            for sign, index, where in terms:
                x = np.take(w, index)
                x = x if where is None else np.where(where, x, 0.0)
                total = total + x if sign > 0 else total - x
            after.append(total)
        return base, after


class _Screen:
    """Latency: which neighbours of the current assignment `_best` must water-fill in full.

    A neighbour's mean latency differs from the current one only on the servers it changes,
    so water-filling those alone (a few of the M) gives its value to rounding (about 1e-15
    relative). Only the neighbours within _SCREEN_TOL of the best of these values are then
    evaluated exactly, with those whose capacity test is too close to call; the exact
    evaluation picks the neighbour the full chunk would give (any other is worse by more than
    the screen's error; only a tie within rounding, which the full evaluation breaks by its
    own rounding too, could go another way), so the descent takes the same steps."""

    def __init__(self, instance: Instance, a: np.ndarray, allocation: np.ndarray,
                 bound: _Bound) -> None:
        self.instance, self.a, self.bound = instance, a, bound
        self.t_tx = np.c_[np.zeros(instance.n_ues), instance.t_tx]  # per option column
        lat = evaluate(instance, a, allocation).latency_s  # each UE's, as it is now
        self.total = lat.sum()
        K = instance.n_servers + 1
        self.per_option = np.bincount(a, weights=lat, minlength=K)
        self.tx_per_option = np.bincount(a, weights=self.t_tx[np.arange(len(a)), a],
                                         minlength=K)
        self._fill: ServerFill | None = None  # made for the first large chunk

    def values(self, ues: np.ndarray, opts: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean latency of each neighbour (P,), whether its changed servers fit (P,),
        unsure (P,): its value could not be screened exactly, see ServerFill.times). The
        neighbours are `a` with UEs ues[p] set to opts[p]."""
        inst, a = self.instance, self.a
        P, K = len(ues), inst.n_servers + 1
        cur = a[ues]
        changed = np.zeros((P, K), dtype=bool)
        rows = np.repeat(np.arange(P), ues.shape[1])
        changed[rows, opts.ravel()] = changed[rows, cur.ravel()] = True
        changed[:, 0] = False
        if P * inst.n_ues < _SORTED_SCREEN_FROM:
            # A small chunk: water-filling its neighbours' changed servers outright costs
            # less than the sorted servers' fixed number of operations.
            cand = _apply(a, ues, opts)
            member = changed[np.arange(P)[:, None], cand]  # (P, N): on a changed server
            alloc, server_ok = waterfill(inst, np.where(member, cand, 0))
            p, i = np.nonzero(member)
            lat = self.t_tx[i, cand[p, i]] + inst.cycles[i] / alloc[p, i]
            after = np.bincount(p, weights=lat, minlength=P)
            all_fit, unsure = server_ok.all(axis=1), np.zeros(P, dtype=bool)
        else:
            after, all_fit, unsure = self._sorted(ues, opts, cur, changed)
        before = (changed * self.per_option).sum(axis=1)
        t_loc = inst.t_loc[ues]
        local = ((opts == 0) * t_loc).sum(axis=1) - ((cur == 0) * t_loc).sum(axis=1)
        value = (self.total - before + after + local) / inst.n_ues
        return value, all_fit & inst.option_ok[ues, opts].all(axis=1), unsure

    def _sorted(self, ues: np.ndarray, opts: np.ndarray, cur: np.ndarray, changed: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`values`' sums over the changed servers from their sorted UEs (ServerFill):
        (the neighbours' latency sums there (P,), whether those servers fit (P,), unsure (P,))."""
        if self._fill is None:
            self._fill = ServerFill(self.instance, self.a)
        P = len(ues)
        # One group per changed server of each neighbour, with the UEs that leave and join it.
        gp, gk = np.nonzero(changed)
        col = gk[:, None]
        leave = np.where(cur[gp] == col, ues[gp], -1)
        join = np.where(opts[gp] == col, ues[gp], -1)
        compute, fit, unsure = self._fill.times(gk - 1, leave, join)
        tx = (self.tx_per_option[gk]
              - np.where(leave >= 0, self.t_tx[np.maximum(leave, 0), col], 0.0).sum(axis=1)
              + np.where(join >= 0, self.t_tx[np.maximum(join, 0), col], 0.0).sum(axis=1))
        after = np.bincount(gp, weights=tx + compute, minlength=P)
        all_fit = np.bincount(gp, weights=~fit, minlength=P) == 0
        unsure = np.bincount(gp, weights=unsure, minlength=P) > 0
        if ues.shape[1] > 1:  # a UE named twice in one neighbour: not a set of changes
            unsure |= (np.sort(ues, axis=1)[:, 1:] == np.sort(ues, axis=1)[:, :-1]).any(axis=1)
        return after, all_fit, unsure

    def shortlist(self, ues: np.ndarray, opts: np.ndarray, value: float) -> np.ndarray:
        """(P,) bool: the neighbours to evaluate exactly, those that may beat `value` as
        `_best` counts it (relative 1e-12) and are within _SCREEN_TOL of the best screened
        value, or whose capacity test the screen cannot call."""
        screened, fit, unsure = self.values(ues, opts)
        tol = _SCREEN_TOL * abs(value)
        loose, strict = self.bound.fits_at(self.a, ues, opts, (_SCREEN_TOL, -_SCREEN_TOL))
        near = (loose & ~strict) | unsure
        sure = fit & ~near & (screened < value - 1e-12 * abs(value) + tol)
        out = near.copy()
        if sure.any():
            out |= sure & (screened <= screened[sure].min() + tol)
        return out


# Relative margin of the screen: far above its rounding error (1e-15), far below the gaps
# between neighbours that matter.
_SCREEN_TOL = 1e-9
# Chunks of at least this many (neighbour, UE) cells are screened from the servers' sorted
# UEs (waterfill.ServerFill); smaller ones water-fill their changed servers outright.
_SORTED_SCREEN_FROM = 20_000
# UEs from which latency descents screen their neighbours: on smaller instances a full
# evaluation is cheap and the screen's own work made library descents slower (0.45 s ->
# 0.7-1.0 s for 24 latency descents), from 300 UEs it makes them 1.2-1.4 times faster.
_SCREEN_FROM = 200
# What screening one neighbour costs, in exact UE evaluations (`descend`'s max_work): 3.4-8.7
# microseconds a neighbour against 150 ns a UE evaluated on latency descents of 573-1,738 UEs.
_SCREEN_WORK = 30


def _best(instance: Instance, objective: Objective, cand: np.ndarray, value: float,
          budget: _Budget | None = None
          ) -> tuple[tuple[np.ndarray, float, np.ndarray] | None, np.ndarray]:
    """(best, promising): the best feasible candidate if it improves on `value` (relative
    1e-12), as (assignment, value, water-filled allocation), else None; and the indices of
    infeasible candidates whose objective value (with f = f_min on overloaded servers)
    beats `value`, best first, at most _CHAIN_STARTS.
    Once `budget` is spent the remaining chunks are skipped (the first is always
    evaluated, and counted)."""
    if not len(cand):
        return None, np.zeros(0, dtype=int)
    target = value - 1e-12 * abs(value)
    best_k, best_v, best_f = -1, target, None
    promising_k, promising_v = [], []
    for start in range(0, len(cand), 2048):  # bounded memory for large swap neighbourhoods
        if start and budget is not None and budget.over():
            break
        chunk = cand[start:start + 2048]
        batch = evaluate_batch(instance, chunk)
        if budget is not None:
            budget.spend(chunk.size)
        raw = batch.value(objective)
        v = np.where(batch.feasible, raw, np.inf)
        k = int(np.argmin(v))
        if v[k] < best_v:
            best_k, best_v, best_f = start + k, float(v[k]), batch.allocation_hz[k]
        near = np.flatnonzero(~batch.feasible & (raw < target))
        promising_k.append(start + near)
        promising_v.append(raw[near])
    pk, pv = np.concatenate(promising_k), np.concatenate(promising_v)
    promising = pk[np.argsort(pv, kind="stable")][:_CHAIN_STARTS]
    return (None if best_k < 0 else (cand[best_k].copy(), best_v, best_f.copy())), promising
