"""The fast energy method on instances/tight: greedy followed by LNS, gap to the proven optima.

    python benchmarks/bench_tight_energy.py [--lns 0.8] [--seed 0]

Runs `mecopt.solve(instance, "energy", "greedy", lns=S)` on every instances/tight instance
with a proven energy optimum (instances/tight/reference.json) and prints each gap and wall
time, then the mean and worst gap and the slowest call. Issue #17's target: at most 1 s per
call at 150 UEs, mean gap <= 0.2%, worst <= 1%.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mecopt
from mecopt.bench import GapSummary, relative_gap
from mecopt.reference import FILENAME, load_reference

ROOT = Path(__file__).resolve().parents[1] / "instances" / "tight"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lns", type=float, default=0.8, help="seconds of LNS after greedy")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optima = load_reference(ROOT / FILENAME)["optima"]
    gaps, times = [], []
    for name in sorted(optima):
        if "energy" not in optima[name]:
            continue
        inst = mecopt.Instance.load(ROOT / f"{name}.json")
        sol = mecopt.solve(inst, "energy", "greedy", lns=args.lns, seed=args.seed)
        best = optima[name]["energy"]["value"]
        gap = relative_gap(sol.objective_value, best)
        gaps.append(gap)
        times.append(sol.wall_time_s)
        print(f"{name} {inst.n_ues:4d} x {inst.n_servers:2d}  gap {100 * gap:7.4f}%  "
              f"{sol.wall_time_s:5.2f} s", flush=True)
    summary = GapSummary.of(gaps)
    print(f"greedy:lns={args.lns:g} on {summary.count} tight instances: mean gap "
          f"{100 * summary.mean:.4f}%, worst {100 * summary.worst:.4f}%, slowest call "
          f"{max(times):.2f} s")


if __name__ == "__main__":
    main()
