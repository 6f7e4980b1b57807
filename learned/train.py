"""ACL pre-training of LAMBO: actor-critic on instances generated on the fly.

One step: draw B instances (alternating paper and hetero, a range of sizes, seeds >= 100000
so never the shipped library's 0..19 / 1000..1009), put each under both prompts (2B rows),
decode every row `samples` times by sampling, cost the decodes exactly with
mecopt.evaluate_batch, and normalize each cost by the greedy heuristic's cost on the same
(instance, prompt), so that a cost of 1.0 means "as good as greedy" whatever the prompt,
family or size. Then

    actor:  REINFORCE, advantage = cost - baseline (divided by its batch std, or with
            advantage="row" by each row's own std)
    critic: MSE between its prediction and the row's mean sampled cost
    share:  MSE between the sigmoid head and the water-filled shares of the sampled decodes

baseline = "critic" is the paper's actor-critic; "shared" uses the mean over the row's
samples (POMO-style), with the critic trained alongside; "both" averages the two. An
optional warm start (`imitation`, a fraction of the budget) first imitates the greedy
heuristic's assignments by teacher forcing. docs/lambo.md compares the variants.

With `instances` (the user's own folder or JSONL file), about `instances_weight` of every
batch is drawn from those instances, the rest generated as above (own_picks); the
checkpoint's train_config records the path, the weight and how many were read.

Data-parallel training: under torchrun (WORLD_SIZE > 1) the loss module is wrapped in
torch.nn.parallel.DistributedDataParallel (gloo on CPU, nccl on GPU); every rank draws
its own instances, rank 0 validates, logs and saves.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn

from mecopt.batch import read_instances
from mecopt.construct import greedy_assignment
from mecopt.evaluation import evaluate_batch
from mecopt.generators import generate
from mecopt.instance import Instance
from mecopt.learned.checkpoint import save_checkpoint
from mecopt.learned.configs import TRAIN_FAMILIES, TrainConfig
from mecopt.learned.features import Batch, make_batch
from mecopt.learned.model import PRESETS, Lambo
from mecopt.learned.rollout import costs, rollout, share_targets
from mecopt.learned.strategies import Forced, Sampling
from mecopt.objective import Objective

TRAIN_SEED_BASE = 100_000  # the shipped library uses seeds 0..19, 1000..1009, 3000000..9
VALID_SEED_BASE = 90_000_000  # validation instances: disjoint from training and library
LOG_COLUMNS = ("step", "minutes", "cpu_minutes", "phase", "cost", "best_cost", "imitation_ce",
               "critic_loss", "share_loss", "entropy", "infeasible", "val_ratio")
# ... then "val_<family>", one column per training family (log_columns).


def log_columns(cfg: TrainConfig) -> tuple[str, ...]:
    """The CSV log's columns: LOG_COLUMNS and each training family's validation ratio."""
    return LOG_COLUMNS + tuple(f"val_{f}" for f in dict.fromkeys(cfg.families))
INFEASIBLE_COST = 2.0  # normalized cost of a decode that ran out of options
# Prompt variants seen in training, so the word embedding is not tied to one phrasing.
PROMPT_VARIANTS = {
    Objective.LATENCY: ("Minimum latency", "minimize latency", "min delay",
                        "minimum completion time", "lowest mean latency"),
    Objective.ENERGY: ("Minimum energy", "minimize energy consumption", "min energy",
                       "minimum power consumption", "lowest total energy"),
}


# ----------------------------------------------------------------------------- data
def draw_instances(cfg: TrainConfig, step: int, rank: int, world: int,
                   own: Sequence[Instance] = ()) -> list[Instance]:
    """B instances for a step: fresh ones of one family per step (less padding), a range of
    sizes, and with `own` (the user's --instances) a share of about instances_weight drawn
    from those (own_picks). The same (seed, step, rank) gives the same batch."""
    family = cfg.families[step % len(cfg.families)]
    rng = np.random.default_rng([cfg.seed, step, rank])
    first = TRAIN_SEED_BASE + cfg.seed * 100_000_000 + (step * world + rank) * cfg.batch_instances
    picks = own_picks(cfg, len(own), step, rank) if own else []
    out = []
    for k in range(cfg.batch_instances - len(picks)):
        n, m = TRAIN_FAMILIES[family].draw_sizes(rng, cfg.max_ues)
        out.append(generate(family, n, m, seed=first + k))
    return out + [own[i] for i in picks]


def own_picks(cfg: TrainConfig, n_own: int, step: int, rank: int) -> list[int]:
    """Which of the user's n_own instances go into a step's batch: floor(w B) of them, one
    more with probability frac(w B) (w = instances_weight, B = batch_instances), so the
    share is w on average however small B is; distinct while there are enough."""
    rng = np.random.default_rng([cfg.seed, step, rank, 1])  # apart from the sizes' stream
    want = cfg.instances_weight * cfg.batch_instances
    k = min(int(want) + int(rng.random() < want - int(want)), cfg.batch_instances)
    return [int(i) for i in rng.choice(n_own, size=k, replace=k > n_own)]


def read_own(cfg: TrainConfig, rank: int) -> tuple[TrainConfig, list[Instance]]:
    """The user's --instances (none without it) and the config with how many were read and
    skipped, for the checkpoint. Rank 0 reports each skipped file or line on stderr (also
    with --quiet: it is about the user's data, not progress)."""
    if cfg.instances is None:
        return cfg, []
    skipped = []

    def warn(line: str) -> None:
        skipped.append(line)
        if rank == 0:
            print(line, file=sys.stderr, flush=True)

    own = read_instances(cfg.instances, warn)
    cfg = dataclasses.replace(cfg, instances_read=len(own), instances_skipped=len(skipped))
    _log(cfg, f"instances {cfg.instances}: {len(own)} read, {len(skipped)} skipped; about "
              f"{cfg.instances_weight:.0%} of each batch", rank)
    return cfg, own


def greedy_cost(inst: Instance, objective: Objective) -> tuple[np.ndarray | None, float]:
    """The greedy heuristic's assignment and exact cost (nan when it finds nothing)."""
    a, _ = greedy_assignment(inst, objective)
    if a is None:
        return None, math.nan
    ev = evaluate_batch(inst, a[None])
    return a, float(ev.value(objective)[0]) if ev.feasible[0] else math.nan


def make_rows(instances: list[Instance], rng: np.random.Generator | None,
              device: str, energy_order: str = "regret") -> tuple[Batch, np.ndarray, list]:
    """Each instance under both prompts (varied phrasing when rng is given): the batch, the
    greedy cost per row and greedy's assignment per row."""
    insts, objs, prompts, ref, labels = [], [], [], [], []
    for inst in instances:
        for obj in (Objective.LATENCY, Objective.ENERGY):
            variants = PROMPT_VARIANTS[obj]
            text = variants[int(rng.integers(len(variants)))] if rng is not None else obj.prompt
            a, c = greedy_cost(inst, obj)
            insts.append(inst)
            objs.append(obj)
            prompts.append(text)
            ref.append(c)
            labels.append(a)
    return (make_batch(insts, objs, prompts, device=device, energy_order=energy_order),
            np.array(ref), labels)


def normalized(value: np.ndarray, ref: np.ndarray, samples: int) -> np.ndarray:
    """Cost / greedy cost per row (rows without a greedy cost use their best sample);
    infeasible decodes cost INFEASIBLE_COST."""
    v = value.reshape(-1, samples)
    best = np.where(np.isfinite(v), v, np.nan)
    # A row with no greedy cost and no feasible sample has no scale (NaN): all INFEASIBLE.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmin of an all-NaN row
        scale = np.where(np.isfinite(ref), ref, np.nanmin(best, axis=1))
        out = v / scale[:, None]
    return np.where(np.isfinite(out), np.minimum(out, INFEASIBLE_COST), INFEASIBLE_COST).ravel()


# ----------------------------------------------------------------------------- losses
class ACLLoss(nn.Module):
    """The loss of one step as a module, so DistributedDataParallel can wrap it."""

    def __init__(self, model: Lambo, cfg: TrainConfig) -> None:
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, batch: Batch, ref: np.ndarray, labels: list | None,
                generator: torch.Generator | None) -> tuple[torch.Tensor, dict]:
        if labels is not None:
            return self.imitation(batch, labels)
        return self.actor_critic(batch, ref, generator)

    def imitation(self, batch: Batch, labels: list) -> tuple[torch.Tensor, dict]:
        """Teacher forcing on greedy's assignments (rows greedy could not solve: skipped)."""
        keep = [i for i, a in enumerate(labels) if a is not None]
        N = batch.order.shape[1]
        forced = torch.zeros(batch.size, N, dtype=torch.long, device=batch.order.device)
        for i in keep:
            forced[i, : len(labels[i])] = torch.as_tensor(labels[i])
        out = rollout(self.model, batch, Forced(forced))
        w = torch.zeros(batch.size, device=forced.device)
        w[keep] = 1.0
        ce = -(out.log_prob * w).sum() / (batch.n_ues.float() * w).sum().clamp(min=1)
        loss = ce + 0.0 * out.value.sum() + 0.0 * out.share.sum()  # every parameter in graph
        return loss, {"imitation_ce": float(ce.detach())}

    def actor_critic(self, batch: Batch, ref: np.ndarray,
                     generator: torch.Generator | None) -> tuple[torch.Tensor, dict]:
        cfg, P = self.cfg, self.cfg.samples
        out = rollout(self.model, batch, Sampling(generator=generator), samples=P)
        value, alloc = costs(batch, out)
        cost = torch.tensor(normalized(value, ref, P), dtype=torch.float32,
                            device=out.log_prob.device).view(-1, P)  # (B, P)
        critic = out.value  # (B,)
        if cfg.baseline == "critic":
            base = critic.detach()[:, None].expand_as(cost)
        else:
            shared = (cost.sum(1, keepdim=True) - cost) / (P - 1)  # mean of the other samples
            base = shared if cfg.baseline == "shared" else 0.5 * (shared +
                                                                   critic.detach()[:, None])
        adv = cost - base
        if cfg.advantage == "row":
            # Every (instance, prompt) row weighs the same, however small its cost spread
            # (paper latency's samples differ by hundredths of a percent, hetero's by more);
            # spreads under 1e-4 of greedy's cost count as 1e-4, so ties are not amplified.
            adv = adv / adv.std(1, keepdim=True).clamp(min=1e-4)
        else:
            adv = adv / (adv.std() + 1e-6)
        actor = (adv.view(-1) * out.log_prob).mean()
        critic_loss = ((critic - cost.mean(1)) ** 2).mean()
        target = share_targets(batch, out, alloc).to(out.share.device)
        have = ~torch.isnan(target)
        share_loss = ((out.share - target.nan_to_num()) ** 2 * have).sum() / have.sum().clamp(
            min=1)
        ent = out.entropy.mean() / batch.n_ues.float().mean()
        loss = actor + critic_loss + share_loss - cfg.entropy * ent
        stats = {"cost": float(cost.mean()), "best_cost": float(cost.min(1).values.mean()),
                 "critic_loss": float(critic_loss.detach()),
                 "share_loss": float(share_loss.detach()), "entropy": float(ent.detach()),
                 "infeasible": float((cost >= INFEASIBLE_COST).float().mean())}
        return loss, stats


# ----------------------------------------------------------------------------- validation
def validation_set(cfg: TrainConfig) -> list[Instance]:
    """n_valid instances of each family (once, however weighted), at the family's own sizes
    (paper: the case study's 4 x 50)."""
    return [generate(family, seed=VALID_SEED_BASE + k)
            for family in dict.fromkeys(cfg.families) for k in range(cfg.n_valid)]


@torch.no_grad()
def validation_metrics(model: Lambo, batch: Batch, ref: np.ndarray) -> dict[str, float]:
    """Greedy decoding on the validation rows: mean cost / greedy cost, per family."""
    model.eval()
    out = rollout(model, batch)
    value, _ = costs(batch, out)
    model.train()
    ratio = normalized(value, ref, 1)
    fam = np.array([i.meta.get("family", "?") for i in batch.instances])
    stats = {"val_ratio": float(ratio.mean())}
    for f in np.unique(fam):
        stats[f"val_{f}"] = float(ratio[fam == f].mean())
    return stats


# ----------------------------------------------------------------------------- loop
def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _log(cfg: TrainConfig, text: str, rank: int) -> None:
    if rank == 0 and not cfg.quiet:
        print(text, file=sys.stderr, flush=True)


def train(cfg: TrainConfig) -> dict:
    """Run ACL pre-training; writes the checkpoint (best validation), CSV log and PNG curve.
    Returns steps, wall_s, the best validation metrics and the final model. Under torchrun
    (WORLD_SIZE > 1) it initializes the process group if the caller has not, and then also
    destroys it at the end; a group the caller made stays the caller's."""
    cfg.check()
    owns_group = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if cfg.device.startswith("cuda") else "gloo")
    result = _train(cfg)
    if owns_group:
        # Every rank past its last collective first: a rank that tears down while a peer's
        # gloo threads still wait on it can abort that peer's process.
        dist.barrier()
        dist.destroy_process_group()
    return result


