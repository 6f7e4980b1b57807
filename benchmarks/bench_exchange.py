"""What do `descend`'s exchanges (mecopt.exchange) or room moves (mecopt.room) add to it?

For each family and objective, K generated instances (seeds --seed up, none of them held
out: the held-out families are measured by bench_generalization.py). From each start (the
greedy assignment, and with `--starts greedy,lp` for energy also the LP relaxation's
rounding, mecopt.lns.lp_rounding) `descend` runs twice, side by side: without the
neighbourhood compared (`--compare exchanges`: `exchanges=False`, the neighbourhoods it had
before them; `--compare rooms`: `rooms=False`) and with it (the default). The reference is
the best of both and of `highs` with --time-limit seconds (its optimum where it proves
one). Printed per row: mean and worst gap of each descent to the reference, and mean
seconds per descent. Room moves are energy's only (`--objectives energy`).

    python benchmarks/bench_exchange.py [--k 4] [--seed 600000] [--time-limit 10] \
        [--families tight,sparse,world] [--compare exchanges|rooms] \
        [--objectives latency,energy] [--starts greedy[,lp]] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import mecopt
from mecopt.construct import greedy_assignment
from mecopt.descend import descend
from mecopt.generators import generate
from mecopt.lns import lp_rounding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4, help="instances per family")
    parser.add_argument("--seed", type=int, default=600_000)
    parser.add_argument("--time-limit", type=float, default=10.0, help="highs, per instance")
    parser.add_argument("--families", default="tight,sparse,world")
    parser.add_argument("--compare", choices=("exchanges", "rooms"), default="exchanges",
                        help="the neighbourhood turned off in the 'without' descent")
    parser.add_argument("--objectives", default="latency,energy")
    parser.add_argument("--starts", default="greedy",
                        help="greedy, and lp (energy: the LP relaxation's rounding)")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args()
    rows = []
    for family in args.families.split(","):
        for objective in args.objectives.split(","):
            for i in range(args.k):
                inst = generate(family, seed=args.seed + i)
                greedy, _ = greedy_assignment(inst, objective)
                if greedy is None:
                    continue
                starts = {"greedy": greedy}
                if "lp" in args.starts.split(",") and objective == "energy":
                    starts["lp"] = lp_rounding(inst, greedy, time_limit=args.time_limit)
                exact = mecopt.solve(inst, objective, "highs", time_limit=args.time_limit)
                for start_name, start in starts.items():
                    if start is None or start_name not in args.starts.split(","):
                        continue
                    row = {"family": family, "objective": objective, "instance": inst.name,
                           "n_ues": inst.n_ues, "n_servers": inst.n_servers,
                           "start": start_name}
                    for name, on in (("without", False), ("with", True)):
                        t = time.perf_counter()
                        _, row[f"{name}_value"] = descend(inst, objective, start,
                                                          **{args.compare: on})
                        row[f"{name}_s"] = time.perf_counter() - t
                    row["highs"] = exact.objective_value
                    row["highs_status"] = str(exact.status)
                    rows.append(row)
                    print(f"{inst.name} {objective} from {start_name}: without "
                          f"{row['without_value']:.6g} ({row['without_s']:.2f} s), with "
                          f"{row['with_value']:.6g} ({row['with_s']:.2f} s), highs "
                          f"{exact.objective_value}", flush=True)
    data = {"k": args.k, "seed": args.seed, "time_limit_s": args.time_limit,
            "compare": args.compare, "rows": rows}
    print(table(data))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)


def table(data: dict) -> str:
    """Markdown: per family and objective (and start, for room moves), each descent's mean
    and worst gap to the best of both and of highs, and its mean seconds."""
    compare = data.get("compare", "exchanges")
    by_start = compare != "exchanges"  # the exchange figures predate the starts
    out = ["| family | objective | " + ("start | " if by_start else "")
           + f"instances (N x M) | without: mean gap | worst | s | with {compare}: mean gap "
           "| worst | s |",
           "|---|---|" + ("---|" if by_start else "") + "---|--:|--:|--:|--:|--:|--:|"]
    cells: dict[tuple[str, ...], list[dict]] = {}
    for row in data["rows"]:
        key = (row["family"], row["objective"]) + ((row["start"],) if by_start else ())
        cells.setdefault(key, []).append(row)
    for key, rows in cells.items():
        gaps: dict[str, list[float]] = {"without": [], "with": []}
        for row in rows:
            ref = min([row["without_value"], row["with_value"]]
                      + ([row["highs"]] if row["highs"] is not None else []))
            for k in gaps:
                gaps[k].append(100 * (row[f"{k}_value"] / ref - 1))
        sizes = f"{len(rows)} ({min(r['n_ues'] for r in rows)}-{max(r['n_ues'] for r in rows)}" \
                f" x {min(r['n_servers'] for r in rows)}-{max(r['n_servers'] for r in rows)})"
        parts = [f"{np.mean(gaps[k]):.3f}% | {max(gaps[k]):.3f}% | "
                 f"{np.mean([r[f'{k}_s'] for r in rows]):.2f}" for k in ("without", "with")]
        out.append(f"| {' | '.join(key)} | {sizes} | {parts[0]} | {parts[1]} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
