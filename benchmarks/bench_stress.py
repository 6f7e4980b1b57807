"""Stress kinds: valid instances in regimes no family of mecopt's draws, every method.

    python benchmarks/bench_stress.py [--seeds 0,1,2] [--time-limit 10] [--methods SPEC,...]
        [--out DIR [--resume]] [--json PATH]

A user's network need not look like paper, hetero or the randomized world. Each kind below
is one such regime (sizes drawn by the seed, 20-200 UEs and 1-8 servers):

- bigunits: 1e12-cycle tasks on 1e13-Hz servers over 1 Gbit/s links, deadlines 5-20 s;
- micro: 1 kbit / 1 Mcycle tasks with 5-20 ms deadlines;
- nodeadline: deadlines of 1e6 s (a user's "none"): no deadline binds;
- power: transmit and local powers each log-uniform over 1 mW..10 W;
- onemust: one server, every UE must offload, capacity 1.0-1.3x the sum of their f_min;
- identical: identical UEs and servers (capacity for all, or for too few: then infeasible);
- dead: a server with 1 Hz of capacity, one nobody reaches, half the links down;
- pigeon: every UE must offload and fits alone, but together they need more than all;
- boundary: capacity scaled to 1.0-1.2x the least the must-offload UEs need.

Per kind and prompt it runs the methods through the bench harness (`mecopt.bench.run_bench`,
with the certified gap of `mecopt.bound`) and prints the gap to the best of all runs, and
the status audit: a method that says `infeasible` on an instance another method solved
("false infeasible", which must be 0), the runs without a feasible answer on instances
that have one, and the runs past the time limit (as summary.md lists them, docs/bench.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_generalization import _pct  # the same gap format as the generalization table

import mecopt
from mecopt.bench import run_bench
from mecopt.bench.report import past_limit

METHODS = ("greedy", "lambo", "lambo_net=lambo:guard=false", "lambo_s=lambo:checkpoint=lambo-s",
           "lambo_polish=lambo:polish=true", "lambo_lns=lambo:polish=true:lns=1", "de",
           "highs", "scip")


def _base(rng: np.random.Generator, n: int, m: int, name: str, **fields) -> mecopt.Instance:
    """A plain random instance (1 Mbit, 1 Gcycle tasks, 0.1-10 MB/s links) with `fields`
    replacing its arrays."""
    d = dict(data_bits=1e6 * rng.uniform(0.5, 1.5, n), cycles=1e9 * rng.uniform(0.5, 1.5, n),
             local_hz=1e9 * rng.uniform(0.5, 1.5, n), tx_power_w=rng.uniform(0.1, 1, n),
             local_power_w=rng.uniform(0.5, 2, n), deadline_s=rng.uniform(0.8, 2.0, n),
             capacity_hz=1e10 * rng.uniform(0.5, 3, m),
             rate_bps=1e7 * np.exp(rng.uniform(np.log(0.1), np.log(10), (n, m))))
    d.update(fields)
    return mecopt.Instance(name=name, **d)


def bigunits(rng, n, m, name):
    return _base(rng, n, m, name, cycles=1e12 * rng.uniform(0.5, 1.5, n),
                 local_hz=1e11 * rng.uniform(0.5, 1.5, n),
                 capacity_hz=1e13 * rng.uniform(0.5, 3, m),
                 rate_bps=1e9 * rng.uniform(0.5, 2, (n, m)),
                 deadline_s=rng.uniform(5, 20, n))


def micro(rng, n, m, name):
    return _base(rng, n, m, name, data_bits=1e3 * rng.uniform(0.5, 1.5, n),
                 cycles=1e6 * rng.uniform(0.5, 1.5, n), local_hz=1e8 * rng.uniform(0.5, 1.5, n),
                 deadline_s=rng.uniform(0.005, 0.02, n),
                 capacity_hz=1e9 * rng.uniform(0.5, 3, m),
                 rate_bps=1e6 * rng.uniform(0.5, 2, (n, m)))


def nodeadline(rng, n, m, name):
    return _base(rng, n, m, name, deadline_s=np.full(n, 1e6))


def power(rng, n, m, name):
    return _base(rng, n, m, name, tx_power_w=np.exp(rng.uniform(np.log(1e-3), np.log(10), n)),
                 local_power_w=np.exp(rng.uniform(np.log(1e-3), np.log(10), n)))


def onemust(rng, n, m, name):
    inst = _base(rng, n, 1, name, local_hz=np.full(n, 1e8), deadline_s=rng.uniform(1, 2, n),
                 rate_bps=1e8 * rng.uniform(0.5, 2, (n, 1)))
    return inst.replace(capacity_hz=np.array([inst.f_min[:, 0].sum() * rng.uniform(1.0, 1.3)]))


def identical(rng, n, m, name):
    return _base(rng, n, m, name, data_bits=np.full(n, 1e6), cycles=np.full(n, 1e9),
                 local_hz=np.full(n, 5e8), tx_power_w=np.full(n, 0.5),
                 local_power_w=np.full(n, 1.0), deadline_s=np.full(n, 1.5),
                 capacity_hz=np.full(m, 2e10), rate_bps=np.full((n, m), 2e7))


def dead(rng, n, m, name):
    m = max(m, 3)
    capacity = 1e10 * rng.uniform(0.5, 3, m)
    capacity[0] = 1.0
    rate = 1e7 * np.exp(rng.uniform(np.log(0.1), np.log(10), (n, m)))
    rate[:, -1] = 0.0
    rate[rng.random((n, m)) < 0.5] = 0.0
    return _base(rng, n, m, name, capacity_hz=capacity, rate_bps=rate)


def pigeon(rng, n, m, name):
    inst = _base(rng, n, m, name, local_hz=np.full(n, 1e7), rate_bps=np.full((n, m), 1e8),
                 deadline_s=np.full(n, 1.5))
    return inst.replace(capacity_hz=np.full(m, inst.f_min.max() * n * 0.6 / m))


def boundary(rng, n, m, name):
    inst = _base(rng, n, m, name, local_hz=1e8 * rng.uniform(0.5, 1.5, n))
    must = ~inst.option_ok[:, 0]
    need = np.where(inst.usable, inst.f_min, np.inf).min(axis=1)[must]
    need = need[np.isfinite(need)].sum()
    return inst.replace(capacity_hz=inst.capacity_hz * need / inst.capacity_hz.sum()
                        * rng.uniform(1.0, 1.2))


KINDS: dict[str, Callable] = {f.__name__: f for f in (
    bigunits, micro, nodeadline, power, onemust, identical, dead, pigeon, boundary)}


def draw(seeds: list[int], root: Path) -> list[Path]:
    """One instance per kind and seed, written under root/<kind>/."""
    folders = []
    for k, (kind, make) in enumerate(KINDS.items()):
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            rng = np.random.default_rng([seed, k])
            n, m = int(rng.integers(20, 201)), int(rng.integers(1, 9))
            make(rng, n, m, f"{kind}-{seed}").save(folder / f"{kind}-{seed}.json")
        folders.append(folder)
    return folders


def audit(rows: list) -> tuple[list[dict], Counter, Counter]:
    """Per kind x prompt x method the mean and worst gap; the false `infeasible` and the
    runs with no feasible answer on a solvable instance, per method."""
    solved = {(r.instance, r.objective) for r in rows if r.feasible}
    false_infeasible, missed = Counter(), Counter()
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for r in rows:
        groups[r.instance.rsplit("-", 1)[0], r.objective, r.method].append(r)
        if (r.instance, r.objective) in solved and not r.feasible:
            missed[r.method] += 1
            false_infeasible[r.method] += r.status.value == "infeasible"
    out = []
    for (kind, objective, method), group in sorted(groups.items()):
        gaps = [r.gap for r in group if r.gap is not None]
        out.append({"kind": kind, "objective": objective, "method": method, "runs": len(group),
                    "solved": sum((r.instance, r.objective) in solved for r in group),
                    "mean_gap": sum(gaps) / len(gaps) if gaps else None,
                    "worst_gap": max(gaps) if gaps else None,
                    "missed": sum((r.instance, r.objective) in solved and not r.feasible
                                  for r in group),
                    "late": sum(past_limit(r) for r in group),
                    "statuses": dict(Counter(r.status.value for r in group))})
    return out, false_infeasible, missed


def table(data: dict) -> str:
    """The summary of a `--json` file as a markdown table: per kind and prompt, the
    instances some method solved and the mean gap of each method ("k none": k of them it
    answered without a decision), then the audit."""
    names = [m.split("=")[0] for m in data["methods"]]
    cells: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
    for r in data["rows"]:
        cells[r["kind"], r["objective"]][r["method"]] = r
    lines = ["| kind | prompt | solved | " + " | ".join(names) + " |",
             "|---|---|--:|" + "--:|" * len(names)]
    for (kind, objective), row in cells.items():
        solved = max(r["solved"] for r in row.values())
        out = []
        for m in names:
            r = row.get(m)
            cell = "-" if r is None else _pct(r["mean_gap"])
            if r is not None and r["missed"]:
                cell += f" ({r['missed']} none)"
            out.append(cell)
        lines.append(f"| {kind} | {objective} | {solved}/{len(data['seeds'])} | "
                     + " | ".join(out) + " |")
    lines.append("")
    lines.append("`infeasible` on an instance another method solved: "
                 + ", ".join(f"{m} {data['false_infeasible'][m]}" for m in names) + ".")
    return "\n".join(lines) + "\n"


def add_run_options(parser: argparse.ArgumentParser, methods: tuple[str, ...],
                    time_limit: float) -> None:
    """The options of an audited run through the bench harness (this script and
    bench_fuzz.py): --time-limit, --workers, --out, --resume, --json and --methods."""
    parser.add_argument("--time-limit", type=float, default=time_limit, help="per run [s]")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="bench folder (default: temp)")
    parser.add_argument("--resume", action="store_true",
                        help="with --out: keep the runs already done there (add methods)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="also write the summary here")
    parser.add_argument("--methods", default=",".join(methods),
                        help="method specs, comma-separated (name=method:key=value...)")


def print_audit(names: list[str], false_infeasible: Counter, missed: Counter,
                rows: list[dict]) -> None:
    """The audit's lines: false `infeasible`, runs without a decision and runs past the
    time limit (mecopt.bench.report.past_limit), per method; rows from `audit`."""
    print("false infeasible: " + ", ".join(f"{m} {false_infeasible[m]}" for m in names))
    print("no feasible answer on a solved instance: "
          + ", ".join(f"{m} {missed[m]}" for m in names))
    print("past the time limit: " + ", ".join(
        f"{m} {sum(r['late'] for r in rows if r['method'] == m)}" for m in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    add_run_options(parser, METHODS, time_limit=10.0)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    out = args.out or Path(tempfile.mkdtemp(prefix="mecopt-stress-"))
    folders = draw(seeds, out / "instances")
    methods = tuple(m for m in args.methods.split(",") if m)
    report = run_bench(folders, methods, ("latency", "energy"), out=out / "bench",
                       time_limit=args.time_limit, workers=args.workers, bound=True,
                       force=not args.resume, resume=args.resume,
                       command="benchmarks/bench_stress.py")
    rows, false_infeasible, missed = audit(report.rows)
    names = [m.split("=")[0] for m in methods]
    if args.json:
        args.json.write_text(json.dumps(
            {"seeds": seeds, "time_limit_s": args.time_limit, "methods": list(methods),
             "rows": rows, "false_infeasible": {m: false_infeasible[m] for m in names},
             "missed": {m: missed[m] for m in names}}, indent=1) + "\n")
    print(f"{'kind':11s} {'prompt':8s} {'method':13s} {'mean gap':>9s} {'worst':>9s}  statuses")
    for r in rows:
        print(f"{r['kind']:11s} {r['objective']:8s} {r['method']:13s} "
              f"{_pct(r['mean_gap']):>9s} {_pct(r['worst_gap']):>9s}  {r['statuses']}")
    print_audit(names, false_infeasible, missed, rows)
    print(f"{report.new_runs} runs in {report.elapsed_s:.0f} s; outputs in {out}")


if __name__ == "__main__":
    main()
