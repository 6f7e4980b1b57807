"""ALEF: active learning from expert feedback (SPEC section 4), to track a changing system.

The loop, one window at a time, after a drift (learned/scenarios.py):

1. deploy: the current model decides every instance of the window's pool online (greedy
   decoding, learned/rollout.rollout);
2. uncertainty: per instance, the entropy of the decoder's decision: the sum over its UEs
   of the entropy of the option distribution the decoder gave at that UE's step (nats;
   0 = certain), which is the decision's entropy by the chain rule, taken along the decoded
   path;
3. query: `max-entropy` (the paper's) labels the k most uncertain instances, `random` k
   drawn uniformly (seeded), `all` the whole pool (an upper bound on what labels can give);
4. label: the expert (`highs`, exact; `de` or `pg`, heuristics) solves them with
   mecopt.solve;
5. update the decoder only, by supervised learning on the labels: cross-entropy on the
   expert's options under teacher forcing (rollout.rollout with `Forced`), plus the mean
   squared error between the sigmoid head and the expert's allocation share (the part of
   the server's spare capacity, F_j minus the f_min of its UEs, that the expert gave the UE:
   rollout.share_targets). The encoder is frozen. By default each label is first
   re-matched towards the model's own decision among near-equal solutions (align_label),
   and the cross-entropy counts only the UEs up to the label's first correction of the
   model's own decisions (`prefix`, correction_mask): the paper's literal recipe
   (`align=False, prefix=False`) broke the latency policy, and imitating aligned labels on
   every UE still made it worse (docs/alef.md). That is the `gentle` recipe. A model far
   from the expert (a large shift: the labels beat its own decisions on the queried
   instances by more than `strong_above`, 2%) gets the `strong` one instead: raw labels
   imitated on every UE for `strong_steps` (40) steps (window_config). `recipe="auto"`
   (the default) picks per window; `gentle` and `strong` force one. A strong update of an
   energy run (`reorder`, on by default) trains the decoder in the efficiency decoding
   order (features.decoding_order), which the model then keeps if the gate keeps the
   update (update_order); the fine-tuned checkpoint records it;
6. gate (`gate`, on by default): before the query, `gate_set` pool instances (at most a
   quarter of the pool) are drawn at random and held back, the same for every strategy;
   the update is kept only if the updated decoder decides them better on average, by more
   than the standard error (mean cost ratio plus its standard error < 1, priced by the
   evaluator, no labels needed); otherwise the decoder and the optimizer are rolled back.
   Held back at random, they are a fair sample of the traffic for every strategy: the pool
   instances left unlabelled are, under max-entropy, the ones the model is surest of,
   where an update has least to gain (docs/alef.md).

What counts as the decoder (DECODER_PARTS, trained): the decoder layers (self-attention,
encoder-decoder attention including its key/value projections of the encoder output,
feed-forward), the decoder's final norm, the start token, the MEC embedding (it feeds only
the decoder's step token and is recomputed at every decision), and both output heads (the
option-key MLP of the softmax head and the sigmoid share head). Frozen: the UE and prompt
embeddings, the transformer encoder, and the critic (an ACL training aid that takes no part
in decisions; fine-tuning it would only make the checkpoint's critic stale).

Replay: every label is kept (budgets are at most a few hundred instances). Each gradient
step of window w draws its minibatch half from window w's new labels and half from the
labels of earlier windows (all of it from the new ones in the first window), so the
decoder keeps fitting what it learned earlier while it follows the drift.

Budget: `budget` is the number of expert labels over the whole run, split evenly over the
windows (the first windows get the remainder).

Gap to the optimum: every window also holds out a few instances of the same time span that
are never labelled; the deployed model decides them and `highs` gives the optimum (cached,
shared by every curve). The curves: before the drift, each window (with the model deployed
in that window, i.e. updated on the earlier windows' labels), and after the last update.

The user's own snapshots (`instances`, read_snapshots) take the scenario stream's place:
the same windows cut from the snapshots in time order, without a "before the drift" window
(there is no drift), and an "after ALEF" window of held-out snapshots only
(snapshot_timeline).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mecopt.api import solve
from mecopt.batch import read_instances
from mecopt.errors import InputError
from mecopt.instance import Instance
from mecopt.learned.configs import EXPERTS, RECIPES, ALEFConfig
from mecopt.learned.features import make_batch
from mecopt.learned.model import PRESETS, Lambo
from mecopt.learned.rollout import costs, rollout, share_targets
from mecopt.learned.scenarios import get_scenario
from mecopt.learned.strategies import Forced
from mecopt.objective import Objective

STRATEGIES = ("max-entropy", "random", "all")
GATE_STREAM = len(STRATEGIES)  # the gate set's generator, apart from every strategy's
# Top-level Lambo submodules / parameters that ALEF trains (see the module docstring).
DECODER_PARTS = ("decoder", "decoder_norm", "start", "mec_embed", "option_key", "share_head")
# The rest; listed so that a new part of the model is a loud error, not silently frozen.
FROZEN_PARTS = ("ue_embed", "prompt_embed", "encoder", "critic")
OPTIMUM_METHOD = "highs"  # the reference for the gap, whatever the expert
Log = Callable[[str], None]


# ----------------------------------------------------------------------------- decoder
def is_decoder(param_name: str) -> bool:
    """Whether a parameter (state_dict name) belongs to the part ALEF fine-tunes."""
    top = param_name.split(".")[0]
    if top not in DECODER_PARTS and top not in FROZEN_PARTS:
        raise AssertionError(f"parameter {param_name!r} is in neither DECODER_PARTS nor "
                             "FROZEN_PARTS: decide whether ALEF trains it")
    return top in DECODER_PARTS


def freeze_encoder(model: Lambo) -> list[torch.nn.Parameter]:
    """Turn off gradients outside the decoder; returns the decoder's parameters."""
    trainable = []
    for name, p in model.named_parameters():
        p.requires_grad_(is_decoder(name))
        if p.requires_grad:
            trainable.append(p)
    return trainable


