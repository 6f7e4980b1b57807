"""The shared constructive step: place UEs one by one, feasibility first.

Greedy (`greedy_assignment`, the `greedy` method's construction, also the start of `highs`,
DE, PG and the Pareto front) and the repair (mecopt.repair.repair, used by DE, PG, LAMBO,
DROO and ARE) both build decisions with `construct`:

1. Order (`placement_order`): the UEs that must offload (local misses the deadline) first.
   - Energy (`efficiency_order`): those smallest capacity need first, then the others by
     the energy they save per unit of server capacity (local energy minus the cheapest
     server's, over that server's f_min), largest first: the knapsack rule. By regret, a UE
     whose two cheapest servers cost about the same comes late however much it saves
     against local, and finds its servers filled by UEs that save little (greedy's mean
     gap on instances/tight: 17.8% by regret, 2.3% by efficiency).
   - Latency (`regret_order`): the largest regret first. Regret is measured, as in Martello
     and Toth's MTHG heuristic for the generalized assignment problem, on a desirability
     that counts capacity: each option's cost in an empty system plus its share of the
     server, f_min[i, j] / F_j, priced at twice the UE's plain cost regret. A UE with one
     usable option has infinite regret.
2. Sweep: each UE takes its wanted option if that option meets its deadline and fits (the
   running f_min sum of the server stays within its capacity: `mecopt.waterfill.fits`),
   else the best option that fits (highest score, or least marginal cost: `marginal_cost`).
3. Ejection (`_eject`): a UE that finds no fitting option makes room on a server it can use
   by moving one, else two, UEs already placed there to other options where they fit (local
   if that meets their deadline, or another server), the cheapest change in objective first.
   Greedy, energy (`gain_ejection`): a UE whose cheapest option does not fit also makes room
   by moving one UE, when that costs less in all than its cheapest fitting option. Where
   capacity binds, a UE placed late otherwise runs locally at many times a server's energy
   while UEs that save little on that server keep it (a generalized assignment problem:
   greedy's mean gap to the library optima 0.76% -> 0.05% on hetero, 1.66% -> 0.16% on
   large, 2.34% -> 1.07% on tight). A row that gets stuck with them (a gain ejection can
   take the room a later UE that must offload needs, or capacity binds for the UEs that
   must offload) is rescued (step 4) and also built again twice: without them, and with
   each option priced at its energy plus its f_min at the capacity prices of the energy
   LP relaxation (the LP's duals), so that a UE that must offload weighs the room it
   takes against what it saves; the cheapest decision is kept.
4. Rescue: a row still stuck is built again from an anchor, a feasible assignment (`anchor`:
   the UEs that must offload packed onto the servers, all others local; computed once per
   instance): by the tabu search of mecopt.packing, else by a small HiGHS feasibility MILP
   (none at all where the LP relaxation of that packing is infeasible, checked first).
   The sweep then starts from the anchor and moves each UE to its wanted option where it
   fits, so it cannot get stuck. Only an instance whose anchor neither finds (proven
   infeasible, or not found within their budgets: `mecopt.packing.PACK_MAX_WORK` entries
   and `ANCHOR_TIME_LIMIT` seconds) leaves a row stuck.
5. Greedy only, latency (`local_when_faster`): once the servers are water-filled, a UE
   whose own device is faster than its latency there goes local, until none is.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mecopt.evaluation import evaluate
from mecopt.instance import Instance, option_f_min, server_load
from mecopt.objective import Objective
from mecopt.units import alone_costs
from mecopt.waterfill import fit_limit, fits

# Seconds HiGHS may spend on one instance's anchor (once per instance, only when a
# construction is stuck after ejection and the packing search found nothing).
ANCHOR_TIME_LIMIT = 5.0
# Weight of the capacity share f_min / F_j in the regret's desirability, in units of the
# plain cost regret (0 gives the plain cost regret; 2 measured best on the library).
CAPACITY_WEIGHT = 2.0
# Energy costs break ties by the latency marginal, weighted by this fraction of the UE's
# cheapest usable energy per second of its deadline (see _Costs).
TIE_BREAK = 1e-12
# UEs on a server considered for a two-UE ejection (the largest f_min and the cheapest to
# move, half each), so a pair search costs at most about 300 pairs per server.
_PAIR_CANDIDATES = 24
# UEs considered for a gain ejection: the most promising by a lower bound on its cost
# (with all of them: greedy 1.9 s against 1.1 s at 5,000 x 50, 2.14% against 2.23% mean
# gap on development draws).
_GAIN_CANDIDATES = 32


def marginal_cost(instance: Instance, objective: Objective, i: int,
                  root_sum: np.ndarray) -> np.ndarray:
    """(Q, M+1) objective increase of each option for UE i, given (Q, M) sums of sqrt(C)
    already placed per server: the cost greedy placement uses.

    Latency: t_loc, or t_tx + ((S_j + sqrt C_i)^2 - S_j^2) / F_j, since (sum sqrt C)^2 / F_j
    is a server's compute time under water-filling when no deadline binds. Energy: the UE's
    energy, with the latency marginal as a tie-breaker. Unreachable options come out inf.
    """
    return _Costs(instance, objective).of(i, np.atleast_2d(root_sum))


class _Costs:
    """`marginal_cost` for one instance and objective, with everything that does not depend
    on the placements computed once (the construction's inner loop asks for it per UE)."""

    def __init__(self, instance: Instance, objective: Objective) -> None:
        self.instance = instance
        self.lat_base = np.concatenate([instance.t_loc[:, None], instance.t_tx], axis=1)
        self.root = np.sqrt(instance.cycles)
        self.F = instance.capacity_hz
        self.energy = None
        if objective is Objective.ENERGY:
            e = alone_costs(instance, Objective.ENERGY)  # (N, M+1)
            # The latency tie-break, as a fraction of the UE's cheapest usable energy per
            # deadline of latency, only orders options whose energies differ by less than
            # about 1e-12 relative per UE sharing the server. (Scaled by the UE's largest
            # energy, with latencies of hours, it once outweighed the energies themselves:
            # greedy 194% above the optimum on a microjoule network with ample capacity.)
            cheapest = np.where(instance.option_ok, e, np.inf).min(axis=1)
            cheapest = np.where(np.isfinite(cheapest) & (cheapest > 0), cheapest, 1.0)
            self.energy = e, TIE_BREAK * cheapest / instance.deadline_s

    def of(self, ues: int | np.ndarray, root_sum: np.ndarray) -> np.ndarray:
        """Costs of UE `ues` (an int: (Q, M+1)) or UEs `ues` ((K,) ints: (Q, K, M+1)),
        given (Q, M) root sums. Unreachable options come out inf."""
        rs = root_sum if np.ndim(ues) == 0 else root_sum[:, None, :]
        r = self.root[ues][..., None]
        lat = np.empty(np.broadcast_shapes(rs.shape, r.shape)[:-1] + (self.F.shape[0] + 1,))
        lat[..., 0] = self.lat_base[ues, 0]
        lat[..., 1:] = self.lat_base[ues, 1:] + ((rs + r) ** 2 - rs ** 2) / self.F
        if self.energy is None:
            return lat
        e, tie = self.energy
        return e[ues] + lat * tie[ues][..., None]

    @cached_property
    def f_min(self) -> np.ndarray:
        """(N, M+1) `option_f_min`, for the ejections (built once per sweep that ejects)."""
        return option_f_min(self.instance)

    @cached_property
    def leave(self) -> np.ndarray:
        """Energy, (N, M+1): per UE and option k, the least energy change of moving the UE
        from k to another deadline-meeting option, a lower bound on the cost of ejecting it
        (for the gain ejections)."""
        usable = np.where(self.instance.option_ok, self.energy[0], np.inf)
        two = np.argsort(usable, axis=1)[:, :2]
        best = np.take_along_axis(usable, two, axis=1)
        other = np.where(np.arange(usable.shape[1])[None] == two[:, :1], best[:, 1:],
                         best[:, :1])
        with np.errstate(invalid="ignore"):
            return other - usable


def placement_order(instance: Instance, objective: Objective = Objective.ENERGY
                    ) -> np.ndarray:
    """The construction's UE order: `efficiency_order` for energy, `regret_order` for
    latency (see the module doc)."""
    if Objective.parse(objective) is Objective.ENERGY:
        return efficiency_order(instance)
    return regret_order(instance, objective)


def start_orders(instance: Instance, objective: Objective) -> list[np.ndarray]:
    """The distinct construction orders that search methods start from (DE's initial
    population, PG's start): the placement order, then the capacity-aware and the plain
    regret order, constructive starts that often lie in different basins."""
    orders: list[np.ndarray] = []
    for order in (placement_order(instance, objective), regret_order(instance, objective),
                  regret_order(instance, objective, capacity_weight=0.0)):
        if not any(np.array_equal(order, seen) for seen in orders):
            orders.append(order)
    return orders


def efficiency_order(instance: Instance) -> np.ndarray:
    """The UEs that cannot meet their deadline locally first, the smallest capacity need
    first; then the others by energy saved per unit of capacity used, largest first (the
    knapsack rule: where capacity binds, it goes first to the UEs that save most with it),
    ties by UE index. A UE's saving and need are those of its cheapest deadline-meeting
    server; a UE with no such server comes last. Also the energy decoding order of a LAMBO
    network trained with `energy_order="efficiency"` (mecopt.learned.features)."""
    ok = instance.option_ok
    e_tx = np.where(ok[:, 1:], instance.e_tx, np.inf)
    best = e_tx.argmin(axis=1)[:, None]
    has_server = ok[:, 1:].any(axis=1)
    need = np.take_along_axis(instance.f_min, best, axis=1)[:, 0]
    saving = instance.e_loc - np.take_along_axis(e_tx, best, axis=1)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(ok[:, 0], saving / need, 1.0 / need)
    rate = np.where(has_server, rate, -np.inf)
    return np.lexsort((-rate, ok[:, 0]))


def regret_order(instance: Instance, objective: Objective = Objective.ENERGY, *,
                 capacity_weight: float = CAPACITY_WEIGHT) -> np.ndarray:
    """The UEs that must offload first, then largest regret (the second-most against the
    most desirable option, capacity share counted with `capacity_weight`; 0 gives the
    plain cost regret; see the module doc), then fewest deadline-meeting options."""
    objective = Objective.parse(objective)
    ok = instance.option_ok
    cost = np.where(ok, _Costs(instance, objective).of(
        np.arange(instance.n_ues), np.zeros((1, instance.n_servers)))[0], np.inf)
    share = np.where(ok, option_f_min(instance) / np.concatenate([[1.0], instance.capacity_hz]),
                     0.0)
    regret = _regret(cost)
    scale = np.where(np.isfinite(regret), regret, 0.0)
    regret = _regret(cost + capacity_weight * scale[:, None] * share)
    return np.lexsort((ok.sum(axis=1), -regret, ok[:, 0]))


def _regret(desire: np.ndarray) -> np.ndarray:
    """(N,) second-least minus least entry per row (inf with a single finite entry)."""
    two = np.sort(desire, axis=1)[:, :2]
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(two[:, 1]), two[:, 1] - two[:, 0], np.inf)


