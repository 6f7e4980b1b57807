"""Greedy, DE and PG side by side on the shipped libraries, both objectives, default settings.

    python benchmarks/bench_heuristics.py [--families paper,hetero] [--methods greedy,de,pg]
        [--option de:coding=keys ...] [--seed 0] [--csv runs.csv]

Prints, per family and objective and method: feasible solves, mean and worst relative gap,
and median wall time per solve. Gaps are to the proven optimum in
instances/<family>/reference.json where it has one (basis "reference"), otherwise to the
best value any of the benchmarked methods found on that instance (basis "best found"); the
table says which basis each row used.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import mecopt
from mecopt.bench import BEST_FOUND, GapSummary, best_known, collect_instances, relative_gap

ROOT = Path(__file__).resolve().parents[1] / "instances"


def parse_method_options(pairs: list[str]) -> dict[str, dict[str, str]]:
    """["de:coding=keys", ...] -> {"de": {"coding": "keys"}}."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs:
        method, _, kv = pair.partition(":")
        key, sep, value = kv.partition("=")
        if not sep or not method or not key:
            raise SystemExit(f"--option: expected METHOD:KEY=VALUE, got {pair!r}")
        out.setdefault(method, {})[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="paper,hetero")
    parser.add_argument("--methods", default="greedy,de,pg")
    parser.add_argument("--option", action="append", default=[], metavar="METHOD:KEY=VALUE",
                        help="a method option, repeatable (e.g. de:coding=keys)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", default=None, help="also write one row per solve here")
    args = parser.parse_args()
    methods = args.methods.split(",")
    options = parse_method_options(args.option)
    rows = []
    started = time.perf_counter()
    for family in args.families.split(","):
        col = collect_instances([ROOT / family])  # with the optima of its reference.json
        for inst, _ in col.instances:
            for objective in ("latency", "energy"):
                for method in methods:
                    sol = mecopt.solve(inst, objective, method, seed=args.seed,
                                       **options.get(method, {}))
                    rows.append({"family": family, "instance": inst.name,
                                 "objective": objective, "method": method,
                                 "status": sol.status, "value": sol.objective_value,
                                 "time_s": sol.wall_time_s,
                                 "optimum": col.reference.get((inst.name, objective))})
                    print(f"{inst.name:11s} {objective:8s} {method:7s} {sol.status:9s} "
                          f"{sol.objective_value if sol.feasible else float('nan'):.9g} "
                          f"{sol.wall_time_s:6.2f}s", flush=True)
    _fill_gaps(rows)
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    opts = " ".join(f"{m}:{k}={v}" for m, kv in options.items() for k, v in kv.items())
    print(f"\nseed {args.seed}; options: {opts or 'defaults'}; total "
          f"{time.perf_counter() - started:.0f} s")
    _print_table(rows, args.families.split(","), methods)


def _fill_gaps(rows: list[dict]) -> None:
    """Gap of each feasible row to the proven optimum, else to the best value found."""
    def key(r: dict) -> tuple[str, str]:
        return (r["instance"], r["objective"])

    ok = [r for r in rows if r["status"] in ("optimal", "feasible")]
    known = best_known(((key(r), r["value"]) for r in ok),
                       {key(r): r["optimum"] for r in rows if r["optimum"] is not None})
    for r in rows:
        base, r["basis"] = known.get(key(r), (None, BEST_FOUND))
        feasible = r["status"] in ("optimal", "feasible")
        r["gap"] = relative_gap(r["value"], base) if feasible and base is not None else None


def _print_table(rows: list[dict], families: list[str], methods: list[str]) -> None:
    head = f"{'family':7s} {'objective':9s} {'basis':10s}"
    for m in methods:
        head += f" | {m + ' feas':>10s} {'mean gap':>9s} {'max gap':>9s} {'median s':>8s}"
    print(head)
    for family in families:
        for objective in ("latency", "energy"):
            sel = [r for r in rows if r["family"] == family and r["objective"] == objective]
            if not sel:
                continue
            bases = sorted({r["basis"] for r in sel})
            line = f"{family:7s} {objective:9s} {'+'.join(bases):10s}"
            for m in methods:
                mine = [r for r in sel if r["method"] == m]
                gaps = GapSummary.of(r["gap"] for r in mine)
                feas = sum(r["status"] in ("optimal", "feasible") for r in mine)
                med = statistics.median(r["time_s"] for r in mine)
                line += f" | {feas:>7d}/{len(mine):<2d} {gaps.cells(digits=4)} {med:8.3f}"
            print(line)


if __name__ == "__main__":
    main()
