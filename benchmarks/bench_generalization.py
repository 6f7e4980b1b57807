"""Generalization protocol (issue #18): the shipped LAMBO on families it never trained on.

    python benchmarks/bench_generalization.py [--families tight,manyserver,...] [--k 4]
        [--seed-base 5000000] [--objectives latency,energy] [--time-limit 30]
        [--workers 1] [--out DIR [--resume]] [--json PATH] [--methods SPEC,...]

Per family and prompt (latency, energy) it draws K instances (seeds 5,000,000 up, or
`--seed-base` up for fresh draws) and runs
lambo (the default: greedy decoding, with the guard and its refinement), lambo_pick (the
guard's pick without the refinement, refine=false), lambo_net (the network's greedy
decoding alone, guard=false), lambo best-of-8 (samples=8), lambo polish
(polish=true), lambo polish followed by one second of the shared LNS guided by the policy's
doubt (polish=true:lns=1), greedy, de, highs and scip through the bench harness
(`mecopt.bench.run_bench`, with the certified gap of `mecopt.bound`); `--methods` replaces
that list (name=method:options specs, e.g. `new=lambo:checkpoint=PATH` to compare a
checkpoint side by side). Each gap is against the best of all methods in the run (time limit
`--time-limit`): HiGHS, mecopt's own exact backend, and SCIP (the `scip` extra), the
external anchor, each with its optimum where it proves one. The held-out families (tight,
manyserver, heavytail, sparse-large) are never used in training or tuning; world is the
training world. It prints mean and worst gap, mean certified gap, the no_solution count and
the count of runs without a feasible answer (no_solution, timeout or error) per family x
prompt x method; `--json PATH` also writes them (docs/lambo.md's generalization table,
rendered by render_results.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from pathlib import Path

import mecopt
from mecopt.bench import run_bench
from mecopt.generators import HELD_OUT_FAMILIES

SEED_BASE = 5_000_000
METHODS = ("lambo", "lambo_pick=lambo:refine=false", "lambo_net=lambo:guard=false",
           "lambo_bo8=lambo:samples=8",
           "lambo_polish=lambo:polish=true", "lambo_lns=lambo:polish=true:lns=1", "greedy",
           "de", "highs", "scip")
DEFAULT_FAMILIES = (*HELD_OUT_FAMILIES, "world")


def draw(families: list[str], k: int, root: Path, seed_base: int = SEED_BASE) -> list[Path]:
    """K instances of each family written under root/<family>/ (seeds `seed_base` up)."""
    folders = []
    for family in families:
        folder = root / family
        folder.mkdir(parents=True, exist_ok=True)
        for seed in range(seed_base, seed_base + k):
            mecopt.generate(family, seed=seed).save(folder / f"{family}-{seed}.json")
        folders.append(folder)
    return folders


def summarize(rows: list) -> list[dict]:
    """Mean/worst gap, mean certified gap and no_solution count per family x prompt x method."""
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for row in rows:
        family = row.instance.rsplit("-", 1)[0]
        groups[family, row.objective, row.method].append(row)
    out = []
    for (family, objective, method), group in sorted(groups.items()):
        gaps = [r.gap for r in group if r.gap is not None]
        cert = [r.certified_gap for r in group if r.certified_gap is not None]
        out.append({"family": family, "objective": objective, "method": method,
                    "runs": len(group),
                    "mean_gap": sum(gaps) / len(gaps) if gaps else None,
                    "worst_gap": max(gaps) if gaps else None,
                    "mean_certified_gap": sum(cert) / len(cert) if cert else None,
                    "no_solution": sum(r.status.value == "no_solution" for r in group),
                    "not_feasible": sum(not r.feasible for r in group)})
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.3f}%"


def table(data: dict) -> str:
    """The summary of a `--json` file as a markdown table."""
    lines = ["| family | prompt | method | runs | mean gap | worst gap | mean certified gap "
             "| no_solution | no feasible answer |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in data["rows"]:
        lines.append(f"| {r['family']} | {r['objective']} | {r['method']} | {r['runs']} | "
                     f"{_pct(r['mean_gap'])} | {_pct(r['worst_gap'])} | "
                     f"{_pct(r['mean_certified_gap'])} | {r['no_solution']} | "
                     f"{r['not_feasible']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(DEFAULT_FAMILIES))
    parser.add_argument("--k", type=int, default=4, help="instances per family")
    parser.add_argument("--seed-base", type=int, default=SEED_BASE,
                        help="first seed of each family (fresh draws: another base)")
    parser.add_argument("--objectives", default="latency,energy")
    parser.add_argument("--time-limit", type=float, default=30.0, help="per run [s]")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="bench folder (default: temp)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="also write the summary here")
    parser.add_argument("--resume", action="store_true",
                        help="with --out: keep the runs already done there (add methods)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="method specs, comma-separated (name=method:key=value...)")
    args = parser.parse_args()
    families = [f for f in args.families.split(",") if f]
    for family in families:
        mecopt.generators.family_params(family)  # an unknown name fails first
    out = args.out or Path(tempfile.mkdtemp(prefix="mecopt-generalization-"))
    folders = draw(families, args.k, out / "instances", args.seed_base)
    methods = tuple(m for m in args.methods.split(",") if m)
    objectives = tuple(o for o in args.objectives.split(",") if o)
    report = run_bench(folders, methods, objectives, out=out / "bench",
                       time_limit=args.time_limit, workers=args.workers, bound=True,
                       force=not args.resume, resume=args.resume,
                       command="benchmarks/bench_generalization.py")
    rows = summarize(report.rows)
    if args.json:
        args.json.write_text(json.dumps(
            {"families": families, "k": args.k, "time_limit_s": args.time_limit,
             "seed_base": args.seed_base, "methods": list(methods), "rows": rows},
            indent=1) + "\n")
    print(f"{'family':13s} {'prompt':8s} {'method':13s} {'mean gap':>9s} {'worst':>9s} "
          f"{'cert.':>9s} {'no_sol':>6s} {'infeas':>6s}")
    for r in rows:
        print(f"{r['family']:13s} {r['objective']:8s} {r['method']:13s} "
              f"{_pct(r['mean_gap']):>9s} {_pct(r['worst_gap']):>9s} "
              f"{_pct(r['mean_certified_gap']):>9s} {r['no_solution']:6d} "
              f"{r['not_feasible']:6d}")
    print(f"{report.new_runs} runs in {report.elapsed_s:.0f} s; outputs in {out}")


if __name__ == "__main__":
    main()
