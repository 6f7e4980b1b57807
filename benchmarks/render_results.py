"""Put the case study's tables into docs/results.md, from the summaries the run wrote.

    python benchmarks/render_results.py      # after bash benchmarks/case_study.sh

docs/results.md marks each table with an HTML comment, `<!-- table: FAMILY OBJECTIVE -->`,
followed by the table; this script replaces each marked table with the one for that family
and objective in docs/figures/FAMILY-summary.md (written by `mecopt bench`), so the page
cannot drift from the run. `<!-- seeds: FAMILY -->` marks the seed-spread table, computed
from docs/figures/seeds-FAMILY-results.csv (mean gap per seed, worst gap, feasible runs).
"""

from __future__ import annotations

import csv
import re
import statistics
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
MARK = re.compile(r"<!-- table: ([\w-]+) (\w+) -->\n(?:\|.*\n)*")
SEEDS = re.compile(r"<!-- seeds: (\w+) -->\n(?:\|.*\n)*")


def summary_table(family: str, objective: str) -> str:
    """The markdown table under `## OBJECTIVE:` in docs/figures/FAMILY-summary.md."""
    lines = (DOCS / "figures" / f"{family}-summary.md").read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"## {objective}:"))
    table = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return "\n".join(table) + "\n"


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def seeds_table(family: str) -> str:
    """Per seeded method and objective: the mean gap of each seed and the worst run."""
    with open(DOCS / "figures" / f"seeds-{family}-results.csv") as f:
        rows = list(csv.DictReader(f))
    seeds = sorted({int(r["seed"]) for r in rows})
    head = ["| method | objective | " + " | ".join(f"mean gap, seed {s}" for s in seeds)
            + " | worst gap (all seeds) | feasible |",
            "|---|---|" + "---:|" * (len(seeds) + 2)]
    body = []
    for objective in dict.fromkeys(r["objective"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows):
            mine = [r for r in rows if r["method"] == method and r["objective"] == objective]
            gaps = [float(r["gap"]) for r in mine if r["gap"]]
            per_seed = []
            for seed in seeds:
                g = [float(r["gap"]) for r in mine if int(r["seed"]) == seed and r["gap"]]
                per_seed.append(_pct(statistics.fmean(g)) if g else "-")
            worst = _pct(max(gaps)) if gaps else "-"
            feasible = sum(r["feasible"] == "True" for r in mine)
            body.append(f"| {method} | {objective} | " + " | ".join(per_seed)
                        + f" | {worst} | {feasible}/{len(mine)} |")
    return "\n".join(head + body) + "\n"


def main() -> None:
    page = DOCS / "results.md"
    text = page.read_text()
    new, count = MARK.subn(lambda m: f"<!-- table: {m[1]} {m[2]} -->\n"
                          + summary_table(m[1], m[2]), text)
    new, more = SEEDS.subn(lambda m: f"<!-- seeds: {m[1]} -->\n" + seeds_table(m[1]), new)
    page.write_text(new)
    print(f"{page}: {count + more} tables rendered")


if __name__ == "__main__":
    main()
