"""Many instances in one `mecopt solve` process against one process per instance.

    python benchmarks/bench_batch.py [--n 1000] [--sample 20] [--family hetero]
                                     [--method lambo] [--repeat 5] [--keep DIR]
                                     [--json out.json]

Generates N instances of a family (seeds 0..N-1, named <family>-batch-<seed>) into a
temporary folder, then measures, side by side in one run:
- batch: one `mecopt solve FOLDER --method M -o OUT` process over all N (wall time, start-up
  and model loading included), and its time per instance;
- separate calls: `mecopt solve FILE --method M -o FILE` for a sample of `--sample`
  instances spread over the N; their mean wall time is extrapolated to N calls (the output
  says so), and the per-instance speedup of the batch is that mean over the batch's time per
  instance;
- decisions: the sampled separate calls' assignments against the batch's, and all N batch
  assignments against in-process one-by-one `mecopt.solve` calls (identical means every
  UE's placement is the same);
- CLI start-up: the median wall time of `--repeat` runs of `mecopt --help`, `mecopt methods`
  and `mecopt solve` with greedy on one instance.
The machine's load averages before and after are printed beside the figures: on a shared
machine every wall time depends on them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from processes import load_line, mecopt_command, timed

import mecopt


def assignments(folder: Path) -> dict[str, list[int]]:
    out = {}
    for path in folder.glob("*.json"):
        sol = mecopt.Solution.load(path)
        out[sol.instance] = sol.assignment
    return out


def table(data: dict) -> str:
    """The markdown table of a `--json` file (docs/batch.md)."""
    n, method = data["n"], data["method"]
    sample = data["separate_sample"]
    rows = [
        (f"one `mecopt solve` process over {n:,} {data['family']} instances, {method}",
         f"{data['batch_s']:.1f} s wall, {1e3 * data['batch_per_instance_s']:.1f} ms per "
         "instance"),
        (f"one separate call (mean of {sample}, every {n // sample}th instance)",
         f"{data['separate_mean_s']:.2f} s (median {data['separate_median_s']:.2f} s); "
         f"{n:,} calls extrapolated: {data['separate_extrapolated_s']:,.0f} s"),
        ("speedup per instance", f"{data['speedup']:.0f}x"),
        ("identical decisions", f"{data['identical_sample']}/{sample} against the separate "
         f"calls, {data['identical_all']:,}/{n:,} against in-process one-by-one solves"),
        ("load average (1 min) before, after",
         f"{data['load_before'][0]:.1f}, {data['load_after'][0]:.1f}")]
    return "\n".join(["| figure | value |", "| --- | --- |",
                      *(f"| {a} | {b} |" for a, b in rows)]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="instances in the batch")
    ap.add_argument("--sample", type=int, default=20, help="separate calls timed")
    ap.add_argument("--family", default="hetero")
    ap.add_argument("--method", default="lambo")
    ap.add_argument("--repeat", type=int, default=5, help="runs per start-up figure")
    ap.add_argument("--keep", default=None, help="work in this folder and keep it")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-batch-"))
    src, out, alone = work / "instances", work / "batch", work / "alone"
    for folder in (src, out, alone):
        folder.mkdir(parents=True, exist_ok=True)
    insts = [mecopt.generate(args.family, seed=s, name=f"{args.family}-batch-{s:04d}")
             for s in range(args.n)]
    for inst in insts:
        inst.save(src / f"{inst.name}.json")
    cmd = mecopt_command()
    figures: dict = {"n": args.n, "family": args.family, "method": args.method,
                     "load_before": os.getloadavg()}
    print(f"{args.n} {args.family} instances, method {args.method}; {load_line()}")

    t_batch = timed([*cmd, "solve", str(src), "--method", args.method, "-o", str(out),
                     "--force"])
    per_batch = t_batch / args.n
    step = max(1, args.n // args.sample)
    sample = insts[::step][: args.sample]
    t_alone = [timed([*cmd, "solve", str(src / f"{i.name}.json"), "--method", args.method,
                      "-o", str(alone / f"{i.name}.json"), "--force"]) for i in sample]
    per_call = statistics.mean(t_alone)
    figures.update(batch_s=t_batch, batch_per_instance_s=per_batch, separate_sample=len(sample),
                   separate_mean_s=per_call, separate_median_s=statistics.median(t_alone),
                   separate_extrapolated_s=per_call * args.n, speedup=per_call / per_batch)
    print(f"batch:    one process over {args.n} instances: {t_batch:.2f} s wall, "
          f"{1e3 * per_batch:.1f} ms per instance")
    print(f"separate: {len(sample)} separate calls timed (every {step}th instance), mean "
          f"{per_call:.3f} s, median {statistics.median(t_alone):.3f} s; extrapolated to "
          f"{args.n} calls: {per_call * args.n:.0f} s")
    print(f"speedup:  {per_call / per_batch:.1f}x per instance (separate-call mean / batch "
          "time per instance)")

    batch_a, alone_a = assignments(out), assignments(alone)
    same_sample = sum(batch_a[name] == a for name, a in alone_a.items())
    in_process = [mecopt.solve(i, "latency", args.method).assignment for i in insts]
    same_all = sum(batch_a[i.name] == a for i, a in zip(insts, in_process, strict=True))
    figures.update(identical_sample=same_sample, identical_all=same_all)
    print(f"decisions: {same_sample}/{len(alone_a)} identical to the separate calls, "
          f"{same_all}/{args.n} identical to in-process one-by-one solves")

    one = str(src / f"{insts[0].name}.json")
    starts = {"mecopt --help": [*cmd, "--help"], "mecopt methods": [*cmd, "methods"],
              "mecopt solve (greedy, 1 instance)": [*cmd, "solve", one, "--method", "greedy"]}
    for label, command in starts.items():
        runs = [timed(command) for _ in range(args.repeat)]
        figures[f"start: {label}"] = statistics.median(runs)
        print(f"start:    {label}: median {statistics.median(runs):.3f} s of {args.repeat} "
              f"(min {min(runs):.3f} s)")
    figures["load_after"] = os.getloadavg()
    print(f"after: {load_line()}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    if same_sample != len(alone_a) or same_all != args.n:
        sys.exit(1)


if __name__ == "__main__":
    main()
