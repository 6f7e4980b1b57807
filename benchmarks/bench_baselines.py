"""Mean objective of the baselines (local, random, greedy) on the shipped libraries.

    python benchmarks/bench_baselines.py [--families paper,hetero]

Prints, per family and objective: feasible count, mean objective over the instances where
the method is feasible, mean and worst gap to the proven optimum (instances/<family>/
reference.json) when that file exists, and the median time per solve.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import mecopt
from mecopt.bench import GapSummary, collect_instances, relative_gap

ROOT = Path(__file__).resolve().parents[1] / "instances"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="paper,hetero")
    parser.add_argument("--methods", default="local,random,greedy")
    args = parser.parse_args()
    print(f"{'family':7s} {'objective':9s} {'method':7s} {'feasible':>8s} {'mean obj':>10s} "
          f"{'mean gap':>9s} {'worst gap':>9s} {'median ms':>9s}")
    for family in args.families.split(","):
        col = collect_instances([ROOT / family])  # with the optima of its reference.json
        insts = [inst for inst, _ in col.instances]
        for objective in ("latency", "energy"):
            for method in args.methods.split(","):
                sols = [mecopt.solve(i, objective, method) for i in insts]
                ok = [s for s in sols if s.feasible]
                mean = statistics.fmean(s.objective_value for s in ok) if ok else float("nan")
                gaps = GapSummary.of(
                    relative_gap(s.objective_value, col.reference[(s.instance, objective)])
                    for s in ok if (s.instance, objective) in col.reference)
                ms = 1e3 * statistics.median(s.wall_time_s for s in sols)
                print(f"{family:7s} {objective:9s} {method:7s} {len(ok):>5d}/{len(sols):<2d} "
                      f"{mean:10.5g} {gaps.cells()} {ms:9.2f}")

if __name__ == "__main__":
    main()
