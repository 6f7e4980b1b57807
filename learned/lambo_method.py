"""`lambo`: the pre-trained LAMBO policy as a solver backend.

Decoding: greedy (samples=1) or best of k (samples=k: the greedy decode plus k - 1 sampled
decodes, seeded, all in one batched pass). Every decode is feasible by construction
(env.py masks options that cannot meet the deadline or no longer fit). The chosen
assignment is evaluated twice with mecopt.evaluate: with the sigmoid head's allocation and
with exact water-filling; the better feasible one is returned, and both values are in
`extra`.

`polish=True` then runs the shared local search (mecopt.descend: moves, swaps, ejection
chains) from the decoded assignment, inside the time limit, the same polish DE and PG
apply; for energy also from the LP relaxation's rounding (mecopt.polish.lp_rounding_start)
and for latency from the Lagrangian dual's where the guard made it and (with the guard)
from greedy's energy construction, a basin the latency starts miss, keeping the best
(`extra["polish_start"]`); the decoded value stays in `extra` so the network's own quality
is always visible.
With `starts=s` (and samples >= s) it polishes the s best distinct decodes and keeps the
best result: different decodes end in different local optima (docs/lambo.md, "Polish
against DE"). `lns=S` then runs the shared large-neighbourhood search (mecopt.lns) for S
seconds, freeing first the UEs whose decision the policy was least sure of (per UE, 1 - the
probability of the option it chose).

Which network decodes: `checkpoint=auto` (the default) takes lambo-s for an instance inside
the feature ranges of its training (learned/envelope.py) and lambo-w, also trained on the
randomized world, for any other; `extra["checkpoint"]` says which, and
`extra["outside_training"]` why. `checkpoint=both` decodes with both and keeps the better
decode (twice the decoding time): on instances unlike every family the better network
differs from instance to instance (docs/lambo.md, "The world-trained model").

`guard=true` (the default): for an instance outside lambo-s's training envelope (under auto
or both), the `greedy` method's decision (mecopt.improve.greedy_decision with the solve's
seed: the construction and the priced build, each finished by relocation, matching and,
for energy, room rounds, the cheaper kept) and a relaxation's rounding (for energy the LP
relaxation's, mecopt.lns.lp_rounding, up to GUARD_LP_CELLS; for latency the Lagrangian
dual's, mecopt.polish.latency_rounding, up to GUARD_DUAL_CELLS, which is also greedy's
latency priced build: rounded once, passed to greedy_decision) compete with the decode,
and the best is kept (and polished, with polish), so the guard's pick is never above what
`greedy` answers; greedy's construction in its regret orders competes too, as built. Off
the training families a decode can be several times the optimum where greedy is within a
percent, and the roundings are often ahead of both (docs/lambo.md, "The guard");
`extra["guard"]` says which won and `extra["value_network"]` keeps the network's own
value. Inside the envelope, for energy the same greedy decision competes (7-55 ms on the
library; `guard_with_greedy`): its gain ejections, priced build and room rounds make it
better than the decode on the library's hetero and large energy. For latency there the
Lagrangian dual's rounding, relocated, competes with the decode relocated
(`relocated_dual`, about 5 ms; greedy's matching rounds would take a call past 20 ms):
on 38 of the library's 40 paper and hetero instances it is the lower. `guard=false`
returns the decode.

`refine=true` (the default), also only outside the envelope and on at most REFINE_MAX_UES
UEs: the guard's pick is then improved by the shared local search (mecopt.descend) for at
most max(REFINE_MIN_WORK, REFINE_WORK_PER_UE N) UE evaluations (about what the decode and
the guard cost; a budget in work, so the answer does not depend on the machine's speed);
from a rounding the descent mostly ends at its local optimum well before that, and a time
limit still bounds it. `extra["value_guard"]` keeps the value before it,
`extra["value_refined"]` the value after. When a relaxation's rounding lost the pick (the
LP's for energy, the dual's for latency), it is descended too and the better kept, as the
energy polish does (`extra["refine_start"]` says which start won). Then, inside the
envelope too, relocation passes (mecopt.relocate: many exact single-UE moves at once, on
disjoint servers) finish the answer, and outside it greedy's whole finish
(mecopt.improve.improve: the passes, matching rounds and, for energy, room rounds);
`extra["relocated"]` counts the UEs they moved. With
polish=true the polish does this (and more) instead; refine=false or guard=false leaves
both out.

The model is loaded once per (checkpoint, device) and cached, so only the first call in a
process pays for it. Over many instances (`solve_many`, `mecopt solve` over several:
docs/batch.md) greedy decoding runs in batched passes, with the decisions each instance
gets alone.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from mecopt.construct import (
    cheapest_construction,
    greedy_assignment,
    placement_order,
    start_orders,
)
from mecopt.descend import descend
from mecopt.errors import InputError
from mecopt.evaluation import evaluate
from mecopt.improve import greedy_decision, improve
from mecopt.instance import Instance, usable_options
from mecopt.learned import check_checkpoint, load_cached
from mecopt.learned.deadline import DecodeTimeout
from mecopt.learned.threads import torch_threads
from mecopt.method import Method, Option, Outcome, failure
from mecopt.objective import Objective
from mecopt.polish import (
    LNS_OPTION,
    LNS_POLISH_OPTION,
    LP_ROUNDING_S,
    TABU_OPTION,
    finish_with_lns,
    latency_rounding,
    lns_polish,
    lns_verdict,
    lp_rounding_start,
    tabu_polish,
)
from mecopt.relocate import relocate
from mecopt.rematch import rematch
from mecopt.repair import repair
from mecopt.status import Status

# A batched pass pads every row to the largest N and M of its chunk: chunks hold instances
# of similar size (sorted by N, M) and at most this many padded UE-option cells, which keeps
# a pass's tensors to tens of MB.
BATCH_CELLS = 1 << 16

# checkpoint=auto: lambo-s for an instance inside the feature ranges it trained on (paper
# and hetero: learned/envelope.py), lambo-w, trained on the randomized world too, outside.
AUTO = "auto"
# Appended to the warning for an instance outside lambo-s's training envelope: there a
# greedy decode can be several times the optimum (docs/lambo.md, "The world-trained model").
OUTSIDE_ADVICE = " (a decode can be far from optimal there: polish=true is advised)"
BOTH = "both"  # decode with lambo-s and lambo-w, keep the better
GUARD_WON = "greedy heuristic"  # extra["guard"] when the greedy heuristic beat the decode
GUARD_ROUNDING = "lp rounding"  # extra["guard"] when the LP relaxation's rounding did
GUARD_DUAL = "dual rounding"  # extra["guard"] when the Lagrangian dual's rounding did
GUARD_REGRET = "regret construction"  # ... when greedy's construction in a regret order did
ENERGY_START = "energy construction"  # extra["polish_start"] when latency's polish won from it
# What the messages call each.
GUARD_KEPT = {GUARD_WON: "the greedy heuristic's decision",
              GUARD_REGRET: "the greedy construction in a regret order",
              GUARD_ROUNDING: "the LP relaxation's rounding",
              GUARD_DUAL: "the Lagrangian dual's rounding"}
# The guard also rounds a relaxation up to this many UE-option cells: the LP for energy up to
# GUARD_LP_CELLS cells N (M + 1) (2,000 x 40 fits; the LP takes 0.1-0.5 s at 2,000 x 20-40,
# 3 s at 5,000 x 50), and the Lagrangian dual for latency up to GUARD_DUAL_CELLS usable
# (UE, option) pairs, the only ones its price evaluations touch: it is cheaper (the dual
# 0.14-0.37 s at 123,000-255,000 pairs, from 3,000 x 40 to 5,000 x 50) and there took the
# default 0.0002-1.2% lower, so it goes further. On sparse reach, 1,800-1,875 UEs reaching
# about 5 of 317-396 servers each (10,000 pairs, 570,000-720,000 cells; the dual 0.05 s), it
# took the default's latency 2.0-3.9% lower for 2.4-3.4 s more of its refinement.
GUARD_LP_CELLS = 100_000
GUARD_DUAL_CELLS = 500_000
# refine=true descends up to this many UEs: above it the descent's swap neighbourhood alone
# holds N (N - 1) / 2 pairs (100 MB at 5,000 UEs). Its moves, N M, are no limit: 948 UEs on
# 147 servers (140,000 cells) descend in seconds.
REFINE_MAX_UES = 4_000
# Energy above this many UEs: the guard leaves out the regret orders' constructions. With
# greedy's gain ejections each order takes about 1 s at 5,000 x 50, where the regret orders'
# decisions were 5% above the placement order's (hetero, seed 0).
GUARD_ORDERS_MAX_UES = 4_000
# refine=true descends from the guard's pick (and from a relaxation's rounding when it lost
# the pick) for at most max(REFINE_MIN_WORK, REFINE_WORK_PER_UE N) UE evaluations each
# (mecopt.descend's max_work): a budget in work, not seconds, so the answer is the same on
# any machine. 2,500 a UE is about what the decode and the guard cost (0.55 s at 1,608 x 58 on
# a 2-core CPU, where a UE evaluation takes about 150 ns); the floor, about 0.3 s there, lets
# a descent of a few hundred UEs reach its local optimum (135-218 UEs on 18-53 servers took
# 0.1-0.5 s for latency).
REFINE_MIN_WORK = 2_000_000
REFINE_WORK_PER_UE = 2_500
IN_ENVELOPE, OUT_OF_ENVELOPE = "lambo-s", "lambo-w"

# threads=0 (auto): a pass of at least this many decodes uses every core when the machine
# has idle ones; a smaller pass, one thread (its operations are too short to split). The
# encoder's pass splits well from this many tokens (rows x (1 + N)) on, even for one row:
# 2 threads encode one 1,000 x 10 instance in 17 ms against 30 ms on one.
AUTO_THREADS_ROWS = 64
AUTO_THREADS_TOKENS = 200


def decode_threads(threads: int, rows: int, load: float | None = None, *,
                   tokens: int = 0) -> int:
    """Torch CPU threads for a pass of `rows` decodes: `threads`, or when it is 0 (auto) one
    thread below AUTO_THREADS_ROWS (and, for the encoder, whose pass has `tokens` tokens,
    below AUTO_THREADS_TOKENS), and from there all the cores this process may use unless
    the 1-minute load average (`load`, default os.getloadavg) says other work keeps them
    busy. Threads that wait for busy cores cost far more than they gain: best of 64 on
    4x50 took 79 ms on 2 threads against 91 ms on 1 on the idle 2-core machine, and 387 ms
    against 142 ms with both cores busy."""
    if threads > 0:
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    if (rows < AUTO_THREADS_ROWS and tokens < AUTO_THREADS_TOKENS) or cores == 1:
        return 1
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    # This process counts for about one; each further unit of load is a core taken.
    idle = cores - max(load - 1.0, 0.0)
    return max(1, min(cores, math.floor(idle + 0.5)))


def batch_chunks(instances: list[Instance]) -> list[list[int]]:
    """Indices of `instances` in chunks for batched decoding: by size, each chunk's rows
    times its largest N x (M + 1) at most BATCH_CELLS (a larger instance goes alone)."""
    order = sorted(range(len(instances)),
                   key=lambda i: (instances[i].n_ues, instances[i].n_servers))
    chunks: list[list[int]] = []
    n = k = 0
    for i in order:
        n_i, k_i = max(n, instances[i].n_ues), max(k, instances[i].n_servers + 1)
        if chunks and (len(chunks[-1]) + 1) * n_i * k_i <= BATCH_CELLS:
            chunks[-1].append(i)
            n, k = n_i, k_i
        else:
            chunks.append([i])
            n, k = instances[i].n_ues, instances[i].n_servers + 1
    return chunks


def decode_instances(instances: list[Instance], objectives: list[Objective], *,
                     samples: int = 1, seed: int = 0, checkpoint: str = "",
                     device: str = "cpu", threads: int | None = 0,
                     temperature: float = 1.0, keep: int = 1,
                     doubt: bool = False,
                     deadline: float | None = None) -> list[dict[str, Any]]:
    """Decode a batch of (instance, objective) rows in one pass.

    Returns per row: "assignment" (the best decode by water-filled value), "value"
    (water-filled), "allocation_sigmoid" (N,) [Hz], and "starts": the `keep` best distinct
    decodes, best first, each with those three keys. When every decode of a row meets a dead
    end (a UE with no option left), two completions compete and the better is kept: the row
    decoded again, greedily, with the UEs that cannot stay local first ("reordered": they
    no longer queue behind UEs that could stay local but take the servers' capacity; not
    for a row whose order put them first already, such as every energy row of a network with
    the efficiency order), and
    the first greedy decode completed by the shared repair, mecopt.repair ("repaired"). The
    assignment is None only when both fail.
    `temperature` divides the logits of the sampled decodes.
    `doubt`: each start also gets "doubt" (N,), per UE 1 - the probability the policy gave
    the option it chose (LNS frees the UEs the model was least sure of first).
    `threads`: torch CPU threads while decoding, restored afterwards (None = leave as is;
    0 = auto, see decode_threads: one thread for a few rows, all cores for many).
    `deadline` (a time.perf_counter() value): a pass that reaches it stops (DecodeTimeout,
    checked at every step). When the first pass stops, every row comes back with no
    assignment and "timed_out" True. The reordered pass is left out when less time is left
    than the first pass took, and a reordered pass that stops leaves the repair's completion.
    """
    from mecopt.learned.features import decoding_order

    began = time.perf_counter()
    with torch_threads(None if threads is None
                       else decode_threads(threads, len(instances) * samples)):
        try:
            decoded = _decode_pass(instances, objectives, samples=samples, seed=seed,
                                   checkpoint=checkpoint, device=device,
                                   temperature=temperature, keep=keep, doubt=doubt,
                                   threads=threads, deadline=deadline)
        except DecodeTimeout:
            return [{"assignment": None, "value": float("inf"), "allocation_sigmoid": None,
                     "starts": [], "timed_out": True} for _ in instances]
        stuck = [b for b, (starts, _) in enumerate(decoded) if not starts]
        # Decoding again helps only a row whose must-offload UEs were not decided first already.
        order = load_cached("lambo", checkpoint, device)[0].cfg.energy_order
        redo = [b for b in stuck if not np.array_equal(
            decoding_order(instances[b], objectives[b], energy_order=order),
            decoding_order(instances[b], objectives[b], offload_first=True, energy_order=order))]
        now = time.perf_counter()
        if redo and (deadline is None or deadline - now > now - began):
            try:
                again = _decode_pass([instances[b] for b in redo],
                                     [objectives[b] for b in redo], checkpoint=checkpoint,
                                     device=device, doubt=doubt, offload_first=True,
                                     threads=threads, deadline=deadline)
            except DecodeTimeout:
                again = [([], None)] * len(redo)
            for b, (starts, _) in zip(redo, again, strict=True):
                decoded[b] = ([{**s, "reordered": True} for s in starts], decoded[b][1])
    rows = []
    for b, (inst, (starts, greedy)) in enumerate(zip(instances, decoded, strict=True)):
        if b in stuck:
            fixed = repair(inst, objectives[b], greedy)
            if fixed.feasible[0] and (not starts or fixed.value[0] < starts[0]["value"]):
                starts = [{"assignment": fixed.assignment[0], "value": float(fixed.value[0]),
                           "allocation_sigmoid": None, "doubt": None, "repaired": True}]
        best = starts[0] if starts else {"assignment": None, "value": float("inf"),
                                         "allocation_sigmoid": None}
        rows.append({**best, "starts": starts})
    return rows


def _decode_pass(instances: list[Instance], objectives: list[Objective], *, samples: int = 1,
                 seed: int = 0, checkpoint: str, device: str, temperature: float = 1.0,
                 keep: int = 1, doubt: bool, offload_first: bool = False,
                 threads: int | None = None, deadline: float | None = None
                 ) -> list[tuple[list[dict[str, Any]], np.ndarray]]:
    """One batched rollout. Per row: its `keep` best distinct feasible decodes (a list,
    empty when every decode met a dead end; see decode_instances) and its greedy decode
    (the assignment as decoded, for the repair). `threads` as decode_instances's: with 0
    (auto) the encoder gets its own count (decode_threads with the pass's tokens).
    Raises DecodeTimeout when the rollout reaches `deadline`."""
    import torch

    from mecopt.learned.features import make_batch
    from mecopt.learned.rollout import costs, rollout, spare_share_allocation
    from mecopt.learned.strategies import Greedy, Sampling

    model, _ = load_cached("lambo", checkpoint, device)
    batch = make_batch(instances, objectives, device=device, offload_first=offload_first,
                       energy_order=model.cfg.energy_order)
    with torch.inference_mode():
        # Row b's decodes are b * samples + (0 greedy, 1.. sampled), in one pass.
        gen = torch.Generator(device=device).manual_seed(int(seed))
        how = Sampling(temperature, gen, greedy_first=True) if samples > 1 else Greedy()
        encoder = None if threads != 0 else decode_threads(
            0, len(instances) * samples, tokens=len(instances) * (1 + batch.order.shape[1]))
        run = rollout(model, batch, how, samples=samples, stats=doubt, encoder_threads=encoder,
                      deadline=deadline)
    assignment, value = run.assignment.cpu().numpy(), costs(batch, run)[0]
    unsure = (1.0 - run.step_log_prob.exp()).cpu().numpy() if doubt else None
    allocation = spare_share_allocation(batch, run)
    out = []
    for b, inst in enumerate(instances):
        n = inst.n_ues
        # Every feasible decode of this row, best first; on ties the earlier decode (greedy).
        block = range(b * samples, (b + 1) * samples)
        found = sorted((value[r], r) for r in block if np.isfinite(value[r]))
        starts, seen = [], set()
        for v, r in found:
            a = assignment[r, :n]
            if a.tobytes() in seen:
                continue
            seen.add(a.tobytes())
            # Outside float range (capacities of 1e-100 Hz beside CPUs of 1e200 Hz) the heads
            # can give NaN: then water-filling allocates, and LNS draws without weights.
            starts.append({"assignment": a, "value": float(v),
                           "allocation_sigmoid": _finite_or_none(allocation[r, :n]),
                           "doubt": None if unsure is None else _finite_or_none(unsure[r, :n])})
            if len(starts) == keep:
                break
        out.append((starts, assignment[b * samples, :n]))
    return out


def guard_with_heuristics(instance: Instance, objective: Objective, row: dict[str, Any],
                          deadline: float | None = None, seed: int = 0) -> dict[str, Any]:
    """The decoded `row` (decode_instances's) with a heuristic's decision in front when it
    is cheaper (water-filled; a tie keeps the decode) or the decode found none, as the best
    start and the first of "starts"; "guard" says which won ("decode", GUARD_WON,
    GUARD_REGRET, GUARD_ROUNDING or GUARD_DUAL) and "value_network" keeps the decode's value
    (inf when it found none). The heuristics: the `greedy` method's decision with `seed`
    (mecopt.improve.greedy_decision: the construction finished by relocation, matching
    and, for energy, room rounds, beside the priced build; every step stops at `deadline`),
    the construction in the regret orders (mecopt.construct.start_orders after the first),
    the cheaper kept as built (not once `deadline` has passed, nor for energy above
    GUARD_ORDERS_MAX_UES UEs), and, where within_guard_cells, for energy the LP
    relaxation's rounding made feasible (`mecopt.lns.lp_rounding`), for latency the
    Lagrangian dual's (`mecopt.polish.latency_rounding`), kept in "rounding" for the
    refinement (and, energy, the polish's start)."""
    out = {**row, "guard": "decode", "value_network": row["value"]}
    left = LP_ROUNDING_S if deadline is None else deadline - time.perf_counter()
    # Past the deadline neither rounding runs (and the cells need not be counted).
    small = left > 0 and within_guard_cells(instance, objective)
    # Latency: greedy's priced build is the dual's rounding; rounded once, for both.
    dual = latency_rounding(instance) if objective is Objective.LATENCY and small else None
    orders = start_orders(instance, objective)  # the placement order first
    candidates = [(GUARD_WON, *greedy_decision(instance, objective, orders[:1], seed=seed,
                                               deadline=deadline, priced=dual)[:2])]
    # The regret orders' constructions as they are: where capacity binds, one of them can
    # start a better descent than greedy's finished decision (heavytail energy).
    if len(orders) > 1 and (deadline is None or time.perf_counter() < deadline) and not (
            objective is Objective.ENERGY and instance.n_ues > GUARD_ORDERS_MAX_UES):
        candidates.append((GUARD_REGRET, *cheapest_construction(instance, objective,
                                                                orders[1:], deadline)[:2]))
    if dual is not None:
        out["rounding"] = dual
        candidates.append((GUARD_DUAL, dual, evaluate(instance, dual).value(objective)))
    left = LP_ROUNDING_S if deadline is None else deadline - time.perf_counter()
    if objective is Objective.ENERGY and left > 0 and small:
        from mecopt.lns import lp_rounding  # HiGHS only when asked

        fallback = candidates[0][1] if candidates[0][1] is not None else row["assignment"]
        rounded = None if fallback is None else lp_rounding(instance, fallback,
                                                            time_limit=min(left, LP_ROUNDING_S))
        if rounded is not None:
            out["rounding"] = rounded
            candidates.append((GUARD_ROUNDING, rounded,
                               evaluate(instance, rounded).value(objective)))
    return _keep_cheaper(out, row, candidates)


def guard_with_greedy(instance: Instance, objective: Objective, row: dict[str, Any],
                      deadline: float | None = None, seed: int = 0) -> dict[str, Any]:
    """Energy inside lambo-s's envelope: the decoded `row` with the `greedy` method's
    decision (mecopt.improve.greedy_decision with `seed`; 7-55 ms on the library) in front
    when it is cheaper, as guard_with_heuristics does with its heuristics. Greedy's gain
    ejections, priced build and room rounds make its energy decision better than the
    decode's on the library's hetero and large (docs/lambo.md, "The guard")."""
    out = {**row, "guard": "decode", "value_network": row["value"]}
    found = greedy_decision(instance, objective, [placement_order(instance, objective)],
                            seed=seed, deadline=deadline)
    return _keep_cheaper(out, row, [(GUARD_WON, *found[:2])])


def relocated_dual(instance: Instance, deadline: float | None = None
                   ) -> tuple[np.ndarray, float] | None:
    """Latency inside lambo-s's envelope: the Lagrangian dual's rounding
    (mecopt.polish.latency_rounding) after relocation passes, as (assignment, mean latency),
    which the default keeps where it is below the decode relocated; None past `deadline` or
    without a rounding. About 5 ms on the library (the dual 3-4 ms, the passes 2 ms): the
    decode, deciding UE by UE, ends 0.09-0.11% above the optima of paper and hetero, and
    the dual's prices spread the UEs over the servers by what they gain there."""
    if deadline is not None and time.perf_counter() >= deadline:
        return None
    rounded = latency_rounding(instance)
    if rounded is None:
        return None
    moved = relocate(instance, Objective.LATENCY, rounded, deadline=deadline)
    return moved, evaluate(instance, moved).value(Objective.LATENCY)


def _keep_cheaper(out: dict[str, Any], row: dict[str, Any],
                  candidates: list[tuple[str, np.ndarray | None, float]]) -> dict[str, Any]:
    """`out` with each candidate (name, assignment, value) cheaper than the best so far put
    in front as the best start and the first of "starts" (a tie keeps the decode)."""
    for name, a, value in candidates:
        if a is not None and value < out["value"]:
            start = {"assignment": a, "value": float(value), "allocation_sigmoid": None,
                     "doubt": None, "source": name}
            out.update(start, starts=[start, *row["starts"]], guard=name)
    return out


def within_guard_cells(instance: Instance, objective: Objective) -> bool:
    """Whether the guard rounds a relaxation: the instance has at most GUARD_LP_CELLS UE-option
    cells, N (M + 1) (energy), or GUARD_DUAL_CELLS usable (UE, option) pairs (latency: the
    dual's price evaluations touch only those, mecopt.bounds)."""
    if objective is Objective.ENERGY:
        return instance.n_ues * (instance.n_servers + 1) <= GUARD_LP_CELLS
    return int(usable_options(instance).sum()) <= GUARD_DUAL_CELLS


def refine_work(instance: Instance) -> int:
    """The refinement's budget for each of its descents, in UE evaluations."""
    return max(REFINE_MIN_WORK, REFINE_WORK_PER_UE * instance.n_ues)


def refine_pick(instance: Instance, objective: Objective, row: dict[str, Any], a: np.ndarray,
                deadline: float | None = None) -> tuple[np.ndarray, float, str]:
    """refine=true: the guard's pick `a` descended (mecopt.descend) for at most
    refine_work(instance) UE evaluations, or until `deadline` (a time.perf_counter() value);
    when a relaxation's rounding lost the pick (row["rounding"]: the LP's for energy,
    descended by lp_rounding_start as the polish does; the dual's for latency), the
    rounding descended too with the same budget and the better kept. Returns (assignment,
    value, start), start being row["guard"], GUARD_ROUNDING or GUARD_DUAL."""
    work = refine_work(instance)
    refined, value = descend(instance, objective, a, deadline=deadline, max_work=work)
    start = row["guard"]
    rounding = row.get("rounding")  # the LP's (energy) or the dual's (latency)
    if rounding is not None and start not in (GUARD_ROUNDING, GUARD_DUAL):
        if objective is Objective.ENERGY:
            other, source = lp_rounding_start(instance, a, deadline, rounded=rounding,
                                              max_work=work), GUARD_ROUNDING
        else:
            other, source = descend(instance, objective, rounding, deadline=deadline,
                                    max_work=work), GUARD_DUAL
        if other is not None and other[1] < value:
            (refined, value), start = other, source
    return refined, value, start


def _finite_or_none(x: np.ndarray) -> np.ndarray | None:
    """`x` if every entry is finite, else None."""
    return x if np.isfinite(x).all() else None


def _finite(value: float) -> float | None:
    """A value for `extra`: None for the inf of a decode that found no decision."""
    return float(value) if np.isfinite(value) else None


def auto_checkpoint(instance: Instance) -> tuple[str, str | None]:
    """(checkpoint, why) for checkpoint=auto: lambo-s and None inside lambo-s's training
    envelope, else lambo-w and the feature that leaves it."""
    from mecopt.learned.envelope import outside, shipped_envelope

    why = outside(instance, shipped_envelope(IN_ENVELOPE))
    return (IN_ENVELOPE, None) if why is None else (OUT_OF_ENVELOPE, why)


class LamboMethod(Method):
    name = "lambo"
    description = "LAMBO: the pre-trained encoder-decoder policy (greedy or best-of-k decoding)"
    options = {
        "samples": Option(int, 1, "decodes: 1 = greedy decoding; k = best of greedy + k-1 "
                                  "sampled", low=1),
        "temperature": Option(float, 1.0, "sampling temperature of the k-1 sampled decodes "
                                          "(logits divided by it)", low=0, low_inclusive=False),
        "checkpoint": Option(str, AUTO, "checkpoint file, or a shipped one's name (empty = "
                                        "lambo-s); auto: lambo-s for an instance like those "
                                        "it trained on (paper, hetero), else lambo-w; both: "
                                        "decode with both, keep the better"),
        "device": Option(str, "cpu", "torch device: cpu, cuda or cuda:N"),
        "threads": Option(int, 0, "torch CPU threads while decoding (restored afterwards); "
                                  f"0 = auto: 1 for a pass of under {AUTO_THREADS_ROWS} "
                                  "decodes, the idle cores for a larger one", low=0),
        "polish": Option(bool, False, "improve the decoded assignment by local search "
                                      "(mecopt.descend) within the time limit"),
        "starts": Option(int, 1, "with polish: polish the best `starts` distinct decodes "
                                 "(of `samples`) and keep the best result", low=1),
        "tabu": TABU_OPTION,
        "lns_polish": LNS_POLISH_OPTION,
        "lns": LNS_OPTION,
        "guard": Option(bool, True, "with checkpoint auto or both: outside lambo-s's "
                                    "training envelope, keep the greedy method's "
                                    "decision, or a relaxation's rounding (LP for energy, "
                                    "Lagrangian dual for latency), where it beats the "
                                    "decode; inside it, greedy's decision (energy) or "
                                    "the dual's rounding, relocated (latency, with "
                                    "refine), where it beats the decode; with polish, "
                                    "latency also descends greedy's energy construction"),
        "refine": Option(bool, True, "with the guard: descend from its pick (mecopt.descend) "
                                     "within a budget of UE evaluations, about what the "
                                     "decode and the guard cost, the same on any machine "
                                     f"(up to {REFINE_MAX_UES:,} UEs), then greedy's "
                                     "finish (mecopt.improve); inside the envelope, "
                                     "relocation passes (mecopt.relocate) and, for "
                                     "latency, the dual's rounding relocated"),
    }

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        from mecopt.learned import LAMBO_CHECKPOINT, availability

        return availability(LAMBO_CHECKPOINT)

    def check_options(self, config: dict[str, Any]) -> None:
        if config["starts"] > 1 and not config["polish"]:
            raise InputError("option starts: more than one start needs polish=true")
        if config["starts"] > config["samples"]:
            raise InputError(f"option starts: at most samples ({config['samples']}), got "
                             f"{config['starts']}")
        dev = config["device"]
        if not (dev == "cpu" or dev == "cuda" or dev.startswith("cuda:")):
            raise InputError(f"option device: expected cpu, cuda or cuda:N, got {dev!r}")
        if dev.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise InputError(f"option device: {dev!r} requested but CUDA is not available")
        names = [IN_ENVELOPE, OUT_OF_ENVELOPE] if config["checkpoint"] in (AUTO, BOTH) \
            else [config["checkpoint"]]
        for name in names:
            check_checkpoint("lambo", name, dev)  # a bad one is a one-line error

    def _solve(self, instance, objective, *, time_limit, seed):
        start = time.perf_counter()
        deadline = None if time_limit is None else start + time_limit
        row = self._decode([instance], objective, seed, deadline)[0]
        return self._finish_row(instance, objective, row, deadline=deadline, seed=seed)

    @property
    def batches(self) -> bool:
        return self.config["samples"] == 1  # sampled decodes go one by one (see below)

    def _solve_batch(self, instances, objective, *, time_limit, seed):
        """Greedy decoding (samples=1) of many instances in batched passes: each row's
        decision is the one it gets alone (tests/test_lambo_model.py); polish, LNS and the
        allocation choice then run per instance. Sampled decodes draw from one generator
        for the whole batch, so one instance's samples would depend on its neighbours:
        those are decoded one by one, as is a batch whose pass fails."""
        if self.config["samples"] > 1 or len(instances) < 2:
            return super()._solve_batch(instances, objective, time_limit=time_limit,
                                        seed=seed)
        timed: dict[int, tuple[Outcome, float]] = {}
        for chunk in batch_chunks(instances):
            group = [instances[i] for i in chunk]
            start = time.perf_counter()
            try:
                # Each row's share of the pass counts against its limit (as below).
                rows = self._decode(group, objective, seed, None if time_limit is None
                                    else start + time_limit * len(group))
            except InputError:
                raise
            except Exception:
                alone = super()._solve_batch(group, objective, time_limit=time_limit,
                                             seed=seed)
                timed.update(zip(chunk, alone, strict=True))
                continue
            share = (time.perf_counter() - start) / len(group)  # each row's part of the pass
            for i, inst, row in zip(chunk, group, rows, strict=True):
                begin = time.perf_counter()
                deadline = None if time_limit is None else begin + time_limit - share
                try:
                    outcome = self._finish_row(inst, objective, row, deadline=deadline,
                                               seed=seed)
                except InputError:
                    raise  # as `_solve` would; solve_many then finds the instance at fault
                except Exception as exc:
                    outcome = failure(exc)
                timed[i] = (outcome, share + time.perf_counter() - begin)
        return [timed[i] for i in range(len(instances))]

    def _decode(self, instances: list[Instance], objective: Objective, seed: int,
                deadline: float | None = None) -> list[dict[str, Any]]:
        """decode_instances per checkpoint (with auto, each instance's own; with both, the
        better of the two shipped networks' decodes), stopping at `deadline`; each row also
        gets "checkpoint" and, for an instance outside lambo-s's training envelope under
        auto or both, "outside" (why)."""
        which = self.config["checkpoint"]
        if which == BOTH:
            why = [auto_checkpoint(inst)[1] for inst in instances]
            per = [self._decode_with(instances, objective, seed,
                                     [(name, w) for w in why], deadline)
                   for name in (IN_ENVELOPE, OUT_OF_ENVELOPE)]
            # A dead end (no assignment) has value inf; a tie keeps lambo-s. With neither
            # decision, the row timed out if either decode did.
            rows = []
            for pair in zip(*per, strict=True):
                row = min(pair, key=lambda r: r["value"])
                rows.append({**row, "timed_out": row["assignment"] is None
                             and any(r.get("timed_out") for r in pair)})
            return rows
        chosen = [auto_checkpoint(inst) for inst in instances] if which == AUTO \
            else [(which, None)] * len(instances)
        return self._decode_with(instances, objective, seed, chosen, deadline)

    def _decode_with(self, instances: list[Instance], objective: Objective, seed: int,
                     chosen: list[tuple[str, str | None]],
                     deadline: float | None = None) -> list[dict[str, Any]]:
        """decode_instances with each instance's (checkpoint, why outside) of `chosen`."""
        rows: list[dict[str, Any]] = [{} for _ in instances]
        for name in dict.fromkeys(c for c, _ in chosen):
            idx = [i for i, (c, _) in enumerate(chosen) if c == name]
            group = decode_instances([instances[i] for i in idx], [objective] * len(idx),
                                     samples=self.config["samples"], seed=seed,
                                     checkpoint=name, device=self.config["device"],
                                     threads=self.config["threads"],
                                     temperature=self.config["temperature"],
                                     keep=self.config["starts"],  # starts > 1 needs polish
                                     deadline=deadline,
                                     doubt=self.config["lns"] > 0 or (
                                         objective is Objective.ENERGY  # the rounds' weights
                                         and self.config["polish"]
                                         and self.config["lns_polish"]))
            for i, row in zip(idx, group, strict=True):
                rows[i] = {**row, "checkpoint": name or IN_ENVELOPE, "outside": chosen[i][1]}
        return rows

    def _finish_row(self, instance: Instance, objective: Objective, row: dict[str, Any], *,
                    deadline: float | None, seed: int) -> Outcome:
        """A decoded row to an outcome: the guard and its refinement outside the envelope,
        polish and LNS if asked, then the better of the sigmoid head's allocation and
        water-filling."""
        k = self.config["samples"]
        decoding = "greedy" if k == 1 else f"best of {k}"
        # The guard runs even when the decode has spent the time limit (a slow or busy
        # machine): past the deadline it builds greedy's first order only, tenths of a second
        # at 2,000 UEs, where the decode alone can be far off (2.5 times greedy's energy on a
        # 1,360 x 154 draw whose decode, with the cores shared, took the whole 10 s limit).
        # A decode stopped at the deadline has nothing, so the guard's decision is the answer.
        timed_out = bool(row.get("timed_out"))
        guarded = self.config["guard"] and (bool(row.get("outside")) or timed_out)
        if guarded:
            row = guard_with_heuristics(instance, objective, row, deadline, seed)
        # Inside the envelope (auto or both): for energy greedy's decision competes with
        # the decode; for latency the dual's rounding, relocated, competes with the decode
        # relocated, with the relocation passes below (relocated_dual).
        in_envelope = (self.config["guard"] and not guarded
                       and self.config["checkpoint"] in (AUTO, BOTH))
        inside = in_envelope and objective is Objective.ENERGY
        if inside:
            row = guard_with_greedy(instance, objective, row, deadline, seed)
        inside_latency = (in_envelope and objective is Objective.LATENCY
                          and self.config["refine"] and not self.config["polish"]
                          and row["assignment"] is not None)
        if inside_latency:
            row = {**row, "guard": "decode", "value_network": row["value"]}
        if row["assignment"] is None and timed_out:
            return Outcome(None, status=Status.TIMEOUT,
                           message=f"lambo: the decode ({decoding}) of {instance.n_ues} UEs "
                                   "did not finish within the time limit"
                                   + (", and the greedy heuristic found no decision"
                                      if guarded else " (guard=false: no greedy fallback)"))
        if row["assignment"] is None:
            return Outcome(None, status=Status.NO_SOLUTION,
                           message=f"lambo: every decode ({decoding}) reached a UE with no "
                                   "option left that meets its deadline within the remaining "
                                   "capacities, and the repair found no room for it either"
                                   + (" (nor did the greedy heuristic)"
                                      if guarded or inside else ""))
        a, alloc = row["assignment"], row["allocation_sigmoid"]
        # LNS's weights: the policy's doubt of its best decode, whichever start wins the
        # guard or the polish; it marks the UEs the policy found hard on this instance.
        doubt = next((s["doubt"] for s in row["starts"] if s.get("doubt") is not None), None)
        then = ""  # said in the message when the refinement moved the guard's pick
        extra: dict[str, Any] = {"decoding": decoding, "reordered": bool(row.get("reordered")),
                                 "repaired": bool(row.get("repaired")),
                                 "decode_timed_out": timed_out,
                                 "checkpoint": row.get("checkpoint")}
        if row.get("outside"):
            extra["outside_training"] = row["outside"]
        if guarded or inside or inside_latency:
            extra.update(guard=row["guard"], value_network=_finite(row["value_network"]))
        if guarded:  # the refinement: outside the envelope only
            now = time.perf_counter()
            if self.config["refine"] and not self.config["polish"] \
                    and instance.n_ues <= REFINE_MAX_UES and (deadline is None or now < deadline):
                refined, value, start = refine_pick(instance, objective, row, a, deadline)
                extra.update(value_guard=_finite(row["value"]), value_refined=value,
                             refine_start=start, refine_s=time.perf_counter() - now)
                if not np.array_equal(refined, a):
                    a, alloc = refined, None
                    then = (", then refined by local search" if start == row["guard"]
                            else f", then beaten by {GUARD_KEPT[start]}, refined by local "
                                 "search")
        if self.config["guard"] and self.config["refine"] and not self.config["polish"]:
            # Relocation passes (mecopt.relocate) on the answer, inside the envelope too:
            # exact single moves, a few ms at 100 UEs, that the decode, deciding UE by UE,
            # leaves (hetero latency 0.41% -> 0.11% above the optima). Outside it, greedy's
            # whole finish (mecopt.improve: matching and room rounds too), which the
            # refinement's single moves and swaps do not replace; inside, the matching
            # rounds would take the call past 20 ms (paper latency: 12 -> 49 ms for
            # 0.099% -> 0.030% above the optima). The polish descends instead.
            moved = improve(instance, objective, a, seed=seed, deadline=deadline) \
                if guarded else relocate(instance, objective, a, deadline=deadline)
            extra["relocated"] = int((moved != a).sum())
            if extra["relocated"]:
                a, alloc = moved, None
            if inside_latency:
                dual = relocated_dual(instance, deadline)
                if dual is not None and dual[1] < evaluate(instance, a).value(objective):
                    a, alloc = dual[0], None
                    extra["guard"] = row["guard"] = GUARD_DUAL
        rounded = None  # energy polish's start from the LP rounding, descended
        if self.config["polish"]:
            start, value, polished_starts, source = time.perf_counter(), np.inf, 0, None
            # Energy: the LP rounding's descent first. It is short (the rounding starts near
            # an optimum) where the decode's can take seconds (1000 x 20), so a time limit
            # does not leave it out.
            rounded = lp_rounding_start(instance, a, deadline, rounded=row.get("rounding")) \
                if objective is Objective.ENERGY else None
            starts = row["starts"]
            if objective is Objective.LATENCY and row.get("rounding") is not None \
                    and row.get("guard") != GUARD_DUAL:  # the dual's rounding lost the pick
                starts = [*starts, {"assignment": row["rounding"], "allocation_sigmoid": None,
                                    "source": GUARD_DUAL}]
            if objective is Objective.LATENCY and self.config["guard"]:
                # Last, so a deadline drops it first: greedy's energy construction, a basin
                # none of the latency starts reach (DE seeds it for the same reason). On a
                # 755 x 32 composite network its descent ended where DE did, 0.12% below
                # every other start; on a boundary stress draw 1.05% below. Like the
                # guard's heuristics, guard=false leaves it out.
                starts = [*starts, {"assignment": None, "allocation_sigmoid": None,
                                    "source": ENERGY_START}]
            descended: set[bytes] = set()
            for s in starts:  # best decode first, so a deadline keeps the best start
                if rounded is not None and s.get("source") == GUARD_ROUNDING:
                    continue  # the guard's rounding: lp_rounding_start descended it
                # From the relocated start: never above what the default answers (on
                # hetero-001 latency the decode's own descent ended 0.3% above it); then
                # matching rounds (mecopt.rematch), which exchange many UEs at once where
                # the descent's moves go one or two at a time (721 UEs on 1,339 small
                # cells: the polish ended 0.62% above greedy's matched decision).
                moved = s["assignment"]
                if s.get("source") == ENERGY_START:
                    # Built only when there is time for it, and descended as built:
                    # relocation and matching rounds for latency pull it back towards the
                    # latency starts' basin (tight-019: relocated and matched first, its
                    # descent ended at 0.873006; as built, at 0.872664).
                    moved, _ = greedy_assignment(instance, Objective.ENERGY)
                    if moved is None:
                        continue
                elif s.get("source") != GUARD_DUAL or row.get("guard") == GUARD_DUAL:
                    moved = relocate(instance, objective, moved, deadline=deadline)
                    moved = rematch(instance, objective, moved, seed=seed, deadline=deadline)
                # else the dual's rounding that lost the pick: greedy's priced build took
                # it through relocation and matching rounds already, so it is descended as
                # rounded, as the refinement does (sparse 100 x 10 seed 22: 0.02% lower).
                key = np.asarray(moved, dtype=np.int64).tobytes()  # one dtype: equal starts match
                if key in descended:  # descend is deterministic: the same start, the same end
                    continue
                descended.add(key)
                polished, v = descend(instance, objective, moved, deadline=deadline)
                polished_starts += 1
                if v < value:
                    a, alloc, value = polished, s["allocation_sigmoid"], v
                    source = s.get("source", "decode")
                if deadline is not None and time.perf_counter() >= deadline:
                    break
            extra["polish_start"] = source  # "decode", or the guard's heuristic
            if rounded is not None and rounded[1] < value:
                (a, value), alloc = rounded, None  # the sigmoid head's was for the decode
                extra["polish_start"] = "lp rounding"
            if objective is Objective.ENERGY and self.config["tabu"]:
                crossed, v, extra["polish_tabu_s"] = tabu_polish(instance, a, value, deadline,
                                                                  seed=seed)
                if v < value:
                    a, value, alloc = crossed, v, None
            if objective is Objective.ENERGY and self.config["lns_polish"]:
                # With `lns` asked for after the polish, the time left is LNS's (which
                # gives HiGHS the whole instance first itself).
                found, v, rounds = lns_polish(instance, a, deadline, seed=seed, weights=doubt,
                                              polished_rounding=None if rounded is None
                                              else rounded[0],
                                              whole_after_stall=not self.config["lns"])
                if not np.array_equal(found, a):
                    a, value, alloc = found, v, None
                extra.update(rounds)
            extra.update(value_decoded=_finite(row.get("value_network", row["value"])),
                         value_polished=value,
                         polish_starts=polished_starts, polish_s=time.perf_counter() - start)
        improved, lns = finish_with_lns(instance, objective, a, seconds=self.config["lns"],
                                        deadline=deadline, seed=seed, weights=doubt,
                                        # an energy polish ran it already
                                        tabu=self.config["tabu"] and not self.config["polish"],
                                        polished_rounding=None if rounded is None
                                        else rounded[0])
        if not np.array_equal(improved, a):
            a, alloc = improved, None  # the sigmoid head's allocation was for the old decision
        extra.update(lns)
        filled = evaluate(instance, a)
        sig = evaluate(instance, a, alloc)
        extra.update(value_waterfill=filled.value(objective) if filled.feasible else None,
                     value_sigmoid=sig.value(objective) if sig.feasible else None)
        use_sigmoid = sig.feasible and (not filled.feasible
                                        or sig.value(objective) < filled.value(objective))
        extra["allocation"] = "sigmoid" if use_sigmoid else "water-filling"
        # The user should know when the instance is unlike what the default network saw
        # (and, unless the polish ran, what to do about it).
        advice = "" if self.config["polish"] else OUTSIDE_ADVICE
        message = f"decided by {row['checkpoint']}{then}: {row['outside']}{advice}" \
            if row.get("outside") else ""
        if timed_out:
            message = (f"kept {GUARD_KEPT[row['guard']]}{then}: the decode of "
                       f"{row['checkpoint']} did not finish within the time limit")
        elif (guarded or inside or inside_latency) and row["guard"] != "decode":
            kept = GUARD_KEPT[row["guard"]]
            message = f"kept {kept}, better than the decode of {row['checkpoint']}{then}"
            if guarded:
                message += f": {row['outside']}{advice}"
        return Outcome(a, allocation_hz=alloc if use_sigmoid else None, message=message,
                       **lns_verdict(extra), extra=extra)
