"""Energy: room moves, one UE onto a full server and the cheapest of its UEs off it.

Energy is a generalized assignment problem (GAP): a UE's energy depends on its option only,
and a server holds a set of UEs when their f_min sum to at most its capacity. Where every
server is full and a UE's local energy is many times its energy on a server, the best
decisions are knapsack packings: a UE that needs a large share of a server can be worth
more there than several small ones together. `descend`'s moves, swaps, depth-two ejection
chains and exchanges (mecopt.exchange) move at most one UE off each server they touch, so
they cannot bring such a UE in; the LP relaxation's rounding (mecopt.lns) sends one out
when it is the cheapest per GHz to evict.

A room move takes a UE i to a server j where it saves energy but does not fit, and moves
UEs on j to their cheapest other option that fits (local where it meets their deadline,
another server with room, or the room that i leaves), the least energy added per GHz
freed first, until i fits; then the evictees that turned out not to be needed return, the
dearest first. When that order does not make the room for less than i saves (an evictee
with one destination finds it taken by one that had a choice), the evictees with the
fewest options that fit go first. Where every server is full an evictee may have nowhere
to go that fits: with `chains` it may go to another full server d, whose own UEs then
leave the same way (to options that fit, the least energy per GHz first) until it fits
there, when that costs less than its cheapest fitting option: a chain of two room moves,
priced from the start's rooms (`_Relief`). A move is a candidate when the energy i saves
is more than the evictees (and theirs) add.
Candidates are built for the ROOM_STARTS most promising (i, j) (the largest saving) and
returned as whole assignments for the caller to evaluate exactly (`evaluate_batch`), so
nothing is applied that the feasibility checker has not accepted.
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.evaluation import evaluate, evaluate_batch
from mecopt.instance import Instance, option_f_min
from mecopt.objective import Objective
from mecopt.units import alone_costs
from mecopt.waterfill import fit_limit

__all__ = ["room_moves", "room_rounds", "ROOM_ROUNDS"]

# (UE, server) pairs tried per call, the largest saving first.
ROOM_STARTS = 64
# Rounds `room_rounds` takes at most (greedy's energy): 2-10 ms a round on 40 UEs, 30-45 ms
# on 800-1,500 UEs.
ROOM_ROUNDS = 10


def room_moves(instance: Instance, assignment: np.ndarray, *,
               starts: int = ROOM_STARTS, chains: bool = True) -> np.ndarray:
    """(K, N) candidate assignments, each a room move from the feasible `assignment`
    whose predicted energy change is negative (K may be 0). The prediction is exact for
    energy; capacities are checked against the checker's tolerance, and the caller
    evaluates the candidates before taking one. `chains`: an evictee may also go to
    another full server that makes room for it the same way."""
    a = np.asarray(assignment, dtype=int)
    N, M = instance.n_ues, instance.n_servers
    ues = np.arange(N)
    ok = instance.option_ok.copy()  # (N, M+1): usable and meets the deadline alone
    ok[ues, a] = True  # the start is feasible, so its options are (to the checker's tolerance)
    cost = np.where(ok, alone_costs(instance, Objective.ENERGY), np.inf)
    size = option_f_min(instance)
    limit = np.r_[np.inf, fit_limit(instance.capacity_hz)]  # local: no capacity
    load = np.bincount(a, weights=size[ues, a], minlength=M + 1)
    save = cost[ues, a][:, None] - cost  # energy saved by each move; -inf/nan where barred
    with np.errstate(invalid="ignore"):
        start = ok & (save > 0) & (size <= limit[None, :]) \
            & (load[None, :] + size > limit[None, :])  # saves, fits alone, not as things are
    start[:, 0] = False
    i_all, j_all = np.nonzero(start)
    if not len(i_all):
        return np.zeros((0, N), dtype=int)
    pick = np.argsort(-save[i_all, j_all], kind="stable")[:starts]
    # With one server there is no second one to chain through.
    relief = _Relief(a, cost, size, limit, load) if chains and M > 1 else None
    rows = []
    for i, j in zip(i_all[pick].tolist(), j_all[pick].tolist(), strict=True):
        row = _room(a, cost, size, limit, load, i, j, float(save[i, j]), relief)
        if row is not None:
            rows.append(row)
    return np.array(rows, dtype=int).reshape(-1, N)


def room_rounds(instance: Instance, assignment: np.ndarray, *, rounds: int = ROOM_ROUNDS,
                deadline: float | None = None) -> np.ndarray:
    """Energy: up to `rounds` rounds, each taking the room move (`room_moves`) that the
    feasibility checker's batch evaluation finds lowest, while one lowers the total energy
    (relative 1e-12) and the `deadline` (a time.perf_counter() value) has not passed.
    Returns the assignment, never worse, always feasible (greedy's energy finish: where
    the best decisions are knapsack packings, single moves and matching rounds cannot bring
    a large UE onto a full server)."""
    a = np.asarray(assignment, dtype=int).copy()
    value = evaluate(instance, a).total_energy_j
    for _ in range(rounds):
        if deadline is not None and time.perf_counter() >= deadline:
            break
        cand = room_moves(instance, a)
        if not len(cand):
            break
        batch = evaluate_batch(instance, cand)
        energy = np.where(batch.feasible, batch.total_energy_j, np.inf)
        k = int(np.argmin(energy))
        if not energy[k] < value - 1e-12 * abs(value):
            break
        a, value = cand[k], float(energy[k])
    return a


class _Relief:
    """What it costs to make room on a full server, priced from the start: each server's
    UEs ordered by the energy added per GHz freed when they go to their cheapest other
    option that fits, with the running sums of GHz freed and energy added. The price of
    room for a UE on a server is what evicting the shortest such prefix adds."""

    def __init__(self, a: np.ndarray, cost: np.ndarray, size: np.ndarray,
                 limit: np.ndarray, load: np.ndarray) -> None:
        room = limit - load
        self.order: list[np.ndarray] = [np.zeros(0, dtype=int)]
        self.freed: list[np.ndarray] = [np.zeros(0)]
        self.added: list[np.ndarray] = [np.zeros(0)]
        for d in range(1, len(limit)):
            on = np.flatnonzero(a == d)
            alt = np.where(size[on] <= room[None, :], cost[on], np.inf)
            alt[:, d] = np.inf
            added = alt.min(axis=1) - cost[on, d]
            keep = np.isfinite(added)
            on, added = on[keep], added[keep]
            first = np.argsort(added / size[on, d], kind="stable")
            self.order.append(on[first])
            self.freed.append(np.cumsum(size[on[first], d]))
            self.added.append(np.cumsum(added[first]))

    def prices(self, us: np.ndarray, size: np.ndarray, room: np.ndarray) -> np.ndarray:
        """(len(us), M+1): the energy that evictions from each server add to make room
        there for each UE of `us` with the rooms `room` (0 where it fits; inf locally and
        where even every movable UE does not make room)."""
        out = np.full((len(us), len(room)), np.inf)
        # Only the servers some UE of `us` can use (size inf elsewhere: out stays inf); with
        # 1,339 servers, looping over all of them was 90% of a call.
        for d in (np.flatnonzero(np.isfinite(size[us, 1:]).any(axis=0)) + 1).tolist():
            need = size[us, d] - room[d]
            k = np.searchsorted(self.freed[d], need)
            reach = k < len(self.freed[d])
            out[reach, d] = self.added[d][k[reach]]
            out[need <= 0, d] = 0.0
        return out


def _room(a: np.ndarray, cost: np.ndarray, size: np.ndarray, limit: np.ndarray,
          load: np.ndarray, i: int, j: int, gain: float,
          relief: _Relief | None = None) -> np.ndarray | None:
    """UE i onto server j, with UEs on j evicted until it fits; None when that costs at
    least `gain` (the energy i saves) or no eviction makes room. With `relief`, an evictee
    may also go to another full server, whose own cheapest UEs then leave for options that
    fit (a chain of two room moves): where every server is full, the room i needs can only
    come from there."""
    room = limit - load
    room[a[i]] += size[i, a[i]]  # i leaves its option
    room[j] -= size[i, j]
    on = np.flatnonzero(a == j)
    on = on[on != i]
    if not len(on):
        return None
    # Each UE's cheapest other option that fits now (or, with relief, that a second
    # eviction makes fit), and what it adds per GHz it frees.
    alt = np.where(size[on] <= room[None, :], cost[on], np.inf)
    alt[:, j] = np.inf
    chained = None
    if relief is not None:
        chained = cost[on] + relief.prices(on, size, room)
        chained[:, j] = np.inf
        alt = np.minimum(alt, chained)
    added = alt.min(axis=1) - cost[on, j]
    movable = np.isfinite(added)
    if size[on[movable], j].sum() < -room[j]:
        return None  # not even every movable UE makes room
    per_ghz = np.where(movable, added / size[on, j], np.inf)
    cheapest = np.argsort(per_ghz, kind="stable")
    b = _evict(a, cost, size, room.copy(), on, cheapest, movable, chained, relief, i, j, gain)
    if b is None:
        # The cheapest-per-GHz order can fill the room an evictee with a single
        # destination needs (the others had a choice): the evictees with the fewest options
        # that fit go first then.
        choices = np.where(movable, np.isfinite(alt).sum(axis=1), alt.shape[1])  # last: none
        scarce = np.lexsort((per_ghz, choices))
        if not np.array_equal(scarce, cheapest):
            b = _evict(a, cost, size, room, on, scarce, movable, chained, relief, i, j, gain)
    return b


def _evict(a: np.ndarray, cost: np.ndarray, size: np.ndarray, room: np.ndarray,
           on: np.ndarray, order: np.ndarray, movable: np.ndarray, chained: np.ndarray | None,
           relief: _Relief | None, i: int, j: int, gain: float) -> np.ndarray | None:
    """`_room`'s evictions from j in `order` (indices into `on`, j's other UEs), each to its
    cheapest option that fits as the earlier ones left the rooms `room` (changed in place),
    or down a chain, until i fits: the assignment, or None when that costs at least `gain`
    or the room is not made."""
    b = a.copy()
    b[i] = j
    out, lost = [], 0.0
    for k in order:
        if room[j] >= 0 or not movable[k]:
            break
        u = int(on[k])
        # Its destination again, with the rooms as the earlier evictions left them.
        here = np.where(size[u] <= room, cost[u], np.inf)
        here[j] = np.inf
        d = int(here.argmin())
        moved = None
        if chained is not None:
            moved = _chain(b, cost, size, room, relief, u, j, float(here[d]), chained[k])
        if moved is not None:
            lost += moved - cost[u, j]
        elif np.isfinite(here[d]):
            b[u] = d
            room[d] -= size[u, d]
            room[j] += size[u, j]
            lost += here[d] - cost[u, j]
            out.append(u)
        else:
            continue
        if lost >= gain:
            return None
    if room[j] < 0:
        return None
    # The greedy order can evict more than needed: bring back the dearest first where j
    # still holds them (not those that went down a chain: their second eviction stays).
    for u in sorted(out, key=lambda u: cost[u, b[u]] - cost[u, j], reverse=True):
        if size[u, j] <= room[j]:
            room[b[u]] += size[u, b[u]]
            room[j] -= size[u, j]
            b[u] = j
    return b


def _chain(b: np.ndarray, cost: np.ndarray, size: np.ndarray, room: np.ndarray,
           relief: _Relief, u: int, j: int, direct: float, price: np.ndarray) -> float | None:
    """Evictee u (on j) to the full server d that is cheapest once d's own UEs make room
    for it (`price`: (M+1,) u's energy per option plus that room's, as the eviction
    began), when that beats `direct` (its cheapest option that fits as things are): applies
    the moves to `b` and `room` and returns u's energy there plus what d's evictees add;
    None (nothing changed) when no chain is cheaper or the rooms have changed too much."""
    price = np.where(size[u] <= room, np.inf, price)  # fits already: not a chain
    d = int(price.argmin())
    if not price[d] < direct:
        return None
    moves, lost, left = [], 0.0, room.copy()
    left[d] -= size[u, d]
    for v in relief.order[d].tolist():
        if left[d] >= 0:
            break
        if b[v] != d:
            continue  # already moved by this room move
        here = np.where(size[v] <= left, cost[v], np.inf)
        here[[j, d]] = np.inf
        e = int(here.argmin())
        if not np.isfinite(here[e]):
            continue
        moves.append((v, e))
        left[e] -= size[v, e]
        left[d] += size[v, d]
        lost += here[e] - cost[v, d]
    if left[d] < 0 or cost[u, d] + lost >= direct:
        return None
    for v, e in moves:
        b[v] = e
    b[u] = d
    left[j] += size[u, j]
    room[:] = left
    return float(cost[u, d] + lost)