def check_checkpoint(info: dict[str, Any], path: str | Path, preset: str = "lambo-s") -> None:
    """The checkpoint must be of `preset`, with exactly that preset's sizes (any energy
    order); one-line InputError naming the field otherwise."""
    if preset not in PRESETS:
        raise InputError(f"preset: unknown {preset!r}; valid: {', '.join(PRESETS)}")
    got = info.get("preset")
    if got != preset:
        raise InputError(f"checkpoint {path}: preset: expected {preset!r}, got {got!r}")
    want = PRESETS[preset].to_dict()
    del want["energy_order"]  # how the network decodes, not its size
    for key, value in want.items():
        if info["config"].get(key) != value:
            raise InputError(f"checkpoint {path}: config: {key} is {info['config'].get(key)!r}"
                             f", but preset {preset!r} has {value!r}")


# ----------------------------------------------------------------------------- timeline
@dataclass
class Window:
    """What the model sees in one time span: the pool it decides (and may have labelled)
    and the held-out instances of the same span that measure the gap."""

    label: str
    pool: list[Instance]
    heldout: list[Instance]
    steps: tuple[int, int]  # first and last stream step of the span


def timeline(cfg: ALEFConfig, snapshots: list[Instance] | None = None) -> list[Window]:
    """Before the drift (held-out only), W windows after it, and a final held-out window.

    The stream is read in order: steps drift-heldout .. drift-1 are "before the drift";
    from the drift step on, each window spans pool + heldout consecutive steps, of which
    `heldout` evenly spaced ones are held out. With cfg.instances the user's `snapshots`
    take the stream's place (snapshot_timeline).
    """
    if cfg.instances is not None:
        if snapshots is None:
            snapshots = read_snapshots(cfg.instances, stderr_log)
        return snapshot_timeline(cfg, snapshots)
    sc = get_scenario(cfg.scenario)
    stream = sc.stream(cfg.seed, cfg.n_ues)
    start = sc.drift_step - cfg.heldout
    stream.take(start)  # the stream has to advance through time to get there
    out = [Window("before drift", [], stream.take(cfg.heldout), (start, sc.drift_step - 1))]
    span = cfg.pool + cfg.heldout
    for w in range(cfg.windows + 1):
        first = stream.step
        label = f"window {w + 1}" if w < cfg.windows else "after ALEF"
        out.append(_window(label, stream.take(span), first, cfg.heldout))
    return out


def snapshot_timeline(cfg: ALEFConfig, snapshots: list[Instance]) -> list[Window]:
    """The user's snapshots in time order: W windows of pool + heldout consecutive
    snapshots (held-out evenly spaced, as in `timeline`), then an "after ALEF" window of the
    next `heldout` snapshots, all held out. Snapshots beyond those are not used.

    There is no drift, so there is no "before" window: window 1's held-out snapshots are
    decided by the pre-trained model in every curve, and "before fine-tuning" is the
    no-fine-tuning curve on the same final snapshots as "after ALEF". Steps are positions
    in the list of valid snapshots (0-based)."""
    need = cfg.snapshots_needed()
    if len(snapshots) < need:
        raise InputError(f"instances: {cfg.instances} has {len(snapshots)} valid snapshots, "
                         f"but --windows {cfg.windows} x (--pool {cfg.pool} + --heldout "
                         f"{cfg.heldout}) + {cfg.heldout} after ALEF need {need}")
    span = cfg.pool + cfg.heldout
    out = [_window(f"window {w + 1}", snapshots[w * span:(w + 1) * span], w * span,
                   cfg.heldout) for w in range(cfg.windows)]
    first = cfg.windows * span
    out.append(Window("after ALEF", [], list(snapshots[first:need]), (first, need - 1)))
    return out


def _window(label: str, insts: list[Instance], first: int, heldout: int) -> Window:
    """A span of consecutive instances, `heldout` evenly spaced ones held out."""
    span = len(insts)
    held = {int((j + 0.5) * span / heldout) for j in range(heldout)}
    return Window(label, [x for i, x in enumerate(insts) if i not in held],
                  [x for i, x in enumerate(insts) if i in held], (first, first + span - 1))


