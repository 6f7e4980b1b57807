"""The fully connected network shared by the DROO and ARE contenders, its inputs, presets,
checkpoints and validation.

Both architectures of the paper's comparison are a plain DNN over the whole system of a
fixed size (N UEs, M servers): the input is every UE's features side by side, so a model
trained for one size cannot read another (`check_size` says so in one line). The network:

    input (N * UE_FEATURES + M + 2) -> width            1 linear layer
    width -> width, ReLU, residual (scaled 1/sqrt(layers - 3))    layers - 3 linear layers
    width -> N (M+1) option logits; width -> N shares   2 linear layers (the two heads)

`layers` counts every nn.Linear. The residual additions carry no parameters; they only let
the 60-layer paper preset train at all. The objective is an input (a one-hot of the prompt),
so one checkpoint serves both prompts.

Inputs, per UE (UE_FEATURES = 3 + 4 M, all dimensionless): t_loc/T, local ok, log(C/mean C),
and per server j: usable, t_tx/T, f_min/F_j, log(e_tx/e_loc)/3. Globally: F_j / sum F per
server and the objective one-hot.

Checkpoints are plain dicts (format "mecopt-baseline": method, preset, config, state_dict,
command, step, metrics, extra) read with torch.load(weights_only=True); the shipped ones are
package data found through importlib.resources.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mecopt.errors import InputError
from mecopt.instance import Instance
from mecopt.learned import shipped_checkpoint
from mecopt.learned.configs import NET_PRESETS as PRESETS  # noqa: F401 (its name here before)
from mecopt.learned.configs import NetConfig
from mecopt.learned.configs import net_preset as preset  # noqa: F401 (its name here before)
from mecopt.objective import Objective

FORMAT = "mecopt-baseline"
VERSION = 1
PAPER_PARAMS = 326_662  # the paper's DROO and ARE agents
VALIDATION_SEEDS = tuple(range(290_000, 290_012))  # generated paper instances, both methods


class OffloadNet(nn.Module):
    """The fully connected DNN: system features -> option logits and allocation shares."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(cfg.n_inputs, cfg.width)
        self.hidden = nn.ModuleList(nn.Linear(cfg.width, cfg.width)
                                    for _ in range(cfg.layers - 3))
        self.option_head = nn.Linear(cfg.width, cfg.n_ues * (cfg.n_servers + 1))
        self.share_head = nn.Linear(cfg.width, cfg.n_ues)
        # Residual branches scaled by 1/sqrt(hidden layers): without it the 57 residual
        # additions of the paper preset blow activations up to ~1e5 at initialization.
        # (1 for the small preset's single hidden layer.)
        self.branch_scale = 1.0 / max(1, cfg.layers - 3) ** 0.5
        # Input standardization, fitted on training inputs (buffers, not parameters): the raw
        # features that tell servers apart differ only in the second decimal.
        self.register_buffer("x_mean", torch.zeros(cfg.n_inputs))
        self.register_buffer("x_std", torch.ones(cfg.n_inputs))

    def fit_normalization(self, x: torch.Tensor) -> None:
        """Set the input standardization from a sample of inputs x (S, n_inputs)."""
        self.x_mean.copy_(x.mean(dim=0))
        std = x.std(dim=0)
        # An input constant in training carries no information there: leave it unscaled, so
        # an unusual value at solve time (a UE that cannot run locally) stays moderate.
        self.x_std.copy_(torch.where(std < 1e-3, torch.ones_like(std), std))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, n_inputs) -> (option logits (B, N, M+1), shares in (0, 1) (B, N))."""
        z = ((x - self.x_mean) / self.x_std).clamp(-10.0, 10.0)  # (B, n_inputs)
        h = torch.relu(self.inp(z))  # (B, width)
        for layer in self.hidden:
            h = h + self.branch_scale * torch.relu(layer(h))  # (B, width)
        logits = self.option_head(h).view(-1, self.cfg.n_ues, self.cfg.n_servers + 1)
        return logits, torch.sigmoid(self.share_head(h))


def count_parameters(cfg: NetConfig) -> int:
    """Trainable parameters of a configuration (built on the meta device: no memory)."""
    with torch.device("meta"):
        return sum(p.numel() for p in OffloadNet(cfg).parameters())


# ------------------------------------------------------------------------ inputs
def check_size(cfg: NetConfig, instance: Instance, method: str) -> None:
    """One-line InputError when the instance is not the size the model was trained for."""
    if (instance.n_ues, instance.n_servers) != (cfg.n_ues, cfg.n_servers):
        raise InputError(f"instance {instance.name}: {instance.n_ues} UEs x "
                         f"{instance.n_servers} servers, but the {method} model was trained "
                         f"for {cfg.n_ues} UEs x {cfg.n_servers} servers")


def sized_model(method: str, checkpoint: str, instance: Instance
                ) -> tuple[OffloadNet, dict[str, Any]]:
    """The cached model of `method` ("droo" or "are"; checkpoint "" = the shipped one) and its
    checkpoint info, once the instance is checked to be the size it was trained for."""
    from mecopt.learned import load_cached

    model, info = load_cached(method, checkpoint)
    check_size(model.cfg, instance, method)
    return model, info


def split_features(instance: Instance) -> tuple[np.ndarray, np.ndarray]:
    """(per-UE block (N, UE_FEATURES), per-server block (M,)) float32, objective not included.

    Kept apart so that training can permute UEs (a relabelling of the same system).
    """
    T, C, F = instance.deadline_s, instance.cycles, instance.capacity_hz
    usable = instance.usable
    with np.errstate(divide="ignore", invalid="ignore"):
        pair = np.stack([
            usable.astype(float),
            np.where(usable, np.minimum(instance.t_tx / T[:, None], 2.0), 2.0),
            np.where(usable, np.minimum(instance.f_min / F, 2.0), 2.0),
            np.where(usable, np.clip(np.log(instance.e_tx / instance.e_loc[:, None]), -9, 9),
                     9.0) / 3,
        ], axis=2)  # (N, M, 4)
    ue = np.concatenate([
        np.minimum(instance.t_loc / T, 3.0)[:, None],
        instance.local_ok.astype(float)[:, None],
        np.log(C / C.mean())[:, None],
        pair.reshape(instance.n_ues, -1),
    ], axis=1)  # (N, UE_FEATURES)
    return ue.astype(np.float32), (F / F.sum()).astype(np.float32)


def objective_onehot(objective: Objective) -> np.ndarray:
    return np.array([objective is Objective.LATENCY, objective is Objective.ENERGY], np.float32)


def assemble(ue: np.ndarray, server: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Flatten blocks into network inputs: ue (..., N, F), server (..., M), onehot (..., 2)."""
    flat = ue.reshape(*ue.shape[:-2], -1)
    return np.concatenate([flat, server, onehot], axis=-1).astype(np.float32)


