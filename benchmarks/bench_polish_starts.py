"""Does polishing more starting points bring lambo polish to DE's gap? Three variants on a
library family and prompt, gap to the proven optimum and median wall ms per instance:

- lambo: the shared local search (`mecopt.descend`) from lambo's greedy decode, as
  `--option polish=true` does;
- + 3 samples: also from the 3 best distinct decodes of 8 samples (seed 0), best kept;
- + greedy: also from the greedy heuristic's assignment, best kept.

    python benchmarks/bench_polish_starts.py --family hetero --objective latency
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import mecopt
from mecopt.decoder import descend
from mecopt.learned.features import make_batch
from mecopt.learned.lambo_method import cached_model
from mecopt.learned.rollout import costs, decode
from mecopt.objective import Objective
from mecopt.reference import load_reference, optimum
from mecopt.solvers.greedy import greedy_assignment

ROOT = Path(__file__).resolve().parent.parent / "instances"


def sampled_starts(model, batch, inst: mecopt.Instance, exclude: np.ndarray,
                   samples: int, keep: int) -> list[np.ndarray]:
    """The `keep` best distinct feasible sampled decodes, other than `exclude`."""
    with torch.inference_mode():
        out = decode(model, batch, samples=samples, sample=True,
                     generator=torch.Generator().manual_seed(0), stats=False)
    value, _ = costs(batch, out)
    seen, starts = {exclude.tobytes()}, []
    for k in np.argsort(value):
        a = out.assignment[k].numpy()[: inst.n_ues]
        if np.isfinite(value[k]) and a.tobytes() not in seen:
            seen.add(a.tobytes())
            starts.append(a)
        if len(starts) == keep:
            break
    return starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="hetero")
    parser.add_argument("--objective", default="latency")
    args = parser.parse_args()
    torch.set_num_threads(1)
    obj = Objective.parse(args.objective)
    root = ROOT / args.family
    ref = load_reference(root / "reference.json")
    model, _ = cached_model("", "cpu")
    gaps: dict[str, list[float]] = {"lambo": [], "+ 3 samples": [], "+ greedy": []}
    ms: dict[str, list[float]] = {k: [] for k in gaps}
    for path in sorted(root.glob(f"{args.family}-*.json")):
        inst = mecopt.Instance.load(path)
        opt = optimum(ref, path.stem, obj.value)
        start = time.perf_counter()
        batch = make_batch([inst], [obj])
        with torch.inference_mode():
            a0 = decode(model, batch, stats=False).assignment[0].numpy()[: inst.n_ues]
        _, v0 = descend(inst, obj, a0)
        base = time.perf_counter() - start
        gaps["lambo"].append(100 * (v0 / opt - 1))
        ms["lambo"].append(1e3 * base)

        t = time.perf_counter()
        best = v0
        for a in sampled_starts(model, batch, inst, a0, samples=8, keep=3):
            best = min(best, descend(inst, obj, a)[1])
        gaps["+ 3 samples"].append(100 * (best / opt - 1))
        ms["+ 3 samples"].append(1e3 * (base + time.perf_counter() - t))

        t = time.perf_counter()
        ag, _ = greedy_assignment(inst, obj)
        best = v0 if ag is None else min(v0, descend(inst, obj, ag)[1])
        gaps["+ greedy"].append(100 * (best / opt - 1))
        ms["+ greedy"].append(1e3 * (base + time.perf_counter() - t))
    print(f"{args.family} {obj.value}: polish from ... (mean gap, worst gap, median ms)")
    for k in gaps:
        print(f"  {k:12s} {np.mean(gaps[k]):8.4f}% {np.max(gaps[k]):8.4f}% "
              f"{statistics.median(ms[k]):8.1f}")


if __name__ == "__main__":
    main()
