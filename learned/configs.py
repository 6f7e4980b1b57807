"""Every config of the learned side in one torch-free module: the network sizes (LamboConfig
and its presets, NetConfig and its presets) and the runs (TrainConfig for LAMBO's ACL
pre-training, ALEFConfig for fine-tuning, DROOConfig and AREConfig for the contenders).

A field that is also a command-line option is declared with `option(default, help)`: the
CLI builds its click options from these fields (mecopt.cli.config_options), so a default
and its help text live here only. Nothing here imports torch, so the CLI can build its
--help, and a config can be checked, without loading it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mecopt.errors import InputError
from mecopt.learned.scenarios import SCENARIOS, get_scenario
from mecopt.objective import Objective

if TYPE_CHECKING:
    import numpy as np


def option(default: Any = dataclasses.MISSING, help: str = "", *,
           choices: tuple[str, ...] | None = None) -> Any:
    """A config field that is also a command-line option: its default (none: required), its
    help text and, for a click.Choice, its allowed values."""
    return field(default=default, metadata={"help": help, "choices": choices})


def spoken(items: tuple[str, ...] | list[str], last: str) -> str:
    """'a, b or c' (last="or") / 'a and b' (last="and")."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


# ----------------------------------------------------------------------------- networks
@dataclass(frozen=True)
class LamboConfig:
    """Sizes of the network and the energy decoding order it was trained with; a checkpoint
    stores this (a field it lacks, from before the field existed, takes its default)."""

    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 128
    n_encoder_layers: int = 3  # deep encoder ...
    n_decoder_layers: int = 1  # ... shallow decoder (the paper's 10:1 ratio)
    d_set: int = 64  # width of the per-(UE, server) set MLP and of the MEC embedding
    d_head: int = 64  # hidden width of the option-key MLP and the critic
    dropout: float = 0.0  # RL fine; the paper sizes do not depend on it
    tanh_clip: float = 10.0  # logits = clip * tanh(q.k / sqrt(d)): keeps exploration alive
    # The order in which UEs are decided under the energy prompt (features.decoding_order):
    # "regret" (lambo-s) or "efficiency" (lambo-w). The policy learned its states in that
    # order, so it belongs to the weights.
    energy_order: str = "regret"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, LamboConfig] = {
    # lambo-s: chosen by measurement to train on one CPU core in about an hour (docs/lambo.md).
    "lambo-s": LamboConfig(d_model=64, n_heads=4, d_ff=128, n_encoder_layers=3,
                           n_decoder_layers=1),
    # The paper's sizes: nn.Transformer(d_model=1024, dim_feedforward=2048) layer shapes.
    "lambo-m": LamboConfig(d_model=1024, n_heads=16, d_ff=2048, n_encoder_layers=60,
                           n_decoder_layers=6),
    "lambo-l": LamboConfig(d_model=1024, n_heads=16, d_ff=2048, n_encoder_layers=120,
                           n_decoder_layers=12),
}


def ue_features(n_servers: int) -> int:
    """Features per UE of the DROO/ARE network's input for M servers."""
    return 3 + 4 * n_servers


