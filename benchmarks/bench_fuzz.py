"""Scale fuzz: valid instances whose every field's scale is drawn over several decades.

    python benchmarks/bench_fuzz.py [--count 40] [--seed-base 100] [--time-limit 5]
        [--methods SPEC,...] [--out DIR [--resume]] [--json PATH]

No family and no stress kind (benchmarks/bench_stress.py) draws networks like these: per
instance, 1-119 UEs and 1-11 servers; the median of each field log-uniform over a range of
decades (data 1e2-1e9 bit, cycles 1e4-1e13, local CPUs 1e6-1e11 Hz, transmit powers 1e-4-10
W, local powers 1e-4-30 W, deadlines 1e-4-1e6 s, server capacities 1e7-1e13 Hz, links
1e3-1e10 bit/s) and each UE's or server's value spread around it by a log-normal factor of
random width; on 30% of the instances 60% of the links are cut. Instances that fail the
instance checks (an impossible draw) are skipped. Each method runs on each instance under
both prompts through the bench harness; the audit is bench_stress.py's: the mean and worst
gap to the best of all runs per prompt and method, `infeasible` where another method found
a decision (must be 0), runs without a decision on solvable instances, runs past the time
limit, and errors.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from bench_generalization import _pct
from bench_stress import add_run_options, audit, print_audit

import mecopt
from mecopt.bench import run_bench

METHODS = ("greedy", "lambo", "lambo_net=lambo:guard=false", "lambo_s=lambo:checkpoint=lambo-s",
           "lambo_w=lambo:checkpoint=lambo-w", "lambo_both=lambo:checkpoint=both",
           "lambo_polish=lambo:polish=true", "de", "highs", "scip")


def fuzz_instance(seed: int) -> mecopt.Instance:
    """One draw (see the module docstring); InputError if the draw is not a valid
    instance."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 120)), int(rng.integers(1, 12))

    def scale(lo: float, hi: float) -> float:
        return 10 ** rng.uniform(lo, hi)

    def spread(shape) -> np.ndarray:
        return np.exp(rng.normal(0, rng.uniform(0, 2), shape))

    rate = scale(3, 10) * spread((n, m))
    if rng.random() < 0.3:
        rate[rng.random((n, m)) < 0.6] = 0.0  # cut links
    return mecopt.Instance(
        name=f"fuzz-{seed}", data_bits=scale(2, 9) * spread(n),
        cycles=scale(4, 13) * spread(n), local_hz=scale(6, 11) * spread(n),
        tx_power_w=scale(-4, 1) * spread(n), local_power_w=scale(-4, 1.5) * spread(n),
        deadline_s=scale(-4, 6) * spread(n), capacity_hz=scale(7, 13) * spread(m),
        rate_bps=rate)


def draw(count: int, seed_base: int, root: Path) -> Path:
    """The valid draws among seeds seed_base .. seed_base + count - 1, written to root."""
    root.mkdir(parents=True, exist_ok=True)
    for seed in range(seed_base, seed_base + count):
        try:
            fuzz_instance(seed).save(root / f"fuzz-{seed}.json")
        except mecopt.InputError:
            continue
    return root


def table(data: dict) -> str:
    """The summary of a `--json` file as a markdown table: per prompt, each method's mean
    gap (worst in brackets for the learned decodes), then the audit."""
    names = [m.split("=")[0] for m in data["methods"]]
    cells = {(r["objective"], r["method"]): r for r in data["rows"]}
    lines = ["| prompt | solved | " + " | ".join(names) + " |",
             "|---|--:|" + "--:|" * len(names)]
    for objective in ("latency", "energy"):
        row = {m: cells.get((objective, m)) for m in names}
        solved = max((r["solved"] for r in row.values() if r), default=0)
        out = []
        for r in row.values():
            cell = "-" if r is None else _pct(r["mean_gap"])
            if r is not None and r["worst_gap"] is not None and r["worst_gap"] > 0.5:
                cell += f" (worst {_pct(r['worst_gap'])})"
            if r is not None and r["missed"]:
                cell += f" ({r['missed']} none)"
            out.append(cell)
        lines.append(f"| {objective} | {solved}/{data['instances']} | " + " | ".join(out) + " |")
    lines.append("")
    lines.append("`infeasible` on an instance another method solved: "
                 + ", ".join(f"{m} {data['false_infeasible'][m]}" for m in names)
                 + "; errors: " + ", ".join(f"{m} {data['errors'][m]}" for m in names) + ".")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="seeds drawn")
    parser.add_argument("--seed-base", type=int, default=100)
    add_run_options(parser, METHODS, time_limit=5.0)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="mecopt-fuzz-"))
    folder = draw(args.count, args.seed_base, out / "instances")
    methods = tuple(m for m in args.methods.split(",") if m)
    report = run_bench([folder], methods, ("latency", "energy"), out=out / "bench",
                       time_limit=args.time_limit, workers=args.workers,
                       force=not args.resume, resume=args.resume,
                       command="benchmarks/bench_fuzz.py")
    rows, false_infeasible, missed = audit(report.rows)
    names = [m.split("=")[0] for m in methods]
    errors = {m: sum(r["statuses"].get("error", 0) for r in rows if r["method"] == m)
              for m in names}
    instances = len(list(folder.glob("*.json")))
    if args.json:
        args.json.write_text(json.dumps(
            {"count": args.count, "seed_base": args.seed_base, "instances": instances,
             "time_limit_s": args.time_limit, "methods": list(methods), "rows": rows,
             "false_infeasible": {m: false_infeasible[m] for m in names},
             "missed": {m: missed[m] for m in names}, "errors": errors}, indent=1) + "\n")
    print(f"{instances} valid instances of {args.count} draws")
    print(f"{'prompt':8s} {'method':13s} {'solved':>6s} {'mean gap':>9s} {'worst':>9s}  statuses")
    for r in rows:
        print(f"{r['objective']:8s} {r['method']:13s} {r['solved']:6d} "
              f"{_pct(r['mean_gap']):>9s} {_pct(r['worst_gap']):>9s}  {r['statuses']}")
    print_audit(names, false_infeasible, missed, rows)
    print("errors: " + ", ".join(f"{m} {errors[m]}" for m in names))
    print(f"{report.new_runs} runs in {report.elapsed_s:.0f} s; outputs in {out}")


if __name__ == "__main__":
    main()