@dataclass
class _Rows:
    """The state of Q rows under construction."""

    a: np.ndarray  # (Q, N) options
    load: np.ndarray  # (Q, M) sum of f_min per server
    root_sum: np.ndarray  # (Q, M) sum of sqrt(C) per server


def construct(instance: Instance, objective: Objective, want: np.ndarray,
              scores: np.ndarray | None = None, order: np.ndarray | None = None, *,
              gain_ejection: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Build Q assignments: (assignments (Q, N), stuck (Q,) UEs that found no room).

    want[q, i] is the option row q would like for UE i (-1: none, take the cheapest that
    fits); scores (Q, N, M+1), if given, choose among fitting options instead of costs.
    A row with stuck == 0 fits every deadline and capacity. `gain_ejection` (energy, no
    scores): also eject where that is cheaper than the UE's cheapest fitting option (step 3
    of the module doc). See the module doc.
    """
    order = placement_order(instance, objective) if order is None else order
    Q, N = want.shape
    M = instance.n_servers
    rows = _Rows(np.full((Q, N), -1), np.zeros((Q, M)), np.zeros((Q, M)))  # -1: not placed
    gain = gain_ejection and objective is Objective.ENERGY and scores is None
    stuck = _sweep(instance, objective, order, want, scores, rows, started=False, gain=gain)
    bad = np.flatnonzero(stuck)
    if len(bad):
        a, left = _rescue(instance, objective, order, want[bad],
                          None if scores is None else scores[bad], rows.a[bad], gain)
        if gain:
            # A gain ejection can take the room that a later UE that must offload needs.
            # Such a row is also built again without them, and the cheaper kept: neither is
            # always better (stress kind `boundary`, seed 1: 0.42 J without them, 0.72 J
            # from the anchor; a development draw of that kind: 55% and 19% above the
            # optimum).
            plain = _Rows(np.full((len(bad), N), -1), np.zeros((len(bad), M)),
                          np.zeros((len(bad), M)))
            plain_left = _sweep(instance, objective, order, want[bad], None, plain,
                                started=False)
            e = np.where(instance.option_ok, alone_costs(instance, Objective.ENERGY), 0.0)
            built = [(a, left), (plain.a, plain_left)]
            price = _capacity_price(instance, e)
            if price is not None:
                # Stuck: capacity binds for the UEs that must offload. Built again with
                # each option priced at its energy plus its f_min at the LP's capacity
                # price, a UE that must offload no longer takes its cheapest server
                # whatever room that costs (hotspot draws, 1,000 UEs crowding three
                # servers: 152% and 375% above the best known -> 19% and 3.8%).
                scores = np.repeat(-price[None], len(bad), axis=0)
                built.append(construct(instance, objective, want[bad], scores, order))
            a, left = _cheapest_rows(e, built)
        fixed = left == 0
        rows.a[bad[fixed]] = a[fixed]
        stuck[bad[fixed]] = 0
    return rows.a, stuck


def _capacity_price(instance: Instance, e: np.ndarray) -> np.ndarray | None:
    """(N, M+1) energy plus f_min priced at the energy LP relaxation's capacity duals
    (mecopt.relaxation), inf where an option cannot meet the deadline; None when the LP
    has no optimum."""
    from mecopt.relaxation import assignment_lp  # HiGHS loads only when a sweep is stuck

    lp = assignment_lp(instance, e)
    if lp.price is None:
        return None
    f_min = np.where(instance.usable, instance.f_min, 0.0)
    return np.where(instance.option_ok, e + np.concatenate([[0.0], lp.price]) * np.c_[
        np.zeros(instance.n_ues), f_min], np.inf)


def priced_construction(instance: Instance) -> np.ndarray | None:
    """Energy: the construction with each option priced at its energy plus its f_min at the
    capacity prices of the energy LP relaxation (its duals), in the placement order; None
    when no capacity price is positive (the build would be the plain one), the LP has no
    optimum, or the build gets stuck. The `greedy` method's second energy candidate: where
    capacity binds, the plain build lets the UEs placed first take the servers they save
    most on whatever room that costs the UEs after them (co-located identical servers:
    10.1% above the best known, against 1.2% priced)."""
    e = np.where(instance.option_ok, alone_costs(instance, Objective.ENERGY), 0.0)
    price = _capacity_price(instance, e)
    if price is None or np.array_equal(price[instance.option_ok], e[instance.option_ok]):
        return None
    a, stuck = construct(instance, Objective.ENERGY, np.full((1, instance.n_ues), -1),
                         scores=-price[None], order=placement_order(instance, Objective.ENERGY))
    return None if stuck[0] else a[0]


def _cheapest_rows(e: np.ndarray, built: list[tuple[np.ndarray, np.ndarray]]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Row by row, the cheapest in energy `e` (N, M+1) of the candidate builds (each
    (assignments (B, N), (B,) UEs left without room)) that placed every UE, else the
    first's row."""
    a, left = (x.copy() for x in built[0])
    N = a.shape[1]
    best = np.where(left == 0, e[np.arange(N), a].sum(axis=1), np.inf)
    for other, other_left in built[1:]:
        energy = np.where(other_left == 0, e[np.arange(N), other].sum(axis=1), np.inf)
        take = energy < best
        a[take], left[take], best[take] = other[take], 0, energy[take]
    return a, left


