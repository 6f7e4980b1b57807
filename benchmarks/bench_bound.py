"""`mecopt.bound` on the shipped libraries: how close to the proven optimum, and how fast?

    python benchmarks/bench_bound.py [--families paper,hetero,large,tight] [--json FILE]

For every (instance, objective) with a proven optimum in instances/<family>/reference.json,
prints the bound's relative distance below the optimum, (optimum - bound) / optimum, its
wall time, and the time `highs` took to prove that optimum (the reference's time_s, made on
the same kind of machine); then per family and objective the mean and worst distance and
the total bound time as a share of the total highs time. Issue #17's target: within 0.5% on
hetero and tight, in at most 10% of highs' solve time.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import mecopt
from mecopt.reference import FILENAME, load_reference

ROOT = Path(__file__).resolve().parents[1] / "instances"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="paper,hetero,large,tight")
    parser.add_argument("--objectives", default="latency,energy")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    rows = []
    print(f"{'instance':11s} {'N':>4s} {'M':>3s} {'objective':9s} {'below opt':>10s} "
          f"{'bound ms':>9s} {'highs s':>8s}", flush=True)
    for family in args.families.split(","):
        path = ROOT / family / FILENAME
        if not path.exists():
            print(f"{family}: no {path}, skipped")
            continue
        optima = load_reference(path)["optima"]
        for name in sorted(optima):
            inst = mecopt.Instance.load(ROOT / family / f"{name}.json")
            for objective in args.objectives.split(","):
                entry = optima[name].get(objective)
                if entry is None:
                    continue
                found = mecopt.bound(inst, objective)
                below = (entry["value"] - found.value) / abs(entry["value"])
                rows.append({"family": family, "instance": name, "objective": objective,
                             "below": below, "bound_s": found.wall_time_s,
                             "highs_s": entry["time_s"]})
                print(f"{name:11s} {inst.n_ues:4d} {inst.n_servers:3d} {objective:9s} "
                      f"{100 * below:9.4f}% {1000 * found.wall_time_s:9.1f} "
                      f"{entry['time_s']:8.3f}", flush=True)
    print()
    print("| family | objective | instances | mean below optimum | worst | bound time / highs "
          "time (totals) |")
    print("|---|---|--:|--:|--:|--:|")
    for family in dict.fromkeys(r["family"] for r in rows):
        for objective in args.objectives.split(","):
            rs = [r for r in rows if r["family"] == family and r["objective"] == objective]
            if not rs:
                continue
            share = sum(r["bound_s"] for r in rs) / max(sum(r["highs_s"] for r in rs), 1e-12)
            print(f"| {family} | {objective} | {len(rs)} | "
                  f"{100 * statistics.fmean(r['below'] for r in rs):.4f}% | "
                  f"{100 * max(r['below'] for r in rs):.4f}% | {100 * share:.1f}% |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