def read_snapshots(source: str | Path, warn: Log) -> list[Instance]:
    """The user's snapshots, in time order (mecopt.batch.read_instances: a folder's files
    by name, a JSONL file's lines in order); each bad one is skipped with a one-line reason
    through `warn`. Names are made unique ("<name>@<position>", 1-based), because labels
    and optima are cached by name."""
    snapshots = read_instances(source, warn)
    count = Counter(x.name for x in snapshots)
    return [x if count[x.name] == 1 else x.replace(name=f"{x.name}@{k + 1}")
            for k, x in enumerate(snapshots)]


# ----------------------------------------------------------------------------- experts
@dataclass
class Label:
    """An expert's answer for one instance."""

    instance: Instance
    assignment: np.ndarray  # (N,) 0 = local, j = server j
    allocation_hz: np.ndarray  # (N,)
    value: float
    status: str
    wall_s: float
    deployed: np.ndarray | None = None  # the model's own decision when it was queried


class ExpertCache:
    """Expert answers and optima, by (method, instance name): a label costs its solve once
    per run, however many strategies query it. Optionally persisted as JSON lines (the
    benchmark reuses labels across budgets and strategies)."""

    def __init__(self, objective: str, expert: str, seed: int = 0,
                 time_limit: float = 60.0, path: str | Path | None = None) -> None:
        self.objective, self.expert, self.seed = Objective.parse(objective), expert, seed
        self.time_limit = time_limit
        self.path = Path(path) if path else None
        self.rows: dict[tuple[str, str], dict] = {}
        self.solve_s = 0.0  # wall time spent in solves (not cached ones)
        self.solves = 0
        if self.path and self.path.is_file():
            for line in self.path.read_text().splitlines():
                row = json.loads(line)
                if row["objective"] == self.objective.value:
                    self.rows[(row["method"], row["instance"])] = row

    def _get(self, method: str, inst: Instance) -> dict:
        key = (method, inst.name)
        if key not in self.rows:
            sol = solve(inst, self.objective, method, time_limit=self.time_limit,
                        seed=self.seed)
            row = {"method": method, "instance": inst.name, "objective": self.objective.value,
                   "status": sol.status, "assignment": [int(a) for a in sol.assignment],
                   "allocation_hz": [float(f) for f in sol.allocation_hz],
                   "value": float(sol.objective_value) if sol.feasible else None,
                   "wall_s": float(sol.wall_time_s)}
            self.solve_s += sol.wall_time_s
            self.solves += 1
            self.rows[key] = row
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a") as f:
                    f.write(json.dumps(row) + "\n")
        return self.rows[key]

    def label(self, inst: Instance) -> Label | None:
        """The expert's label, or None when it found nothing feasible."""
        row = self._get(self.expert, inst)
        if row["value"] is None:
            return None
        return Label(inst, np.array(row["assignment"]), np.array(row["allocation_hz"]),
                     row["value"], row["status"], row["wall_s"])

    def optimum(self, inst: Instance) -> float:
        """highs's value (nan when it found nothing feasible)."""
        row = self._get(OPTIMUM_METHOD, inst)
        return math.nan if row["value"] is None else row["value"]

    def expert_value(self, inst: Instance) -> float:
        row = self._get(self.expert, inst)
        return math.nan if row["value"] is None else row["value"]


# ----------------------------------------------------------------------------- labels
def align_label(instance: Instance, objective: Objective | str, expert: np.ndarray,
                model: np.ndarray, tol: float = 3e-3, energy_order: str = "regret"
                ) -> np.ndarray:
    """The expert's assignment, re-matched towards the model's own decision among solutions
    that are (nearly) as good.

    Why: many UEs are near-interchangeable (the paper family's tasks differ by +-5%), so an
    optimum is one of many almost equal ones, and the model and the expert fill the servers
    by different but equally good conventions (measured on capacity-drop, latency: the same
    per-server counts, 10-26% of the UEs on the same server, 12 nats of cross-entropy per
    UE). Imitating the expert's arbitrary convention UE by UE breaks the model's.

    How: walk the UEs in the model's decoding order; at the first UE where the label and the
    model disagree, move that UE to the model's option, or swap it with a UE decided later
    (or one that disagrees anyway) that sits there, if the water-filled value stays feasible
    and within (1 + tol) of the expert's (the best such candidate); repeat until no
    disagreement can be fixed. Fixing the earliest disagreement first keeps the prefix on
    which teacher forcing sees exactly the model's own states as long as possible, so the
    label's first remaining difference is a correction the model can learn at its own state.
    """
    from mecopt.evaluation import evaluate_batch
    from mecopt.learned.features import decoding_order

    obj = Objective.parse(objective)
    a = np.array(expert, dtype=int)
    model = np.asarray(model, dtype=int)
    first = evaluate_batch(instance, a[None])
    if not first.feasible[0]:
        return a
    limit = float(first.value(obj)[0]) * (1 + tol)
    ok = instance.option_ok
    pos = np.empty(instance.n_ues, dtype=int)
    pos[decoding_order(instance, obj, energy_order=energy_order)] = np.arange(instance.n_ues)
    for _ in range(instance.n_ues):
        dis = np.nonzero(a != model)[0]
        dis = dis[ok[dis, model[dis]]]  # the model's option must be usable for that UE
        if len(dis) == 0:
            break
        cands, owner = [], []
        for i in dis:
            move = a.copy()
            move[i] = model[i]
            cands.append(move)
            owner.append(pos[i])
            # swap: i takes model[i]; a UE k there takes a[i], if k is decided later or
            # disagrees anyway (so the agreeing prefix never shrinks)
            there = (a == model[i]) & ok[:, a[i]] & ((pos > pos[i]) | (a != model))
            for k in np.nonzero(there)[0]:
                if k != i:
                    swap = move.copy()
                    swap[k] = a[i]
                    cands.append(swap)
                    owner.append(pos[i])
        A, when = np.array(cands), np.array(owner)
        ev = evaluate_batch(instance, A)
        value = np.where(ev.feasible, ev.value(obj), np.inf)
        idx = np.nonzero(value <= limit)[0]
        if len(idx) == 0:
            break
        pick = idx[np.lexsort((value[idx], when[idx]))[0]]  # earliest UE, then lowest value
        a = A[pick]
    return a