def features(instance: Instance, objective: Objective) -> np.ndarray:
    """The network input (n_inputs,) float32 for one instance and objective."""
    ue, server = split_features(instance)
    return assemble(ue, server, objective_onehot(objective))


def option_probs(logits: torch.Tensor, option_ok: np.ndarray) -> np.ndarray:
    """Softmax over the options that can meet each UE's deadline: (N, M+1) float64."""
    ok = torch.from_numpy(np.array(option_ok, dtype=bool))  # a writable copy
    masked = logits.double().masked_fill(~ok, float("-inf"))
    probs = torch.softmax(masked, dim=-1)
    return torch.nan_to_num(probs, nan=0.0).numpy()  # a UE with no option: all zeros


# ------------------------------------------------------------------ checkpoints
def shipped_path(method: str) -> Path:
    """learned/checkpoints/<method>-small.pt inside the installed package."""
    return shipped_checkpoint(f"{method}-small.pt")


def save_checkpoint(path: str | Path, model: OffloadNet, *, method: str, preset_name: str,
                    command: str, step: int, metrics: dict[str, Any],
                    extra: dict[str, Any] | None = None) -> None:
    """Write the checkpoint dict atomically (weights on the CPU)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    ckpt = {"format": FORMAT, "version": VERSION, "method": method, "preset": preset_name,
            "config": model.cfg.to_dict(), "state_dict": state, "command": command,
            "step": int(step), "metrics": dict(metrics), "extra": dict(extra or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{path}.tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, method: str) -> tuple[OffloadNet, dict[str, Any]]:
    """(model in eval mode, checkpoint dict without weights); one-line InputError if bad."""
    from mecopt.learned.checkpoint import load_checkpoint_dict

    path = Path(path)
    ckpt = load_checkpoint_dict(path, FORMAT)
    if ckpt.get("method") != method:
        raise InputError(f"checkpoint {path}: method: expected {method!r}, got "
                         f"{ckpt.get('method')!r}")
    fields = {f.name for f in dataclasses.fields(NetConfig)}
    if not isinstance(ckpt.get("config"), dict) or set(ckpt["config"]) != fields:
        raise InputError(f"checkpoint {path}: config does not match this code")
    model = OffloadNet(NetConfig(**ckpt["config"]))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise InputError(f"checkpoint {path}: weights do not match the config "
                         f"({str(exc).splitlines()[0][:200]})") from None
    model.eval()
    return model, {k: v for k, v in ckpt.items() if k != "state_dict"}


# ------------------------------------------------------------------- validation
def validation_instances(cfg: NetConfig) -> list[Instance]:
    """Generated paper instances of the model's size, disjoint from library and training."""
    from mecopt.generators import generate

    return [generate("paper", cfg.n_ues, cfg.n_servers, seed=s) for s in VALIDATION_SEEDS]


