"""`greedy`: a strong constructive heuristic, the bar every search and learned method clears.

Greedy is the shared construction with no proposal (mecopt.construct.greedy_assignment):
every UE takes the option where the objective grows least given the placements so far, among
the options that still fit (a server fits when the minimum allocations that meet the
deadlines, f_min, still sum to at most its capacity). Feasibility comes first:

- order: the UEs that must offload (local misses the deadline) first; then, for energy,
  the largest energy saved per unit of server capacity first (`efficiency_order` in
  mecopt.construct: the knapsack rule), and for latency the largest regret first
  (second-most against most desirable option in an empty system, the option's share
  f_min / F_j of its server counted, as in Martello and Toth's MTHG for the generalized
  assignment problem);
- a UE that finds no fitting option makes room by moving one, else two, UEs already placed
  on a server it can use to other options where they fit, the cheapest change first; for
  energy, a UE whose cheapest option does not fit also moves one UE off a server it can use
  when that costs less in all than its cheapest fitting option (a gain ejection: where capacity
  binds, a UE placed late would otherwise run locally at many times a server's energy);
- if that fails, the decision is built again from a feasible anchor (the UEs that must
  offload packed onto the servers by mecopt.packing's search, or else a small HiGHS MILP),
  each UE moved to its greedy choice where it fits; for energy also in the same order with
  each option priced at its energy plus its capacity at the LP relaxation's prices, and
  the cheaper decision kept.

Marginal costs (mecopt.construct.marginal_cost, shared with the repair, mecopt.repair):
- latency: local t_loc, or t_tx + ((S_j + sqrt C_i)^2 - S_j^2) / F_j, where S_j is the sum of
  sqrt(C) already on server j, since (sum sqrt C)^2 / F_j is a server's total compute time
  under water-filling when no deadline binds;
- energy: e_loc or e_tx, ties broken by the latency marginal.
Finally the servers are water-filled (mecopt.waterfill), which also handles binding deadlines,
and for latency a UE whose own device is faster than its water-filled latency goes local
(`mecopt.construct.local_when_faster`, until none is): where UEs with tight deadlines hold
a server at their f_min, a UE with a loose one can be left with the remainder.

Then relocation passes (mecopt.relocate, option `relocate`, on by default) move many UEs at
once, each to the option that lowers the objective most, on servers no other move of the
pass touches, valued exactly by the servers' water-filling: the construction places each UE
given only the UEs placed before it and prices a server as if no deadline held part of it,
and a single move corrects much of that (latency: 1-2% lower on the library, about 10% on
1,800-UE sparse networks; docs/heuristics.md, "Relocation"). Then matching rounds
(mecopt.rematch, option `rematch`, on by default) free one UE of every server and some local
ones and put them back by a linear assignment, which finds the exchanges and chains single
moves cannot (few UEs on many servers: 1-9% lower; the library's latency: about half of
what relocation leaves), and the relocation passes run once more where they changed
anything. The rounds pick the freed UEs at random from the run's seed. For energy, up to 10
rounds of room moves follow (mecopt.room.room_rounds, option `room`, on by default): where
offloading saves many times a UE's energy and every server is full, the best decisions are
knapsack packings, and only a move that takes a large UE onto a full server and the
cheapest UEs per GHz off it reaches them (37 UEs at two sites: 1.78 -> 1.15 times the
optimum). The passes and matching rounds run again after them, and since those can open
room moves again, the cycle repeats while the room rounds move a UE (at most
mecopt.improve.ROOM_CYCLES times).

Greedy also builds a second decision at the capacity prices of a relaxation (option
`priced`, on by default), improves it the same way and keeps the cheaper. For energy, where
the LP relaxation prices capacity (a positive dual), it is the construction with each
option priced at its energy plus its f_min at those prices
(mecopt.construct.priced_construction). The plain build lets the UEs placed first take the
servers they save most on, whatever room that costs the UEs after them; the priced one
weighs that room (co-located identical servers: 10.1% above the best known, against 1.2%;
it costs one LP, 3-45 ms at 100-1,800 UEs, and a second construction). For latency, from
100 UEs (mecopt.improve.DUAL_BUILD_MIN_UES: below, the dual's scipy.optimize import would
triple a CLI solve), it is the Lagrangian dual's rounding (mecopt.polish.latency_rounding:
each UE's cheapest option at the dual's capacity prices, repaired), which spreads the UEs
over the servers by what they gain there where the construction decides each UE given
only those before it (a 1,251-UE draw on which three UEs in four must offload: 64% above
the best known, against the dual's build at it; 5-140 ms at 100-2,000 UEs).

The construction, the priced build and these improvements are one pipeline,
mecopt.improve.greedy_decision, which LAMBO's guard runs too (its pick is never above what
greedy answers).

Option `gain=false` leaves the gain ejections out of the construction; with
`relocate=false:priced=false` too, greedy is the plain cheapest-fit rule (each UE to its
cheapest fitting option, a placed UE moved only where none fits), the rule a one-pass
decode such as LAMBO's follows.

Option `orders=all` builds one decision per construction order (mecopt.construct.
start_orders: the placement order above, the capacity-aware and the plain regret order), as
MTHG tries several desirability measures, and finishes the cheapest and the placement
order's (so it never answers above the default); it takes two to three times as long. The
default, `one`, builds in the placement order only.

Option `lns=S` (mecopt.polish) then improves the decision by large-neighbourhood search
(mecopt.lns) for S seconds: for energy under binding capacity, `greedy:lns=1` is mecopt's
fast energy method (docs/lns.md has its measurements).
"""

