"""Energy at scale (issue 17): `highs` against SCIP at equal time limits, and the fast path.

    python benchmarks/bench_energy_scale.py [--quick] [--time-limit S] [--fast-limit S]
                                            [--json PATH]

Instances: `mecopt generate --family hetero --ues 500 --servers 10 --seed 0` and
`--ues 1000 --servers 20 --seed 0,1,2`. For each: `highs` (greedy + LNS start, MIP start,
master in time slices with LNS between them) and `scip` with the same time limit
(incumbent, bound, gap, wall), and the fast path: greedy followed by
`mecopt.lns.improve` with what is left of the fast limit (value and wall time, greedy
included).

Targets: highs incumbent <= SCIP's and highs gap <= SCIP's at the time limit; the fast
path within 0.3% of SCIP's incumbent in <= 5 s. Everything runs in one process, one solve
at a time, so the comparison is side by side on the same machine.
--quick: 500 x 10 and 1000 x 20 seed 0 only, 15 s limits (a smoke run, not the targets).
--json PATH: the limits and one row per instance (docs/exact.md's table, rendered by
render_results.py).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import mecopt
from mecopt.bench import percent, relative_gap
from mecopt.construct import greedy_assignment
from mecopt.lns import improve_with_stats
from mecopt.objective import Objective

CASES = [(500, 10, 0), (1000, 20, 0), (1000, 20, 1), (1000, 20, 2)]
QUICK_CASES = [(500, 10, 0), (1000, 20, 0)]
FAST_TARGET = 0.003  # relative to SCIP's incumbent
FAST_MAX_S = 5.0


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two instances, 15 s limits")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds per exact solve (default 60; 15 with --quick)")
    parser.add_argument("--fast-limit", type=float, default=5.0,
                        help="seconds for the fast path, greedy + improve() together")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="write the limits and one row per instance to PATH")
    args = parser.parse_args()
    limit = args.time_limit or (15.0 if args.quick else 60.0)
    cases = QUICK_CASES if args.quick else CASES
    print(f"energy, exact time limit {limit:g} s, fast path greedy + improve() in "
          f"{args.fast_limit:g} s together", flush=True)
    head = (f"{'instance':14s} {'method':6s} {'status':9s} {'incumbent':>10s} {'bound':>10s} "
            f"{'gap %':>7s} {'wall s':>7s}")
    print(head, flush=True)
    verdicts, rows = [], []
    for n, m, seed in cases:
        inst = mecopt.generate("hetero", n_ues=n, n_servers=m, seed=seed)
        label = f"{n}x{m} s{seed}"
        res = {}
        for method in ("highs", "scip"):
            t = time.perf_counter()
            sol = mecopt.solve(inst, "energy", method, time_limit=limit)
            wall = time.perf_counter() - t
            res[method] = sol
            print(f"{label:14s} {method:6s} {sol.status!s:9s} {fmt(sol.objective_value):>10s} "
                  f"{fmt(sol.bound):>10s} {fmt(percent(sol.gap), '.3f'):>7s} {wall:7.1f}",
                  flush=True)
        t = time.perf_counter()
        start, _ = greedy_assignment(inst, Objective.ENERGY)
        greedy_value = mecopt.evaluate(inst, start).total_energy_j
        budget = args.fast_limit - (time.perf_counter() - t) - 0.1  # greedy counts too
        _, value, stats = improve_with_stats(inst, "energy", start, time_limit=budget, seed=0)
        wall = time.perf_counter() - t
        print(f"{label:14s} {'fast':6s} {'feasible':9s} {value:10.2f} {'':>10s} {'':>7s} "
              f"{wall:7.1f}   (greedy {greedy_value:.2f}; {stats.steps} sub-problems, "
              f"{stats.accepted} improved: {stats.by_kind})", flush=True)
        rows.append({"ues": n, "servers": m, "seed": seed, "greedy": greedy_value,
                     "fast": value, "fast_wall_s": wall,
                     **{f"{k}_{f}": getattr(sol, a) for k, sol in res.items() for f, a in
                        (("incumbent", "objective_value"), ("bound", "bound"), ("gap", "gap"))}})
        h, s = res["highs"], res["scip"]
        if s.objective_value is not None:
            ref = s.objective_value
            verdicts.append((label, "highs incumbent <= scip",
                             h.objective_value is not None and h.objective_value <= ref
                             * (1 + 1e-9), f"{fmt(h.objective_value)} vs {ref:.2f}"))
            verdicts.append((label, "highs gap <= scip gap",
                             h.gap is not None and s.gap is not None and h.gap <= s.gap,
                             f"{fmt(percent(h.gap), '.3f')}% vs {fmt(percent(s.gap), '.3f')}%"))
            rel = relative_gap(value, ref)
            verdicts.append((label, f"fast within {100 * FAST_TARGET:g}% of scip in "
                             f"<= {FAST_MAX_S:g} s", rel <= FAST_TARGET and wall <= FAST_MAX_S,
                             f"{100 * rel:+.3f}% in {wall:.1f} s"))
    if args.json:
        Path(args.json).write_text(json.dumps({"time_limit_s": limit,
                                               "fast_limit_s": args.fast_limit,
                                               "rows": rows}, indent=1) + "\n")
    print("\ntargets:")
    for label, what, ok, detail in verdicts:
        print(f"  {'met ' if ok else 'MISS'}  {label:14s} {what:38s} {detail}")


def table(data: dict) -> str:
    """docs/exact.md's table of `--json`'s output."""
    limit, fast = f"{data['time_limit_s']:g} s", f"{data['fast_limit_s']:g} s"
    out = [f"| instance | highs ({limit}) incumbent / bound / gap | scip ({limit}) incumbent / "
           f"bound / gap | fast path (greedy + LNS, {fast}) | greedy |", "|---|---|---|---|---|"]
    for r in data["rows"]:
        exact = [f"{fmt(r[k + '_incumbent'])} / {fmt(r[k + '_bound'])} / "
                 f"{fmt(percent(r[k + '_gap']))}%" for k in ("highs", "scip")]
        out.append(f"| {r['ues']} x {r['servers']}, seed {r['seed']} | {exact[0]} | {exact[1]} "
                   f"| {r['fast']:.2f} ({r['fast_wall_s']:.1f} s) | {r['greedy']:.2f} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