def _rescue(instance: Instance, objective: Objective, order: np.ndarray, want: np.ndarray,
            scores: np.ndarray | None, a: np.ndarray, gain: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    """Step 4 for rows `a` (B, N) that got stuck: (assignments, (B,) UEs left without room),
    each row swept again from the anchor, with gain ejections if `gain` (all rows left as
    they were, one UE each without room, when there is no anchor)."""
    start = anchor(instance, objective)
    if start is None:
        return a.copy(), np.ones(len(a), dtype=int)
    # Keep what the first sweep placed before it got stuck as the wish of the UEs that had
    # none (greedy), then sweep again from the anchor: without gain ejections nothing gets
    # stuck, as each UE can go back to its option in the anchor.
    again = np.where(want >= 0, want, a)

    def sweep(with_gain: bool) -> tuple[np.ndarray, np.ndarray]:
        redo = _Rows(np.repeat(start[None], len(a), axis=0), *_sums(instance, start, len(a)))
        return redo.a, _sweep(instance, objective, order, again, scores, redo, started=True,
                              gain=with_gain)

    out, left = sweep(gain)
    if gain and (left > 0).any():  # an ejection took the room a UE's anchor option needs
        plain, plain_left = sweep(False)
        redo = (left > 0) & (plain_left == 0)
        out[redo], left[redo] = plain[redo], 0
    return out, left


def _sums(instance: Instance, a: np.ndarray, Q: int) -> tuple[np.ndarray, np.ndarray]:
    """(Q, M) f_min and sqrt(C) sums per server of assignment a (N,), repeated Q times."""
    on = a > 0
    load = server_load(instance, a)
    root = np.bincount(a[on] - 1, weights=np.sqrt(instance.cycles[on]),
                       minlength=instance.n_servers)
    return np.repeat(load[None], Q, axis=0), np.repeat(root[None], Q, axis=0)


def _sweep(instance: Instance, objective: Objective, order: np.ndarray, want: np.ndarray,
           scores: np.ndarray | None, rows: _Rows, started: bool, gain: bool = False
           ) -> np.ndarray:
    """Place every UE of every row in `order`, ejecting where stuck (and, with `gain`,
    where one UE's move makes room more cheaply than the cheapest fitting option); rows.* is
    updated in place. started=True: rows.a is already a feasible assignment (loads
    included), each UE leaves its option before it chooses again. Returns (Q,) UEs left
    without room."""
    Q = want.shape[0]
    ok = instance.option_ok
    f_min = np.where(instance.usable, instance.f_min, 0.0)  # (N, M)
    root = np.sqrt(instance.cycles)
    stuck = np.zeros(Q, dtype=int)
    every = np.arange(Q)
    costs = _Costs(instance, objective)
    for i in order:
        if started:  # take UE i off its current option before it chooses again
            cur = rows.a[:, i]
            on = np.flatnonzero(cur > 0)
            rows.load[on, cur[on] - 1] -= f_min[i, cur[on] - 1]
            rows.root_sum[on, cur[on] - 1] -= root[i]
        fitting = np.empty((Q, ok.shape[1]), dtype=bool)
        fitting[:, 0] = ok[i, 0]
        fitting[:, 1:] = ok[i, 1:] & fits(rows.load + f_min[i], instance.capacity_hz)
        k = want[:, i]
        move = np.flatnonzero((k < 0) | ~fitting[every, np.maximum(k, 0)])
        k = np.maximum(k, 0)
        counted = np.zeros(Q, dtype=bool)  # rows whose load already has UE i
        if len(move):
            fit = fitting[move]
            if scores is not None:
                alt = np.where(fit, scores[move, i], -np.inf).argmax(axis=1)
            else:
                cost = costs.of(i, rows.root_sum[move])
                alt = np.where(fit, cost, np.inf).argmin(axis=1)
            k[move] = alt
            if gain:  # a cheaper option that does not fit: worth one UE's move to make room?
                alt_cost = cost[np.arange(len(move)), alt]
                cheaper = fit.any(axis=1) & (np.where(ok[i], cost, np.inf).min(axis=1)
                                             < alt_cost)
                for r in np.flatnonzero(cheaper & (stuck[move] == 0)):
                    placed = _eject(instance, objective, costs, rows, move[r], i,
                                    below=float(alt_cost[r]))
                    if placed is not None:
                        k[move[r]] = placed
                        counted[move[r]] = True
            for q in move[~fit.any(axis=1)]:  # no option fits: make room, else give up
                # A row that already gave up will be rebuilt: no more ejections for it.
                placed = None if stuck[q] else _eject(instance, objective, costs, rows, q, i)
                if placed is None:
                    stuck[q] += 1
                    keep = want[q, i]
                    k[q] = keep if keep >= 0 and ok[i, keep] else int(np.argmax(ok[i]))
                    if k[q] > 0:  # counted in the load, so later UEs still see the excess
                        rows.load[q, k[q] - 1] += f_min[i, k[q] - 1]
                        rows.root_sum[q, k[q] - 1] += root[i]
                else:
                    k[q] = placed
                counted[q] = True
        rows.a[:, i] = k
        on = np.flatnonzero((k > 0) & ~counted)
        rows.load[on, k[on] - 1] += f_min[i, k[on] - 1]
        rows.root_sum[on, k[on] - 1] += root[i]
    return stuck


def _eject(instance: Instance, objective: Objective, costs: _Costs, rows: _Rows, q: int,
           i: int, below: float | None = None) -> int | None:
    """Make room for UE i in row q by moving one, else two, UEs off a server that i can use
    to options where they fit; the cheapest change of objective wins. Places i (loads
    included) and returns its server, or None when no such move exists (row unchanged).
    `below`: a gain ejection, taken only if it costs less than `below` (i's cost on its
    cheapest fitting option), one UE moved only (pairs cost too much to try for every UE)."""
    a = rows.a[q]
    on_server = np.flatnonzero(a > 0)
    on_server = on_server[on_server != i]
    if below is not None:
        # Only UEs that free enough room alone, whose cheapest move off their server plus
        # i's cost there can be below `below`: no other can make a gain ejection (trying
        # every UE, greedy took 5 s on a 5,000 x 50 instance, against 0.2 s with none).
        join = costs.of(i, rows.root_sum[q][None])[0]
        short = rows.load[q] + costs.f_min[i, 1:] - fit_limit(instance.capacity_hz)
        k = a[on_server]
        big = costs.f_min[on_server, k] >= short[k - 1] * (1 - 1e-12)
        with np.errstate(invalid="ignore"):
            bound = join[k] + costs.leave[on_server, k]
        keep = np.flatnonzero(instance.option_ok[i, k] & big
                              & (bound < below + 1e-9 * abs(below)))
        if len(keep) > _GAIN_CANDIDATES:
            keep = keep[np.argsort(bound[keep], kind="stable")[:_GAIN_CANDIDATES]]
        on_server = on_server[keep]
    if not len(on_server):
        return None
    ctx = _Room(instance, objective, costs, rows, q, i, on_server)
    best = ctx.single()
    if best is None and below is None:
        for j in np.flatnonzero(instance.option_ok[i, 1:]) + 1:
            found = ctx.pair(j)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], j, found[1])
    if best is None or (below is not None and best[0] >= below):
        return None
    _, j, moves = best
    f_min = np.where(instance.usable, instance.f_min, 0.0)
    root = np.sqrt(instance.cycles)
    for ue, o in moves + [(i, j)]:
        old = rows.a[q, ue] if ue != i else 0
        if old > 0:
            rows.load[q, old - 1] -= f_min[ue, old - 1]
            rows.root_sum[q, old - 1] -= root[ue]
        if o > 0:
            rows.load[q, o - 1] += f_min[ue, o - 1]
            rows.root_sum[q, o - 1] += root[ue]
        rows.a[q, ue] = o
    return int(j)


