"""Two LAMBO checkpoints side by side, greedy decoding, on instances neither was selected on.

    python benchmarks/compare_checkpoints.py NEW OLD [--world 20] [--stress 0,1,2]
        [--library tight,tiny] [--seed-base 6600000]

The check made before a retrained model replaces a shipped one (docs/lambo.md, "The
world-trained model"): per group (fresh draws of the training world at seeds
--seed-base up, which no training or validation drew; the stress kinds of
benchmarks/bench_stress.py; library families) and prompt, the mean greedy-decoding gap of
each checkpoint to the better of the two and the greedy heuristic, and how often each is
strictly better than the other. The held-out families are left to
benchmarks/bench_generalization.py, run after the choice.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import mecopt

sys.path.insert(0, str(Path(__file__).parent))
import bench_stress  # noqa: E402  (the stress kinds' generator)

ROOT = Path(__file__).resolve().parent.parent / "instances"


def groups(args: argparse.Namespace) -> dict[str, list[mecopt.Instance]]:
    out: dict[str, list[mecopt.Instance]] = {}
    if args.world:
        out["world (fresh)"] = [mecopt.generate("world", seed=args.seed_base + k)
                                for k in range(args.world)]
    if args.stress:
        folder = Path(tempfile.mkdtemp(prefix="mecopt-compare-"))
        bench_stress.draw([int(s) for s in args.stress.split(",")], folder)
        out["stress kinds"] = [mecopt.Instance.load(p) for p in sorted(folder.glob("*/*.json"))]
    for family in filter(None, args.library.split(",")):
        out[f"library {family}"] = [mecopt.Instance.load(p)
                                    for p in sorted((ROOT / family).glob(f"{family}-*.json"))]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new")
    parser.add_argument("old")
    parser.add_argument("--world", type=int, default=20)
    parser.add_argument("--stress", default="0,1,2")
    parser.add_argument("--library", default="tight,tiny")
    parser.add_argument("--seed-base", type=int, default=6_600_000)
    args = parser.parse_args()
    print(f"{'group':<16s} {'prompt':<8s} {'n':>3s} {'new gap':>8s} {'old gap':>8s} "
          f"{'greedy':>8s} {'new<old':>7s} {'old<new':>7s}")
    for name, insts in groups(args).items():
        for objective in ("latency", "energy"):
            gaps: dict[str, list[float]] = defaultdict(list)
            wins = {"new": 0, "old": 0}
            for inst in insts:
                v = {}
                for label, ckpt in (("new", args.new), ("old", args.old)):
                    s = mecopt.solve(inst, objective, "lambo", checkpoint=ckpt)
                    v[label] = s.objective_value if s.feasible else None
                g = mecopt.solve(inst, objective, "greedy")
                v["greedy"] = g.objective_value if g.feasible else None
                found = [x for x in v.values() if x is not None]
                if not found:
                    continue
                best = min(found)
                for label, x in v.items():
                    gaps[label].append(100 * (x / best - 1) if x is not None else float("nan"))
                if v["new"] is not None and (v["old"] is None or v["new"] < v["old"] * (1 - 1e-9)):
                    wins["new"] += 1
                if v["old"] is not None and (v["new"] is None or v["old"] < v["new"] * (1 - 1e-9)):
                    wins["old"] += 1

            def mean(xs: list[float]) -> str:
                ok = [x for x in xs if x == x]
                miss = len(xs) - len(ok)
                text = f"{sum(ok) / len(ok):7.2f}%" if ok else "      -"
                return text + (f" ({miss} none)" if miss else "")
            print(f"{name:<16s} {objective:<8s} {len(gaps['new']):3d} {mean(gaps['new']):>8s} "
                  f"{mean(gaps['old']):>8s} {mean(gaps['greedy']):>8s} {wins['new']:7d} "
                  f"{wins['old']:7d}", flush=True)


if __name__ == "__main__":
    main()
