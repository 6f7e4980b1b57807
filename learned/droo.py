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
from typing import Any

import numpy as np

from mecopt.errors import InputError
from mecopt.instance import Instance
from mecopt.learned import availability, check_checkpoint
from mecopt.learned.configs import DROOConfig, net_preset
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
class _Replay:
    """DROO's replay memory: the last `size` frames' (network input, best candidate, its
    water-filled shares), the oldest overwritten first."""

    def __init__(self, size: int, n_inputs: int, n_ues: int) -> None:
        self.x = np.zeros((size, n_inputs), np.float32)
        self.a = np.zeros((size, n_ues), np.int64)
        self.s = np.zeros((size, n_ues), np.float32)
        self.stored = 0

    def add(self, x: np.ndarray, a: np.ndarray, s: np.ndarray) -> None:
        slot = self.stored % len(self.x)
        self.x[slot], self.a[slot], self.s[slot] = x, a, s
        self.stored += 1

    def draw(self, rng: np.random.Generator, batch: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pick = rng.integers(0, min(self.stored, len(self.x)), size=batch)
        return self.x[pick], self.a[pick], self.s[pick]


def train_droo(cfg: DROOConfig, log=print) -> dict[str, Any]:
    """Train DROO online; writes the best validated checkpoint to cfg.output."""
    import torch

    from mecopt.generators import ScenarioStream, generate
    from mecopt.learned.baseline_nets import (
        BestKeeper,
        OffloadNet,
        features,
        imitation_loss,
        start_training,
    )

    rng = start_training(cfg)
    net_cfg = net_preset(cfg.preset, cfg.n_ues, cfg.n_servers)
    model = OffloadNet(net_cfg)
    N, M = cfg.n_ues, cfg.n_servers
    base = STREAM_SEED_BASE + SEEDS_PER_RUN * cfg.seed
    # Input standardization from instances set aside for it (never streamed).
    sample = [generate("paper", N, M, seed=base + SEEDS_PER_RUN - 1 - s) for s in range(64)]
    model.fit_normalization(torch.from_numpy(np.stack(
        [features(inst, obj) for inst in sample for obj in Objective])))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    k_cap = min(cfg.k_max or N + 1, N + 1)
    k = k_cap  # as in the original: start with every candidate, then adapt
    memory = _Replay(cfg.memory, net_cfg.n_inputs, N)
    best_idx: list[int] = []  # 1-based index of the best candidate per frame

    def score(inst: Instance, obj: Objective) -> tuple[float, bool]:
        dec, best, _, _ = decide(model, inst, obj, k)  # the K of the moment
        return float(dec.value[best]), bool(dec.feasible[best])

    keeper = BestKeeper(model, cfg, method="droo", score=score, log=log)
    frame, steps = 0, 0
    stream = None
    objectives = [Objective.parse(o) for o in cfg.objectives]

    def checkpoint_if_best() -> None:
        keeper.check(frame, {"frame": frame, "steps": steps, "k": k},
                     f"frame {frame} steps {steps} K {k}", extra={"k": k})

    model.eval()
    while (cfg.frames is None or frame < cfg.frames) and time.perf_counter() < keeper.deadline:
        if frame % cfg.episode == 0:
            stream = ScenarioStream("paper", seed=base + frame // cfg.episode, n_ues=N,
                                    n_servers=M)
        inst = stream.next()
        obj = objectives[frame % len(objectives)]
        dec, best, x, _ = decide(model, inst, obj, k)
        if dec.feasible[best]:
            a = dec.assignment[best]
            cap = np.concatenate([[1.0], inst.capacity_hz])[a]  # capacity of each UE's option
            memory.add(x, a, np.where(a > 0, dec.evaluation.allocation_hz[best] / cap, 0.0))
        best_idx.append(best + 1)
        frame += 1
        if frame % cfg.k_interval == 0:
            k = min(max(best_idx[-cfg.k_interval:]) + 1, k_cap)
        if frame % cfg.train_interval == 0 and memory.stored >= cfg.batch:
            model.train()
            x_b, a_b, s_b = memory.draw(rng, cfg.batch)
            logits, share = model(torch.from_numpy(x_b))  # (B, N, M+1), (B, N)
            loss = imitation_loss(logits, share, a_b, s_b)
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
class DROOMethod(Method):
    name = "droo"
    description = ("DROO (Huang et al. 2020) for M+1 options: DNN, order-preserving "
                   "quantization, best candidate by exact water-filling")
    options = {
        "candidates": Option(int, 0, "K candidates to quantize (0 = the K the model adapted "
                                     "to in training; at most N+1)", low=0),
        "checkpoint": Option(str, "", "checkpoint file (empty = the shipped droo-small)"),
    }

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return availability("droo-small.pt")

    def check_options(self, config: dict[str, Any]) -> None:
        check_checkpoint("droo", config["checkpoint"])

    def _solve(self, instance, objective, *, time_limit, seed):
        from mecopt.learned.baseline_nets import sized_model

        model, info = sized_model("droo", self.config["checkpoint"], instance)
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