def _train(cfg: TrainConfig) -> dict:
    """The body of `train`, inside an initialized process group when distributed."""
    torch.set_num_threads(cfg.threads)
    rank, world = _dist_info()
    cfg, own = read_own(cfg, rank)
    device = cfg.device
    if device.startswith("cuda") and world > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    model = _initial_model(cfg, device)
    loss_fn: nn.Module = ACLLoss(model, cfg)
    if world > 1:
        loss_fn = nn.parallel.DistributedDataParallel(loss_fn, find_unused_parameters=False)
    generator = torch.Generator(device=device).manual_seed(cfg.seed * 1000 + rank)
    prompt_rng = np.random.default_rng([cfg.seed, rank, 7])
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    journal = _Journal(cfg, rank, device)  # starts the clock
    step, metrics, running = 0, {}, None
    while (used := _budget_used(journal, step, world)) < 1:
        phase = "imitation" if used < cfg.imitation else "acl"
        if phase == "acl" and opt.param_groups[0]["lr"] != cfg.lr_acl:
            for g in opt.param_groups:
                g["lr"] = cfg.lr_acl
        batch, ref, labels = make_rows(draw_instances(cfg, step, rank, world, own),
                                       prompt_rng, device, cfg.energy_order)
        loss, stats = loss_fn(batch, ref, labels if phase == "imitation" else None, generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        key = "cost" if phase == "acl" else "imitation_ce"
        running = stats[key] if running is None or phase != metrics.get("phase") \
            else 0.9 * running + 0.1 * stats[key]
        metrics = {"phase": phase, **stats}
        journal.record(model, step, metrics, f"{phase:9s} | {key} {running:.4f}")
    wall = journal.finish(model, step, metrics)
    return {"steps": step, "wall_s": wall, "best": journal.best, "model": model}


def _initial_model(cfg: TrainConfig, device: str) -> Lambo:
    """The preset's network, seeded alike on every rank, or the weights of cfg.init."""
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    net = dataclasses.replace(PRESETS[cfg.preset], energy_order=cfg.energy_order)
    model = Lambo(net).to(device)
    if cfg.init:
        from mecopt.learned.checkpoint import load_model
        init, _ = load_model(cfg.init)
        model.load_state_dict(init.state_dict())
    return model.train()


def _budget_used(journal: _Journal, step: int, world: int) -> float:
    """The fraction of the budget spent, rank 0's on every rank (all stop at the same step)."""
    used = journal.budget_used(step)
    if world > 1:
        t = torch.tensor([used], dtype=torch.float64)
        dist.broadcast(t, 0)
        used = float(t)
    return used


class _Journal:
    """The clock of a run and, on rank 0, its record: validation, the best checkpoint, the
    CSV log, the progress lines and the learning curve."""

    def __init__(self, cfg: TrainConfig, rank: int, device: str) -> None:
        self.cfg, self.rank = cfg, rank
        self.out_path, log_path, self.curve_path = cfg.output_paths()
        self.best: dict = {"val_ratio": math.inf}
        self.history: list[dict] = []
        if rank == 0:
            self.valid_batch, self.valid_ref, _ = make_rows(validation_set(cfg), None, device,
                                                            cfg.energy_order)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_file = open(log_path, "w", newline="")
            self.writer = csv.writer(self.log_file)
            self.columns = log_columns(cfg)
            self.writer.writerow(self.columns)
        self.start, self.cpu_start = time.time(), time.process_time()

    def minutes(self) -> float:
        return (time.time() - self.start) / 60

    def budget_used(self, step: int) -> float:
        """This rank's fraction of the budget spent after `step` steps."""
        if self.cfg.steps is not None:
            return step / self.cfg.steps
        return self.minutes() / self.cfg.minutes

    def record(self, model: Lambo, step: int, metrics: dict, progress: str) -> None:
        """After a step (rank 0): validate when due (adding to `metrics`), keep the best
        checkpoint, log the row, print progress now and then, redraw the curve."""
        if self.rank != 0:
            return
        cfg = self.cfg
        if step % cfg.validate_every == 0 or self.budget_used(step) >= 1:
            metrics.update(validation_metrics(model, self.valid_batch, self.valid_ref))
            if metrics["val_ratio"] < self.best["val_ratio"]:
                self.best = {"step": step, "minutes": self.minutes(), **metrics}
                save_checkpoint(self.out_path, model, preset=cfg.preset, command=cfg.command,
                                step=step, metrics=_clean(self.best, cfg, time.time()
                                                          - self.start))
        row = {"step": step, "minutes": self.minutes(),
               "cpu_minutes": (time.process_time() - self.cpu_start) / 60, **metrics}
        self.history.append(row)
        self.writer.writerow([f"{row[k]:.6g}" if isinstance(row.get(k), float)
                              else row.get(k, "") for k in self.columns])
        self.log_file.flush()
        if step % 10 == 0 or "val_ratio" in metrics:
            val = f" | val/greedy {metrics['val_ratio']:.4f}" if "val_ratio" in metrics else ""
            _log(cfg, f"step {step:5d} | {row['minutes']:6.1f} min | {progress}{val}", 0)
        if step % (cfg.validate_every * 4) == 0:
            plot_curve(self.history, self.curve_path)

    def finish(self, model: Lambo, steps: int, metrics: dict) -> float:
        """Close the record (rank 0): the final curve, and the checkpoint's totals (or, when
        no validation happened, the last model). Returns the wall time in seconds."""
        wall = time.time() - self.start
        if self.rank != 0:
            return wall
        cfg = self.cfg
        self.log_file.close()
        plot_curve(self.history, self.curve_path)
        if not math.isfinite(self.best["val_ratio"]):  # no validation: save what we have
            save_checkpoint(self.out_path, model, preset=cfg.preset, command=cfg.command,
                            step=steps, metrics=_clean(metrics, cfg, wall))
        else:  # record the total wall time in the best checkpoint's metrics
            from mecopt.learned.checkpoint import read_checkpoint
            ckpt = read_checkpoint(self.out_path)
            ckpt["metrics"]["total_steps"] = steps
            ckpt["metrics"]["total_wall_s"] = round(wall, 1)
            torch.save(ckpt, self.out_path)
        _log(cfg, f"done: {steps} steps in {wall / 60:.1f} min; best val/greedy "
                  f"{self.best['val_ratio']:.4f} at step {self.best.get('step')}; wrote "
                  f"{self.out_path}", 0)
        return wall


def _clean(metrics: dict, cfg: TrainConfig, wall: float) -> dict:
    """Checkpoint metrics: plain floats/strings only (weights_only loading)."""
    out = {k: (float(v) if isinstance(v, (int, float, np.floating)) else str(v))
           for k, v in metrics.items()}
    out["wall_s"] = round(wall, 1)
    out["train_config"] = {k: (list(v) if isinstance(v, tuple) else v)
                           for k, v in asdict(cfg).items() if k != "extra"}
    out["machine"] = f"{torch.get_num_threads()} thread(s), device {cfg.device}"
    return out


def plot_curve(history: list[dict], path: Path) -> None:
    """The learning curve: training cost / greedy (smoothed) and validation (greedy
    decoding) / greedy per family, against wall minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    acl = [h for h in history if h.get("phase") == "acl" and h.get("cost") not in (None, "")]
    if acl:
        cost = np.array([float(h["cost"]) for h in acl])
        k = min(25, len(cost))
        smooth = np.convolve(cost, np.ones(k) / k, mode="valid")
        ax.plot([float(h["minutes"]) for h in acl][k - 1:], smooth, lw=1, alpha=0.7,
                label=f"train: sampled cost / greedy (mean of {k} steps)")
    families = dict.fromkeys(k for h in history for k in h
                             if k.startswith("val_") and k != "val_ratio")
    top = 1.06
    for key in families:
        label = f"validation {key[4:]}"
        pts = [h for h in history if h.get(key) not in (None, "")]
        if pts:
            values = [float(h[key]) for h in pts]
            top = max(top, min(1.5, max(values) + 0.01))
            ax.plot([float(h["minutes"]) for h in pts], values,
                    marker=".", label=f"{label}: greedy decoding / greedy")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("wall minutes")
    ax.set_ylabel("cost relative to the greedy heuristic")
    ax.set_ylim(0.97, top)
    ax.legend(fontsize=8)
    warm = any(h.get("phase") == "imitation" for h in history)
    ax.set_title("LAMBO pre-training (" + ("imitation warm start, then ACL" if warm else "ACL")
                 + ")")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_csv(log: str | Path, path: str | Path) -> None:
    """Redraw the learning curve from a training CSV log."""
    with open(log, newline="") as f:
        plot_curve(list(csv.DictReader(f)), Path(path))