def aligned(label: Label, objective: Objective | str, model: np.ndarray,
            tol: float = 3e-3, energy_order: str = "regret") -> Label:
    """The label re-matched by align_label, with its water-filled allocation and value."""
    from mecopt.evaluation import evaluate

    a = align_label(label.instance, objective, label.assignment, model, tol, energy_order)
    if np.array_equal(a, label.assignment):
        return label
    ev = evaluate(label.instance, a)
    return dataclasses.replace(label, assignment=a, allocation_hz=np.array(ev.allocation_hz),
                               value=ev.value(objective))


# ----------------------------------------------------------------------------- pieces
@torch.no_grad()
def deploy(model: Lambo, instances: list[Instance], objective: Objective | str,
           chunk: int = 32) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Greedy decisions on a list of instances: water-filled values (n,), inf where the
    decode ran out of options; the decision's entropy (n,) in nats, the sum of its steps'
    entropies; the assignments.

    Why the sum and not the mean per UE: the query asks which decisions the model is least
    sure of, and a label teaches every UE of its instance. On tight snapshots (40-150 UEs)
    at 128 labels, on 12 seeds with the same labels, max-entropy ended 0.14 points lower
    ranked by the sum (docs/notes/2026-12-08-alef-decision-entropy.md). Where every pool
    instance has the same N, as in the scenarios, the two rank the pool alike."""
    values, entropy, assignments = [], [], []
    for i in range(0, len(instances), chunk):
        part = instances[i:i + chunk]
        batch = make_batch(part, [objective] * len(part), energy_order=model.cfg.energy_order)
        out = rollout(model, batch)
        v, _ = costs(batch, out)
        values.append(v)
        entropy.append(out.entropy.cpu().numpy())
        a = out.assignment.cpu().numpy()
        assignments += [a[b, : x.n_ues] for b, x in enumerate(part)]
    return np.concatenate(values), np.concatenate(entropy), assignments


def select_queries(entropy: np.ndarray, k: int, strategy: str,
                   rng: np.random.Generator) -> np.ndarray:
    """Indices of the instances to label: the k highest entropies (ties: the earlier
    instance), k uniformly at random, or all of them."""
    n = len(entropy)
    k = min(k, n)
    if strategy == "max-entropy":
        return np.argsort(-np.asarray(entropy), kind="stable")[:k]
    if strategy == "random":
        return np.sort(rng.choice(n, size=k, replace=False))
    if strategy == "all":
        return np.arange(n)
    raise InputError(f"strategy: unknown {strategy!r}; valid: {', '.join(STRATEGIES)}")


def correction_mask(labels: list[Label], order: torch.Tensor) -> torch.Tensor:
    """(B, N) bool, UE order: the UEs decided up to and including the first one where the
    label departs from the model's deployed decision (every UE when they agree).

    Up to that step teacher forcing replays the model's own states; after it the states are
    the expert's, which the deployed model never reaches."""
    B, N = order.shape
    mask = torch.zeros(B, N, dtype=torch.bool)
    for b, lab in enumerate(labels):
        n = len(lab.assignment)
        pos = np.empty(n, dtype=int)
        pos[order[b, :n].numpy()] = np.arange(n)
        if lab.deployed is None:
            mask[b, :n] = True
            continue
        differ = np.asarray(lab.assignment) != np.asarray(lab.deployed)
        first = pos[differ].min() if differ.any() else n
        mask[b, :n] = torch.as_tensor(pos <= first)
    return mask