class _Room:
    """What an ejection for UE i in row q needs, computed once for all servers: the cost
    change of moving each UE now on a server to each other option that fits."""

    def __init__(self, instance: Instance, objective: Objective, costs: _Costs, rows: _Rows,
                 q: int, i: int, on_server: np.ndarray) -> None:
        F = costs.f_min  # (N, M+1)
        cap = fit_limit(instance.capacity_hz)  # room and deficits are against the limit
        a, load, root_sum = rows.a[q], rows.load[q], rows.root_sum[q]
        self.M, self.a, self.F = instance.n_servers, a, F
        self.ok_i = instance.option_ok[i]
        self.deficit = load + F[i, 1:] - cap  # (M,) room i lacks on each server
        self.on = on_server
        cost = costs.of(on_server, root_sum[None])[0]  # (K, M+1)
        k = a[on_server]
        if objective is Objective.LATENCY:  # what leaving its server saves
            s = root_sum[k - 1]
            here = (instance.t_tx[on_server, k - 1]
                    + (s ** 2 - (s - np.sqrt(instance.cycles[on_server])) ** 2) / cap[k - 1])
        else:
            here = cost[np.arange(len(k)), k]
        self.join = costs.of(i, root_sum[None])[0]  # (M+1,)
        self.room = np.concatenate([[np.inf], cap - load])  # local always has room
        self.dest_ok = instance.option_ok[on_server].copy()
        self.dest_ok[np.arange(len(k)), k] = False
        self.move = np.where(self.dest_ok, cost - here[:, None], np.inf)  # (K, M+1)
        self.delta = np.where(F[on_server] <= self.room[None], self.move, np.inf)

    def single(self) -> tuple[float, int, list[tuple[int, int]]] | None:
        """The cheapest way to free room for UE i on any server it can use by moving one UE
        from there to an option where it fits: (cost change, server, [(UE, option)])."""
        k = self.a[self.on]  # (K,) the server of each candidate
        big = self.ok_i[k] & (self.F[self.on, k] >= self.deficit[k - 1] * (1 - 1e-12))
        one = np.where(big[:, None], self.delta + self.join[k][:, None], np.inf)
        if not np.isfinite(one).any():
            return None
        u, o = np.unravel_index(np.argmin(one), one.shape)
        return float(one[u, o]), int(k[u]), [(int(self.on[u]), int(o))]

    def pair(self, j: int) -> tuple[float, list[tuple[int, int]]] | None:
        """The cheapest way to free room for UE i on server j by moving two UEs from j to
        options where they fit: (cost change, [(UE, option), (UE, option)])."""
        sel = np.flatnonzero(self.a[self.on] == j)
        if len(sel) < 2:
            return None
        on, F, delta = self.on[sel], self.F, self.delta[sel]
        slack = self.deficit[j - 1] * (1 - 1e-12)
        join = float(self.join[j])
        # Candidates: the largest f_min and the cheapest single moves.
        movable = np.flatnonzero(np.isfinite(self.move[sel]).any(axis=1))
        if np.sort(F[on[movable], j])[-2:].sum() < slack:  # no two of them are enough
            return None
        half = _PAIR_CANDIDATES // 2
        cand = np.unique(np.concatenate([
            movable[np.argsort(-F[on[movable], j], kind="stable")[:half]],
            movable[np.argsort(delta[movable].min(axis=1), kind="stable")[:half]]]))
        if len(cand) < 2:
            return None
        u, v = np.triu_indices(len(cand), k=1)
        u, v = cand[u], cand[v]
        enough = F[on[u], j] + F[on[v], j] >= slack
        u, v = u[enough], v[enough]
        if not len(u):
            return None
        # (pairs, M+1, M+1): u to option o, v to option p, each fitting; jointly when o == p.
        move = self.move[sel]
        fu, fv, room = F[on[u]], F[on[v]], self.room
        fit = (fu[:, :, None] <= room[None, :, None]) & (fv[:, None, :] <= room[None, None, :])
        same = np.arange(self.M + 1)
        fit[:, same, same] &= fu + fv <= room[None]
        total = np.where(fit, move[u][:, :, None] + move[v][:, None, :], np.inf)
        if not np.isfinite(total).any():
            return None
        p, o, r = np.unravel_index(np.argmin(total), total.shape)
        return float(total[p, o, r]) + join, [(int(on[u[p]]), int(o)), (int(on[v[p]]), int(r))]


