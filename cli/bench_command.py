"""`mecopt bench`: benchmark methods on instance libraries (the library is mecopt.bench)."""

from __future__ import annotations

import shlex
import sys
import time

import click

from mecopt.cli.main import cli


@cli.command("bench")
@click.argument("instances", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--methods", "-m", required=True, metavar="SPEC[,SPEC...]",
              help="methods to compare, comma-separated; each [LABEL=]NAME[:KEY=VALUE...], "
                   "e.g. greedy,de:generations=50,lambo_s=lambo:samples=64")
@click.option("--objectives", default="latency,energy", show_default=True,
              help="objectives, comma-separated")
@click.option("--time-limit", type=float, default=None,
              help="seconds per run, passed to every method (method default if unset); a run "
                   "still going after twice this plus 30 s is stopped as a timeout")
@click.option("--seeds", default="0", show_default=True,
              help="random seeds, comma-separated; every method runs once per seed")
@click.option("--bound", is_flag=True,
              help="also compute a lower bound (mecopt.bound) for every run and report the "
                   "certified gap (value - bound) / value")
@click.option("--workers", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="parallel worker processes (each runs torch/BLAS on one thread)")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
              show_default=True,
              help="where the runs go: local processes, or a dask.distributed cluster "
                   "(the dask extra; see --scheduler)")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="with --executor dask: the scheduler of an existing cluster, e.g. "
                   "tcp://10.0.0.5:8786 (default: a local cluster of --workers processes)")
@click.option("--resume", is_flag=True,
              help="continue the benchmark in --out, skipping the runs already there")
@click.option("--force", is_flag=True,
              help="start over in a non-empty --out (deletes only the harness's own files)")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="output folder: runs.jsonl, results.csv/json, summary.md, plots")
def bench_command(instances, methods, objectives, time_limit, seeds, bound, workers, executor,
                  scheduler, resume, force, out):
    """Run every method on every instance (files, or folders of *.json) for each objective
    and seed; write per-run results, a summary and plots into --out.

    Gaps are to the proven optimum in a reference.json beside the instances, else to the
    best value found in this benchmark. Ctrl-C leaves a consistent folder; rerun with
    --resume to finish it.
    """
    from mecopt import bench  # the harness (multiprocessing, csv, plots) loads when it runs

    start = time.perf_counter()
    col = bench.collect_instances(instances)
    for _, error in col.skipped:
        click.echo(f"skipped {error}", err=True)
    specs = bench.parse_methods(methods)
    for spec in specs:
        spec.check()
    objs = bench.parse_objectives(objectives)
    seed_list = bench.parse_seeds(seeds)
    bench.check_executor(executor, scheduler)
    done = bench.open_out(out, resume=resume, force=force)
    runs = bench.plan(col, specs, objs, seed_list, time_limit=time_limit, done=done,
                      bound=bound)
    click.echo(f"{len(col.instances)} instances, {len(specs)} methods, {len(objs)} objectives, "
               f"{len(seed_list)} seeds: {len(runs)} runs to do"
               + (f", {len(done)} already in {out}" if done else ""), err=True)
    command = "mecopt " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else ""
    n = 0
    interrupted = False
    try:
        with click.progressbar(length=len(runs), file=sys.stderr, label="bench",
                               item_show_func=lambda text: text, show_pos=True) as bar:
            for row in bench.execute(runs, out, workers=workers, executor=executor,
                                     scheduler=scheduler,
                                     on_start=lambda run: bar.update(0, run.describe())):
                n += 1
                bar.update(1, f"{row.method} {row.instance} {row.objective} seed {row.seed}: "
                              f"{row.status.value}")
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bench.write_manifest(out, col, specs, command=command,
                             elapsed_s=time.perf_counter() - start, n_runs=n)
        bench.write_outputs(out)
    if interrupted:
        click.echo(f"interrupted after {n} of {len(runs)} runs; {out} is consistent, rerun "
                   "with --resume to finish", err=True)
        sys.exit(130)
    click.echo(f"{n} runs in {time.perf_counter() - start:.1f} s; results in {out} "
               "(summary.md, results.csv, results.json, *.png)", err=True)
