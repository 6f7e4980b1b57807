"""What do the cyclic and path exchanges (mecopt.exchange) add to the shared local search?

For each family and objective, K generated instances (seeds --seed up, none of them held
out: the held-out families are measured by bench_generalization.py). From each greedy
assignment `descend` runs twice, side by side: without its exchanges (`exchanges=False`,
the neighbourhoods it had before) and with them (the default). The reference is the best of
both and of `highs` with --time-limit seconds (its optimum where it proves one). Printed per
row: mean and worst gap of each descent to the reference, and mean seconds per descent.

    python benchmarks/bench_exchange.py [--k 4] [--seed 600000] [--time-limit 10] \
        [--families tight,sparse,world] [--json out.json]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4, help="instances per family")
    parser.add_argument("--seed", type=int, default=600_000)
    parser.add_argument("--time-limit", type=float, default=10.0, help="highs, per instance")
    parser.add_argument("--families", default="tight,sparse,world")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args()
    rows = []
    for family in args.families.split(","):
        for objective in ("latency", "energy"):
            for i in range(args.k):
                inst = generate(family, seed=args.seed + i)
                start, _ = greedy_assignment(inst, objective)
                if start is None:
                    continue
                row = {"family": family, "objective": objective, "instance": inst.name,
                       "n_ues": inst.n_ues, "n_servers": inst.n_servers}
                for name, exchanges in (("without", False), ("with", True)):
                    t = time.perf_counter()
                    _, row[f"{name}_value"] = descend(inst, objective, start,
                                                      exchanges=exchanges)
                    row[f"{name}_s"] = time.perf_counter() - t
                exact = mecopt.solve(inst, objective, "highs", time_limit=args.time_limit)
                row["highs"], row["highs_status"] = exact.objective_value, str(exact.status)
                rows.append(row)
                print(f"{inst.name} {objective}: without {row['without_value']:.6g} "
                      f"({row['without_s']:.2f} s), with {row['with_value']:.6g} "
                      f"({row['with_s']:.2f} s), highs {exact.objective_value}", flush=True)
    data = {"k": args.k, "seed": args.seed, "time_limit_s": args.time_limit, "rows": rows}
    print(table(data))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)


def table(data: dict) -> str:
    """Markdown: per family and objective, each descent's mean and worst gap to the best of
    both and of highs, and its mean seconds."""
    out = ["| family | objective | instances (N x M) | without: mean gap | worst | s | "
           "with exchanges: mean gap | worst | s |",
           "|---|---|---|--:|--:|--:|--:|--:|--:|"]
    cells: dict[tuple[str, str], list[dict]] = {}
    for row in data["rows"]:
        cells.setdefault((row["family"], row["objective"]), []).append(row)
    for (family, objective), rows in cells.items():
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
        out.append(f"| {family} | {objective} | {sizes} | {parts[0]} | {parts[1]} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