def greedy_assignment(instance: Instance, objective: Objective | str, *,
                      order: np.ndarray | None = None, gain_ejection: bool = True
                      ) -> tuple[np.ndarray | None, str]:
    """The greedy assignment, or (None, where it got stuck) when the construction found no
    decision (then the instance may still be feasible: nothing is proven). `order` replaces
    the placement order (mecopt.construct.placement_order) when given; `gain_ejection=False`
    ejects only where a UE finds no fitting option (`construct`)."""
    objective = Objective.parse(objective)
    order = placement_order(instance, objective) if order is None else order
    a, stuck = construct(instance, objective, np.full((1, instance.n_ues), -1), order=order,
                         gain_ejection=gain_ejection)
    if stuck[0]:
        return None, _dead_end(instance, order, a[0])
    if objective is Objective.LATENCY:
        return local_when_faster(instance, a[0]), ""
    return a[0], ""


def local_when_faster(instance: Instance, assignment: np.ndarray) -> np.ndarray:
    """Latency: a feasible `assignment` with every offloaded UE whose own device meets its
    deadline faster than its water-filled latency moved local, until none is. Each such move
    lowers the UE's latency and leaves the others on its server more capacity, so the mean
    latency only falls. The construction prices a server as if its UEs shared it by sqrt(C)
    (`marginal_cost`); where UEs with tight deadlines hold most of it at f_min, a UE with a
    loose deadline gets what is left and can finish just before its deadline: 29 s where its
    device takes 0.25 s, on 1,491 UEs with deadlines from 1 ms to 30 s."""
    a = np.array(assignment, dtype=int)
    while True:
        latency = evaluate(instance, a).latency_s
        move = (a > 0) & instance.local_ok & (instance.t_loc < latency * (1 - 1e-9))
        if not move.any():
            return a
        a[move] = 0


