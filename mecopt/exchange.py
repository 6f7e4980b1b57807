"""Cyclic and path exchanges: the moves of several UEs through several servers at once.

An exchange is a chain of UEs v0 -> v1 -> ... -> vk: v0 moves to v1's server, v1 moves to
v2's server, and so on, each server of the chain gaining one UE and losing one. The last
UE either closes the cycle (vk moves to v0's server, a *cyclic* exchange) or goes to an
option where nobody leaves (a server outside the chain or local, a *path* exchange, whose
first server only loses v0). `descend`'s moves, swaps and depth-two ejection chains are the
shortest of these; here they run through up to `max_length` servers.

They are found in the *improvement graph* (Ahuja, Orlin and Sharma's very large-scale
neighbourhood search): a node per UE on a server, and an arc v -> w when v may take w's
place on w's server. When every server of the chain gains exactly one UE and loses one,
what the chain does to a server depends only on that arc's pair, so the arc costs add up:
- energy: the arc costs v's energy change, and exists only if the server's f_min sum still
  fits its capacity with v in and w out, so a chain's cost is exact and it is feasible;
- latency: the arc costs v's transmit-time change plus the change of the server's total
  compute time with v in and w out, water-filled (mecopt.waterfill.ServerFill: O(log n) an
  arc), so a chain's cost is again its exact change, deadlines binding or not. (A closed
  form, (S + sqrt C_v - sqrt C_w)^2 / F - S^2 / F, is exact only while no deadline binds;
  where one did, its chains were mostly false, and improving ones went unseen.)
A negative chain is found by a shortest-path search over chain lengths, one label per UE
and length (the best chain of that length ending there, its servers kept as a bit mask so
that no server is visited twice), all UEs at once with numpy; a UE that is local can start
a path. An energy arc's cost does not depend on the UE it displaces, and whether it fits
depends on that UE's f_min only: on a large energy graph the search takes, per server, the
running minimum over the arriving UEs sorted by f_min instead of listing every arc, and
finds the same chains. A latency arc's cost depends on both UEs, so a large latency graph is
kept instead as one matrix per server (its UEs by the UEs that may arrive), searched row
by row: the same chains again. That label-correcting search is a heuristic: it can miss a
negative chain; and nothing is applied before `evaluate_batch` has confirmed it.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from mecopt.errors import InputError
from mecopt.evaluation import evaluate_batch
from mecopt.instance import Instance
from mecopt.objective import Objective
from mecopt.waterfill import ServerFill, fit_limit, fits

__all__ = ["candidates", "exchange"]

# Longest chain searched (servers it passes through), and the candidate chains evaluated
# exactly per round (the most negative first).
MAX_LENGTH = 8
KEEP = 32
# A chain is a candidate only if its predicted change is below this (relative to the value).
PREDICT_RTOL = 1e-9
# Servers are bits of an int64 mask: larger networks search chains among the first 63.
MAX_MASK_SERVERS = 63
# Energy: from this many arcs the graph is searched from each server's arriving UEs sorted
# by f_min instead of from its list of arcs (`_Graph._sort_arrivals`): the same chains,
# without the arcs. On a 1,102 x 12 instance with every server nearly full (1.2 million
# arcs) each search from the arc list took about 130 ms, and an energy descent 33 s of
# which 21 s were exchange searches; sorted, the descent takes 8.7 s.
SORTED_FROM_ARCS = 100_000
# Latency: from this many arcs the graph is kept as one matrix per server (arriving UEs x
# UEs there) instead of one list of arcs (`_Graph._extend_blocks`): the same labels, with each
# step reading contiguous rows instead of gathering a million arcs. On a 2,000 x 20 world
# instance (about a million arcs) a step took about 20 ms from the list.
BLOCKS_FROM_ARCS = 100_000


def exchange(instance: Instance, objective: Objective | str, assignment: np.ndarray, *,
             deadline: float | None = None, max_length: int = MAX_LENGTH,
             max_rounds: int = 10_000) -> tuple[np.ndarray, float]:
    """Apply improving exchanges until none is found: (assignment, value).

    Each round builds the improvement graph of the current assignment, takes the KEEP
    chains the graph predicts to improve most and the assignment that applies all the
    server-disjoint ones (`candidates` with combine=True), evaluates them exactly with
    `evaluate_batch` and applies the best that improves; `descend` runs the same rounds
    among its other neighbourhoods, and for latency also from a Lagrangian graph. It stops
    when no candidate improves, after `max_rounds`, or at `deadline` (a time.perf_counter()
    value, checked between rounds). Never returns something worse or infeasible;
    InputError if the start is not feasible.
    """
    objective = Objective.parse(objective)
    a = np.asarray(assignment, dtype=int).copy()
    first = evaluate_batch(instance, a[None])
    if not first.feasible[0]:
        raise InputError("assignment: exchange needs a feasible starting assignment")
    value = float(first.value(objective)[0])
    for _ in range(max_rounds):
        if deadline is not None and time.perf_counter() >= deadline:
            break
        cand = candidates(instance, objective, a, max_length=max_length, combine=True)
        if not len(cand):
            break
        ev = evaluate_batch(instance, cand)
        values = np.where(ev.feasible, ev.value(objective), np.inf)
        best = int(np.argmin(values))
        if not values[best] < value - 1e-12 * abs(value):
            break
        a, value = cand[best].copy(), float(values[best])
    return a, value


def candidates(instance: Instance, objective: Objective | str, a: np.ndarray, *,
               max_length: int = MAX_LENGTH, keep: int = KEEP,
               combine: bool = False) -> np.ndarray:
    """(K, N) assignments, each `a` changed by one exchange the improvement graph predicts
    to improve the objective, the most negative first; K <= keep (0 when none).

    combine: also, first, `a` changed by every predicted-improving chain that shares no
    server and no UE with a more negative one taken before it. Chains through disjoint
    servers do not interact (their changes add up exactly), so one round can apply many of
    them."""
    a = np.asarray(a, dtype=int)
    graph = _Graph(instance, Objective.parse(objective), a)
    found = graph.search(max_length)
    if not len(found.cost):
        return np.zeros((0, instance.n_ues), dtype=int)
    order = np.argsort(found.cost, kind="stable")  # the most negative first
    out, seen = [], set()
    if combine:
        b, servers, ues = a.copy(), 0, set()
        for c, touched in zip(order, found.servers[order].tolist(), strict=True):
            if touched & servers:
                continue
            moves = found.moves(c, a)
            moved = {u for u, _ in moves}
            if moved & ues:  # a local UE that starts two paths
                continue
            servers |= touched
            ues |= moved
            for ue, option in moves:
                b[ue] = option
        out.append(b)
        seen.add(b.tobytes())
    for c in order:
        if len(out) >= keep + combine:
            break
        b = a.copy()
        for ue, option in found.moves(c, a):
            b[ue] = option
        key = b.tobytes()
        if key not in seen:
            seen.add(key)
            out.append(b)
    return np.array(out, dtype=int)


class _Chains(NamedTuple):
    """The negative chains a search found, in the order found: each one's predicted change
    (C,), its UEs v0, v1, ..., vk (C, L; -1 after vk), the option vk goes to (C,) and the
    servers it touches as a bit mask (C,). Its moves are built only for the chains used."""

    cost: np.ndarray
    ues: np.ndarray
    last: np.ndarray
    servers: np.ndarray

    def moves(self, c: int, a: np.ndarray) -> list[tuple[int, int]]:
        """Chain c's moves (UE, new option): each UE to the next one's option in `a`, vk
        to `last`."""
        chain = self.ues[c][self.ues[c] >= 0]
        options = [*a[chain[1:]].tolist(), int(self.last[c])]
        return list(zip(chain.tolist(), options, strict=True))


class _Graph:
    """The improvement graph of one assignment and its shortest-chain search: a list of arcs,
    or on a large graph, per server, the arriving UEs sorted by f_min (energy) or a matrix
    of arc costs (latency)."""

    def __init__(self, instance: Instance, objective: Objective, a: np.ndarray) -> None:
        N, M = instance.n_ues, instance.n_servers
        self.N, self.M, self.a = N, M, a
        ok = instance.option_ok
        f_min = np.where(instance.usable, instance.f_min, 0.0)  # (N, M)
        cap = instance.capacity_hz
        on = a > 0
        srv = np.where(on, a - 1, 0)
        load = np.bincount(srv[on], weights=f_min[on, srv[on]], minlength=M)
        if objective is Objective.ENERGY:
            cost = np.c_[instance.e_loc, instance.e_tx]  # (N, M+1) own cost per option
        else:
            cost = np.c_[instance.t_loc, instance.t_tx]
        cost = np.where(ok, cost, np.inf)
        own = cost[np.arange(N), a]  # (N,) what each UE costs where it is now
        self.value_scale = float(np.abs(own).sum()) or 1.0
        latency = objective is Objective.LATENCY
        if latency:
            # A latency arc also carries its server's compute-time change, water-filled:
            # each server's water-filling prepared so that one UE in and one out costs
            # O(log n), and its compute time now.
            self.fill = ServerFill(instance, a)
            nobody = np.full((M, 1), -1)
            self.compute = self.fill.times(np.arange(M), nobody, nobody)[0]
        # Arcs v -> w (v takes w's place on w's server j): per server, every UE that may
        # use j and is elsewhere, times every UE on j.
        per_server = []
        for j in range(min(M, MAX_MASK_SERVERS)):
            there = np.flatnonzero(a == j + 1)
            comers = np.flatnonzero(ok[:, j + 1] & (a != j + 1))
            if len(there) and len(comers):
                per_server.append((j, there, comers))
        self.own, self.cost, self.load, self.f_min = own, cost, load, f_min
        self.instance_ok, self.capacity, self.latency = ok, cap, latency
        n_arcs = sum(len(t) * len(c) for _, t, c in per_server)
        self.sorted = objective is Objective.ENERGY and n_arcs >= SORTED_FROM_ARCS
        self.blocked = latency and n_arcs >= BLOCKS_FROM_ARCS
        if self.sorted:
            self._sort_arrivals(per_server)
        self.blocks = []
        srcs, dsts, costs = [], [], []
        for j, there, comers in () if self.sorted else per_server:  # sorted: no arcs
            if self.blocked:  # (UEs there, arriving UEs): inf where the arc does not fit
                self.blocks.append((j, comers, there,
                                    self._cost_where_fits(comers[None, :], there[:, None], j)))
                continue
            v, w = np.repeat(comers, len(there)), np.tile(there, len(comers))
            fit = fits(load[j] - f_min[w, j] + f_min[v, j], cap[j])
            v, w = v[fit], w[fit]
            srcs.append(v)
            dsts.append(w)
            costs.append(self._cost(v, w, j))
        src = np.concatenate(srcs) if srcs else np.zeros(0, dtype=int)
        dst = np.concatenate(dsts) if dsts else np.zeros(0, dtype=int)
        arc = np.concatenate(costs) if costs else np.zeros(0)
        order = np.argsort(dst, kind="stable")  # grouped by the arc's head
        self.src, self.dst, self.arc = src[order], dst[order], arc[order]
        heads, self.head_start = np.unique(self.dst, return_index=True)
        # Each arc's head group (position in `heads`), for the per-head minimum.
        self.group = np.repeat(np.arange(len(heads)),
                               np.diff(np.append(self.head_start, len(self.dst))))
        # A path's first UE leaves its server with nothing arriving; its last UE arrives
        # at server m (or local) with nothing leaving.
        arrive = cost[:, 1:] - own[:, None]  # (N, M)
        leave = np.zeros(N)
        arrive = np.where(ok[:, 1:] & fits(load[None, :] + f_min, cap[None, :]), arrive, np.inf)
        if latency:  # plus the compute-time changes of the servers left and joined
            ue = np.flatnonzero(on)
            leave[ue] = self._compute(srv[ue], ue, np.full(len(ue), -1))
            i, j = np.nonzero(np.isfinite(arrive))
            arrive[i, j] += self._compute(j, np.full(len(i), -1), i)
        arrive[np.flatnonzero(on), srv[on]] = np.inf  # not onto its own server
        arrive[:, MAX_MASK_SERVERS:] = np.inf
        self.arrive = arrive
        self.local = np.where(ok[:, 0] & on, cost[:, 0] - own, np.inf)  # (N,) to local
        self.leave = leave
        self.maskable = ~on | (srv < MAX_MASK_SERVERS)
        self.start_ok = on & self.maskable  # a cycle's first UE: on a server it returns to
        m = np.arange(M)
        self.server_bit = np.where(m < MAX_MASK_SERVERS,
                                   np.left_shift(np.int64(1), np.minimum(m, 62)), np.int64(0))
        self.bit = np.where(on, self.server_bit[srv], np.int64(0))  # (N,) each UE's server
        self._keys: np.ndarray | None = None
        self._key_order: np.ndarray | None = None

    def search(self, max_length: int) -> _Chains:
        """The negative chains, cycles first, each kind by length and then by last UE."""
        tol = -PREDICT_RTOL * self.value_scale
        found = self._search(True, max_length, tol) + self._search(False, max_length, tol)
        if not found:
            empty = np.zeros(0, dtype=np.int64)
            return _Chains(np.zeros(0), np.zeros((0, 1), dtype=np.int64), empty, empty)
        width = max(ues.shape[1] for _, ues, _ in found)
        ues = np.concatenate([np.pad(u, ((0, 0), (0, width - u.shape[1])), constant_values=-1)
                              for _, u, _ in found])
        last = np.concatenate([x for _, _, x in found])
        servers = np.bitwise_or.reduce(np.where(ues >= 0, self.bit[ues], 0), axis=1)
        servers |= np.where(last > 0, self.server_bit[np.maximum(last, 1) - 1], 0)
        return _Chains(np.concatenate([x for x, _, _ in found]), ues, last, servers)

    def _search(self, cyclic: bool, max_length: int, tol: float
                ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per chain length with negative chains: (predicted changes, the chains' UEs
        v0..vk, where vk goes)."""
        N, a = self.N, self.a
        src = self.src
        # Labels at length 0: the chain is its first UE alone. A cycle starts on a server
        # (its first server must get a UE back); a path may start local.
        start = np.arange(N)
        if cyclic:
            dist = np.where(self.start_ok, 0.0, np.inf)
        else:
            dist = np.where(self.maskable, self.leave, np.inf)
        mask = self.bit.copy()
        preds: list[np.ndarray] = []
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        cols = np.arange(N)
        for length in range(max_length + 1):
            if length:
                if not (self.arrivals if self.sorted else self.blocks or len(src)):
                    break
                # Extend every chain ending at v by an arc v -> w, w's server not in it.
                extend = (self._extend_sorted if self.sorted
                          else self._extend_blocks if self.blocked else self._extend)
                v, dist = extend(dist, mask)
                has = v >= 0
                mask = np.where(has, mask[np.maximum(v, 0)] | self.bit, 0)
                start = np.where(has, start[np.maximum(v, 0)], -1)
                preds.append(v)
                if not np.isfinite(dist).any():
                    break
            # Close the chains ending at each UE w.
            if cyclic:
                if not length:
                    continue
                close = np.full(N, np.inf)
                live = np.flatnonzero(np.isfinite(dist))
                back = self._arc_cost(live, start[live])
                close[live] = dist[live] + back
                ends = np.flatnonzero(close < tol)
                if len(ends):
                    found.append((close[ends], self._chains(preds, ends), a[start[ends]]))
            else:
                free = (mask[:, None] & self.server_bit[None, :]) == 0  # (N, M)
                arrive = np.where(free, self.arrive, np.inf)
                opt = np.argmin(arrive, axis=1)
                end_cost = arrive[cols, opt]
                to_local = self.local < end_cost
                end_cost = np.where(to_local, self.local, end_cost)
                option = np.where(to_local, 0, opt + 1)
                close = dist + end_cost
                ends = np.flatnonzero(close < tol)
                if len(ends):
                    found.append((close[ends], self._chains(preds, ends), option[ends]))
        return found

    def _extend(self, dist: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step of the search over the arc list: per UE w, the predecessor v of the
        cheapest chain ending with an arc v -> w (-1 when no arc enters w) and that chain's
        cost. Among equal costs the smallest v wins (arcs into w are listed by tail)."""
        src, dst = self.src, self.dst
        c = dist[src] + self.arc
        c[(mask[src] & self.bit[dst]) != 0] = np.inf
        best = np.minimum.reduceat(c, self.head_start)  # per head
        hit = np.flatnonzero(c <= best[self.group])
        g = self.group[hit]  # non-decreasing: the first hit of each group wins
        pick = hit[np.concatenate(([True], g[1:] != g[:-1]))] if len(hit) else hit
        v = np.full(self.N, -1)
        v[dst[pick]] = src[pick]
        out = np.full(self.N, np.inf)
        out[dst[pick]] = c[pick]
        return v, out

    def _cost(self, v: np.ndarray, w: np.ndarray, j: np.ndarray | int) -> np.ndarray:
        """The cost of arcs v -> w onto server j (v takes w's place there), shapes
        broadcast."""
        c = self.cost[v, j + 1] - self.own[v]
        if not self.latency:
            return c
        v, w, j = np.broadcast_arrays(v, w, j)
        return c + self._compute(j.ravel(), w.ravel(), v.ravel()).reshape(v.shape)

    def _compute(self, j: np.ndarray, out: np.ndarray, into: np.ndarray) -> np.ndarray:
        """Latency: the change of servers j's total compute time (G,) when UE out[g]
        leaves and UE into[g] joins (-1: none), water-filled (ServerFill.times, to rounding;
        whatever it cannot place exactly is settled by the exact evaluation of the chains).
        Whether the minimum allocations fit is the caller's test."""
        return self.fill.times(j, out[:, None], into[:, None])[0] - self.compute[j]

    def _cost_where_fits(self, v: np.ndarray, w: np.ndarray, j: np.ndarray | int
                         ) -> np.ndarray:
        """`_cost`, inf where server j's minimum allocations do not fit with v in, w out."""
        fit = fits(self.load[j] - self.f_min[w, j] + self.f_min[v, j], self.capacity[j])
        return np.where(fit, self._cost(v, w, j), np.inf)

    def _extend_blocks(self, dist: np.ndarray, mask: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """`_extend` for the graph kept as matrices, the same labels wherever a chain's cost
        is finite: per server, each UE's cheapest arriving chain, the smallest v among equal
        costs (argmin takes the first, and the arriving UEs are in index order)."""
        pred = np.full(self.N, -1)
        out = np.full(self.N, np.inf)
        for j, comers, there, arc in self.blocks:
            d = np.where((mask[comers] & self.server_bit[j]) != 0, np.inf, dist[comers])
            c = arc + d[None, :]
            k = np.argmin(c, axis=1)
            pred[there] = comers[k]
            out[there] = c[np.arange(len(there)), k]
        return pred, out

    def _sort_arrivals(self, per_server: list) -> None:
        """The energy graph without its arcs. On server j an arc v -> w costs v's energy
        change whatever w, and exists iff load - f_min[w] + f_min[v] fits: with the UEs
        that may arrive sorted by f_min[v], the tails of the arcs into w are a prefix of
        that order, of a length fixed for the whole search. Per server: (j, the arriving
        UEs sorted, their arc costs, the UEs there, each one's prefix length)."""
        self.arrivals = []
        for j, there, comers in per_server:
            order = np.argsort(self.f_min[comers, j], kind="stable")
            v = comers[order]
            fv = self.f_min[v, j]
            # The prefix of arriving UEs that fit with w out: the sum is computed as the
            # arc list computes it, (load - f_min[w]) + f_min[v], monotone in f_min[v].
            base, cap = self.load[j] - self.f_min[there, j], self.capacity[j]
            k = np.searchsorted(fv, fit_limit(cap) - base, side="right")
            while True:  # settle the rounding at the boundary: the exact test decides
                up = (k < len(v)) & fits(base + fv[np.minimum(k, len(v) - 1)], cap)
                down = (k > 0) & ~fits(base + fv[np.maximum(k - 1, 0)], cap)
                if not (up.any() or down.any()):
                    break
                k = k + up - down
            arc = self.cost[v, j + 1] - self.own[v]
            self.arrivals.append((j, v, arc, there, k))

    def _extend_sorted(self, dist: np.ndarray, mask: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """`_extend` for the sorted energy graph, the same labels: per server, the running
        minimum of the arriving UEs' chain costs in f_min order, read at each UE's prefix
        length; among equal costs the smallest v, as the arc list gives."""
        N = self.N
        pred = np.full(N, -1)
        out = np.full(N, np.inf)
        for j, v, arc, there, k in self.arrivals:
            c = dist[v] + arc
            c[(mask[v] & self.server_bit[j]) != 0] = np.inf
            low = np.minimum.accumulate(c)
            # The smallest v among those at the running minimum: a key per entry that
            # attains it, later levels of the minimum first, then by UE.
            level = np.cumsum(np.concatenate(([True], low[1:] < low[:-1])))
            key = np.where(c == low, (level[-1] - level) * (N + 1) + v, np.iinfo(np.int64).max)
            key = np.minimum.accumulate(key)
            at = k > 0
            w, end = there[at], k[at] - 1
            pred[w] = key[end] % (N + 1)
            out[w] = low[end]
        return pred, out

    def _arc_cost(self, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The costs of arcs v -> w (inf where there is no such arc)."""
        if self.sorted or self.blocked:
            j = self.a[w] - 1  # w is on a server (a cycle's first UE)
            exists = ((self.a[v] != self.a[w]) & self.instance_ok[v, j + 1]
                      & (j < MAX_MASK_SERVERS))
            out = np.full(len(v), np.inf)
            at = np.flatnonzero(exists)
            out[at] = self._cost_where_fits(v[at], w[at], j[at])
            return out
        out = np.full(len(v), np.inf)
        if not len(self.src):
            return out
        # Arcs are grouped by head w; within a group, find tail v.
        if self._keys is None:  # sorted (head, tail) keys, built on the first call
            key = self.dst.astype(np.int64) * self.N + self.src
            self._key_order = np.argsort(key, kind="stable")
            self._keys = key[self._key_order]
        order, keys = self._key_order, self._keys
        want = w.astype(np.int64) * self.N + v
        at = np.searchsorted(keys, want)
        at = np.minimum(at, len(keys) - 1)
        hit = keys[at] == want
        out[hit] = self.arc[order[at[hit]]]
        return out

    @staticmethod
    def _chains(preds: list[np.ndarray], ends: np.ndarray) -> np.ndarray:
        """The UEs v0, ..., vk (len(ends), len(preds) + 1) of the chains ending at UEs
        `ends`, read back through the labels `preds`."""
        chain = [ends]
        for v in reversed(preds):
            chain.append(v[chain[-1]])
        return np.stack(chain[::-1], axis=1)
