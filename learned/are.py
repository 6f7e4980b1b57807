"""`are`: the supervised deep offloading architecture of the LAMBO authors' earlier work.

A fully connected DNN (learned/baseline_nets.py) reads the whole system of a fixed size and
outputs, per UE, a softmax over the M+1 options (the offloading decision) and a sigmoid (the
UE's share of its server's capacity). It is trained on expert labels: the exact solver's
(`highs`) proven optima on generated paper instances, cross-entropy on the options plus a
squared error on the shares. At solve time the option probabilities go through the shared
feasibility-preserving repair (mecopt.repair.repair, scores form), and the servers are
water-filled; the sigmoid allocation is also checked and kept only where it is better.

The objective is an input of the network (a one-hot of the prompt), so one checkpoint
serves both prompts.

Labels are cached in a JSON-lines file (one line per (instance seed, objective)), so an
interrupted or repeated training run never solves the same instance twice. Training seeds
start at 200,000: disjoint from the library (0..19, 1000..1009) and from LAMBO's (>= 100,000
below 200,000).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from mecopt.errors import InputError
from mecopt.generators import generate
from mecopt.instance import Instance
from mecopt.learned import availability, check_checkpoint
from mecopt.learned.configs import AREConfig, net_preset
from mecopt.method import Method, Option, Outcome
from mecopt.objective import Objective
from mecopt.status import Status

LABEL_SEED_BASE = 200_000  # first generated instance used for ARE labels
SEEDS_PER_RUN = 10_000  # training seed s labels instances 200,000 + 10,000 s + k


def label_seed(seed: int, k: int) -> int:
    """The generator seed of the k-th labelled instance of training seed `seed`."""
    return LABEL_SEED_BASE + SEEDS_PER_RUN * seed + k


def read_label_cache(path: str | Path | None) -> dict[tuple[int, str], dict[str, Any]]:
    """{(instance seed, objective): label} from a JSON-lines cache ({} when absent)."""
    if path is None or not Path(path).is_file():
        return {}
    labels = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            labels[(int(row["seed"]), str(row["objective"]))] = row
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InputError(f"label cache {path}: line {n} is not a label row") from None
    return labels


def make_labels(n_latency: int, n_energy: int, *, seed: int = 0, cache: str | Path | None = None,
                time_limit: float = 30.0, n_ues: int = 50, n_servers: int = 4,
                log=print) -> list[dict[str, Any]]:
    """Expert labels for the first n_latency (latency) and n_energy (energy) instances of
    training seed `seed`: dicts with seed, objective, assignment, allocation_hz, value.

    Labels already in `cache` are reused; new ones are appended to it as they are solved.
    Only proven optima are kept (a label the solver could not prove within `time_limit` is
    cached with its status and skipped), so the network imitates optima, not guesses.
    """
    import mecopt

    known = read_label_cache(cache)
    wanted = [(label_seed(seed, k), "energy") for k in range(n_energy)]
    wanted += [(label_seed(seed, k), "latency") for k in range(n_latency)]
    out, start, fresh = [], time.perf_counter(), 0
    for s, objective in wanted:
        row = known.get((s, objective))
        if row is None:
            inst = generate("paper", n_ues, n_servers, seed=s)
            sol = mecopt.solve(inst, objective, "highs", time_limit=time_limit)
            row = {"seed": s, "objective": objective, "n_ues": n_ues, "n_servers": n_servers,
                   "status": sol.status, "value": sol.objective_value,
                   "assignment": sol.assignment, "allocation_hz": sol.allocation_hz,
                   "time_s": round(sol.wall_time_s, 3)}
            if cache is not None:
                Path(cache).parent.mkdir(parents=True, exist_ok=True)
                with open(cache, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
            fresh += 1
            if fresh % 25 == 0:
                log(f"labels: {fresh} solved in {time.perf_counter() - start:.0f} s")
        if row["status"] == "optimal" and row.get("n_ues", n_ues) == n_ues \
                and row.get("n_servers", n_servers) == n_servers:
            out.append(row)
    return out


def decide(model, instance: Instance, objective: Objective):
    """One ARE decision: (decoded single row, shares (N,) in (0, 1))."""
    import torch

    from mecopt.learned.baseline_nets import features, option_probs
    from mecopt.repair import repair

    x = features(instance, objective)
    with torch.inference_mode():
        logits, share = model(torch.from_numpy(x)[None])
    probs = option_probs(logits[0], instance.option_ok)  # (N, M+1)
    return repair(instance, objective, probs[None]), share[0].numpy()


def capacity_share_allocation(instance: Instance, assignment: np.ndarray, share: np.ndarray
                              ) -> np.ndarray:
    """The share head's allocation: share x capacity, scaled down where a server is over."""
    cap = np.concatenate([[0.0], instance.capacity_hz])
    alloc = np.where(assignment > 0, share * cap[assignment], 0.0)
    for j in range(1, instance.n_servers + 1):
        on = assignment == j
        total = alloc[on].sum()
        if total > cap[j]:
            alloc[on] *= cap[j] / total
    return alloc