@dataclass(frozen=True)
class NetConfig:
    """Size of the system the DROO/ARE network reads and of the network itself."""

    n_ues: int = 50  # the paper family: 50 UEs ...
    n_servers: int = 4  # ... and 4 servers
    width: int = 128  # hidden units of every layer
    layers: int = 4  # nn.Linear modules in all: input, layers - 3 hidden, two heads

    def __post_init__(self) -> None:
        for name, low in (("n_ues", 1), ("n_servers", 1), ("width", 1), ("layers", 3)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise InputError(f"{name}: must be an integer >= {low}, got {value!r}")

    @property
    def n_inputs(self) -> int:
        return self.n_ues * ue_features(self.n_servers) + self.n_servers + 2

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


NET_PRESETS: dict[str, NetConfig] = {
    # Shallow and wide: trains in minutes on one CPU thread, ~180k parameters.
    "small": NetConfig(width=128, layers=4),
    # 60 fully connected layers as in the paper; width 65 gives 326,535 parameters at 4 x 50.
    "paper": NetConfig(width=65, layers=60),
}


def net_preset(name: str, n_ues: int = 50, n_servers: int = 4) -> NetConfig:
    """A DROO/ARE preset for a system size; InputError listing the valid names otherwise."""
    if name not in NET_PRESETS:
        raise InputError(f"preset: unknown {name!r}; valid: {', '.join(NET_PRESETS)}")
    return dataclasses.replace(NET_PRESETS[name], n_ues=n_ues, n_servers=n_servers)


# ----------------------------------------------------------------------------- LAMBO
@dataclass(frozen=True)
class TrainFamily:
    """How ACL pre-training draws the sizes of one family's instances (a row of
    TRAIN_FAMILIES; training on another family is adding a row)."""

    ues: tuple[int, int | None]  # N drawn in lo..hi; hi None: up to TrainConfig.max_ues
    servers: tuple[int, int] = (2, 8)  # M drawn in lo..hi ...
    usual_servers: int | None = None  # ... or, with probability 1/2, this M

    def draw_sizes(self, rng: np.random.Generator, max_ues: int) -> tuple[int, int]:
        """(N, M) for one instance; the draws come in a fixed order (N, then M)."""
        n = int(rng.integers(self.ues[0], (self.ues[1] or max_ues) + 1))
        if self.usual_servers is not None and rng.random() < 0.5:
            return n, self.usual_servers
        return n, int(rng.integers(self.servers[0], self.servers[1] + 1))


TRAIN_FAMILIES: dict[str, TrainFamily] = {
    # The case study is 4 x 50: half of the draws keep its M = 4, N around its 50.
    "paper": TrainFamily(ues=(30, 80), usual_servers=4),
    "hetero": TrainFamily(ues=(20, None)),
    # The randomized training world (issue #18): N in 10..max_ues, M in 1..20. Not in the
    # default families (the shipped model is not trained on it yet).
    "world": TrainFamily(ues=(10, None), servers=(1, 20)),
}
BASELINES = ("critic", "shared", "both")
ADVANTAGES = ("batch", "row")
ENERGY_ORDERS = ("regret", "efficiency")


@dataclass
class TrainConfig:
    """Everything a LAMBO training run depends on (the CLI fills it; the checkpoint records
    it)."""

    preset: str = option("lambo-s", "network size", choices=tuple(PRESETS))
    seed: int = option(0, "seed of the weights, the generated instances and the sampling")
    # Exactly one of steps and minutes is set.
    steps: int | None = option(None, "train for this many steps (give exactly one of --steps "
                               "and --minutes)")
    minutes: float | None = option(None, "train for this much wall time (or --steps)")
    device: str = option("cpu", "cpu, cuda or cuda:N")
    batch_instances: int = option(8, "instances per step (each under both prompts)")
    samples: int = option(8, "sampled decodes per (instance, prompt)")
    baseline: str = option("shared", "REINFORCE baseline: the critic (paper), the mean of the "
                           "other samples, or their average", choices=BASELINES)
    advantage: str = option("batch", "scale the advantages by the std of the whole batch, or "
                            "of each (instance, prompt) row so that every row weighs the same",
                            choices=ADVANTAGES)
    imitation: float = option(0.2, "fraction of the budget spent imitating the greedy "
                              "heuristic first")  # 0 = none
    lr: float = option(1e-3, "imitation learning rate")
    # The policy starts near greedy, so ACL takes smaller steps.
    lr_acl: float = option(2e-4, "actor-critic learning rate")
    entropy: float = 0.0  # entropy bonus weight
    grad_clip: float = 1.0
    families: tuple[str, ...] = option(("paper", "hetero"), "instance families, one per step "
                                       "in turn (repeat one to weight it)")
    max_ues: int = option(100, "largest N of the generated hetero instances (drawn in "
                          "20..max)")
    instances: str | None = option(None, "your own instances, mixed into every batch: a "
                                   "folder of instance JSON files or a JSONL file")
    instances_weight: float = option(0.5, "share of each batch drawn from --instances (the "
                                     "rest is generated)")
    # Set by the run from what it read, so the checkpoint records it.
    instances_read: int | None = None
    instances_skipped: int | None = None
    validate_every: int = 25  # steps
    n_valid: int = 6  # validation instances per family (both prompts each)
    threads: int = option(1, "torch CPU threads")  # the machine is shared
    output: str = option("lambo-s.pt", "checkpoint to write (best validation); the CSV log "
                         "and PNG curve go beside it")
    log: str | None = None  # CSV log (default: output with .csv)
    curve: str | None = None  # PNG learning curve (default: output with .png)
    command: str = ""
    quiet: bool = option(False, "no progress lines on stderr")
    init: str | None = option(None, "start from this checkpoint's weights")
    energy_order: str = option("regret", "order in which the network decides the UEs under "
                               "the energy prompt: regret (the cheapest option's margin) or "
                               "efficiency (must-offload UEs first, then energy saved per "
                               "unit of capacity)", choices=ENERGY_ORDERS)
    extra: dict = field(default_factory=dict)

    def output_paths(self) -> tuple[Path, Path, Path]:
        """What a run writes: the checkpoint, its CSV log and its PNG learning curve (the
        last two beside the checkpoint unless `log` and `curve` say where)."""
        out = Path(self.output)
        return (out, Path(self.log or out.with_suffix(".csv")),
                Path(self.curve or out.with_suffix(".png")))

    def check(self) -> None:
        if self.preset not in PRESETS:
            raise InputError(f"preset: unknown {self.preset!r}; valid: {', '.join(PRESETS)}")
        if (self.steps is None) == (self.minutes is None):
            raise InputError("give exactly one of --steps and --minutes")
        if self.steps is not None and self.steps < 1:
            raise InputError(f"steps: must be >= 1, got {self.steps}")
        if self.minutes is not None and not self.minutes > 0:
            raise InputError(f"minutes: must be positive, got {self.minutes}")
        for name, allowed in (("baseline", BASELINES), ("advantage", ADVANTAGES),
                              ("energy_order", ENERGY_ORDERS)):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name}: expected {spoken(allowed, 'or')}, got "
                                 f"{getattr(self, name)!r}")
        if self.baseline != "critic" and self.samples < 2:
            raise InputError("samples: a shared baseline needs at least 2 samples")
        if not 0 <= self.imitation < 1:
            raise InputError(f"imitation: must be in [0, 1), got {self.imitation}")
        if not self.families or any(f not in TRAIN_FAMILIES for f in self.families):
            raise InputError(f"families: expected a list of "
                             f"{spoken(tuple(TRAIN_FAMILIES), 'and')}, got "
                             f"{','.join(self.families)!r}")
        for family, row in TRAIN_FAMILIES.items():
            if row.ues[1] is None and self.max_ues < row.ues[0]:
                raise InputError(f"max_ues: must be >= {row.ues[0]} ({family} draws N in "
                                 f"{row.ues[0]}..max_ues), got {self.max_ues}")
        if self.batch_instances < 1:
            raise InputError(f"batch_instances: must be >= 1, got {self.batch_instances}")
        if self.instances is not None and not 0 < self.instances_weight <= 1:
            raise InputError(f"instances_weight: must be in (0, 1], got "
                             f"{self.instances_weight}")
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise InputError(f"device: {self.device!r} requested but CUDA is not available")


