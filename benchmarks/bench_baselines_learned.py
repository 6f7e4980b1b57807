"""The paper's deep-learning contenders (DROO, ARE) with their shipped checkpoints, next to
greedy and DE, on instances/paper under both prompts.

    python benchmarks/bench_baselines_learned.py [--methods greedy,de,droo,are]
                                                 [--time-limit S] [--seed 0] [--json FILE]

Prints per prompt and method: feasible count, mean and worst gap to the proven optimum
(instances/paper/reference.json) and the mean wall time per instance. Every decision goes
through mecopt.solve, so the checker has accepted it. --time-limit is passed to every
method (DE uses its own default without it; the others ignore it).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import mecopt
from mecopt.bench import GapSummary, collect_instances, relative_gap

LIBRARY = Path(__file__).resolve().parents[1] / "instances" / "paper"
PROMPTS = ("Minimum latency", "Minimum energy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="greedy,de,droo,are")
    parser.add_argument("--time-limit", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the per-run rows here")
    args = parser.parse_args()
    col = collect_instances([LIBRARY])  # with the optima of its reference.json
    insts = [inst for inst, _ in col.instances]
    rows = []
    print(f"{'prompt':16s} {'method':7s} {'feasible':>8s} {'mean gap':>9s} {'worst gap':>9s} "
          f"{'mean s/inst':>11s}")
    for prompt in PROMPTS:
        objective = mecopt.Objective.parse(prompt).value
        for method in args.methods.split(","):
            gaps, times, feasible = [], [], 0
            for inst in insts:
                sol = mecopt.solve(inst, prompt, method, time_limit=args.time_limit,
                                   seed=args.seed)
                best = col.reference.get((inst.name, objective))
                gap = None
                if sol.feasible:
                    feasible += 1
                    if best is not None:
                        gap = relative_gap(sol.objective_value, best)
                        gaps.append(gap)
                times.append(sol.wall_time_s)
                rows.append({"instance": inst.name, "prompt": prompt, "method": method,
                             "status": sol.status, "value": sol.objective_value,
                             "optimum": best, "gap": gap, "wall_time_s": sol.wall_time_s})
            print(f"{prompt:16s} {method:7s} {feasible:>5d}/{len(insts):<2d} "
                  f"{GapSummary.of(gaps).cells()} "
                  f"{statistics.fmean(times):11.4f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
