"""`mecopt reference`: proven optima for an instance library, written as reference.json.

This is how instances/paper/reference.json and instances/hetero/reference.json are made;
benchmarks read them to compute gaps without re-solving (mecopt/reference.py has the format).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import click

import mecopt
from mecopt.cli.main import InputFailure, cli
from mecopt.instance import Instance
from mecopt.objective import Objective
from mecopt.reference import load_reference, save_reference


def reference_optima(instances: Sequence[Instance], objectives: Sequence[Objective], *,
                     time_limit: float | None = None,
                     report: Callable[[Instance, Objective, mecopt.Solution], None] | None = None,
                     known: dict[str, dict[str, dict[str, float]]] | None = None,
                     ) -> dict[str, dict[str, dict[str, float]]]:
    """Solve each (instance, objective) with `highs`; keep the proven optima only.

    `known`: optima already proven (a reference file's "optima"); those pairs are not solved
    again, and the result holds them too.
    Returns {instance name: {objective: {"value", "gap", "time_s"}}} (the reference format).
    """
    optima = {name: dict(entries) for name, entries in (known or {}).items()}
    for inst in instances:
        for obj in objectives:
            if obj.value in optima.get(inst.name, {}):
                continue
            sol = mecopt.solve(inst, obj, "highs", time_limit=time_limit)
            if report is not None:
                report(inst, obj, sol)
            if sol.status == "optimal":
                optima.setdefault(inst.name, {})[obj.value] = {
                    "value": sol.objective_value, "gap": sol.gap,
                    "time_s": round(sol.wall_time_s, 3)}
    return optima


@cli.command("reference")
@click.argument("instances", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="the reference.json to write")
@click.option("--objectives", default="latency,energy", show_default=True,
              help="objectives, comma-separated")
@click.option("--time-limit", type=float, default=None,
              help="seconds per solve; an optimum not proven within it is left out "
                   "[default: no limit]")
@click.option("--force", is_flag=True, help="overwrite --output if it exists")
@click.option("--update", is_flag=True,
              help="add to the existing --output: keep its optima and solve only the "
                   "(instance, objective) pairs it lacks")
def reference_command(instances, output, objectives, time_limit, force, update):
    """Compute proven optima of INSTANCES (files, or folders of *.json) with `highs` and
    write them, with this command line, as a reference file."""
    from mecopt.bench import collect_instances  # the bench harness: only when this runs

    out = Path(output)
    if force and update:
        raise click.UsageError("give at most one of --force and --update")
    if out.exists() and not (force or update):
        raise InputFailure(f"{out} exists; pass --force to overwrite it or --update to "
                               f"add to it")
    before = load_reference(out) if update and out.exists() else None
    objs = [Objective.parse(o) for o in objectives.split(",") if o.strip()]
    col = collect_instances(instances)
    for _, why in col.skipped:
        click.echo(f"skipped {why}", err=True)

    def report(inst, obj, sol):
        gap = "-" if sol.gap is None else f"{sol.gap:.1e}"
        click.echo(f"{inst.name:12s} {obj.value:8s} {sol.status:10s} {sol.wall_time_s:8.2f} s  "
                   f"value {sol.objective_value}  gap {gap}", err=True)

    start = time.perf_counter()
    optima = reference_optima([inst for inst, _ in col.instances], objs,
                              time_limit=time_limit, report=report,
                              known=before["optima"] if before else None)
    words = ["mecopt", "reference", *instances, "-o", output]
    if objectives != "latency,energy":
        words += ["--objectives", objectives]
    if time_limit is not None:
        words += ["--time-limit", str(time_limit)]
    if update:
        words.append("--update")
    # An updated file is remade by its commands in order.
    command = shlex.join(words) if before is None else f"{before['command']} && {shlex.join(words)}"
    save_reference(out, optima, command=command)
    names = {inst.name for inst, _ in col.instances}
    proven = sum(o.value in optima.get(n, {}) for n in names for o in objs)
    click.echo(f"wrote {out}: {proven} of {len(names) * len(objs)} optima proven in "
               f"{time.perf_counter() - start:.1f} s", err=True)