# ---------------------------------------------------------------------- training
def _dataset(rows: list[dict[str, Any]], n_ues: int, n_servers: int):
    """Arrays (ue (S, N, F), server (S, M), onehot (S, 2), assignment (S, N), share (S, N),
    objective index (S,)) for the label rows."""
    from mecopt.learned.baseline_nets import objective_onehot, split_features

    ue, server, onehot, assign, share, kind = [], [], [], [], [], []
    instances: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for row in rows:
        if row["seed"] not in instances:
            inst = generate("paper", n_ues, n_servers, seed=row["seed"])
            instances[row["seed"]] = (*split_features(inst), inst.capacity_hz)
        u, s, cap = instances[row["seed"]]
        obj = Objective.parse(row["objective"])
        a = np.asarray(row["assignment"], dtype=np.int64)
        f = np.asarray(row["allocation_hz"], dtype=float)
        ue.append(u)
        server.append(s)
        onehot.append(objective_onehot(obj))
        assign.append(a)
        share.append(np.where(a > 0, f / np.concatenate([[1.0], cap])[a], 0.0))
        kind.append(0 if obj is Objective.LATENCY else 1)
    return (np.stack(ue), np.stack(server), np.stack(onehot), np.stack(assign),
            np.stack(share).astype(np.float32), np.array(kind))


def train_are(cfg: AREConfig, log=print) -> dict[str, Any]:
    """Label (or reuse cached labels), then train ARE; writes the best validated checkpoint."""
    import torch

    from mecopt.learned.baseline_nets import (
        BestKeeper,
        OffloadNet,
        assemble,
        imitation_loss,
        start_training,
    )

    rng = start_training(cfg)
    t0 = time.perf_counter()
    rows = make_labels(cfg.latency_labels, cfg.energy_labels, seed=cfg.seed,
                       cache=cfg.label_cache, time_limit=cfg.label_time_limit,
                       n_ues=cfg.n_ues, n_servers=cfg.n_servers,
                       log=(lambda m: None) if cfg.quiet else log)
    label_s = time.perf_counter() - t0
    ue, server, onehot, assign, share, kind = _dataset(rows, cfg.n_ues, cfg.n_servers)
    by_kind = [np.flatnonzero(kind == 0), np.flatnonzero(kind == 1)]
    by_kind = [ix for ix in by_kind if len(ix)]
    if not cfg.quiet:
        log(f"{len(rows)} proven labels ({(kind == 0).sum()} latency, {(kind == 1).sum()} "
            f"energy) ready in {label_s:.0f} s")

    net_cfg = net_preset(cfg.preset, cfg.n_ues, cfg.n_servers)
    model = OffloadNet(net_cfg)
    model.fit_normalization(torch.from_numpy(assemble(ue, server, onehot)))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    N = cfg.n_ues

    def score(inst: Instance, obj: Objective) -> tuple[float, bool]:
        dec, _ = decide(model, inst, obj)
        return float(dec.value[0]), bool(dec.feasible[0])

    keeper = BestKeeper(model, cfg, method="are", score=score, log=log)
    step = 0

    def checkpoint_if_best() -> None:
        keeper.check(step, {"step": step, "label_s": label_s, "labels": len(rows)},
                     f"step {step}")

    while (cfg.steps is None or step < cfg.steps) and time.perf_counter() < keeper.deadline:
        model.train()
        # Both objectives equally often, whatever the label counts.
        pick = np.concatenate([rng.choice(ix, size=cfg.batch // len(by_kind)) for ix in by_kind])
        u, a, s = ue[pick], assign[pick], share[pick]
        if cfg.permute:  # the same system with its UEs relabelled: a new input for an FC net
            perm = np.argsort(rng.random((len(pick), N)), axis=1)
            u = np.take_along_axis(u, perm[:, :, None], axis=1)
            a, s = np.take_along_axis(a, perm, axis=1), np.take_along_axis(s, perm, axis=1)
        x = torch.from_numpy(assemble(u, server[pick], onehot[pick]))
        logits, pred = model(x)  # (B, N, M+1), (B, N)
        loss = imitation_loss(logits, pred, a, s, cfg.share_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.eval()
        step += 1
        keeper.add_loss(loss)
        if step % cfg.val_interval == 0:
            checkpoint_if_best()
    if not keeper.history or keeper.history[-1]["step"] != step:
        checkpoint_if_best()
    return {"steps": step, "wall_s": keeper.elapsed(), "label_s": label_s,
            "labels": len(rows), "best": keeper.best, "history": keeper.history}


# ----------------------------------------------------------------------- method
class AREMethod(Method):
    name = "are"
    description = ("ARE: supervised DNN trained on exact optima (softmax option, sigmoid "
                   "share), then the shared repair and water-filling")
    options = {
        "checkpoint": Option(str, "", "checkpoint file (empty = the shipped are-small)"),
    }

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return availability("are-small.pt")

    def check_options(self, config: dict[str, Any]) -> None:
        check_checkpoint("are", config["checkpoint"])

    def _solve(self, instance, objective, *, time_limit, seed):
        from mecopt.evaluation import evaluate
        from mecopt.learned.baseline_nets import sized_model

        model, _ = sized_model("are", self.config["checkpoint"], instance)
        dec, share = decide(model, instance, objective)
        extra = {"repaired_ues": int(dec.moved[0])}
        if not dec.feasible[0]:
            return Outcome(None, status=Status.NO_SOLUTION,
                           message=f"the repair could not complete the network's decision: "
                                   f"{int(dec.unplaced[0])} UEs found no option that meets "
                                   "its deadline within the capacities", extra=extra)
        a = dec.assignment[0]
        # Water-filling is the exact optimum for a fixed assignment, so it is what we return;
        # the share head's own allocation is reported for comparison.
        sig = evaluate(instance, a, capacity_share_allocation(instance, a, share))
        extra["value_sigmoid"] = sig.value(objective) if sig.feasible else None
        extra["value_waterfill"] = float(dec.value[0])
        return Outcome(a, extra=extra)
