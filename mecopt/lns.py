"""Large-neighbourhood search (LNS): improve a feasible assignment by re-solving parts of it
exactly.

Each step frees a subset of UEs, keeps every other UE where it is, and solves the
sub-problem on the freed UEs exactly (within a small time limit):

- energy: a generalized assignment MILP on the freed UEs, each server's capacity reduced by
  the minimum allocations (f_min) of the UEs that stay on it. It is built directly with
  highspy (no modelling layer: a sub-problem is built and solved in milliseconds), in GHz
  and energy units (mecopt.units) so that every coefficient is near 1, and HiGHS starts
  from the current assignment (setSolution), so a sub-problem can only return something at
  least as good.
- latency: a server's compute time depends on every UE on it, so the freed set is whole
  servers: all UEs on one or two servers plus local UEs that can reach them. With the other
  servers and their UEs fixed, that is an independent smaller instance, solved by the
  exact outer-approximation search of `highs` (passed in as `latency_solver`, by default
  mecopt.outer_approximation.search, imported when first needed: Pyomo's solver interface
  takes over a second to import).
  Between server pairs, a `chains` step samples CHAIN_SAMPLES chains of up to three moves
  (UE x to another option, a UE on that server to another, a UE on that one back to x's
  server or elsewhere), evaluates them exactly and takes the best if it improves: the
  cyclic exchanges through several servers that separate `descend`'s local optima from
  DE's, and a step that costs milliseconds where an exact pair can take a second.

Energy starts from the better of its start and the LP relaxation's rounding (made
feasible), each polished by `descend` first. The tabu search across the capacity boundary
(mecopt.tabu) then gets TABU_SHARE of the time (unless `tabu=False`). On an instance of at
most WHOLE_MAX_COLUMNS (UE, option) pairs, HiGHS then searches the whole GAP from the
best decision so far for WHOLE_SHARE of the time left, and the freed sets get the rest:
HiGHS's own tree and primal heuristics find the large moves early, the freed sets the
remaining small ones.

Freed sets, taken in turn (energy: all four kinds; latency: server pairs, each after a
`chains` step, above):
1. `pair`: every UE on two servers, plus UEs elsewhere that would save energy there;
2. `region`: a random UE and the UEs whose uplink-rate profile (log rate to every server) is
   nearest to it, i.e. the UEs that compete for the same servers;
3. `regret`: UEs drawn by how much more they cost than their cheapest option, with UEs on
   the servers they would rather be on (someone has to make room);
4. `weights`: UEs drawn by caller-supplied per-UE weights (e.g. a learned policy's
   probability that its decision for the UE is wrong), with the same companions; used only
   when `weights` is given.
The freed-set size adapts: it grows while sub-problems are proven quickly and shrinks when
they hit their time limit. Between LNS rounds the shared local search (`mecopt.descend.
descend`) polishes the incumbent. Every accepted assignment is checked with
`evaluate_batch`, so `improve` never returns something infeasible or worse than its start.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import highspy
import numpy as np

from mecopt.descend import descend
from mecopt.errors import InputError
from mecopt.evaluation import evaluate_batch
from mecopt.instance import Instance
from mecopt.objective import Objective
from mecopt.relaxation import WHOLE_HEURISTIC_EFFORT, assignment_model, run_highs
from mecopt.repair import repair
from mecopt.tabu import tabu_search
from mecopt.units import alone_costs, energy_unit
from mecopt.waterfill import fits

GHZ = 1e9  # Hz per model unit inside the sub-MILP
# Accept a sub-problem's answer only if it improves by more than this (relative): HiGHS's
# own tolerances are about 1e-9 relative, and equal-cost moves would just cycle.
IMPROVE_RTOL = 1e-9
# Smallest and largest freed set (UEs), and how the size adapts.
MIN_FREE, MAX_FREE = 8, 400
GROW, SHRINK = 1.25, 0.7
# An energy incumbent within this many model units (mecopt.units: J / energy_unit) of the
# LP bound is optimal (HiGHS's tolerances).
PROVEN_ATOL = 1e-9
# An incumbent within this relative gap of a whole-instance sub-problem's dual bound is
# optimal (`highs`'s default gap).
PROVEN_RTOL = 1e-6
# Share of the time left that one call of `descend` may use.
DESCEND_SHARE = 0.25
# Energy: up to this many (UE, option) columns, HiGHS on the whole instance, started from
# the polished start, gets the first WHOLE_SHARE of the time left. On hetero 1000 x 20
# (17,189 columns) HiGHS on the whole instance did worse than freed sets (551.1 against
# 549.3 J), so larger instances skip it. First rather than after the freed sets stall: on
# 20 `sparse`, hetero and `world` instances of 138-1,000 UEs, from lambo's decodes, mean gap
# to the best known 0.83% at 1 s and 0.14% at 3-4 s, against 0.96% and 0.43% when HiGHS
# waited for a round of freed sets that improved nothing (docs/notes/2026-12-03-lns-whole-
# first.md; giving it the last 60% of the time was worse than waiting,
# docs/notes/2026-12-02-lns-and-polish.md).
WHOLE_MAX_COLUMNS = 8000
WHOLE_SHARE = 0.5
# Energy: the tabu search (mecopt.tabu) from the best start gets this share of the time
# first (unless the start meets the LP bound), and stops earlier after TABU_STALL steps
# without a new best (a step count, so that a run bounded by steps stays reproducible).
# From greedy's decision, on 22 development instances (six `sparse` draws of 256-385 UEs,
# six of an audit kind whose servers hold 1-3 UEs, ten of the tight library) at 2 s, mean
# gap to the better of the two: 1.01% without it, 0.10% with it (placed first, it did
# better than after the whole-instance step). After a polish that ended with it (LAMBO's),
# on 18 draws of the held-out families' kinds LNS did better without a second one (0.005%
# against 0.15%), so LAMBO leaves it out there (docs/notes/2026-12-04-energy-tabu.md,
# docs/notes/2026-12-05-tabu-start-prices.md).
TABU_SHARE = 0.6
TABU_STALL = 5000

# Latency: chains of up to three moves sampled and evaluated exactly per `chains` step.
CHAIN_SAMPLES = 2048

# A latency sub-solver: (sub-instance, start assignment, time limit) -> assignment or None.
LatencySolver = Callable[[Instance, np.ndarray, float], "np.ndarray | None"]


@dataclass
class Stats:
    """What `improve` did, for benchmarks and tests (returned by `improve_with_stats`)."""

    start_value: float
    value: float = math.nan
    steps: int = 0  # sub-problems solved
    accepted: int = 0  # sub-problems that improved the incumbent
    rejected: int = 0  # sub-problem answers that evaluate_batch refused (tolerances)
    descents: int = 0
    rounds: int = 0  # passes over every kind of freed set
    by_kind: dict[str, int] = field(default_factory=dict)  # improvements per freed-set kind
    wall_s: float = 0.0
    # The answer is optimal: it meets the LP relaxation's bound (energy), or a sub-problem
    # that freed every UE was solved to optimality.
    proven: bool = False
    # A lower bound on the optimum, at most the value: the one that proves the answer when
    # proven (the LP's, or HiGHS's dual bound of the whole instance), else the LP
    # relaxation's value (energy); None when none is known.
    bound: float | None = None


def improve(instance: Instance, objective: Objective | str, assignment: np.ndarray, *,
            time_limit: float, seed: int = 0, weights: np.ndarray | None = None,
            sub_time_limit: float | None = None, max_steps: int | None = None,
            free: int | None = None, use_descend: bool = True, whole: bool = True,
            latency_solver: LatencySolver | None = None,
            polished_rounding: np.ndarray | None = None, tabu: bool = True,
            stall_rounds: int | None = None, whole_after_stall: bool = False,
            whole_nodes: int | None = None) -> tuple[np.ndarray, float]:
    """Large-neighbourhood search from a feasible assignment: (assignment, value).

    instance, objective: the problem; assignment: (N,) a feasible start (0 = local, j =
        server j); InputError if it is not feasible.
    time_limit: wall-clock seconds for the whole search (checked between steps; one step
        can overrun it by at most its own sub-problem limit, which is capped to the time
        left).
    seed: the random choices (which freed sets, in which order). The result depends on the
        seed only as long as no time limit binds (neither `time_limit` nor a sub-problem's:
        set `max_steps`, and `sub_time_limit` well above what a sub-problem needs).
    weights: optional (N,) non-negative per-UE weights, higher = more likely to be freed
        (e.g. a learned policy's probability that its decision for the UE is wrong).
    sub_time_limit: seconds per sub-problem (default: 5% of time_limit, in [0.05, 2] s).
    max_steps: stop after this many sub-problems (default: no limit but time).
    free: the initial freed-set size in UEs (default: 60 for energy, adapting afterwards).
    use_descend: polish with mecopt.descend.descend first and after each round of LNS.
    whole: energy only: on an instance of at most WHOLE_MAX_COLUMNS (UE, option) pairs,
        give HiGHS the whole instance first, for WHOLE_SHARE of the time left.
    latency_solver: the exact sub-solver for latency (see `LatencySolver`); default: the
        outer-approximation search of `highs`.
    polished_rounding: energy only: the LP relaxation's rounding already polished by the
        caller (mecopt.polish.lp_rounding_start); LNS takes it instead of descending its own
        rounding again (it still solves the LP, for its bound and its `lp` freed sets).
    tabu: energy only: the tabu search across the capacity boundary (mecopt.tabu) gets
        TABU_SHARE of the time first (or TABU_STALL steps without a new best), unless the
        start meets the LP relaxation's bound.
    stall_rounds: stop after this many rounds in a row (a round frees one set of each
        kind) improve nothing (default: no such stop, only the time limit).
    whole_after_stall: energy only: when `stall_rounds` stops the rounds with time left,
        HiGHS gets the whole instance (up to WHOLE_MAX_COLUMNS columns) from the best
        decision for the rest of the time.
    whole_nodes: a branch-and-bound node limit for that whole-instance step (HiGHS
        `mip_max_nodes`): without a time limit it is what bounds the step, and HiGHS's
        answer within a node limit does not depend on the machine's speed.

    Returns the best assignment found and its objective value (mean latency [s] or total
    energy [J], as `evaluate_batch` computes it); never worse than the start.
    """
    a, _value, _stats = improve_with_stats(
        instance, objective, assignment, time_limit=time_limit, seed=seed, weights=weights,
        sub_time_limit=sub_time_limit, max_steps=max_steps, free=free,
        use_descend=use_descend, whole=whole, latency_solver=latency_solver,
        polished_rounding=polished_rounding, tabu=tabu, stall_rounds=stall_rounds,
        whole_after_stall=whole_after_stall, whole_nodes=whole_nodes)
    return a, _value


def improve_with_stats(instance: Instance, objective: Objective | str,
                       assignment: np.ndarray, *, time_limit: float, seed: int = 0,
                       weights: np.ndarray | None = None,
                       sub_time_limit: float | None = None, max_steps: int | None = None,
                       free: int | None = None, use_descend: bool = True,
                       whole: bool = True, latency_solver: LatencySolver | None = None,
                       polished_rounding: np.ndarray | None = None, tabu: bool = True,
                       stall_rounds: int | None = None, whole_after_stall: bool = False,
                       whole_nodes: int | None = None) -> tuple[np.ndarray, float, Stats]:
    """`improve`, also returning what it did (`Stats`)."""
    t0 = time.perf_counter()
    objective = Objective.parse(objective)
    N = instance.n_ues
    best = _Incumbent(instance, objective, assignment,
                      deadline=t0 + max(0.0, float(time_limit)), use_descend=use_descend)
    stats = best.stats
    weights = _checked_weights(weights, N)
    if sub_time_limit is None:
        sub_time_limit = min(2.0, max(0.05, 0.05 * float(time_limit)))
    rng = np.random.default_rng(seed)

    if objective is Objective.ENERGY:
        search = _EnergyLNS(instance, rng, weights, free)
        rounded = search.rounding(best.a, best.left())  # the LP relaxation, made feasible
        best.polish()
        if polished_rounding is not None:  # the caller has descended the same rounding
            rounded = np.asarray(polished_rounding, dtype=int)
        elif rounded is not None and best.use_descend and best.left() > 0:
            # Polished on its own before the two are compared: the rounding is
            # often worse than the polished start and better once polished itself (sparse
            # 700 x 25: 81.1 J, 73.0 J polished, against 74.9 J for lambo-w's polish).
            rounded = best.descend(rounded)[0]
        if rounded is not None:
            best.consider(rounded, "rounding")
        if search.meets_bound(best.value):
            stats.proven = True  # the start meets the LP bound: nothing left to find
        if tabu and not stats.proven and best.left() > 0:
            # Across the capacity boundary first: its moves through overload reach what
            # neither `descend` nor small freed sets do where capacities bind.
            _tabu(best, rng)
        if whole and not stats.proven and search.columns <= WHOLE_MAX_COLUMNS \
                and best.left() > 0 and (
                max_steps is None or max_steps > 0):
            # HiGHS's own tree and primal heuristics on the whole GAP first, from the best
            # start; the freed sets then take what it leaves.
            _step(best, search, "whole", np.arange(N), WHOLE_SHARE * best.left())
    else:
        search = _LatencyLNS(instance, rng, latency_solver)
        best.polish()
    improved_since_descent = False
    idle_rounds, round_start = 0, best.value
    while best.left() > 0 and not stats.proven and (max_steps is None
                                                    or stats.steps < max_steps):
        kind, ues = search.choose(best.a)
        if kind == "round":  # one pass over every kind is done
            if improved_since_descent:
                best.polish()
                improved_since_descent = False
            stats.rounds += 1
            idle_rounds = idle_rounds + 1 if best.value >= round_start else 0
            round_start = best.value
            if stall_rounds is not None and idle_rounds >= stall_rounds:
                if whole_after_stall and objective is Objective.ENERGY \
                        and search.columns <= WHOLE_MAX_COLUMNS and best.left() > 0:
                    if improved_since_descent:
                        best.polish()
                    improved_since_descent = _step(best, search, "whole", np.arange(N),
                                                   best.left(), nodes=whole_nodes)
                break
            continue
        if _step(best, search, kind, ues, min(sub_time_limit, max(best.left(), 0.01))):
            improved_since_descent = True
    if improved_since_descent:
        best.polish()
    stats.value, stats.wall_s = best.value, time.perf_counter() - t0
    if stats.bound is None and math.isfinite(search.lower_bound):
        # the LP relaxation (energy), solved for the start: what proves a start or an
        # incumbent that meets it, else the best bound known
        stats.bound = search.lower_bound
    if stats.bound is not None:
        stats.bound = min(stats.bound, best.value)  # above the value only by tolerances
    return best.a, best.value, stats


def lp_rounding(instance: Instance, assignment: np.ndarray, *,
                time_limit: float) -> np.ndarray | None:
    """Energy: the LP relaxation's largest shares made feasible (the cheaper of the shared
    repair and `_EnergyLNS._evict`), the start energy LNS takes when it is better than its
    own (a feasible (N,) assignment, or None when neither finds one). The LP splits at
    most M UEs, so on a generalized assignment problem this is a strong start for
    `descend`. `assignment` is a feasible fallback for the LP (used if the LP fails within
    `time_limit` seconds)."""
    search = _EnergyLNS(instance, np.random.default_rng(0), None, None)
    return search.rounding(np.asarray(assignment, dtype=int), time_limit)


def _tabu(best: _Incumbent, rng: np.random.Generator) -> None:
    """Energy: the tabu search across the capacity boundary (mecopt.tabu) from the
    incumbent, for TABU_SHARE of the time left or TABU_STALL steps without a new best."""
    # Its own seed: a caller's polish may have run it from this very decision.
    found, _ = tabu_search(best.instance, best.a, seed=int(rng.integers(2**31)),
                           stall=TABU_STALL,
                           deadline=time.perf_counter() + TABU_SHARE * best.left())
    best.consider(found, "tabu")


def _step(best: _Incumbent, search: _EnergyLNS | _LatencyLNS, kind: str, ues: np.ndarray,
          time_limit: float, nodes: int | None = None) -> bool:
    """Re-solve the freed UEs `ues` (energy: within `nodes` branch-and-bound nodes, if
    set) and offer the answer to `best`: True if it improved.
    Sets `best.stats.proven` when the answer is known optimal (a whole instance solved to
    optimality, or an incumbent that meets the LP bound)."""
    stats = best.stats
    found = search.solve(best.a, ues, time_limit) if nodes is None \
        else search.solve(best.a, ues, time_limit, nodes=nodes)
    stats.steps += 1
    if found is None:
        return False
    cand, proven = found
    improved = not np.array_equal(cand, best.a) and best.consider(cand, kind)
    # A whole instance solved to optimality proves the incumbent only if the incumbent is
    # worth that optimum (the checker can refuse a candidate HiGHS accepts).
    if proven and len(ues) == best.instance.n_ues \
            and best.value - search.proof_bound <= PROVEN_RTOL * abs(best.value):
        stats.proven, stats.bound = True, search.proof_bound
    if search.meets_bound(best.value):
        stats.proven = True  # nothing left to find
    return improved


def _checked_weights(weights: np.ndarray | None, N: int) -> np.ndarray | None:
    """The per-UE weights as floats, None when absent or all zero; InputError if invalid."""
    if weights is None:
        return None
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (N,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise InputError(f"weights: expected {N} finite non-negative numbers (one per UE)")
    return weights if weights.any() else None


class _Incumbent:
    """The best assignment so far and its value, the deadline and the `Stats`: what the LNS
    loop accepts into and polishes."""

    def __init__(self, instance: Instance, objective: Objective, assignment: np.ndarray, *,
                 deadline: float, use_descend: bool) -> None:
        N = instance.n_ues
        a = np.asarray(assignment, dtype=int).copy()
        if a.shape != (N,):
            raise InputError(f"assignment: expected {N} entries (one per UE), got shape "
                             f"{list(a.shape)}")
        first = evaluate_batch(instance, a[None])
        if not first.feasible[0]:
            raise InputError("assignment: improve needs a feasible starting assignment")
        self.instance, self.objective = instance, objective
        self.a, self.value = a, float(first.value(objective)[0])
        self.deadline, self.use_descend = deadline, use_descend
        self.stats = Stats(start_value=self.value)

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def polish(self) -> None:
        """Descend from the incumbent (never worse)."""
        if self.use_descend and self.left() > 0:
            self.a, self.value = self.descend(self.a)

    def descend(self, a: np.ndarray) -> tuple[np.ndarray, float]:
        """`descend` from `a` within its share of the time left: (assignment, value)."""
        # Best-improvement descent can take long from a poor start (45 s from greedy on
        # hetero 1000 x 20), so it gets at most a quarter of the time left.
        self.stats.descents += 1
        return descend(self.instance, self.objective, a,
                       deadline=time.perf_counter() + DESCEND_SHARE * self.left())

    def consider(self, cand: np.ndarray, kind: str) -> bool:
        """Accept `cand` if evaluate_batch finds it feasible and better by IMPROVE_RTOL."""
        check = evaluate_batch(self.instance, cand[None])
        if not check.feasible[0]:
            self.stats.rejected += 1
            return False
        v = float(check.value(self.objective)[0])
        if v < self.value - IMPROVE_RTOL * abs(self.value):
            self.a, self.value = cand, v
            self.stats.accepted += 1
            self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
            return True
        return False


# ------------------------------------------------------------------------------ energy
class _EnergyLNS:
    """Freed-set choice and the exact GAP sub-MILP for the energy objective."""

    KINDS = ("lp", "pair", "region", "regret", "weights")

    def __init__(self, instance: Instance, rng: np.random.Generator,
                 weights: np.ndarray | None, free: int | None) -> None:
        self.instance, self.rng, self.weights = instance, rng, weights
        N, M = instance.n_ues, instance.n_servers
        self.N, self.M = N, M
        ok = instance.option_ok.copy()
        ok[:, 1:] &= instance.f_min <= instance.capacity_hz[None, :]
        # Dominance: with local meeting the deadline and costing no more energy than server
        # j, any solution using j can put the UE local instead (no capacity, no more J).
        ok[:, 1:] &= ~(ok[:, [0]] & (instance.e_loc[:, None] <= instance.e_tx))
        self.ok = ok
        self.columns = int(ok.sum())  # the whole instance's (UE, option) variables
        # Energy per option [J]; inf where the option cannot meet the deadline. (The
        # current option of a UE may be a dominated one; its cost stays finite.)
        self.cost = np.where(instance.option_ok, alone_costs(instance, Objective.ENERGY), np.inf)
        self.unit = energy_unit(instance)  # J per unit inside HiGHS (its tolerances are absolute)
        self.weight = np.c_[np.zeros(N), np.where(instance.usable, instance.f_min, 0.0)] / GHZ
        self.capacity = instance.capacity_hz / GHZ
        # Rate profile for `region`: log rate to each server, 0 where unreachable.
        prof = np.log1p(instance.rate_bps / 1e6)
        self.profile = prof / max(float(prof.std()), 1e-12)
        self.size = float(free if free is not None else 60)
        self.kinds = [k for k in self.KINDS if k != "weights" or weights is not None]
        self.queue: list[str] = []
        self.lp_choice: np.ndarray | None = None
        self.lower_bound = -math.inf  # the LP relaxation's value, once solved [J]
        self.proof_bound: float | None = None  # the last proven sub-problem's dual bound [J]

    # -- freed sets
    def choose(self, a: np.ndarray) -> tuple[str, np.ndarray]:
        if not self.queue:
            self.queue = [str(k) for k in self.rng.permutation(self.kinds)] + ["round"]
        kind = self.queue.pop(0)
        if kind == "round":
            return kind, np.zeros(0, dtype=int)
        k = int(min(self.N, max(MIN_FREE, round(self.size))))
        if k >= self.N:
            return kind, np.arange(self.N)
        return kind, getattr(self, f"_{kind}")(a, k)

    def _gain(self, a: np.ndarray) -> np.ndarray:
        """(N, M+1) energy saved by moving each UE to each option (capacity ignored)."""
        here = self.cost[np.arange(self.N), a]
        return here[:, None] - self.cost

    def _pair(self, a: np.ndarray, k: int) -> np.ndarray:
        M, rng = self.M, self.rng
        if M == 1:
            servers = np.array([1])
        else:
            used = np.bincount(a, minlength=M + 1)[1:] + 1.0
            first = int(rng.choice(M, p=used / used.sum())) + 1
            # The partner: a server many of first's UEs could also use.
            on = a == first
            share = self.ok[on][:, 1:].sum(axis=0).astype(float) + 0.5
            share[first - 1] = 0.0
            second = int(rng.choice(M, p=share / share.sum())) + 1
            servers = np.array([first, second])
        members = np.flatnonzero(np.isin(a, servers))
        gain = self._gain(a)[:, servers].max(axis=1)
        outside = np.flatnonzero(~np.isin(a, servers) & (gain > 0))
        outside = outside[np.argsort(-gain[outside] + 1e-9 * rng.random(len(outside)))]
        if len(members) > k:
            members = rng.choice(members, size=k, replace=False)
        extra = outside[:max(0, k - len(members))]
        return np.union1d(members, extra)

    def _region(self, a: np.ndarray, k: int) -> np.ndarray:
        centre = int(self.rng.integers(self.N))
        dist = np.linalg.norm(self.profile - self.profile[centre], axis=1)
        dist += 1e-6 * self.rng.random(self.N)  # ties broken at random
        return np.sort(np.argpartition(dist, k - 1)[:k])

    def _drawn(self, a: np.ndarray, k: int, score: np.ndarray) -> np.ndarray:
        """Half the set drawn by `score`, half from the servers those UEs would rather use."""
        rng = self.rng
        p = score + 1e-12 * max(float(score.max()), 1e-12) + 1e-300
        half = max(1, min(k // 2, int(np.count_nonzero(score > 0)) or k // 2))
        core = rng.choice(self.N, size=half, replace=False, p=p / p.sum())
        gain = self._gain(a)[core]  # (half, M+1)
        gain[np.arange(len(core)), a[core]] = -np.inf
        wanted = np.unique(np.argmax(gain[:, 1:], axis=1) + 1)
        room = np.setdiff1d(np.flatnonzero(np.isin(a, wanted)), core)
        rest = k - len(core)
        if len(room) > rest:
            room = rng.choice(room, size=rest, replace=False)
        return self._top_up(np.union1d(core, room), k)

    def _top_up(self, chosen: np.ndarray, k: int) -> np.ndarray:
        """`chosen` with UEs drawn at random added until it has k (or all N)."""
        if len(chosen) < k:
            others = np.setdiff1d(np.arange(self.N), chosen)
            chosen = np.union1d(chosen, self.rng.choice(
                others, size=min(len(others), k - len(chosen)), replace=False))
        return chosen

    def _regret(self, a: np.ndarray, k: int) -> np.ndarray:
        here = self.cost[np.arange(self.N), a]
        return self._drawn(a, k, np.maximum(here - self.cost.min(axis=1), 0.0))

    def _weights(self, a: np.ndarray, k: int) -> np.ndarray:
        return self._drawn(a, k, self.weights)

    def _lp(self, a: np.ndarray, k: int) -> np.ndarray:
        """RINS: the UEs whose current option differs from the LP relaxation's choice (or
        whose LP choice is fractional), topped up with UEs sharing their servers."""
        if self.lp_choice is None:
            self.rounding(a, 10.0)
        rng = self.rng
        differ = np.flatnonzero(a != self.lp_choice)
        if len(differ) > k:
            return np.sort(rng.choice(differ, size=k, replace=False))
        servers = np.unique(np.r_[a[differ], self.lp_choice[differ]])
        near = np.setdiff1d(np.flatnonzero(np.isin(a, servers[servers > 0])), differ)
        if len(near) > k - len(differ):
            near = rng.choice(near, size=k - len(differ), replace=False)
        return self._top_up(np.union1d(differ, near), k)

    def _relaxation(self, a: np.ndarray, time_limit: float) -> np.ndarray:
        """(N, M+1) each UE's shares of its options in the LP relaxation of the whole
        problem (at a vertex at most M UEs are split); `a` itself if the LP fails."""
        share = np.zeros((self.N, self.M + 1))
        h, row, col = self._model(a, np.arange(self.N), integer=False)
        h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
        run_highs(h)
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            share[np.arange(self.N), a] = 1.0
        else:
            share[row, col] = np.asarray(h.getSolution().col_value)
            # A lower bound on the optimum (dominated options hold no optimum's UE).
            self.lower_bound = self.unit * float(h.getInfo().objective_function_value)
        return share

    def meets_bound(self, value: float) -> bool:
        """Whether an energy `value` [J] is within PROVEN_ATOL model units of the LP bound,
        and so optimal."""
        return value <= self.lower_bound + PROVEN_ATOL * self.unit

    def rounding(self, a: np.ndarray, time_limit: float) -> np.ndarray | None:
        """The LP relaxation's largest shares made feasible, a strong start for a
        generalized assignment problem, since the LP splits at most M UEs: the cheaper of
        two ways to empty the overloaded servers, `_evict` and the shared repair
        (mecopt.repair.repair). Also sets the `lp` freed sets' reference."""
        share = self._relaxation(a, time_limit)
        whole = share.max(axis=1) > 1 - 1e-6
        self.lp_choice = np.where(whole, share.argmax(axis=1), -1)
        want = share.argmax(axis=1)
        d = repair(self.instance, Objective.ENERGY, want)
        found = [d.assignment[0]] if d.feasible[0] else []
        evicted = self._evict(want)
        if evicted is not None:
            found.append(evicted)
        if not found:
            return None
        return min(found, key=lambda x: float(self.cost[np.arange(self.N), x].sum()))

    def _evict(self, want: np.ndarray) -> np.ndarray | None:
        """`want` with UEs moved off its overloaded servers, the most overloaded first, each
        move the one that adds the least energy per GHz it frees (to an option that still
        fits); None if an overloaded server has no UE that can move. The shared repair
        instead displaces the UEs that come last in the placement order, whatever their
        move costs: on a cloud-and-edge network (small edge servers, a large cloud behind
        slow links) that sent UEs with costly cloud links to the cloud (61% above the LP
        bound against 9.7%).

        Where no UE on the server has an option that fits, the cheapest per GHz spills onto
        another of its servers, full or not, whose overload is emptied in turn: where every
        server binds and the large tasks must offload, the LP's largest shares leave
        servers that no single move empties. A UE spills at most once and is not moved
        again after, so this ends."""
        a = want.copy()
        on = a > 0
        load = np.bincount(a[on] - 1, weights=self.weight[on, a[on]], minlength=self.M)
        spilled = np.zeros(self.N, dtype=bool)
        while True:
            over = np.flatnonzero(~fits(load, self.capacity))
            if not len(over):
                return a
            j = int(over[np.argmax((load - self.capacity)[over] / self.capacity[over])]) + 1
            ues = np.flatnonzero((a == j) & ~spilled)
            ok = self.ok[ues].copy()
            ok[:, j] = False
            fit = ok.copy()
            fit[:, 1:] &= fits(self.weight[ues, 1:], (self.capacity - load)[None, :])
            # Energy each move adds per GHz it frees on server j.
            per_ghz = (self.cost[ues] - self.cost[ues, j][:, None]) \
                / np.maximum(self.weight[ues, j], 1e-12)[:, None]
            extra = np.where(fit, per_ghz, np.inf)
            spill = not np.isfinite(extra).any()
            if spill:  # nothing fits, so none of them can run locally: onto another server
                extra = np.where(ok, per_ghz, np.inf)
                if not np.isfinite(extra).any():
                    return None
            k, dest = np.unravel_index(int(np.argmin(extra)), extra.shape)
            i, dest = int(ues[k]), int(dest)
            load[j - 1] -= self.weight[i, j]
            a[i] = dest
            spilled[i] |= spill
            if dest > 0:
                load[dest - 1] += self.weight[i, dest]

    # -- the sub-MILP
    def _model(self, a: np.ndarray, ues: np.ndarray, integer: bool = True
               ) -> tuple[highspy.Highs, np.ndarray, np.ndarray]:
        """The GAP on the freed UEs `ues` (the others fixed at `a`), in GHz and energy units
        (mecopt.units), loaded into a fresh HiGHS: (highs, row, col), variable v being UE
        ues[row[v]] on option col[v]."""
        M = self.M
        fixed = np.ones(self.N, dtype=bool)
        fixed[ues] = False
        load = np.bincount(a[fixed], weights=self.weight[fixed, a[fixed]], minlength=M + 1)[1:]
        residual = self.capacity - load  # GHz
        ok = self.ok[ues].copy()
        ok[:, 1:] &= fits(self.weight[ues, 1:], residual[None, :])
        ok[np.arange(len(ues)), a[ues]] = True  # the current option always stays
        h, row, col = assignment_model(ok, self.cost[ues] / self.unit, self.weight[ues, 1:],
                                       np.maximum(residual, 0.0), integer=integer)
        return h, row, col

    def solve(self, a: np.ndarray, ues: np.ndarray, time_limit: float,
              nodes: int | None = None) -> tuple[np.ndarray, bool] | None:
        """Re-solve the freed UEs exactly (within `nodes` branch-and-bound nodes, if set):
        (assignment, proven optimal) or None."""
        ues = np.asarray(ues, dtype=int)
        h, row, col = self._model(a, ues)
        h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
        if nodes is not None:
            h.setOptionValue("mip_max_nodes", int(nodes))
        h.setOptionValue("mip_rel_gap", 1e-7)
        h.setOptionValue("mip_abs_gap", 0.0)
        if len(ues) == self.N:  # the whole-instance step
            h.setOptionValue("mip_heuristic_effort", WHOLE_HEURISTIC_EFFORT)
        start = highspy.HighsSolution()  # the current assignment: feasible, so a MIP start
        start.col_value = list((col == a[ues][row]).astype(float))
        start.value_valid = True
        h.setSolution(start)
        run_highs(h)
        if h.getInfo().primal_solution_status != 2:  # kSolutionStatusFeasible
            return None
        x = np.asarray(h.getSolution().col_value)
        chosen = np.full(len(ues), -1)
        pick = x > 0.5
        chosen[row[pick]] = col[pick]
        if np.any(chosen < 0):
            return None
        # Proven only if the solution is worth the optimum HiGHS reports: from a MIP start,
        # HiGHS 1.16 can call the start optimal while reporting a lower optimum.
        reported = self.unit * h.getInfo().objective_function_value
        worth = float(self.cost[ues, chosen].sum())
        proven = (h.getModelStatus() == highspy.HighsModelStatus.kOptimal
                  and worth - reported <= 1e-9 * max(self.unit, abs(reported)))
        if proven:
            self.proof_bound = self.unit * h.getInfo().mip_dual_bound
        out = a.copy()
        out[ues] = chosen
        self._adapt(len(ues), proven)
        return out, proven

    def _adapt(self, n: int, proven: bool) -> None:
        """Grow the freed sets after a proven sub-problem, shrink them after one that hit
        its time limit (no wall-clock measure, so that a run is reproducible whenever no
        sub-problem hits its limit)."""
        if proven:
            self.size = min(MAX_FREE, max(self.size, n) * GROW)
        else:
            self.size = max(MIN_FREE, min(self.size, n) * SHRINK)


