"""Put the benchmarks' tables into docs/results.md, lambo.md, alef.md, heuristics.md,
baselines.md, bounds.md, batch.md, exact.md and serve.md, from the files the runs wrote.

    python benchmarks/render_results.py          # after bash benchmarks/case_study.sh
    python benchmarks/render_results.py --check  # exit 1 if a page differs from its rendering

Each rendered table follows an HTML comment that says where it comes from; this script
replaces each marked table with the one computed from that file, so the pages cannot drift
from the runs (tests/test_docs.py runs the check):
- `<!-- table: FAMILY OBJECTIVE -->` (results.md): the table for that family and objective
  in docs/figures/FAMILY-summary.md (written by `mecopt bench`);
- `<!-- methods: FAMILY OBJECTIVE M1,M2,... -->` (heuristics.md, baselines.md): those
  methods' rows of that table, in the columns EXCERPT;
- `<!-- bound: NAME -->` (bounds.md): the bound's distance below the optima, from
  docs/figures/NAME.json (written by `bench_bound.py --json`);
- `<!-- seeds: FAMILY -->` (results.md): the seed spread, computed from
  docs/figures/seeds-FAMILY-results.csv (mean gap per seed, worst gap, feasible runs);
- `<!-- lambo: NAME -->` (lambo.md): gaps and times of every method, from
  docs/figures/NAME.json (written by `bench_lambo.py --json`);
- `<!-- alef: NAME -->` (alef.md): `bench_alef.py table` of docs/figures/NAME.csv;
- `<!-- alef-shift: NAME -->` (alef.md): `bench_alef.py shift-table` of docs/figures/NAME.csv
  (the shift study);
- `<!-- alef-averages: NAME ALL -->` (alef.md): the mean final held-out gaps over every
  cell of docs/figures/NAME.csv, and of the `all` strategy's runs in docs/figures/ALL.csv;
- `<!-- scaling: NAME -->` (batch.md): time and memory per method and size, from
  docs/figures/NAME.json (written by `bench_scaling.py --json`);
- `<!-- highs: NAME -->` (exact.md): `highs`'s optimal solves, times and gaps per family and
  objective, from docs/figures/NAME.json (written by `bench_highs.py --json`);
- `<!-- energy-scale: NAME -->` (exact.md): `highs` against `scip` and the fast path on
  large energy instances, from docs/figures/NAME.json (`bench_energy_scale.py --json`);
- `<!-- serve: NAME -->` (serve.md), `<!-- batch: NAME -->` and `<!-- startup: NAME -->`
  (batch.md): the service, batch and start-up figures of docs/figures/NAME.json
  (`bench_serve.py`, `bench_batch.py`, `bench_startup.py`, each with `--json`);
- `<!-- generalization: NAME -->` (lambo.md): LAMBO and the other methods on families it
  never trained on, from docs/figures/NAME.json (`bench_generalization.py --json`);
- `<!-- stress: NAME -->` (results.md): every method on the stress kinds, from
  docs/figures/NAME.json (`bench_stress.py --json`);
- `<!-- fuzz: NAME -->` (lambo.md): every method on the scale fuzz, from
  docs/figures/NAME.json (`bench_fuzz.py --json`);
- `<!-- exchange: NAME -->` (heuristics.md): `descend` without and with its exchanges or
  its room moves, from docs/figures/NAME.json (`bench_exchange.py --json`);
- `<!-- packing: NAME -->` (heuristics.md): the packing search against HiGHS's MILP, from
  docs/figures/NAME.json (`bench_packing.py --json`).
- `<!-- decode-speed: NAME -->` (lambo.md): the decode's speed per loop setting, from
  docs/figures/NAME.json (`bench_decode_speed.py --json`);
- `<!-- tabu: NAME -->` (heuristics.md): LAMBO's energy polish and LNS with and without the
  tabu search, beside DE, HiGHS and SCIP, from docs/figures/NAME.json (`bench_tabu.py
  --json`).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
FIGURES = DOCS / "figures"
PAGES = ("results.md", "lambo.md", "alef.md", "heuristics.md", "baselines.md", "bounds.md",
         "batch.md", "exact.md", "serve.md")
MARK = re.compile(r"<!-- table: ([\w-]+) (\w+) -->\n(?:\|.*\n)*")
METHODS = re.compile(r"<!-- methods: ([\w-]+) (\w+) ([\w,]+) -->\n(?:\|.*\n)*")
BOUND = re.compile(r"<!-- bound: ([\w-]+) -->\n(?:\|.*\n)*")
SEEDS = re.compile(r"<!-- seeds: (\w+) -->\n(?:\|.*\n)*")
LAMBO = re.compile(r"<!-- lambo: ([\w-]+) -->\n(?:\|.*\n)*")
ALEF = re.compile(r"<!-- alef: ([\w-]+) -->\n(?:\|.*\n)*")
ALEF_SHIFT = re.compile(r"<!-- alef-shift: ([\w-]+) -->\n(?:\|.*\n)*")
ALEF_AVERAGES = re.compile(r"<!-- alef-averages: ([\w-]+) ([\w-]+) -->\n(?:\|.*\n)*")
SCALING = re.compile(r"<!-- scaling: ([\w-]+) -->\n(?:\|.*\n)*")
HIGHS = re.compile(r"<!-- highs: ([\w-]+) -->\n(?:\|.*\n)*")
ENERGY_SCALE = re.compile(r"<!-- energy-scale: ([\w-]+) -->\n(?:\|.*\n)*")
SERVE = re.compile(r"<!-- serve: ([\w-]+) -->\n(?:\|.*\n)*")
BATCH = re.compile(r"<!-- batch: ([\w-]+) -->\n(?:\|.*\n)*")
STARTUP = re.compile(r"<!-- startup: ([\w-]+) -->\n(?:\|.*\n)*")
GENERALIZATION = re.compile(r"<!-- generalization: ([\w-]+) -->\n(?:\|.*\n)*")
EXCHANGE = re.compile(r"<!-- exchange: ([\w-]+) -->\n(?:\|.*\n)*")
PACKING = re.compile(r"<!-- packing: ([\w-]+) -->\n(?:\|.*\n)*")
TABU = re.compile(r"<!-- tabu: ([\w-]+) -->\n(?:\|.*\n)*")
DECODE_SPEED = re.compile(r"<!-- decode-speed: ([\w-]+) -->\n(?:\|.*\n)*")
STRESS = re.compile(r"<!-- stress: ([\w-]+) -->\n(?:\|.*\n|\n`infeasible`.*\n)*")
FUZZ = re.compile(r"<!-- fuzz: ([\w-]+) -->\n(?:\|.*\n|\n`infeasible`.*\n)*")


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


# The columns of a summary table that a `methods` excerpt keeps.
EXCERPT = ("method", "feasible", "mean gap", "worst gap", "median time")


def methods_table(family: str, objective: str, methods: str) -> str:
    """The rows of METHODS (comma-separated, in that order) of summary_table(FAMILY,
    OBJECTIVE), in the columns EXCERPT."""
    head, _, *body = (line.strip("|").split("|") for line in
                      summary_table(family, objective).splitlines())
    head = [cell.strip() for cell in head]
    keep = [head.index(name) for name in EXCERPT]
    rows = {cells[0].strip(): cells for cells in body}
    out = ["| " + " | ".join(EXCERPT) + " |", "|---|" + "---:|" * (len(EXCERPT) - 1)]
    out += ["| " + " | ".join(rows[m][k].strip() for k in keep) + " |"
            for m in methods.split(",")]
    return "\n".join(out) + "\n"


def bound_table(name: str) -> str:
    """Per family and objective of docs/figures/NAME.json (`bench_bound.py --json`): mean and
    worst distance of the bound below the proven optimum. (Not the bound's time: the rows'
    times depend on the machine's load at the run, the optima's times on another run's.)"""
    rows = json.loads((FIGURES / f"{name}.json").read_text())
    out = ["| family | objective | instances | mean below optimum | worst |",
           "|---|---|--:|--:|--:|"]
    for family in dict.fromkeys(r["family"] for r in rows):
        for objective in dict.fromkeys(r["objective"] for r in rows):
            rs = [r for r in rows if r["family"] == family and r["objective"] == objective]
            if rs:
                out.append(f"| {family} | {objective} | {len(rs)} | "
                           f"{100 * statistics.fmean(r['below'] for r in rs):.4f}% | "
                           f"{100 * max(r['below'] for r in rs):.4f}% |")
    return "\n".join(out) + "\n"


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


# bench_lambo.py's method labels, in the page's order, and the page's names for them (a
# label ending in "-" is a prefix: "lambo best-64" is "lambo best-of-64").
LAMBO_METHODS = {"greedy": "greedy", "lambo": "**lambo** (greedy decoding)",
                 "lambo auto": "lambo, the default (auto, guard)",
                 "lambo best-": "lambo best-of-", "lambo polish": "lambo polish",
                 "lambo 4 starts": "lambo polish, 4 of 8 starts", "de": "DE"}
LAMBO_FAMILIES = {"paper": "paper 4x50"}


def _gap(x: float | None) -> str:
    """A gap in %, to 3 decimals; a nonzero one that would read 0.000% gets a fourth."""
    if x is None:
        return "-"
    return f"{x:.4f}%" if x and f"{x:.3f}" == "0.000" else f"{x:.3f}%"


def _lambo_method(method: str) -> tuple[int, str]:
    """(place in the table, name on the page) of one of bench_lambo.py's method labels."""
    for k, (label, name) in enumerate(LAMBO_METHODS.items()):
        if method == label or label.endswith("-") and method.startswith(label):
            return k, name + method[len(label):]
    return len(LAMBO_METHODS), method


def lambo_table(name: str) -> str:
    """Per family and prompt, every method of docs/figures/NAME.json (bench_lambo.py's rows):
    mean and worst gap, instances strictly better than greedy, median ms per call (one
    decimal below 5 ms)."""
    rows = json.loads((FIGURES / f"{name}.json").read_text())["rows"]
    out = ["| family | prompt | method | mean gap | worst gap | < greedy | ms / call |",
           "|---|---|---|---:|---:|---:|---:|"]
    for family, objective in dict.fromkeys((r["family"], r["objective"]) for r in rows):
        mine = sorted((r for r in rows if (r["family"], r["objective"]) == (family, objective)),
                      key=lambda r: _lambo_method(r["method"])[0])
        for k, r in enumerate(mine):
            if k == 0:
                vs = " (vs greedy)" if r["reference"] != "optimum" else ""
                head = f"| {LAMBO_FAMILIES.get(family, family)} | {objective}{vs} |"
            else:
                head = "| | |"
            label = _lambo_method(r["method"])[1]
            if r["feasible"] < r["n"]:
                label += f" ({r['feasible']}/{r['n']} feasible)"
            mean = _gap(r["mean_gap_pct"])
            if r["method"] == "lambo":
                mean = f"**{mean}**"
            better = "-" if r["method"] == "greedy" else f"{r['better_than_greedy']}/{r['n']}"
            ms = r["median_ms"]
            ms = f"{ms:.1f}" if ms < 5 else f"{ms:.0f}"
            out.append(f"{head} {label} | {mean} | {_gap(r['worst_gap_pct'])} | {better} | "
                       f"{ms} |")
    return "\n".join(out) + "\n"


def alef_table(name: str) -> str:
    """bench_alef.py's table of docs/figures/NAME.csv."""
    import bench_alef  # here, not above: it imports torch, which the other tables do without

    return bench_alef.table(str(FIGURES / f"{name}.csv")) + "\n"


def alef_shift_table(name: str) -> str:
    """bench_alef.py's shift-study table of docs/figures/NAME.csv."""
    import bench_alef

    return bench_alef.shift_table(str(FIGURES / f"{name}.csv")) + "\n"


def alef_averages(name: str, everything: str) -> str:
    """The final held-out gap, mean over every (scenario, seed, budget) cell of
    docs/figures/NAME.csv: without fine-tuning, per strategy (and per budget), and of the
    `all` strategy's runs in docs/figures/EVERYTHING.csv."""
    with open(FIGURES / f"{name}.csv") as f:
        rows = list(csv.DictReader(f))
    with open(FIGURES / f"{everything}.csv") as f:
        labelled = [r for r in csv.DictReader(f) if r["strategy"] == "all"]

    def mean(rs: list[dict], key: str = "final") -> float:
        return statistics.fmean(float(r[key]) for r in rs)

    budgets = sorted({int(r["budget"]) for r in rows})
    strategies = {s: [r for r in rows if r["strategy"] == s]
                  for s in dict.fromkeys(r["strategy"] for r in rows)}
    best = min(f"{mean(mine):.3f}" for mine in strategies.values())
    out = ["| | held-out gap at the end |", "|---|--:|",
           f"| no fine-tuning | {mean(rows, 'none_final'):.3f}% |"]
    for strategy, mine in strategies.items():  # the best strategy in bold
        value = f"{mean(mine):.3f}%"
        per_budget = ", ".join(f"{b} labels {mean([r for r in mine if int(r['budget']) == b]):.3f}"
                               for b in budgets)
        value = f"**{value}**" if value[:-1] == best else value
        out.append(f"| ALEF {strategy} | {value} ({per_budget}) |")
    all_budgets = "/".join(str(b) for b in sorted({int(r["budget"]) for r in labelled}))
    out.append(f"| ALEF `all` ({all_budgets} labels, {len(labelled)} runs) | "
               f"{mean(labelled):.3f}% |")
    return "\n".join(out) + "\n"


def highs_table(name: str) -> str:
    """bench_highs.py's table of docs/figures/NAME.json."""
    import bench_highs

    return bench_highs.table(json.loads((FIGURES / f"{name}.json").read_text())["summary"])


def _json_table(module: str) -> Callable[[str], str]:
    """NAME -> `module`.table of docs/figures/NAME.json."""
    def table(name: str) -> str:
        import importlib

        return importlib.import_module(module).table(
            json.loads((FIGURES / f"{name}.json").read_text()))
    return table


def render(text: str) -> tuple[str, int]:
    """The page with every marked table rendered, and how many there were."""
    total = 0
    for pattern, table in ((MARK, summary_table), (METHODS, methods_table),
                           (BOUND, bound_table), (SEEDS, seeds_table),
                           (LAMBO, lambo_table), (ALEF, alef_table), (ALEF_SHIFT, alef_shift_table),
                           (ALEF_AVERAGES, alef_averages), (SCALING, _json_table("bench_scaling")),
                           (HIGHS, highs_table), (ENERGY_SCALE, _json_table("bench_energy_scale")),
                           (GENERALIZATION, _json_table("bench_generalization")),
                           (EXCHANGE, _json_table("bench_exchange")),
                           (PACKING, _json_table("bench_packing")),
                           (TABU, _json_table("bench_tabu")),
                           (DECODE_SPEED, _json_table("bench_decode_speed")),
                           (STRESS, _json_table("bench_stress")),
                           (FUZZ, _json_table("bench_fuzz")),
                           (SERVE, _json_table("bench_serve")), (BATCH, _json_table("bench_batch")),
                           (STARTUP, _json_table("bench_startup"))):
        text, count = pattern.subn(lambda m, table=table: m[0][:m[0].index("\n") + 1]
                                   + table(*m.groups()), text)
        total += count
    return text, total


def stale() -> list[str]:
    """The pages that differ from their rendering."""
    texts = {name: (DOCS / name).read_text() for name in PAGES}
    return [name for name, text in texts.items() if render(text)[0] != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a page differs from its rendering")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for name in old:
            print(f"docs/{name} differs from its rendering: python "
                  "benchmarks/render_results.py", file=sys.stderr)
        return 1 if old else 0
    for name in PAGES:
        page = DOCS / name
        new, count = render(page.read_text())
        page.write_text(new)
        print(f"{page}: {count} tables rendered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