# ----------------------------------------------------------------------------- ALEF
EXPERTS = ("highs", "de", "pg")
RECIPES = ("auto", "gentle", "strong")


@dataclass
class ALEFConfig:
    """One fine-tuning run (the CLI fills it; the checkpoint records it)."""

    # Exactly one of scenario and instances is set.
    scenario: str | None = option(None, f"dynamic scenario: {', '.join(SCENARIOS)} (or "
                                  "--instances)")
    instances: str | None = option(None, "your own time-ordered snapshots instead of a "
                                   "scenario: a folder of instance JSON files (in file-name "
                                   "order) or a JSONL file (in line order)")
    objective: str = option("latency", "latency, energy or a prompt such as 'Minimum energy'")
    expert: str = option("highs", "who labels the queried instances: highs (exact), de or pg")
    budget: int = option(32, "expert labels over the whole run (split evenly over the "
                         "windows)")
    windows: int = option(4, "windows after the drift; each deploys, queries and updates once")
    pool: int = option(32, "unlabelled instances the model decides per window")
    heldout: int = option(6, "never-labelled instances per window that measure the gap to the "
                          "optimum")
    # 40 steps measured no better (docs/alef.md).
    steps: int = option(15, "gradient steps on the decoder per window")
    batch: int = 8  # labels per gradient step
    # 3e-4 broke the latency policy (docs/alef.md).
    lr: float = option(1e-4, "learning rate (Adam, decoder only)")
    share_weight: float = 1.0  # weight of the allocation-share loss beside the cross-entropy
    replay: float = 0.5  # fraction of each minibatch drawn from earlier windows' labels
    seed: int = option(0, "seed of the scenario, the random queries and the minibatches")
    # Small instances for tests, or a denser system.
    n_ues: int | None = option(None, "override the scenario's number of UEs (before a density "
                               "drift)  [default: the scenario's, 50]")
    expert_time_limit: float = 60.0  # seconds per expert call
    threads: int = option(1, "torch CPU threads")  # the machine is shared
    align: bool = option(True, "re-match each expert label towards the model's own decision "
                         "among near-equal solutions before imitating it (docs/alef.md)")
    align_tol: float = option(3e-3, "how much worse than the expert's (relative) an aligned "
                              "label may be")
    anchor: float = 0.0  # weight of the cross-entropy on the model's own deployed decisions
    prefix: bool = option(True, "imitate each label only up to its first correction of the "
                          "model's own decisions (--full-label: every UE, the paper's recipe)")
    gate: bool = option(True, "keep a window's update only if it lowers the cost on that "
                        "window's gate set (pool instances held back from the query)")
    # Drawn at random and never labelled, so the gate judges every query strategy on a fair
    # sample of the traffic (docs/alef.md); at most a quarter of the pool.
    gate_set: int = option(8, "pool instances per window held back at random from the "
                           "query, on which the gate judges the update (at most a quarter "
                           "of the pool)")
    # gentle: the update above (steps, align, prefix as set); strong: every UE of raw labels,
    # strong_steps steps (a large shift, docs/alef.md); auto: per window, strong when the
    # model's decisions on the queried instances cost strong_above more than the labels.
    recipe: str = option("auto", "the update: gentle (--steps, --align, --prefix as set), "
                         "strong (raw full labels, --strong-steps steps; for a model far "
                         "from the expert) or auto (per window: strong when the model's "
                         "own decisions on the labelled instances cost over --strong-above "
                         "more than the labels)", choices=RECIPES)
    strong_steps: int = option(40, "gradient steps per window of the strong recipe")
    reorder: bool = option(True, "energy: a strong update trains the decoder in the "
                           "efficiency decoding order, which the model keeps if the gate "
                           "keeps the update (docs/alef.md)")
    strong_above: float = option(0.02, "auto: the mean relative excess of the model's cost over "
                                 "the labels' above which a window's update is strong")
    track_loss: bool = True  # the supervised loss on all labels before/after each update

    def check(self) -> None:
        if (self.scenario is None) == (self.instances is None):
            raise InputError("give exactly one of --scenario and --instances")
        if self.scenario is not None:
            get_scenario(self.scenario)
        elif self.n_ues is not None:
            raise InputError("n_ues: only with --scenario (your snapshots have their own "
                             "sizes)")
        Objective.parse(self.objective)
        if self.expert not in EXPERTS:
            raise InputError(f"expert: unknown {self.expert!r}; valid: {', '.join(EXPERTS)}")
        if self.recipe not in RECIPES:
            raise InputError(f"recipe: unknown {self.recipe!r}; valid: {', '.join(RECIPES)}")
        if not self.strong_above >= 0:
            raise InputError(f"strong_above: must be >= 0, got {self.strong_above}")
        for name, low in (("budget", 1), ("windows", 1), ("pool", 1), ("heldout", 1),
                          ("gate_set", 0), ("steps", 0), ("strong_steps", 0), ("batch", 1),
                          ("threads", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise InputError(f"{name}: must be an integer >= {low}, got {value!r}")
        if self.scenario is not None and self.heldout > get_scenario(self.scenario).drift_step:
            raise InputError(f"heldout: must be <= {get_scenario(self.scenario).drift_step} "
                             f"(the steps before the drift), got {self.heldout}")
        if self.n_ues is not None and (not isinstance(self.n_ues, int) or self.n_ues < 1):
            raise InputError(f"n_ues: must be an integer >= 1, got {self.n_ues!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed: must be a non-negative integer, got {self.seed!r}")
        if not self.lr > 0:
            raise InputError(f"lr: must be positive, got {self.lr}")
        if not 0 <= self.replay < 1:
            raise InputError(f"replay: must be in [0, 1), got {self.replay}")
        for name in ("align_tol", "anchor", "share_weight"):
            if not getattr(self, name) >= 0:
                raise InputError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if not self.expert_time_limit > 0:
            raise InputError(f"expert_time_limit: must be positive, got "
                             f"{self.expert_time_limit}")

    def snapshots_needed(self) -> int:
        """Snapshots an --instances run reads: W windows of pool + heldout, then the final
        held-out window."""
        return self.windows * (self.pool + self.heldout) + self.heldout

    def per_window(self) -> list[int]:
        """Labels per window: the budget split evenly, the remainder to the first windows."""
        base, extra = divmod(self.budget, self.windows)
        return [base + (w < extra) for w in range(self.windows)]


# ----------------------------------------------------------------------------- DROO, ARE
@dataclass
class BaselineTrainConfig:
    """What training DROO and training ARE share (`mecopt train-baseline`)."""

    preset: str = option("small", "network size: small (trains on a CPU) or paper (60 layers, "
                         "326,535 parameters; the paper's agents: 326,662)",
                         choices=tuple(NET_PRESETS))
    seed: int = option(0, "seed of the weights, the training instances and the sampling")
    # A wall-time budget; frames (DROO) or steps (ARE) bound it too when given.
    minutes: float | None = option(None, "training wall time, a budget (or DROO's --frames, "
                                   "ARE's --steps; ARE: after the labels are "
                                   "ready)")
    n_ues: int = option(50, "UEs of the system size the model is for")
    n_servers: int = option(4, "servers of the system size the model is for")
    # DROO's original uses 0.01 on a 3-layer net, too high for 60 layers.
    lr: float = option(1e-3, "Adam learning rate")
    threads: int = option(1, "torch CPU threads")
    output: str = option("", "checkpoint to write (the best validated model)")
    command: str = ""
    quiet: bool = option(False, "no progress lines on stderr")

    # Class attributes, not fields: each method's other budget and its fields that must be
    # >= 1.
    budget_field = ""
    at_least_one = ()

    def check(self) -> None:
        if self.minutes is None and getattr(self, self.budget_field) is None:
            raise InputError(f"give --minutes or --{self.budget_field} (a training budget)")
        if self.minutes is not None and not self.minutes > 0:
            raise InputError(f"minutes: must be positive, got {self.minutes}")
        for name in self.at_least_one:
            if getattr(self, name) < 1:
                raise InputError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not self.output:
            raise InputError("output: a checkpoint path is required")


@dataclass
class DROOConfig(BaselineTrainConfig):
    """Online training of DROO (`mecopt train-baseline droo`)."""

    frames: int | None = option(None, "stop after this many frames")
    memory: int = 1024  # replay memory entries (the original's)
    batch: int = 128  # samples per training step (the original's)
    train_interval: int = 10  # frames between training steps (the original's)
    k_interval: int = 32  # frames between updates of K (the original's Delta)
    k_max: int | None = None  # cap on K; None = N+1, every candidate
    episode: int = 200  # frames per scenario stream before a new server layout
    val_interval: int = 2000  # frames between validations (best checkpoint kept)
    objectives: tuple[str, ...] = ("latency", "energy")  # prompts, alternating frame by frame

    budget_field = "frames"
    at_least_one = ("memory", "batch", "train_interval", "k_interval", "episode",
                    "val_interval", "threads")

    def check(self) -> None:
        super().check()
        if self.frames is not None and self.frames < 1:
            raise InputError(f"frames: must be >= 1, got {self.frames}")


@dataclass
class AREConfig(BaselineTrainConfig):
    """Supervised training of ARE (`mecopt train-baseline are`); its minutes count after
    the labels are ready."""

    steps: int | None = option(None, "stop after this many steps")
    # highs takes seconds per latency label on 4 x 50 and about 0.01 s per energy label.
    latency_labels: int = option(400, "highs-labelled instances for the latency prompt "
                                 "(seconds each)")
    energy_labels: int = option(3000, "highs-labelled instances for the energy prompt (~0.01 s "
                                "each)")
    label_cache: str | None = option(None, "JSON-lines file of labels, reused and extended "
                                     "(keep it out of the repository)")
    label_time_limit: float = 30.0  # highs time limit per label; unproven labels are dropped
    batch: int = 128
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    share_weight: float = 1.0  # weight of the share head's squared error
    permute: bool = True  # augment: relabel the UEs of each sample at random
    val_interval: int = 500  # steps between validations (best checkpoint kept)

    budget_field = "steps"
    at_least_one = ("batch", "val_interval", "threads")

    def check(self) -> None:
        super().check()
        for name in ("latency_labels", "energy_labels"):
            if getattr(self, name) < 0:
                raise InputError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if self.latency_labels + self.energy_labels == 0:
            raise InputError("latency_labels, energy_labels: at least one label is needed")


__all__ = ["ADVANTAGES", "AREConfig", "ALEFConfig", "BASELINES", "BaselineTrainConfig",
           "DROOConfig", "ENERGY_ORDERS", "EXPERTS", "RECIPES", "LamboConfig", "NET_PRESETS",
           "NetConfig", "PRESETS",
           "TRAIN_FAMILIES", "TrainConfig", "TrainFamily", "net_preset", "option", "spoken",
           "ue_features"]