# ----------------------------------------------------------------------------- latency
class _LatencyLNS:
    """Freed sets of whole servers (and the local UEs that can reach them), re-solved as
    an independent sub-instance by the exact latency search, alternating with `chains`
    steps (sampled three-move chains, evaluated exactly)."""

    def __init__(self, instance: Instance, rng: np.random.Generator,
                 solver: LatencySolver | None) -> None:
        self.instance, self.rng = instance, rng
        self.solver = solver or _outer_approximation
        self.M = instance.n_servers
        self.queue: list[tuple[int, ...] | str] = []
        self.kind = "pair"

    # Latency LNS has no relaxation bound and proves nothing (its sub-solver's answers are
    # never marked proven).
    lower_bound = -math.inf
    proof_bound = None

    @staticmethod
    def meets_bound(value: float) -> bool:
        """Latency LNS has no bound to meet."""
        return False

    def choose(self, a: np.ndarray) -> tuple[str, np.ndarray]:
        if not self.queue:
            M = self.M
            pairs = [(j,) for j in range(1, M + 1)] if M == 1 else \
                [(j, k) for j in range(1, M + 1) for k in range(j + 1, M + 1)]
            for i in self.rng.permutation(len(pairs)):
                self.queue += ["chains", pairs[i]]
            self.queue.append(())
        item = self.queue.pop(0)
        if item == "chains":
            self.kind = "chains"
            return "chains", np.zeros(0, dtype=int)
        if not item:
            return "round", np.zeros(0, dtype=int)
        self.kind = "pair"
        self.servers = np.array(item)
        cols = self.servers - 1
        reach = self.instance.usable[:, cols].any(axis=1)
        ues = np.flatnonzero(np.isin(a, self.servers) | ((a == 0) & reach))
        return "pair", ues

    def solve(self, a: np.ndarray, ues: np.ndarray, time_limit: float
              ) -> tuple[np.ndarray, bool] | None:
        if self.kind == "chains":
            return self._chains(a)
        if not len(ues):
            return None
        inst, servers = self.instance, self.servers
        sub = Instance(
            name=f"{inst.name}-lns", data_bits=inst.data_bits[ues], cycles=inst.cycles[ues],
            local_hz=inst.local_hz[ues], tx_power_w=inst.tx_power_w[ues],
            local_power_w=inst.local_power_w[ues], deadline_s=inst.deadline_s[ues],
            capacity_hz=inst.capacity_hz[servers - 1],
            rate_bps=inst.rate_bps[np.ix_(ues, servers - 1)])
        lookup = np.zeros(self.M + 1, dtype=int)
        lookup[servers] = np.arange(1, len(servers) + 1)
        start = lookup[a[ues]]
        found = self.solver(sub, start, time_limit)
        if found is None:
            return None
        out = a.copy()
        out[ues] = np.r_[0, servers][np.asarray(found, dtype=int)]
        return out, False

    def _chains(self, a: np.ndarray) -> tuple[np.ndarray, bool] | None:
        """The best of CHAIN_SAMPLES sampled chains if it improves on `a`, else None."""
        inst = self.instance
        cand = sample_chains(inst, a, self.rng, CHAIN_SAMPLES)
        batch = evaluate_batch(inst, np.r_[a[None], cand])
        value = np.where(batch.feasible, batch.value(Objective.LATENCY), np.inf)
        k = int(np.argmin(value[1:]))
        if value[1 + k] < value[0] * (1 - IMPROVE_RTOL):
            return cand[k], False
        return None


