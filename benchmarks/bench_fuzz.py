"""Fuzz draws, every method: a scale fuzz and composite networks.

    python benchmarks/bench_fuzz.py [--kind scale|composite|composite-tight] [--count 40]
        [--seed-base 100] [--ues 200,1500] [--servers 4,40] [--time-limit 5]
        [--methods SPEC,...] [--out DIR [--resume]] [--json PATH]

`--kind scale` (the default), a scale fuzz: valid instances whose every field's scale is
drawn over several decades.

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

`--kind composite` draws networks of 200-1,500 UEs on 4-40 servers (`--ues`, `--servers`:
other ranges), each combining features drawn at random: UEs in 1-7 hot spots and servers
at random sites, rates from
path loss (exponent 2.5-4) with log-normal shadowing; on half of them each UE reaches only
its 1-5 nearest servers; 1-3 device classes (local CPUs and powers apart by up to 2.5 and
2.2 decades); log-normal task sizes with data and cycles correlated from -0.8 to 0.9; and
a share of 0-90% of the UEs whose deadline only a server meets. Capacities are planted
from those UEs: each server gets the f_min of the ones whose least f_min is there, times
1-5 (and 1-1.5 per server), plus 5% of all the UEs' cycles per median deadline, spread
over the servers at random. `--kind composite-tight` draws the same networks with the
planted factor 0.85-1.05 and 0.5% spread: capacity binds, energy is a generalized
assignment problem, and some draws are infeasible.
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


def composite_instance(seed: int, tight: bool = False, ues: tuple[int, int] = (200, 1500),
                       servers: tuple[int, int] = (4, 40)) -> mecopt.Instance:
    """One composite draw (see the module docstring); `tight`: capacities that bind;
    `ues`, `servers`: the ranges N and M are drawn from (inclusive)."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(ues[0], ues[1] + 1)), int(rng.integers(servers[0], servers[1] + 1))
    side = 1000.0  # m
    sites = rng.uniform(0, side, (m, 2))
    spots = rng.uniform(0, side, (int(rng.integers(1, 8)), 2))
    spot = rng.choice(len(spots), n, p=rng.dirichlet(np.full(len(spots), rng.uniform(0.3, 3))))
    places = np.clip(spots[spot] + rng.normal(0, rng.uniform(30, 300), (n, 2)), 0, side)
    distance = np.linalg.norm(places[:, None] - sites[None], axis=2) + 10
    snr = (10 ** rng.uniform(5, 9) * distance ** -rng.uniform(2.5, 4.0)
           * np.exp(rng.normal(0, rng.uniform(0.2, 1.5), (n, m))))
    rate = 10 ** rng.uniform(5.5, 7.5) * np.log2(1 + snr)
    if rng.random() < 0.5:  # each UE reaches its k nearest servers only
        k = int(rng.integers(1, min(m, 5) + 1))
        near = np.zeros((n, m), dtype=bool)
        np.put_along_axis(near, np.argsort(distance, axis=1)[:, :k], True, axis=1)
        rate = np.where(near, rate, 0.0)
    classes = int(rng.integers(1, 4))
    cls = rng.choice(classes, n)
    local_hz = 10 ** rng.uniform(7.5, 10, classes)[cls] * rng.uniform(0.7, 1.3, n)
    local_w = 10 ** rng.uniform(-1.5, 0.7, classes)[cls] * rng.uniform(0.7, 1.3, n)
    sigma, rho = rng.uniform(0, 1.5), rng.uniform(-0.8, 0.9)
    z = rng.normal(0, 1, (2, n))
    data = 10 ** rng.uniform(4.5, 7) * np.exp(sigma * z[0])
    cycles = (10 ** rng.uniform(7.5, 10)
              * np.exp(sigma * (rho * z[0] + np.sqrt(1 - rho ** 2) * z[1])))
    tx_w = 10 ** rng.uniform(-2, 0.5) * rng.uniform(0.5, 1.5, n)
    local_s = cycles / local_hz
    with np.errstate(divide="ignore"):
        upload = np.where(rate > 0, data[:, None] / rate, np.inf)  # (N, M) [s]
    # The UEs drawn to need a server get a deadline below their local time and at least
    # 1.3-3 times their fastest upload, so that some server can meet it.
    low = np.maximum(0.2 * local_s, upload.min(axis=1) * rng.uniform(1.3, 3, n))
    must = (rng.random(n) < rng.uniform(0, 0.9)) & (low < 0.95 * local_s)
    deadline = np.where(must, rng.uniform(np.minimum(low, 0.95 * local_s), 0.95 * local_s),
                        local_s * rng.uniform(1.05, 5, n))
    slack = deadline[:, None] - upload
    with np.errstate(divide="ignore", invalid="ignore"):
        f_min = np.where(slack > 0, cycles[:, None] / slack, np.inf)
    best = f_min.argmin(axis=1)
    planted = must & np.isfinite(f_min.min(axis=1))
    need = np.bincount(best[planted], weights=f_min[planted, best[planted]], minlength=m)
    factor = rng.uniform(0.85, 1.05) if tight else 10 ** rng.uniform(0, 0.7)
    share = np.exp(rng.normal(0, rng.uniform(0, 1.2), m))
    rest = cycles.sum() / np.median(deadline) * (0.005 if tight else 0.05) * share / share.sum()
    return mecopt.Instance(
        name=f"{'tight-' if tight else ''}composite-{seed}", data_bits=data, cycles=cycles,
        local_hz=local_hz, tx_power_w=tx_w, local_power_w=local_w, deadline_s=deadline,
        capacity_hz=need * factor * rng.uniform(1.0, 1.5, m) + rest, rate_bps=rate,
        ue_position_m=places, server_position_m=sites)


KINDS = {"scale": fuzz_instance, "composite": composite_instance,
         "composite-tight": lambda seed, **sizes: composite_instance(seed, tight=True, **sizes)}


def draw(count: int, seed_base: int, root: Path, kind: str = "scale", **sizes) -> Path:
    """The valid draws of `kind` among seeds seed_base .. seed_base + count - 1, written
    to root; `sizes`: composite_instance's `ues` and `servers`."""
    root.mkdir(parents=True, exist_ok=True)
    for seed in range(seed_base, seed_base + count):
        try:
            instance = KINDS[kind](seed, **sizes)
        except mecopt.InputError:
            continue
        instance.save(root / f"{instance.name}.json")
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
    parser.add_argument("--kind", choices=sorted(KINDS), default="scale")
    parser.add_argument("--count", type=int, default=40, help="seeds drawn")
    parser.add_argument("--seed-base", type=int, default=100)
    parser.add_argument("--ues", default="200,1500", help="composite: N range (inclusive)")
    parser.add_argument("--servers", default="4,40", help="composite: M range (inclusive)")
    add_run_options(parser, METHODS, time_limit=5.0)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="mecopt-fuzz-"))
    sizes = {}
    if args.kind != "scale":
        sizes = {key: tuple(int(x) for x in getattr(args, key).split(","))
                 for key in ("ues", "servers")}
    folder = draw(args.count, args.seed_base, out / "instances", args.kind, **sizes)
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
            {"kind": args.kind, **sizes, "count": args.count, "seed_base": args.seed_base,
             "instances": instances,
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