def supervised_loss(model: Lambo, labels: list[Label], objective: Objective | str,
                    share_weight: float = 1.0, prefix: bool = False
                    ) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy per UE on the expert's options under teacher forcing, plus
    share_weight x the MSE of the sigmoid head against the expert's allocation shares.

    prefix: the cross-entropy counts only the UEs of correction_mask (the model's own
    states and the expert's first correction), not the expert's later convention."""
    insts = [lab.instance for lab in labels]
    batch = make_batch(insts, [objective] * len(insts), energy_order=model.cfg.energy_order)
    B, N = batch.order.shape
    forced = torch.zeros(B, N, dtype=torch.long)
    alloc = np.zeros((B, N))
    for b, lab in enumerate(labels):
        forced[b, : len(lab.assignment)] = torch.as_tensor(lab.assignment)
        alloc[b, : len(lab.allocation_hz)] = lab.allocation_hz
    out = rollout(model, batch, Forced(forced))
    # A forced option the decoder's mask forbids would be replaced; experts are feasible,
    # so this only counts rounding at the capacity limit.
    off_label = int((out.assignment != forced).sum())
    if prefix:
        weight = correction_mask(labels, batch.order)
        ce = -(out.step_log_prob * weight).sum() / weight.sum().clamp(min=1)
    else:
        ce = -out.log_prob.sum() / batch.n_ues.sum()
    target = share_targets(batch, out, alloc)
    have = ~torch.isnan(target)
    share = ((out.share - target.nan_to_num()) ** 2 * have).sum() / have.sum().clamp(min=1)
    loss = ce + share_weight * share
    return loss, {"ce": float(ce.detach()), "share": float(share.detach()),
                  "loss": float(loss.detach()), "off_label": off_label}


@torch.no_grad()
def labelled_loss(model: Lambo, labels: list[Label], objective: Objective | str,
                  share_weight: float = 1.0, prefix: bool = False,
                  chunk: int = 32) -> dict[str, float]:
    """The supervised loss over a whole labelled set (weighted by UEs, like training)."""
    if not labels:
        return {"ce": math.nan, "share": math.nan, "loss": math.nan}
    tot = {"ce": 0.0, "share": 0.0, "loss": 0.0}
    weight = 0
    for i in range(0, len(labels), chunk):
        part = labels[i:i + chunk]
        _, stats = supervised_loss(model, part, objective, share_weight, prefix)
        n = sum(lab.instance.n_ues for lab in part)
        for k in tot:
            tot[k] += stats[k] * n
        weight += n
    return {k: v / weight for k, v in tot.items()}


def update(model: Lambo, opt: torch.optim.Optimizer, new: list[Label], old: list[Label],
           cfg: ALEFConfig, rng: np.random.Generator) -> list[dict[str, float]]:
    """cfg.steps gradient steps on the decoder: minibatches of the new labels with a
    `replay` fraction of earlier ones."""
    if not new:
        return []
    params = [p for group in opt.param_groups for p in group["params"]]
    n_old = int(round(cfg.batch * cfg.replay)) if old else 0
    n_new = cfg.batch - n_old
    history = []
    model.train()
    for _ in range(cfg.steps):
        pick = [new[i] for i in rng.choice(len(new), size=min(n_new, len(new)), replace=False)]
        if n_old:
            pick += [old[i] for i in rng.choice(len(old), size=min(n_old, len(old)),
                                                replace=False)]
        loss, stats = supervised_loss(model, pick, cfg.objective, cfg.share_weight,
                                      cfg.prefix)
        if cfg.anchor > 0:  # keep the decisions the model made when it was deployed
            own = [dataclasses.replace(lab, assignment=lab.deployed) for lab in pick
                   if lab.deployed is not None]
            if own:
                keep, _ = supervised_loss(model, own, cfg.objective, 0.0)
                loss = loss + cfg.anchor * keep
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        history.append(stats)
    model.eval()
    return history


def label_excess(deployed: np.ndarray, labelled: list[tuple[int, Label]]) -> float:
    """How much more the model's own decisions cost than the expert's labels on the queried
    instances: the mean of deployed / label - 1 (a decode that ran out of options counts
    1, i.e. twice the label's cost); 0 with no labels."""
    if not labelled:
        return 0.0
    ratio = [deployed[i] / lab.value - 1 if np.isfinite(deployed[i]) and lab.value > 0 else 1.0
             for i, lab in labelled]
    return float(np.mean(ratio))


def window_config(cfg: ALEFConfig, excess: float) -> ALEFConfig:
    """The configuration of one window's update: cfg itself (gentle), or the strong recipe
    (raw labels on every UE, strong_steps steps) when cfg.recipe is strong, or auto and the
    labels beat the model by more than strong_above.

    Why two: the gentle update (aligned labels, imitated up to their first correction, 15
    steps) keeps a near-optimal policy's conventions and moved the scenarios' small drifts
    without breaking them, but it removed only 8-19% of the gap on a large shift (tight
    energy, 8 points); imitating whole raw labels for 40 steps removed 28% there and 92% on
    heavytail (docs/alef.md)."""
    strong = cfg.recipe == "strong" or (cfg.recipe == "auto" and excess > cfg.strong_above)
    if not strong:
        return cfg
    return dataclasses.replace(cfg, align=False, prefix=False, steps=cfg.strong_steps)


def update_order(model: Lambo, cfg: ALEFConfig, wcfg: ALEFConfig) -> str:
    """The energy decoding order a window's update trains (and the model then decodes) in:
    "efficiency" for a strong update of an energy run when cfg.reorder is on, the model's
    own otherwise. The gate judges the update in that order, and a rejected update goes
    back to the deployed order.

    Why: the strong recipe serves a model far from the expert, whose conventions are not
    worth keeping, and on capacity-bound energy the order decides how well labels can be
    imitated. The efficiency order (must-offload UEs first, then energy saved per unit of
    capacity, construct.efficiency_order) is the knapsack rule of that problem. lambo-s,
    trained in the regret order, came within 3.6% of the labels on manyserver energy when
    fine-tuned in the efficiency order, against 6.5% in its own
    (docs/notes/2026-12-03-alef-energy-order.md)."""
    strong = wcfg is not cfg
    energy = Objective.parse(cfg.objective) is Objective.ENERGY
    return "efficiency" if cfg.reorder and strong and energy else model.cfg.energy_order


def gate_split(cfg: ALEFConfig, n: int, window: int) -> np.ndarray:
    """Indices of the pool instances of update window `window` held back from the query for
    the gate: min(gate_set, n // 4) of the n, drawn with a generator of their own, so every
    strategy queries from the same rest and is judged on the same instances. Empty when the
    gate is off."""
    k = min(cfg.gate_set, n // 4) if cfg.gate else 0
    rng = np.random.default_rng([cfg.seed, GATE_STREAM, window])
    return np.sort(rng.choice(n, size=k, replace=False))


def gate_keeps(model: Lambo, pool: list[Instance], before: np.ndarray, labelled: np.ndarray,
               objective: Objective | str, judged: np.ndarray | None = None) -> bool:
    """Whether an update decides the window's `judged` pool instances (its gate set; when
    none is given, those not labelled, or all of them when every one was) better than the
    deployed decoder: none of those it decided left without a decision, and either their
    mean cost ratio (new / deployed) below 1 by more than its standard error, or instances
    it could not decide now decided at a mean ratio of at most 1.

    Needs no labels: the evaluator prices any decision, so a fine-tuned decoder that decides
    the current traffic worse than the deployed one is not deployed. The standard error:
    judged on a gate set of 8, a mean below 1 by chance let through updates that cost the
    held-out snapshots (docs/notes/2026-12-08-alef-held-back-gate.md). A decoder that
    decides what the deployed one dead-ended on is better even where it decided nothing
    before (snapshots far from the training families, docs/alef.md)."""
    rest = judged if judged is not None and len(judged) \
        else np.setdiff1d(np.arange(len(pool)), labelled)
    if len(rest) == 0:
        rest = np.arange(len(pool))
    after, _, _ = deploy(model, [pool[i] for i in rest], objective)
    old = before[rest]
    ok = np.isfinite(old)
    if not np.isfinite(after[ok]).all():
        return False
    gained = int((~ok & np.isfinite(after)).sum())
    ratios = after[ok] / old[ok]
    ratio = float(np.mean(ratios)) if ok.any() else 1.0
    se = float(np.std(ratios, ddof=1) / np.sqrt(len(ratios))) if len(ratios) > 1 else 0.0
    return bool(ratio + se < 1 or (gained and ratio <= 1))


# ----------------------------------------------------------------------------- the loop
def _quiet(_: str) -> None:
    pass


def gaps(values: np.ndarray, optima: np.ndarray) -> np.ndarray:
    """Relative gaps in percent (nan where the model or highs found nothing feasible)."""
    with np.errstate(all="ignore"):
        g = (values - optima) / optima * 100
    return np.where(np.isfinite(g), g, np.nan)


def _summary(g: np.ndarray) -> dict[str, float]:
    """The mean gap over the instances with a decision (nan when none has one), how many
    have none (a dead end of the decode, or nothing from highs: nothing is proven) and of
    how many."""
    ok = g[np.isfinite(g)]
    return {"gap": float(ok.mean()) if len(ok) else math.nan,
            "no_decision": int((~np.isfinite(g)).sum()), "instances": len(g)}


def gap_text(point: dict[str, Any]) -> str:
    """A held-out point as the logs print it: the mean gap, and how many instances it leaves
    out for want of a decision, which a mean over the others would hide."""
    gap = f"{point['gap']:6.2f}%" if math.isfinite(point["gap"]) else "      -"
    if point.get("no_decision"):
        gap += f" ({point['no_decision']} of {point['instances']} without a decision)"
    return gap


def heldout_gap(model: Lambo, window: Window, cache: ExpertCache) -> dict[str, float]:
    values, _, _ = deploy(model, window.heldout, cache.objective)
    optima = np.array([cache.optimum(x) for x in window.heldout])
    return _summary(gaps(values, optima))


def run_strategy(base: Lambo, windows: list[Window], cfg: ALEFConfig, strategy: str,
                 cache: ExpertCache, log: Log = _quiet) -> tuple[Lambo, dict[str, Any]]:
    """One ALEF run over a timeline: a fine-tuned copy of `base` and its record."""
    if strategy not in STRATEGIES:
        raise InputError(f"strategy: unknown {strategy!r}; valid: {', '.join(STRATEGIES)}")
    model = copy.deepcopy(base).eval()
    params = freeze_encoder(model)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    # Query and minibatch randomness per strategy, so adding a strategy changes no other.
    rng = np.random.default_rng([cfg.seed, STRATEGIES.index(strategy)])
    labels: list[Label] = []
    record: dict[str, Any] = {"strategy": strategy, "points": [], "labels": 0,
                              "expert_failed": 0, "off_label": 0}
    per_window = cfg.per_window()
    updates = 0  # windows that have queried and updated so far
    start = time.time()
    for window in windows:
        t0 = time.time()
        point = {"label": window.label, "steps": list(window.steps),
                 **heldout_gap(model, window, cache)}
        # The first cfg.windows windows with a pool query and update; a later one (the
        # scenario's "after ALEF") only measures.
        if window.pool and updates < cfg.windows:
            pool_values, entropy, decided = deploy(model, window.pool, cfg.objective)
            held = gate_split(cfg, len(window.pool), updates)
            open_ = np.setdiff1d(np.arange(len(window.pool)), held)
            chosen = open_[select_queries(entropy[open_], per_window[updates], strategy, rng)]
            updates += 1
            raw = []
            for i in chosen:
                lab = cache.label(window.pool[i])
                if lab is None:
                    record["expert_failed"] += 1
                    continue
                raw.append((i, lab))
            excess = label_excess(pool_values, raw)
            wcfg = window_config(cfg, excess)
            new = []
            for i, lab in raw:
                if wcfg.align:
                    lab = aligned(lab, cfg.objective, decided[i], cfg.align_tol,
                                  model.cfg.energy_order)
                new.append(dataclasses.replace(lab, deployed=decided[i]))
            nan = {"loss": math.nan}
            before = labelled_loss(model, labels + new, cfg.objective, cfg.share_weight,
                                   wcfg.prefix) \
                if cfg.track_loss else nan
            saved = copy.deepcopy((model.state_dict(), opt.state_dict(), model.cfg)) \
                if cfg.gate else None
            order = update_order(model, cfg, wcfg)
            if order != model.cfg.energy_order:
                model.cfg = dataclasses.replace(model.cfg, energy_order=order)
                point["update_order"] = order  # the model keeps it if the gate keeps the update
            steps = update(model, opt, new, labels, wcfg, rng)
            labels += new
            if saved is not None:
                kept = gate_keeps(model, window.pool, pool_values, chosen, cfg.objective,
                                  held)
                if not kept:  # back to the deployed decoder, in its decoding order
                    model.load_state_dict(saved[0])
                    opt.load_state_dict(saved[1])
                    model.cfg = saved[2]
                point["kept"] = kept
            after = labelled_loss(model, labels, cfg.objective, cfg.share_weight, wcfg.prefix) \
                if cfg.track_loss else nan
            point["recipe"] = "strong" if wcfg is not cfg else "gentle"
            point["label_excess"] = excess
            record["off_label"] += sum(s["off_label"] for s in steps)
            point.update({"pool_entropy": float(entropy.mean()),
                          "queried_entropy": float(entropy[chosen].mean()),
                          "queried": len(chosen), "gate_set": len(held),
                          "labels": len(labels),
                          "loss_before": before["loss"], "loss_after": after["loss"]})
        point["wall_s"] = time.time() - t0
        record["points"].append(point)
        extra = ""
        if "labels" in point:
            extra = (f" | entropy pool {point['pool_entropy']:.3f} queried "
                     f"{point['queried_entropy']:.3f} | labels {point['labels']} | "
                     f"loss {point['loss_before']:.4f} -> {point['loss_after']:.4f}")
            extra += f" | {point['recipe']} (labels {100 * point['label_excess']:.1f}% better)"
            if "update_order" in point:
                extra += f" in the {point['update_order']} order"
            if "kept" in point:
                extra += " | update kept" if point["kept"] else " | update rejected"
        log(f"[{strategy}] {window.label:12s} | held-out gap {gap_text(point)}{extra} | "
            f"{point['wall_s']:.1f} s")
    record["labels"] = len(labels)
    record["energy_order"] = model.cfg.energy_order
    record["labelled"] = [lab.instance.name for lab in labels]
    record["wall_s"] = time.time() - start
    return model, record


def reference_curves(base: Lambo, windows: list[Window], cache: ExpertCache,
                     log: Log = _quiet) -> dict[str, Any]:
    """The gap of the pre-trained model (no fine-tuning) and of the expert itself."""
    none, expert = [], []
    for window in windows:
        none.append({"label": window.label, **heldout_gap(base, window, cache)})
        optima = np.array([cache.optimum(x) for x in window.heldout])
        values = np.array([cache.expert_value(x) for x in window.heldout])
        expert.append({"label": window.label, **_summary(gaps(values, optima))})
        log(f"[reference] {window.label:12s} | no fine-tuning {gap_text(none[-1])} | "
            f"expert {cache.expert} {gap_text(expert[-1])}")
    return {"none": none, "expert": expert}


def finetune(base: Lambo, cfg: ALEFConfig, strategies: tuple[str, ...] = ("max-entropy",
                                                                          "random"),
             cache: ExpertCache | None = None, log: Log = _quiet,
             snapshots: list[Instance] | None = None
             ) -> tuple[dict[str, Lambo], dict[str, Any]]:
    """Run the reference curves and ALEF with each strategy on one timeline: the scenario's,
    or with cfg.instances the user's `snapshots` (read_snapshots; read here when None).

    Returns the fine-tuned model per strategy and the report (JSON-ready)."""
    cfg.check()
    for s in strategies:
        if s not in STRATEGIES:
            raise InputError(f"strategy: unknown {s!r}; valid: {', '.join(STRATEGIES)}")
    torch.set_num_threads(cfg.threads)
    start = time.time()
    cache = cache or ExpertCache(cfg.objective, cfg.expert, cfg.seed, cfg.expert_time_limit)
    if cfg.instances is not None and snapshots is None:
        snapshots = read_snapshots(cfg.instances, stderr_log)
    windows = timeline(cfg, snapshots)
    plan = (f"{cfg.windows} windows of {cfg.pool} + {cfg.heldout} held-out instances; "
            f"budget {cfg.budget} labels by {cfg.expert} ({cfg.per_window()} per window)")
    if cfg.scenario is not None:
        sc = get_scenario(cfg.scenario)
        source = {"scenario": sc.name, "description": sc.description,
                  "drift_step": sc.drift_step}
        log(f"scenario {sc.name}: {sc.description}; drift at step {sc.drift_step}; {plan}")
    else:
        used = cfg.snapshots_needed()
        source = {"scenario": None, "instances": cfg.instances,
                  "description": f"{len(snapshots)} snapshots from {cfg.instances}",
                  "drift_step": None, "snapshots": len(snapshots), "snapshots_used": used}
        log(f"instances {cfg.instances}: {len(snapshots)} valid snapshots, the first {used} "
            f"used; {plan}, then {cfg.heldout} held-out after ALEF")
    refs = reference_curves(base, windows, cache, log)
    models, runs = {}, {}
    for s in strategies:
        models[s], runs[s] = run_strategy(base, windows, cfg, s, cache, log)

    def curves(key: str) -> dict[str, list]:  # one held-out figure per curve and window
        return {"none": [p[key] for p in refs["none"]],
                **{s: [p[key] for p in runs[s]["points"]] for s in strategies},
                "expert": [p[key] for p in refs["expert"]]}

    report = {
        "format": "mecopt-alef-report", "version": 1, **source,
        "config": asdict(cfg), "strategies": list(strategies),
        "windows": [{"label": w.label, "steps": list(w.steps), "pool": len(w.pool),
                     "heldout": len(w.heldout)} for w in windows],
        "gap": curves("gap"),
        # Held-out instances each gap leaves out for want of a decision, per window.
        "no_decision": curves("no_decision"),
        "reference": refs, "runs": runs,
        "expert_solves": cache.solves, "expert_solve_s": cache.solve_s,
        "wall_s": time.time() - start,
    }
    report["summary"] = summarize(report)
    return models, report


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """Before the drift, right after it (no fine-tuning, window 1) and after ALEF (the
    final held-out window), and the share of the drift's gap increase that ALEF removed.

    On the user's snapshots (no drift): window 1 with the pre-trained model, and on the
    final held-out snapshots the gap before fine-tuning (no fine-tuning), after ALEF per
    strategy and the change ALEF made (negative: ALEF lowered the gap)."""
    g = report["gap"]
    if report.get("drift_step") is None:
        out = {"first_window": g["none"][0], "no_finetune_final": g["none"][-1],
               "expert_final": g["expert"][-1]}
        for s in report["strategies"]:
            out[f"{s}_final"] = g[s][-1]
            out[f"{s}_change"] = g[s][-1] - g["none"][-1]
        return out
    before, after_drift = g["none"][0], g["none"][1]
    out = {"before_drift": before, "after_drift": after_drift,
           "no_finetune_final": g["none"][-1], "expert_final": g["expert"][-1]}
    increase = g["none"][-1] - before  # the drift's effect measured on the same window
    for s in report["strategies"]:
        final = g[s][-1]
        out[f"{s}_final"] = final
        out[f"{s}_recovered"] = ((g["none"][-1] - final) / increase if increase > 0
                                 else math.nan)
    out["drift_increase"] = increase
    return out


def plot_report(report: dict[str, Any], path: str | Path) -> None:
    """Gap to the optimum over the windows, one line per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [w["label"] for w in report["windows"]]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7, 4))
    names = {"none": "no fine-tuning", "max-entropy": "ALEF max-entropy",
             "random": "ALEF random", "all": "ALEF all (label everything)",
             "expert": f"expert ({report['config']['expert']})"}
    for key, values in report["gap"].items():
        ax.plot(x, values, marker="o", label=names.get(key, key),
                ls="--" if key in ("none", "expert") else "-")
    if report.get("drift_step") is not None:
        ax.axvline(0.5, color="k", lw=0.8, ls=":")
        ax.text(0.52, ax.get_ylim()[1], " drift", va="top", fontsize=8)
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"held-out gap to the optimum [%] ({report['config']['objective']})")
    what = report["scenario"] or Path(report["instances"]).name
    ax.set_title(f"ALEF on {what}: budget {report['config']['budget']} labels, "
                 f"seed {report['config']['seed']}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def jsonable(value: Any) -> Any:
    """A copy fit for strict JSON and weights_only checkpoints: NaN -> None, numpy scalars
    and tuples -> Python."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def stderr_log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


__all__ = ["ALEFConfig", "DECODER_PARTS", "EXPERTS", "ExpertCache", "FROZEN_PARTS", "Label",
           "RECIPES", "STRATEGIES", "Window", "check_checkpoint", "deploy", "finetune",
           "freeze_encoder", "is_decoder", "jsonable", "label_excess", "labelled_loss",
           "plot_report", "read_snapshots", "run_strategy", "select_queries",
           "snapshot_timeline", "stderr_log", "summarize", "supervised_loss", "timeline",
           "update", "window_config"]