def sample_chains(instance: Instance, a: np.ndarray, rng: np.random.Generator,
                  count: int) -> np.ndarray:
    """`count` neighbours (count, N) of the assignment `a`, each a chain of up to three
    moves to deadline-meeting options: a random UE x to another option s2; a random UE on
    s2 (if s2 is a server with UEs) to another option s3; a random UE on s3 (likewise) to
    x's option, half the time where it can, else to another one. A chain stops where a
    server it reaches is empty or local. Neighbours may overload a server."""
    ok = instance.option_ok
    N, K = ok.shape
    order = np.argsort(a, kind="stable")
    on = np.bincount(a, minlength=K)
    first = np.r_[0, np.cumsum(on)[:-1]]
    rows = np.arange(count)

    def other_option(ues: np.ndarray) -> np.ndarray:
        score = rng.random((len(ues), K))
        score[~ok[ues]] = -1.0
        score[np.arange(len(ues)), a[ues]] = -1.0
        return np.where(score.max(axis=1) >= 0, score.argmax(axis=1), a[ues])

    def ue_on(opts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = first[opts] + np.floor(rng.random(len(opts)) * np.maximum(on[opts], 1))
        return order[np.minimum(pos.astype(int), N - 1)], (opts > 0) & (on[opts] > 0)

    out = np.repeat(a[None], count, axis=0)
    x = rng.integers(N, size=count)
    s2 = other_option(x)
    out[rows, x] = s2
    y, go = ue_on(s2)
    s3 = other_option(y)
    go &= s3 != a[y]
    out[rows[go], y[go]] = s3[go]
    z, go3 = ue_on(s3)
    go3 &= go & (z != x) & (z != y)
    back = ok[z, a[x]] & (a[x] != a[z]) & (rng.random(count) < 0.5)
    s4 = np.where(back, a[x], other_option(z))
    go3 &= s4 != a[z]
    out[rows[go3], z[go3]] = s4[go3]
    return out


def _outer_approximation(sub: Instance, start: np.ndarray, time_limit: float
                         ) -> np.ndarray | None:
    """The default latency sub-solver: the exact search of `highs` (imported lazily: Pyomo's
    solver interface takes over a second to import, and energy LNS never needs it)."""
    from mecopt.outer_approximation import search

    result = search(sub, Objective.LATENCY, start=start, gap=1e-6, time_limit=time_limit,
                    threads=0, verbose=False)
    return result.assignment
