"""LAMBO against greedy (and DE) on the held-out libraries: gap, time, throughput, latency.

    python benchmarks/bench_lambo.py [--checkpoint PATH] [--samples 64] [--temperature 1]
                                     [--methods greedy,lambo,lambo-auto,lambo-best,
                                                lambo-polish,lambo-starts,de] [--de 3]
                                     [--families paper,hetero,large] [--no-speed] [--threads 1]
                                     [--device cpu] [--json out.json]

Measures, per family (instances/paper, instances/hetero, and instances/large: hetero with
100..200 UEs; never used in training) and objective: the mean and worst gap to the proven
optimum (instances/<family>/reference.json; when that file or an entry is missing the gap is
measured against greedy instead and the table says "vs greedy"), the number of instances
better than greedy, and the median time per solve call, for greedy, lambo greedy decoding
(lambo: the `--checkpoint`'s decode, lambo-s by default, no guard, no relocation), the
default `lambo` (lambo-auto: checkpoint auto, with the guard and the relocation passes),
lambo best-of-k (lambo-best, its decodes alone), lambo greedy
decoding polished by mecopt.descend (lambo-polish), lambo polishing the 4 best distinct of
8 decodes (lambo-starts: samples=8, polish=true, starts=4) and DE (de: on the first
`--de K` instances per family only, default time limit; slow). With DE on every instance,
how many times faster than DE each method is and whether its gap is no worse than DE's.
Then:
- throughput: greedy decoding of 4x50 paper instances in one batch of 200 (the median of 3
  batches after a warm-up batch), instances per second
  (features + decode + exact costs);
- per-call latency: median wall time of one `mecopt.solve(..., "lambo")` after loading.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import mecopt
from mecopt.bench import GapSummary, collect_instances, percent, relative_gap
from mecopt.generators import generate
from mecopt.learned import load_cached
from mecopt.learned.lambo_method import decode_instances, decode_threads
from mecopt.objective import Objective

ROOT = Path(__file__).resolve().parents[1] / "instances"
OBJECTIVES = (Objective.LATENCY, Objective.ENERGY)


def gap_table(family: str, methods: dict, use_greedy: bool, de: int, rows: list) -> None:
    col = collect_instances([ROOT / family])  # with the optima of its reference.json
    insts = [inst for inst, _ in col.instances]
    for obj in OBJECTIVES:
        greedy = [mecopt.solve(i, obj, "greedy") for i in insts]
        base = {}
        for inst, g in zip(insts, greedy, strict=True):
            best = col.reference.get((inst.name, obj.value))
            base[inst.name] = (best, "optimum") if best is not None else (g.objective_value,
                                                                          "vs greedy")
        runs = {"greedy": (greedy, insts)} if use_greedy else {}
        for label, options in methods.items():
            runs[label] = ([mecopt.solve(i, obj, "lambo", **options) for i in insts], insts)
        if de:
            runs["de"] = ([mecopt.solve(i, obj, "de") for i in insts[:de]], insts[:de])
        g_value = {s.instance: s.objective_value for s in greedy}
        for label, (sols, _) in runs.items():
            gaps, better, ms, kinds = [], 0, [], set()
            for s in sols:
                ms.append(1e3 * s.wall_time_s)
                if not s.feasible:
                    continue
                b, kind = base[s.instance]
                kinds.add(kind)
                gaps.append(relative_gap(s.objective_value, b))
                if g_value[s.instance] is not None and \
                        s.objective_value < g_value[s.instance] * (1 - 1e-9):
                    better += 1
            summary = GapSummary.of(gaps)
            row = {"family": family, "objective": obj.value, "method": label,
                   "n": len(sols), "feasible": len(gaps),
                   "mean_gap_pct": percent(summary.mean),
                   "worst_gap_pct": percent(summary.worst),
                   "better_than_greedy": better, "median_ms": statistics.median(ms),
                   "reference": "/".join(sorted(kinds))}
            rows.append(row)
            print_row(row)


def against_de(rows: list) -> None:
    """The issue's speed target, side by side from this run: per family and objective, how
    many times faster than DE each method's median call is, and whether its mean gap is no
    worse than DE's (to 0.0005 points, the table's rounding). Only rows DE shares all
    instances with count."""
    des = [r for r in rows if r["method"] == "de"]
    if des:
        print("against DE (same instances, this run): speed-up of the median call; "
              "gap <= DE's?")
    for de in des:
        for r in rows:
            if (r["family"], r["objective"]) != (de["family"], de["objective"]) \
                    or r["method"] == "de" or r["n"] != de["n"] or r["mean_gap_pct"] is None:
                continue
            same = r["mean_gap_pct"] <= (de["mean_gap_pct"] or 0.0) + 5e-4
            print(f"{r['family']:7s} {r['objective']:8s} {r['method']:14s} "
                  f"{de['median_ms'] / r['median_ms']:7.1f}x  gap {r['mean_gap_pct']:.3f}% vs "
                  f"{de['mean_gap_pct']:.3f}%: {'no worse' if same else 'worse'}", flush=True)


def print_row(r: dict) -> None:
    def fmt(x: float | None) -> str:
        return f"{x:8.3f}%" if x is not None else f"{'-':>9s}"

    print(f"{r['family']:7s} {r['objective']:8s} {r['method']:14s} {r['feasible']:>3d}/"
          f"{r['n']:<3d} {fmt(r['mean_gap_pct'])} {fmt(r['worst_gap_pct'])} "
          f"{r['better_than_greedy']:>6d} {r['median_ms']:9.2f}  {r['reference']}", flush=True)


def throughput(checkpoint: str, device: str, n: int = 200,
               runs: int = 3) -> tuple[float, float]:
    """Instances per second of wall time and of this process's CPU time (the machine may be
    shared: CPU time is what the decode costs), median of `runs` batches after one warm-up
    batch of the same size (the first batch of a size also pays for allocating its
    tensors)."""
    insts = [generate("paper", 50, 4, seed=4_000_000 + k) for k in range(n)]
    objs = [OBJECTIVES[k % 2] for k in range(n)]
    walls, cpus = [], []
    for _ in range(runs + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        decode_instances(insts, objs, checkpoint=checkpoint, device=device)
        walls.append(n / (time.perf_counter() - wall))
        cpus.append(n / (time.process_time() - cpu))
    return statistics.median(walls[1:]), statistics.median(cpus[1:])


def call_latency(checkpoint: str, device: str, calls: int = 20) -> tuple[float, float]:
    """Median wall and CPU milliseconds of one solve call (model already loaded)."""
    inst = mecopt.Instance.load(ROOT / "paper" / "paper-000.json")
    # The first call loads the model (and on a GPU initializes CUDA).
    mecopt.solve(inst, "latency", "lambo", checkpoint=checkpoint, device=device)
    wall, cpu = [], []
    for k in range(calls):
        w, c = time.perf_counter(), time.process_time()
        mecopt.solve(inst, OBJECTIVES[k % 2], "lambo", checkpoint=checkpoint, device=device)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="", help="default: the shipped lambo-s")
    parser.add_argument("--samples", type=int, default=64, help="k of best-of-k")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="sampling temperature of best-of-k")
    parser.add_argument("--families", default="paper,hetero,large")
    parser.add_argument("--methods", default="greedy,lambo,lambo-best",
                        help="any of greedy, lambo, lambo-auto, lambo-best, lambo-polish, "
                             "lambo-starts, de")
    parser.add_argument("--de", type=int, default=3, help="DE on the first K instances")
    parser.add_argument("--no-speed", action="store_true", help="skip throughput and latency")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="torch device of lambo: cpu, cuda")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _, info = load_cached("lambo", args.checkpoint, args.device)
    print(f"checkpoint: {args.checkpoint or 'shipped lambo-s'} (step {info['step']}; "
          f"{info['command']}); torch threads {args.threads}; device {args.device}")
    chosen = args.methods.split(",")
    methods = {}
    model = {"checkpoint": args.checkpoint, "device": args.device}
    # The checkpoint's decodes (greedy and best-of-k) alone: refine=false leaves out the
    # default's relocation passes.
    if "lambo" in chosen:
        methods["lambo"] = dict(model, refine=False)
    if "lambo-auto" in chosen:  # the default `lambo`: checkpoint auto, with the guard
        methods["lambo auto"] = {"device": args.device}
    if "lambo-polish" in chosen:
        methods["lambo polish"] = dict(model, polish=True)
    if "lambo-starts" in chosen:
        methods["lambo 4 starts"] = dict(model, samples=8, polish=True, starts=4)
    if "lambo-best" in chosen:
        methods[f"lambo best-{args.samples}"] = dict(model, samples=args.samples,
                                                     temperature=args.temperature,
                                                     refine=False)
    rows: list = []
    print(f"{'family':7s} {'obj':8s} {'method':14s} {'feas':>7s} {'mean gap':>9s} "
          f"{'worst gap':>9s} {'<greedy':>6s} {'median ms':>9s}  reference")
    for family in args.families.split(","):
        gap_table(family, methods, "greedy" in chosen, args.de if "de" in chosen else 0, rows)
    against_de(rows)
    if args.no_speed:
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": rows}, indent=1) + "\n")
        return
    threads = decode_threads(0, 200)  # what lambo's default (auto) picks for the batches
    tput = throughput(args.checkpoint, args.device)
    lat = call_latency(args.checkpoint, args.device)
    print(f"throughput: {tput[0]:.0f} instances/s wall, {tput[1]:.0f} per CPU-second "
          f"(4x50, greedy decoding, batches of 200, median of 3; {threads} decode thread(s), "
          "the default auto choice)")
    print(f"per-call latency: {lat[0]:.1f} ms wall, {lat[1]:.1f} ms CPU, median "
          "(mecopt.solve, lambo, 4x50, model loaded)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "throughput_per_s": tput,
                                               "call_latency_ms": lat}, indent=1) + "\n")


if __name__ == "__main__":
    main()
