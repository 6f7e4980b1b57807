"""How each method's wall time and peak memory grow with the number of UEs N.

    python benchmarks/bench_scaling.py [--sizes 100,500,1000,2000,5000]
                                       [--methods greedy,lambo,de,highs] [--time-limit 30]
                                       [--objective latency] [--seed 0] [--json out.json]

For each N, M = max(4, N // 100) servers (100 UEs per server, at least 4: 100 x 4, 500 x 5,
1000 x 10, 2000 x 20, 5000 x 50), on `mecopt.generate("hetero", n_ues=N, n_servers=M,
seed=SEED)`. Every (method, N) is one solve in a fresh subprocess, which:
1. imports mecopt and builds the method (lambo loads its model);
2. solves a small hetero instance (20 UEs x 2 servers) once, and greedy and lambo also one
   of 300 UEs x 4 servers (outside lambo-s's envelope, so lambo's guard runs), so lazy
   imports (torch, pyomo, pymoo, scipy.optimize) and first-call costs are paid before the
   measured solve;
3. generates the instance and reads its own peak RSS (`ru_maxrss`): "before solve";
4. solves it once, timed (wall), with `--time-limit` for de and highs (greedy and lambo have
   no time limit), and reads its peak RSS again: "peak". Nothing is subtracted from the
   peak; "growth" is peak minus before solve, the memory the solve itself added.
A method is skipped at a size where it would exceed the time limit tenfold: its time at the
two previous sizes it did not prove infeasible, extrapolated with their growth exponent (at
least linear), says so; the output names the skips. A child that runs past 10 x the limit
(or `--child-timeout` for methods without one) is killed and reported as such. The load
averages before and after the run are printed with the table: on a shared machine every
wall time depends on them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

LIMITED = ("de", "highs")  # the methods run with --time-limit


def servers_for(n: int) -> int:
    """The number of servers at N UEs: 100 UEs per server, at least 4."""
    return max(4, n // 100)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(method: str, n: int, m: int, seed: int, objective: str,
          time_limit: float | None) -> dict:
    """One measured solve (steps 1-4 of the module doc), in this process."""
    import mecopt

    solver = mecopt.get_method(method)()
    solver.solve(mecopt.generate("hetero", n_ues=20, n_servers=2, seed=seed), objective,
                 time_limit=time_limit, seed=seed)
    if time_limit is None:
        # 300 UEs lie outside lambo-s's envelope: lambo's guard (its first scipy.optimize
        # call) loads here too, not in the measured solve. Cheap for greedy.
        solver.solve(mecopt.generate("hetero", n_ues=300, n_servers=4, seed=seed),
                     objective, seed=seed)
    inst = mecopt.generate("hetero", n_ues=n, n_servers=m, seed=seed)
    before = _peak_mb()
    start = time.perf_counter()
    sol = solver.solve(inst, objective, time_limit=time_limit, seed=seed)
    wall = time.perf_counter() - start
    return {"wall_s": wall, "before_mb": before, "peak_mb": _peak_mb(),
            "status": str(sol.status.value), "value": sol.objective_value}


def run_child(method: str, n: int, m: int, args: argparse.Namespace) -> dict:
    """child(...) in a fresh interpreter; a crash or a kill is a row with status "failed"
    or "killed"."""
    limit = args.time_limit if method in LIMITED else None
    cmd = [sys.executable, __file__, "--child", method, str(n), str(m),
           "--seed", str(args.seed), "--objective", args.objective]
    if limit is not None:
        cmd += ["--time-limit", str(limit)]
    timeout = 10 * limit + 60 if limit is not None else args.child_timeout
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "killed", "note": f"killed after {timeout:.0f} s"}
    if res.returncode != 0:
        tail = res.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return {"status": "failed", "note": f"exit {res.returncode}: {tail[0][:200]}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def predicted(times: list[tuple[int, float]], n: int) -> float | None:
    """The wall time at N extrapolated from the last two (N, seconds) measured: their growth
    exponent, at least 1 (linear); from one point, linear. None without any."""
    if not times:
        return None
    (n1, t1), (n0, t0) = times[-1], times[-2] if len(times) > 1 else (0, 0.0)
    p = 1.0
    if n0 and t0 > 0 and t1 > 0 and n1 > n0:
        p = max(1.0, math.log(t1 / t0) / math.log(n1 / n0))
    return t1 * (n / n1) ** p


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure(args: argparse.Namespace) -> dict:
    """Every (N, method) of the run, with the load before and after."""
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = args.methods.split(",")
    report = {"command": " ".join(["python", "benchmarks/bench_scaling.py", *args.argv]),
              "cpus": os.cpu_count(), "load_before": load(), "time_limit": args.time_limit,
              "objective": args.objective, "seed": args.seed, "rows": []}
    times: dict[str, list[tuple[int, float]]] = {m: [] for m in methods}
    for n in sizes:
        m = servers_for(n)
        for method in methods:
            guess = predicted(times[method], n)
            limit = args.time_limit if method in LIMITED else args.child_timeout
            if guess is not None and guess > 10 * limit:
                row = {"status": "skipped",
                       "note": f"predicted {guess:.0f} s > 10 x {limit:g} s"}
            else:
                row = run_child(method, n, m, args)
            row = {"n": n, "m": m, "method": method, **row}
            # A proof of infeasibility can come at once (de and pg check the certificates
            # before searching), which says nothing about a search's growth.
            if "wall_s" in row and row.get("status") != "infeasible":
                times[method].append((n, row["wall_s"]))
            report["rows"].append(row)
            print(format_row(row), file=sys.stderr, flush=True)
    report["load_after"] = load()
    return report


def format_row(row: dict) -> str:
    """One markdown table row of a measured, skipped, failed or killed (method, N)."""
    head = f"| {row['n']:,} x {row['m']} | {row['method']} |"
    if "wall_s" not in row:
        return f"{head} - | - | - | - | {row['status']}: {row['note']} |"
    growth = row["peak_mb"] - row["before_mb"]
    return (f"{head} {row['wall_s']:.2f} | {row['peak_mb']:.0f} | {row['before_mb']:.0f} | "
            f"{growth:.0f} | {row['status']} |")


def table(report: dict) -> str:
    """The markdown table of a run (bench_scaling.py --json), which docs/batch.md shows."""
    out = ["| N x M | method | solve wall [s] | peak RSS [MB] | before solve [MB] | "
           "growth [MB] | status |", "|---|---|---:|---:|---:|---:|---|"]
    out += [format_row(r) for r in report["rows"]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500,1000,2000,5000")
    parser.add_argument("--methods", default="greedy,lambo,de,highs")
    parser.add_argument("--time-limit", type=float, default=30.0,
                        help="seconds per solve for de and highs")
    parser.add_argument("--child-timeout", type=float, default=600.0,
                        help="seconds before a child of a method without a time limit is "
                             "killed (and the skip threshold's base for those methods)")
    parser.add_argument("--objective", default="latency")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the run's rows and loads to this file")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "N", "M"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        method, n, m = args.child
        print(json.dumps(child(method, int(n), int(m), args.seed, args.objective,
                               args.time_limit if "--time-limit" in argv else None)))
        return 0
    args.argv = argv
    report = measure(args)
    print(f"{report['command']}\nload average (1, 5, 15 min) before {report['load_before']}, "
          f"after {report['load_after']}, {report['cpus']} CPUs\n")
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
