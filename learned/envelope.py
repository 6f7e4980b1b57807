"""The feature ranges a LAMBO network was trained on, and whether an instance lies inside.

A network decides well on instances like those it trained on; outside them it can be far
off (lambo-s, trained on paper and hetero, decodes energy 8.6-116% above the best known
on the held-out families). The envelope of a checkpoint is, per column of the network's static
features (learned/features.py: UE, usable pair and server features), the least and largest
value over instances drawn as its training drew them (the families and sizes in the
checkpoint's train_config, the generator seeds of training). An instance is inside when
every UE, usable pair and server lies within those ranges, widened by TOLERANCE of each
range on both sides; `outside` names the first feature that is not.

The lambo method's default `checkpoint=auto` decodes with lambo-s inside its envelope and
with lambo-w (trained on the randomized world as well) outside it. The shipped envelope,
learned/checkpoints/lambo-s.envelope.json, is remade by

    python -m mecopt.learned.envelope lambo-s
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from mecopt.generators import generate
from mecopt.instance import Instance

TOLERANCE = 0.05  # of each feature's range, on both sides
DRAWS_PER_FAMILY = 1000
SEED_BASE = 100_000  # in training's seed range (learned/train.py, TRAIN_SEED_BASE)

UE_NAMES = ("log C", "log D", "t_loc / T", "local ok", "log e_loc", "log T", "usable share",
            "UE demand", "system demand", "log N", "M / 8")
PAIR_NAMES = ("usable", "t_tx / T", "f_min / F", "log e_tx / e_loc", "alone / T",
              "alone / t_loc")
SERVER_NAMES = ("F / mean F", "log F", "1 / M")
LABELS = {"ue": "UE", "pair": "pair", "server": "server"}


@dataclass(frozen=True)
class Envelope:
    """Per feature group ("ue", "pair", "server"): (lo, hi) arrays over its columns."""

    ranges: dict[str, tuple[np.ndarray, np.ndarray]]
    source: str  # how it was measured (families, sizes, draws)
    name: str = "the network"  # whose envelope it is (a checkpoint's name)

    def to_json(self) -> dict:
        return {"format": "mecopt-envelope", "version": 1, "name": self.name,
                "source": self.source,
                "tolerance": TOLERANCE,
                **{g: {"lo": lo.tolist(), "hi": hi.tolist()}
                   for g, (lo, hi) in self.ranges.items()}}

    @classmethod
    def from_json(cls, data: dict) -> Envelope:
        return cls({g: (np.array(data[g]["lo"]), np.array(data[g]["hi"]))
                    for g in ("ue", "pair", "server")}, data["source"],
                   data.get("name", "the network"))


def feature_rows(instance: Instance) -> dict[str, np.ndarray]:
    """The instance's static feature rows per group, with the real deadlines as the time
    scale (the energy prompt's); pairs only where usable (elsewhere the columns hold
    placeholders)."""
    from mecopt.learned.features import static_features
    from mecopt.objective import Objective

    ue, pair, server = static_features(instance, Objective.ENERGY)
    return {"ue": ue, "pair": pair[instance.usable], "server": server}


def measure(families: list[str], max_ues: int, draws: int = DRAWS_PER_FAMILY,
            seed: int = 0, name: str = "the network") -> Envelope:
    """The envelope of `draws` instances per family, sized as training sizes them."""
    from mecopt.learned.configs import TRAIN_FAMILIES

    lo: dict[str, np.ndarray] = {}
    hi: dict[str, np.ndarray] = {}
    for f, family in enumerate(dict.fromkeys(families)):
        rng = np.random.default_rng([seed, f])
        for k in range(draws):
            n, m = TRAIN_FAMILIES[family].draw_sizes(rng, max_ues)
            inst = generate(family, n, m, seed=SEED_BASE + f * 1_000_000 + k)
            for g, rows in feature_rows(inst).items():
                if len(rows) == 0:
                    continue
                a, b = rows.min(axis=0).astype(float), rows.max(axis=0).astype(float)
                lo[g] = np.minimum(lo[g], a) if g in lo else a
                hi[g] = np.maximum(hi[g], b) if g in hi else b
    source = (f"{draws} instances per family of {', '.join(dict.fromkeys(families))}, "
              f"up to {max_ues} UEs, sized and seeded as training draws them")
    return Envelope({g: (lo[g], hi[g]) for g in ("ue", "pair", "server")}, source, name)


def outside(instance: Instance, envelope: Envelope) -> str | None:
    """None when the instance lies inside the envelope; else which feature leaves it first,
    in one line."""
    names = {"ue": UE_NAMES, "pair": PAIR_NAMES, "server": SERVER_NAMES}
    for g, rows in feature_rows(instance).items():
        if len(rows) == 0:
            continue
        lo, hi = envelope.ranges[g]
        slack = TOLERANCE * (hi - lo)
        below, above = rows < lo - slack, rows > hi + slack
        bad = np.flatnonzero((below | above).any(axis=0))
        if len(bad):
            c = int(bad[0])
            value = rows[below[:, c], c].min() if below[:, c].any() else rows[above[:, c], c].max()
            return (f"{LABELS[g]} feature {names[g][c]} = {value:.4g} is outside "
                    f"{envelope.name}'s training range {lo[c]:.4g}..{hi[c]:.4g}")
    return None


def envelope_path(name: str) -> Path:
    from mecopt.learned import shipped_checkpoint

    return shipped_checkpoint(f"{name}.envelope.json")


@lru_cache(maxsize=4)
def shipped_envelope(name: str) -> Envelope:
    """The envelope shipped beside learned/checkpoints/<name>.pt."""
    return Envelope.from_json(json.loads(envelope_path(name).read_text()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Measure a shipped checkpoint's training envelope and write it beside it.")
    parser.add_argument("name", help="a shipped checkpoint's name, e.g. lambo-s")
    parser.add_argument("--draws", type=int, default=DRAWS_PER_FAMILY)
    args = parser.parse_args(argv)
    from mecopt.learned import load_cached

    cfg = load_cached("lambo", args.name)[1]["metrics"]["train_config"]
    env = measure(list(cfg["families"]), int(cfg["max_ues"]), args.draws, name=args.name)
    path = envelope_path(args.name)
    path.write_text(json.dumps(env.to_json(), indent=1) + "\n")
    print(f"{path}: {env.source}")


if __name__ == "__main__":
    main()