def cheapest_construction(instance: Instance, objective: Objective, orders: list[np.ndarray],
                          deadline: float | None = None
                          ) -> tuple[np.ndarray | None, float, str]:
    """The cheapest decision the construction builds in any of `orders` (e.g. start_orders),
    as (assignment, water-filled value, ""), or (None, inf, the first order's dead end) when
    none is found. Orders after the first are skipped once `deadline` (a time.perf_counter()
    value) has passed and a decision is in hand."""
    built, why = constructions(instance, objective, orders, deadline)
    if not built:
        return None, float("inf"), why
    _, assignment, value = min(built, key=lambda b: b[2])
    return assignment, value, ""


def constructions(instance: Instance, objective: Objective, orders: list[np.ndarray],
                  deadline: float | None = None, gain_ejection: bool = True
                  ) -> tuple[list[tuple[int, np.ndarray, float]], str]:
    """The decisions the construction builds in `orders`, as (order's index, assignment,
    water-filled value), and the first dead end's message ("" if none). Orders after the
    first are skipped once `deadline` has passed and a decision is in hand. The first step
    of mecopt.improve.greedy_decision (the `greedy` method and LAMBO's guard).
    `gain_ejection` as greedy_assignment's."""
    built: list[tuple[int, np.ndarray, float]] = []
    first_why = ""
    for k, order in enumerate(orders):
        if k and built and deadline is not None and time.perf_counter() >= deadline:
            break
        assignment, why = greedy_assignment(instance, objective, order=order,
                                            gain_ejection=gain_ejection)
        if assignment is None:
            first_why = first_why or why
            continue
        built.append((k, assignment, float(evaluate(instance, assignment).value(objective))))
    return built, first_why


