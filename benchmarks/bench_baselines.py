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
from mecopt.reference import FILENAME, load_reference, optimum

ROOT = Path(__file__).resolve().parents[1] / "instances"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="paper,hetero")
    parser.add_argument("--methods", default="local,random,greedy")
    args = parser.parse_args()
    print(f"{'family':7s} {'objective':9s} {'method':7s} {'feasible':>8s} {'mean obj':>10s} "
          f"{'mean gap':>9s} {'worst gap':>9s} {'median ms':>9s}")
    for family in args.families.split(","):
        paths = sorted((ROOT / family).glob(f"{family}-*.json"))
        ref_path = ROOT / family / FILENAME
        ref = load_reference(ref_path) if ref_path.exists() else None
        insts = [mecopt.Instance.load(p) for p in paths]
        for objective in ("latency", "energy"):
            for method in args.methods.split(","):
                sols = [mecopt.solve(i, objective, method) for i in insts]
                ok = [s for s in sols if s.feasible]
                mean = statistics.fmean(s.objective_value for s in ok) if ok else float("nan")
                gaps = []
                if ref is not None:
                    for s in ok:
                        best = optimum(ref, s.instance, objective)
                        if best is not None:
                            gaps.append((s.objective_value - best) / best)
                gap = f"{100 * statistics.fmean(gaps):8.3f}%" if gaps else f"{'-':>9s}"
                worst = f"{100 * max(gaps):8.3f}%" if gaps else f"{'-':>9s}"
                ms = 1e3 * statistics.median(s.wall_time_s for s in sols)
                print(f"{family:7s} {objective:9s} {method:7s} {len(ok):>5d}/{len(sols):<2d} "
                      f"{mean:10.5g} {gap} {worst} {ms:9.2f}")


if __name__ == "__main__":
    main()
