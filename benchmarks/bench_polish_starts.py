"""Does polishing more starting points bring lambo polish to DE's gap? Three variants on a
library family and prompt, gap to the proven optimum and median wall ms per instance:

- lambo: the shared local search (`mecopt.descend`) from lambo's greedy decode, as
  `--option polish=true` does;
- 4 of 8 starts: from each of the 4 best distinct of 8 decodes (greedy + 7 sampled, seed
  0), best kept, as `--option samples=8 --option polish=true --option starts=4` does;
- + greedy: from lambo's greedy decode and from the greedy heuristic's assignment, best
  kept (not an option of `lambo`).

    python benchmarks/bench_polish_starts.py --family hetero --objective latency
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from mecopt.bench import GapSummary, collect_instances, relative_gap
from mecopt.construct import greedy_assignment
from mecopt.descend import descend
from mecopt.learned.lambo_method import decode_instances
from mecopt.objective import Objective

ROOT = Path(__file__).resolve().parent.parent / "instances"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="hetero")
    parser.add_argument("--objective", default="latency")
    args = parser.parse_args()
    torch.set_num_threads(1)
    obj = Objective.parse(args.objective)
    col = collect_instances([ROOT / args.family])  # with the optima of its reference.json
    gaps: dict[str, list[float]] = {"lambo": [], "4 of 8 starts": [], "+ greedy": []}
    ms: dict[str, list[float]] = {k: [] for k in gaps}
    for inst, _ in col.instances:
        opt = col.reference[(inst.name, obj.value)]
        start = time.perf_counter()
        a0 = decode_instances([inst], [obj])[0]["assignment"]
        _, v0 = descend(inst, obj, a0)
        base = time.perf_counter() - start
        gaps["lambo"].append(relative_gap(v0, opt))
        ms["lambo"].append(1e3 * base)

        t = time.perf_counter()
        row = decode_instances([inst], [obj], samples=8, seed=0, keep=4)[0]
        best = min(descend(inst, obj, s["assignment"])[1] for s in row["starts"])
        gaps["4 of 8 starts"].append(relative_gap(best, opt))
        ms["4 of 8 starts"].append(1e3 * (time.perf_counter() - t))

        t = time.perf_counter()
        ag, _ = greedy_assignment(inst, obj)
        best = v0 if ag is None else min(v0, descend(inst, obj, ag)[1])
        gaps["+ greedy"].append(relative_gap(best, opt))
        ms["+ greedy"].append(1e3 * (base + time.perf_counter() - t))
    print(f"{args.family} {obj.value}: polish from ... (mean gap, worst gap, median ms)")
    for k in gaps:
        print(f"  {k:14s} {GapSummary.of(gaps[k]).cells(digits=4)} "
              f"{statistics.median(ms[k]):8.1f}")


if __name__ == "__main__":
    main()