def _dead_end(instance: Instance, order: np.ndarray, a: np.ndarray) -> str:
    """Where the construction (its stuck assignment a) got stuck: the first UE in placement
    order with no usable option, or whose server it overloads."""
    usable = instance.option_ok[order].any(axis=1)
    i = None if usable.all() else int(order[np.argmin(usable)])
    if i is None:
        load = np.zeros(instance.n_servers)
        for u in order:
            k = a[u]
            if k > 0:
                load[k - 1] += instance.f_min[u, k - 1]
                if not fits(load[k - 1], instance.capacity_hz[k - 1]):
                    i = int(u)
                    break
    where = f"UE {i}" if i is not None else "a UE"
    return (f"greedy: {where} found no room after ejection, and neither the packing search "
            "nor HiGHS found a packing of the UEs that must offload")


# The anchors of an instance, per objective (None: no objective), computed at most once:
# (assignment or None, verdict).
_ANCHORS: weakref.WeakKeyDictionary[Instance, dict[Objective | None,
                                                   tuple[np.ndarray | None, str]]] = \
    weakref.WeakKeyDictionary()


def anchor(instance: Instance, objective: Objective | None = None) -> np.ndarray | None:
    """A feasible assignment, or None: the UEs that must offload are packed onto the servers
    (each on one usable server, f_min sums within capacities) by mecopt.packing's search,
    started from each UE's cheapest server for `objective`, else by a HiGHS feasibility
    MILP; every other UE runs locally, which needs no capacity. Cached per instance and
    objective."""
    known = _ANCHORS.setdefault(instance, {})
    if objective not in known:
        proven = [v for v in known.values() if v[1] == "infeasible"]
        known[objective] = proven[0] if proven else _solve_anchor(instance, objective)
    return known[objective][0]