def greedy_values(instances: list[Instance]) -> dict[tuple[str, Objective], float]:
    """The greedy heuristic's value per (instance name, objective): the validation yardstick."""
    import mecopt

    out = {}
    for inst in instances:
        for obj in Objective:
            sol = mecopt.solve(inst, obj, "greedy")
            out[(inst.name, obj)] = sol.objective_value if sol.feasible else float("nan")
    return out


def validation_ratios(decide: Callable[[Instance, Objective], tuple[float, bool]],
                      instances: list[Instance],
                      greedy: dict[tuple[str, Objective], float]) -> dict[str, float]:
    """Mean value / greedy value per objective over the feasible runs of `decide(inst, obj)`
    (which returns (value, feasible)), their average `val_ratio`, and the feasible share."""
    out: dict[str, float] = {}
    feasible = 0
    for obj in Objective:
        ratios = []
        for inst in instances:
            value, ok = decide(inst, obj)
            if ok:
                feasible += 1
                ratios.append(value / greedy[(inst.name, obj)])
        out[f"val_{obj.value}"] = float(np.mean(ratios)) if ratios else float("inf")
    out["val_ratio"] = (out["val_latency"] + out["val_energy"]) / 2
    out["val_feasible"] = feasible / (2 * len(instances))
    return out


def imitation_loss(logits: torch.Tensor, share: torch.Tensor, target: np.ndarray,
                   target_share: np.ndarray, share_weight: float = 1.0) -> torch.Tensor:
    """Cross-entropy on the labelled options plus the squared error of the sigmoid share on
    offloaded UEs: the supervised loss of ARE (expert labels) and DROO (its best candidates).
    logits (B, N, M+1), share (B, N); target (B, N) options, target_share (B, N)."""
    options = torch.from_numpy(target)
    offloaded = (options > 0).float()
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), options.reshape(-1))
    return loss + share_weight * (offloaded * (share - torch.from_numpy(target_share)) ** 2
                                  ).sum() / offloaded.sum().clamp_min(1.0)


def start_training(cfg: Any) -> np.random.Generator:
    """The start of DROO's and ARE's training runs: check the config (a DROOConfig or
    AREConfig), set torch's threads and seed; returns the run's numpy generator."""
    cfg.check()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    return np.random.default_rng(cfg.seed)


class BestKeeper:
    """The validation bookkeeping of DROO's and ARE's training loops: the wall-time deadline,
    the running training loss, the validation history, progress lines, and the checkpoint,
    rewritten whenever the validation ratio (value / greedy, mean of both objectives) is the
    best so far.

    cfg: the run's DROOConfig or AREConfig (preset, output, command, quiet, minutes).
    score(instance, objective) -> (value, feasible): the model's decision on one validation
    instance (validation_instances of the model's size), read at every validation."""

    def __init__(self, model: OffloadNet, cfg: Any, *, method: str,
                 score: Callable[[Instance, Objective], tuple[float, bool]],
                 log: Callable[[str], None]) -> None:
        self.model, self.method, self.preset_name = model, method, cfg.preset
        self.output, self.command, self.score = cfg.output, cfg.command, score
        self.log = None if cfg.quiet else log
        self.instances = validation_instances(model.cfg)
        self.greedy = greedy_values(self.instances)
        self.start = time.perf_counter()
        self.deadline = self.start + 60 * cfg.minutes if cfg.minutes is not None \
            else float("inf")
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"val_ratio": float("inf")}
        self._loss_sum, self._loss_n = 0.0, 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def add_loss(self, loss: torch.Tensor) -> None:
        self._loss_sum += float(loss.detach())
        self._loss_n += 1

    def check(self, step: int, where: dict[str, Any], label: str,
              extra: dict[str, Any] | None = None) -> None:
        """Validate now; `where` (e.g. frame, steps) goes into the metrics, `label` starts
        the progress line, `extra` into the checkpoint beside the history."""
        metrics = validation_ratios(self.score, self.instances, self.greedy)
        metrics.update(where, wall_s=self.elapsed(),
                       loss=self._loss_sum / max(self._loss_n, 1))
        self._loss_sum, self._loss_n = 0.0, 0
        self.history.append(metrics)
        if self.log is not None:
            self.log(f"{label} loss {metrics['loss']:.4f} val/greedy latency "
                     f"{metrics['val_latency']:.4f} energy {metrics['val_energy']:.4f} "
                     f"({metrics['wall_s'] / 60:.1f} min)")
        if metrics["val_ratio"] < self.best["val_ratio"]:
            self.best = metrics
            save_checkpoint(self.output, self.model, method=self.method,
                            preset_name=self.preset_name, command=self.command, step=step,
                            metrics=metrics, extra={**(extra or {}), "history": self.history})
