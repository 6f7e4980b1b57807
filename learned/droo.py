"""`droo`: Deep Reinforcement learning-based Online Offloading (Huang, Bi, Zhang, IEEE TMC
2020), adapted from binary offloading to the choice among M+1 options.

The original, step by step, and what changes here:
1. A DNN maps the system state of one frame to a relaxed decision. Here: the fully connected
   network of learned/baseline_nets.py maps every UE's features (and the prompt) to a
   softmax over the M+1 options per UE.
2. Order-preserving quantization turns the relaxed decision into K candidates. Binary DROO
   flips the UEs whose relaxed value is closest to 0.5; here candidate 1 takes every UE's
   most likely option and candidate k moves the k-1 least confident UEs (smallest margin
   between their top two probabilities) to their second choice (`quantize`).
3. Each candidate is scored by solving the resource-allocation subproblem. Here: the shared
   repair (mecopt.repair.repair) fixes a candidate that breaks a deadline or capacity
   and evaluates it exactly (water-filled).
4. The best candidate and its input go into a replay memory of 1024 entries; every 10
   frames one training step on a batch of 128 (cross-entropy towards the stored decisions,
   the analogue of DROO's binary cross-entropy; the network's share head learns the
   water-filled shares, so DROO and ARE share one network: 326,535 parameters in the
   paper preset, against the paper's 326,662).
5. Every 32 frames K becomes the largest (1-based) index of the best candidate over those
   frames plus one, capped at N+1 (all candidates).

Training is online over scenario streams of the paper family (mecopt.ScenarioStream): UEs
move and tasks are redrawn every frame; a new stream (new server layout) starts every
`episode` frames; the prompt alternates frame by frame. The objective is an input of the
network, so one checkpoint serves both prompts. Stream seeds start at 300,000, disjoint from
the library (0..19, 1000..1009), LAMBO (100,000..) and ARE (200,000..).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from mecopt.errors import InputError
from mecopt.instance import Instance
from mecopt.method import Method, Option, Outcome
from mecopt.objective import Objective
from mecopt.repair import Decoded, repair
from mecopt.status import Status

STREAM_SEED_BASE = 300_000  # DROO's training streams
SEEDS_PER_RUN = 10_000


def quantize(probs: np.ndarray, k: int) -> np.ndarray:
    """Order-preserving quantization for M+1 options: K candidate assignments (K, N).

    probs (N, M+1): each UE's probabilities. Candidate 1 is every UE's argmax; candidate k
    (k >= 2) moves the k-1 UEs with the smallest margin between their two most likely options
    to their second choice. Candidates are nested and pairwise distinct; at most N+1 exist.
    """
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise InputError(f"probs: expected shape (N, M+1) with M >= 1, got {list(probs.shape)}")
    if k < 1:
        raise InputError(f"k: must be >= 1, got {k}")
    N = probs.shape[0]
    ranked = np.argsort(-probs, axis=1, kind="stable")  # (N, M+1), most likely first
    first, second = ranked[:, 0], ranked[:, 1]
    rows = np.arange(N)
    margin = probs[rows, first] - probs[rows, second]
    least_confident = np.argsort(margin, kind="stable")  # (N,)
    k = min(int(k), N + 1)
    cands = np.repeat(first[None], k, axis=0)  # (K, N)
    for c in range(1, k):
        moved = least_confident[:c]
        cands[c, moved] = second[moved]
    return cands


def decide(model, instance: Instance, objective: Objective, k: int
           ) -> tuple[Decoded, int, np.ndarray, np.ndarray]:
    """One DROO decision: (decoded candidates, best row, network input, shares (N,)).

    The best row is the feasible candidate of least water-filled value (the first of them
    on ties); when none is feasible it is the row with the fewest unplaced UEs.
    """
    import torch

    from mecopt.learned.baseline_nets import features, option_probs

    x = features(instance, objective)
    with torch.inference_mode():
        logits, share = model(torch.from_numpy(x)[None])
    probs = option_probs(logits[0], instance.option_ok)
    dec = repair(instance, objective, quantize(probs, k))
    best = int(np.argmin(dec.value)) if dec.feasible.any() else int(np.argmin(dec.unplaced))
    return dec, best, x, share[0].numpy()


# ---------------------------------------------------------------------- training
@dataclass
class DROOConfig:
    """Online training of DROO (`mecopt train-baseline droo`)."""

    preset: str = "small"
    seed: int = 0
    minutes: float | None = None  # wall-time budget; frames bounds it too when given
    frames: int | None = None
    n_ues: int = 50
    n_servers: int = 4
    memory: int = 1024  # replay memory entries (the original's)
    batch: int = 128  # samples per training step (the original's)
    train_interval: int = 10  # frames between training steps (the original's)
    k_interval: int = 32  # frames between updates of K (the original's Delta)
    k_max: int | None = None  # cap on K; None = N+1, every candidate
    lr: float = 1e-3  # Adam; the original uses 0.01 on a 3-layer net, too high for 60 layers
    episode: int = 200  # frames per scenario stream before a new server layout
    val_interval: int = 2000  # frames between validations (best checkpoint kept)
    objectives: tuple[str, ...] = ("latency", "energy")  # prompts, alternating frame by frame
    threads: int = 1
    output: str = ""
    command: str = ""
    quiet: bool = False

    def check(self) -> None:
        if self.minutes is None and self.frames is None:
            raise InputError("give --minutes or --frames (a training budget)")
        for name in ("memory", "batch", "train_interval", "k_interval", "episode",
                     "val_interval", "threads"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.minutes is not None and not self.minutes > 0:
            raise InputError(f"minutes: must be positive, got {self.minutes}")
        if self.frames is not None and self.frames < 1:
            raise InputError(f"frames: must be >= 1, got {self.frames}")
        if not self.output:
            raise InputError("output: a checkpoint path is required")


def validate(model, k: int, instances: list[Instance],
             greedy: dict[tuple[str, Objective], float]) -> dict[str, float]:
    """Mean value / greedy value per objective on the validation set (feasible runs), plus
    the share of feasible runs."""
    from mecopt.learned.baseline_nets import validation_ratios

    def run(inst: Instance, obj: Objective) -> tuple[float, bool]:
        dec, best, _, _ = decide(model, inst, obj, k)
        return float(dec.value[best]), bool(dec.feasible[best])

    return validation_ratios(run, instances, greedy)


def train_droo(cfg: DROOConfig, log=print) -> dict[str, Any]:
    """Train DROO online; writes the best validated checkpoint to cfg.output."""
    import torch

    from mecopt.generators import ScenarioStream, generate
    from mecopt.learned.baseline_nets import (
        BestKeeper,
        OffloadNet,
        features,
        greedy_values,
        imitation_loss,
        preset,
        validation_set,
    )

    cfg.check()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net_cfg = preset(cfg.preset, cfg.n_ues, cfg.n_servers)
    model = OffloadNet(net_cfg)
    N, M = cfg.n_ues, cfg.n_servers
    base = STREAM_SEED_BASE + SEEDS_PER_RUN * cfg.seed
    # Input standardization from instances set aside for it (never streamed).
    sample = [generate("paper", N, M, seed=base + SEEDS_PER_RUN - 1 - s) for s in range(64)]
    model.fit_normalization(torch.from_numpy(np.stack(
        [features(inst, obj) for inst in sample for obj in Objective])))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    val_set = validation_set(net_cfg)
    greedy = greedy_values(val_set)

    k_cap = min(cfg.k_max or N + 1, N + 1)
    k = k_cap  # as in the original: start with every candidate, then adapt
    mem_x = np.zeros((cfg.memory, net_cfg.n_inputs), np.float32)
    mem_a = np.zeros((cfg.memory, N), np.int64)
    mem_s = np.zeros((cfg.memory, N), np.float32)
    stored = 0
    best_idx: list[int] = []  # 1-based index of the best candidate per frame
    keeper = BestKeeper(model, method="droo", preset_name=cfg.preset, output=cfg.output,
                        command=cfg.command,
                        validate=lambda: validate(model, k, val_set, greedy),
                        log=None if cfg.quiet else log)
    deadline = keeper.start + 60 * cfg.minutes if cfg.minutes is not None else float("inf")
    frame, steps = 0, 0
    stream = None
    objectives = [Objective.parse(o) for o in cfg.objectives]

    def checkpoint_if_best() -> None:
        keeper.check(frame, {"frame": frame, "steps": steps, "k": k},
                     f"frame {frame} steps {steps} K {k}", extra={"k": k})

    model.eval()
    while (cfg.frames is None or frame < cfg.frames) and time.perf_counter() < deadline:
        if frame % cfg.episode == 0:
            stream = ScenarioStream("paper", seed=base + frame // cfg.episode, n_ues=N,
                                    n_servers=M)
        inst = stream.next()
        obj = objectives[frame % len(objectives)]
        dec, best, x, _ = decide(model, inst, obj, k)
        if dec.feasible[best]:
            a = dec.assignment[best]
            cap = np.concatenate([[1.0], inst.capacity_hz])[a]  # capacity of each UE's option
            slot = stored % cfg.memory
            mem_x[slot], mem_a[slot] = x, a
            mem_s[slot] = np.where(a > 0, dec.evaluation.allocation_hz[best] / cap, 0.0)
            stored += 1
        best_idx.append(best + 1)
        frame += 1
        if frame % cfg.k_interval == 0:
            k = min(max(best_idx[-cfg.k_interval:]) + 1, k_cap)
        if frame % cfg.train_interval == 0 and stored >= cfg.batch:
            model.train()
            pick = rng.integers(0, min(stored, cfg.memory), size=cfg.batch)
            logits, share = model(torch.from_numpy(mem_x[pick]))  # (B, N, M+1), (B, N)
            loss = imitation_loss(logits, share, mem_a[pick], mem_s[pick])
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.eval()
            steps += 1
            keeper.add_loss(loss)
        if frame % cfg.val_interval == 0:
            checkpoint_if_best()
    if not keeper.history or keeper.history[-1]["frame"] != frame:  # the last stretch too
        checkpoint_if_best()
    return {"frames": frame, "steps": steps, "wall_s": keeper.elapsed(),
            "best": keeper.best, "history": keeper.history}


# ----------------------------------------------------------------------- method
@lru_cache(maxsize=4)
def cached_model(checkpoint: str):
    """(model, checkpoint info) for a checkpoint path ("" = the shipped droo-small)."""
    from mecopt.learned.baseline_nets import load_checkpoint, shipped_path

    return load_checkpoint(checkpoint or shipped_path("droo"), "droo")


class DROOMethod(Method):
    name = "droo"
    description = ("DROO (Huang et al. 2020) for M+1 options: DNN, order-preserving "
                   "quantization, best candidate by exact water-filling")
    options = {
        "candidates": Option(int, 0, "K candidates to quantize (0 = the K the model adapted "
                                     "to in training; at most N+1)"),
        "checkpoint": Option(str, "", "checkpoint file (empty = the shipped droo-small)"),
    }

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        from mecopt.learned import availability

        return availability("droo-small.pt")

    def check_options(self, config: dict[str, Any]) -> None:
        if config["candidates"] < 0:
            raise InputError(f"option candidates: must be >= 0, got {config['candidates']}")
        if config["checkpoint"] and not Path(config["checkpoint"]).is_file():
            raise InputError(f"option checkpoint: no such file {config['checkpoint']!r}")
        cached_model(config["checkpoint"])  # a bad checkpoint is a one-line error now

    def _solve(self, instance, objective, *, time_limit, seed):
        from mecopt.learned.baseline_nets import check_size

        model, info = cached_model(self.config["checkpoint"])
        check_size(model.cfg, instance, "droo")
        k = self.config["candidates"] or int(info["extra"].get("k", instance.n_ues + 1))
        dec, best, _, _ = decide(model, instance, objective, k)
        extra = {"candidates": int(len(dec.value)), "best_candidate": best + 1,
                 "feasible_candidates": int(dec.feasible.sum())}
        if not dec.feasible[best]:
            return Outcome(None, status=Status.NO_SOLUTION,
                           message=f"none of the {len(dec.value)} quantized candidates could be "
                                   f"repaired into a feasible assignment (at best "
                                   f"{int(dec.unplaced[best])} UEs found no option that meets "
                                   "its deadline within the capacities)", extra=extra)
        return Outcome(dec.assignment[best], extra=extra)