def anchor_verdict(instance: Instance, objective: Objective | None = None) -> str:
    """Why `anchor` returned None: "infeasible" when HiGHS proved that the UEs that must
    offload cannot share the servers, "not found" otherwise; "" when there is an anchor."""
    anchor(instance, objective)
    return _ANCHORS[instance][objective][1]


def unpackable(instance: Instance, objective: Objective | None = None) -> str | None:
    """A one-line reason when HiGHS has proved that the UEs that must offload cannot share
    the servers (the anchor's verdict, computed if it is not known yet): then no
    construction, repair or search can find a decision, and a search whose starts all
    failed should stop rather than spend its time limit (the certificate then says why).
    None otherwise, also when the anchor was merely not found."""
    if anchor_verdict(instance, objective) != "infeasible":
        return None
    return "HiGHS proved that the UEs that must offload cannot share the servers"


def _solve_anchor(instance: Instance, objective: Objective | None
                  ) -> tuple[np.ndarray | None, str]:
    # HiGHS loads only when a construction gets stuck and the search finds no packing.
    from mecopt.packing import pack
    from mecopt.relaxation import assignment_lp

    must = np.flatnonzero(~instance.option_ok[:, 0])
    # Where not even a fractional packing fits (the LP relaxation, at the exact
    # capacities: a proof), nothing else is tried: the packing search would spend its
    # second in vain (DE and PG then stop at once, greedy says so in 0.05 s, not 1 s).
    if len(must) and assignment_lp(instance, ues=must).status == "infeasible":
        return None, "infeasible"
    # The search first: it finds near-full packings of servers that many UEs can use alike
    # in a fraction of a second, where HiGHS can take minutes (mecopt.packing); HiGHS finds
    # those of few usable servers per UE, and can prove that there is none. Started from
    # the cheapest servers, its packing leads the rescue to cheaper decisions than an
    # arbitrary one (stress `boundary`: greedy's energy 6-52% lower on 4 of 23 draws).
    a = pack(instance, objective)
    if a is not None:
        return a, ""
    a = np.zeros(instance.n_ues, dtype=int)
    # No objective: HiGHS stops at the first packing. (Minimizing the relative load took
    # HiGHS more than 5 s to find any packing on a 275 x 12 instance, against 0.5 s.) The
    # capacities keep a little room for rounding.
    packed = assignment_lp(instance, ues=must, integer=True, capacity_scale=1 - 1e-9,
                           time_limit=ANCHOR_TIME_LIMIT)
    if packed.status == "infeasible":
        return None, "infeasible"
    if packed.x is None:
        return None, "not found"
    a[must] = packed.x[must].argmax(axis=1)
    if not ((a[must] > 0).all() and fits(server_load(instance, a), instance.capacity_hz).all()):
        return None, "not found"
    return a, ""