from __future__ import annotations

import time

from mecopt.construct import placement_order, start_orders
from mecopt.improve import Finish, greedy_decision
from mecopt.method import Method, Option, Outcome
from mecopt.polish import LNS_OPTION, finish_with_lns, lns_verdict
from mecopt.status import Status


class GreedyMethod(Method):
    name = "greedy"
    description = ("constructive heuristic, feasibility first: must-offload UEs first, then the "
                   "best energy savers per unit of capacity (energy) or the highest regret "
                   "(latency), each to its cheapest fitting option, ejecting to make room")

    options = {
        "orders": Option(str, "one", "one: build in the placement order; all: build in every "
                                     "construction order (mecopt.construct.start_orders) and "
                                     "keep the cheapest decision (about 3x the time)",
                         choices=("one", "all")),
        "relocate": Option(bool, True, "after the construction, passes of single-UE moves "
                                       "on disjoint servers (mecopt.relocate) and the "
                                       "matching rounds; false: the construction alone "
                                       "(the cheaper of its two builds)"),
        "rematch": Option(bool, True, "after the relocation passes, matching rounds that "
                                      "free one UE per server and put them back by a linear "
                                      "assignment (mecopt.rematch)"),
        "room": Option(bool, True, "energy: after the matching rounds, up to 10 rounds of "
                                   "room moves (mecopt.room.room_rounds: a UE onto a full "
                                   "server, others off it)"),
        "priced": Option(bool, True, "also build at a relaxation's capacity prices (energy: "
                                     "the LP's, where it prices capacity, mecopt.construct."
                                     "priced_construction; latency, from 100 UEs: the "
                                     "Lagrangian dual's rounding, mecopt.polish."
                                     "latency_rounding), improve both, keep the cheaper"),
        "gain": Option(bool, True, "energy: a UE whose cheapest option does not fit may also "
                                   "move a placed UE off a server where that costs less in all "
                                   "(a gain ejection); false: eject only where no option fits, "
                                   "the plain cheapest-fit rule (with relocate=false and "
                                   "priced=false, the rule a one-pass decode follows)"),
        "lns": LNS_OPTION,
    }

    def _solve(self, instance, objective, *, time_limit, seed):
        deadline = None if time_limit is None else time.perf_counter() + time_limit
        orders = start_orders(instance, objective) if self.config["orders"] == "all" \
            else [placement_order(instance, objective)]
        finish = Finish(relocate=self.config["relocate"], rematch=self.config["rematch"],
                        room=self.config["room"], priced=self.config["priced"],
                        gain=self.config["gain"])
        assignment, _, why = greedy_decision(instance, objective, orders, seed=seed,
                                             deadline=deadline, finish=finish)
        if assignment is None:
            return Outcome(None, status=Status.NO_SOLUTION, message=why)
        assignment, extra = finish_with_lns(instance, objective, assignment,
                                            seconds=self.config["lns"], deadline=deadline,
                                            seed=seed)
        return Outcome(assignment, **lns_verdict(extra), extra=extra)
