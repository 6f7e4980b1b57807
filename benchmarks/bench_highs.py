"""`highs` on the shipped libraries: is every solve proven optimal, and how fast?

    python benchmarks/bench_highs.py [--families paper,hetero] [--objectives latency,energy]
                                     [--time-limit S] [--json PATH]

Prints one row per (instance, objective): status, wall time, CPU time of this process (HiGHS
runs inside it, so this is what the solve cost even when other jobs share the machine),
objective, bound, gap and agreement with instances/<family>/reference.json where present;
then per family and objective the medians and the worst case, and the issue's targets:
every solve optimal with gap <= 1e-6, median wall time <= 1 s (energy) and <= 5 s (latency),
no solve over 60 s. `--json PATH` writes the per-family summary (the rows docs/exact.md's
table shows, rendered by render_results.py) and every solve's row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import mecopt
from mecopt.bench import collect_instances, relative_gap

ROOT = Path(__file__).resolve().parents[1] / "instances"
TARGET_MEDIAN_S = {"energy": 1.0, "latency": 5.0}
TARGET_MAX_S = 60.0
TARGET_GAP = 1e-6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="paper,hetero")
    parser.add_argument("--objectives", default="latency,energy")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds per solve (default: none, run to the proof)")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="write the summary rows and every solve's row to PATH")
    args = parser.parse_args()
    rows = []
    print(f"{'instance':11s} {'N':>3s} {'M':>2s} {'objective':9s} {'status':8s} {'wall s':>7s} "
          f"{'cpu s':>6s} {'objective':>13s} {'bound':>13s} {'gap':>8s} {'vs ref':>8s}",
          flush=True)
    for family in args.families.split(","):
        col = collect_instances([ROOT / family])  # with the optima of its reference.json
        for inst, _ in col.instances:
            for objective in args.objectives.split(","):
                cpu = time.process_time()
                sol = mecopt.solve(inst, objective, "highs", time_limit=args.time_limit)
                cpu = time.process_time() - cpu
                best = col.reference.get((inst.name, objective))
                agree = "-"
                if best is not None and sol.objective_value is not None:
                    agree = f"{relative_gap(sol.objective_value, best):+.0e}"
                rows.append((family, objective, sol, cpu))
                gap = "-" if sol.gap is None else f"{sol.gap:.1e}"
                print(f"{inst.name:11s} {inst.n_ues:3d} {inst.n_servers:2d} {objective:9s} "
                      f"{sol.status:8s} {sol.wall_time_s:7.2f} {cpu:6.2f} "
                      f"{_num(sol.objective_value)} {_num(sol.bound)} {gap:>8s} {agree:>8s}",
                      flush=True)
    summary = print_targets(rows)
    if args.json:
        solves = [{"family": f, "objective": o, "instance": s.instance, "status": s.status,
                   "wall_s": s.wall_time_s, "cpu_s": c, "objective_value": s.objective_value,
                   "bound": s.bound, "gap": s.gap} for f, o, s, c in rows]
        Path(args.json).write_text(json.dumps({"summary": summary, "solves": solves},
                                              indent=1) + "\n")


def _num(x: float | None) -> str:
    return f"{'-':>13s}" if x is None else f"{x:13.9g}"


def print_targets(rows) -> list[dict]:
    """Per family and objective: optimal solves, median and worst times, largest gap; then
    the issue's targets. Returns the per-family rows."""
    print(f"\n{'family':7s} {'objective':9s} {'optimal':>8s} {'median wall':>11s} "
          f"{'median cpu':>10s} {'worst wall':>10s} {'worst instance':>14s} {'max gap':>8s}")
    groups = sorted({(f, o) for f, o, _, _ in rows})
    for objective in sorted({o for _, o in groups}):
        groups.append(("all", objective))
    verdicts, summary = [], []
    for family, objective in groups:
        sel = [(s, c) for f, o, s, c in rows if o == objective and family in ("all", f)]
        optimal = sum(s.status == "optimal" and s.gap is not None and s.gap <= TARGET_GAP
                      for s, _ in sel)
        walls = [s.wall_time_s for s, _ in sel]
        worst = max(sel, key=lambda sc: sc[0].wall_time_s)[0]
        gaps = [s.gap for s, _ in sel if s.gap is not None]
        print(f"{family:7s} {objective:9s} {optimal:>5d}/{len(sel):<2d} "
              f"{statistics.median(walls):11.2f} {statistics.median(c for _, c in sel):10.2f} "
              f"{max(walls):10.2f} {worst.instance:>14s} "
              f"{max(gaps) if gaps else float('nan'):8.1e}")
        summary.append({"family": family, "objective": objective, "optimal": optimal,
                        "n": len(sel), "median_wall_s": statistics.median(walls),
                        "median_cpu_s": statistics.median(c for _, c in sel),
                        "worst_wall_s": max(walls), "worst_instance": worst.instance,
                        "max_gap": max(gaps) if gaps else None})
        if family == "all":
            verdicts.append((objective, optimal == len(sel), statistics.median(walls),
                             max(walls)))
    print("\ntargets:")
    for objective, all_optimal, median, worst in verdicts:
        print(f"  {objective:8s} all optimal: {'yes' if all_optimal else 'NO'};  median "
              f"{median:.2f} s <= {TARGET_MEDIAN_S[objective]:g} s: "
              f"{'yes' if median <= TARGET_MEDIAN_S[objective] else 'NO'};  worst {worst:.2f} s "
              f"<= {TARGET_MAX_S:g} s: {'yes' if worst <= TARGET_MAX_S else 'NO'}")
    return summary


def table(summary: list[dict]) -> str:
    """docs/exact.md's Performance table of the summary rows (`--json`'s "summary")."""
    out = ["| family | objective | optimal (gap <= 1e-6) | median wall s | median CPU s | "
           "worst wall s (instance) | max gap |", "|---|---|---|---|---|---|---|"]
    for r in summary:
        gap = "-" if r["max_gap"] is None else f"{r['max_gap']:.1e}"
        out.append(f"| {r['family']} | {r['objective']} | {r['optimal']}/{r['n']} | "
                   f"{r['median_wall_s']:.2f} | {r['median_cpu_s']:.2f} | "
                   f"{r['worst_wall_s']:.2f} ({r['worst_instance']}) | {gap} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
