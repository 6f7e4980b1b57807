"""Core commands: solve, evaluate, methods."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

import mecopt
from mecopt.cli.main import (
    InputFailure,
    cli,
    load_instance,
    resolve_objective,
    write_output,
)
from mecopt.errors import InputError, refuse_existing
from mecopt.objective import Objective

# mecopt.solve's own parameters: as --option they would reach it twice.
SOLVE_FLAGS = {"instance": "INSTANCE", "objective": "--objective or --prompt",
               "method": "--method", "time_limit": "--time-limit", "seed": "--seed",
               "bound": "--bound"}


def parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputFailure(f"--option: expected KEY=VALUE, got {pair!r}")
        key = key.strip()
        if key in SOLVE_FLAGS:
            raise InputFailure(f"--option {key}: not a method option; use {SOLVE_FLAGS[key]}")
        if key in options:  # the last would win without a word
            raise InputFailure(f"--option {key}: given twice")
        options[key] = value.strip()
    return options


@cli.command()
@click.argument("instances", nargs=-1, required=True, metavar="INSTANCE...",
                type=click.Path(exists=True, allow_dash=True))
@click.option("--method", "-m", default="greedy", show_default=True,
              help="solver backend (see `mecopt methods`)")
@click.option("--objective", type=click.Choice([o.value for o in Objective]), default=None,
              help="what to minimize  [default: latency]")
@click.option("--prompt", default=None,
              help='the objective as a text prompt, e.g. "Minimum energy"')
@click.option("--time-limit", type=float, default=None,
              help="seconds per instance (method default if unset)")
@click.option("--seed", type=int, default=0, show_default=True, help="random seed")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="method-specific option, repeatable (e.g. --option samples=64)")
@click.option("--bound", is_flag=True,
              help="also compute a valid lower bound (mecopt.bound) and the certified gap")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="write the solution JSON here instead of stdout; with several instances, "
                   "a folder: one <instance name>.json each")
@click.option("--force", is_flag=True, help="overwrite --output (or files in it) if it exists")
@click.option("--workers", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="with several instances: solve in this many processes")
@click.pass_context
def solve(ctx, instances, method, objective, prompt, time_limit, seed, options, bound, output,
          force, workers):
    """Solve INSTANCE and print the solution JSON (a summary goes to stderr).

    Several files, folders (their *.json but reference.json, sorted), JSONL files (*.jsonl,
    one instance per line) or - (a JSONL stream of instances on stdin): one solution per
    instance, in input order, as JSONL on stdout
    or in the folder -o DIR. An instance that cannot be read or solved gets an error
    record, the others are still solved, and the exit code is 1.
    """
    first = instances[0]
    if len(instances) > 1 or first == "-" or Path(first).is_dir() or first.endswith(".jsonl"):
        from mecopt.cli.solve_several import solve_several

        solve_several(instances, resolve_objective(objective, prompt), method, output=output,
                      force=force, workers=workers, time_limit=time_limit, seed=seed,
                      bound=bound, **parse_options(options))
        return
    if output:  # one instance: -o is a file
        param = next(p for p in ctx.command.params if p.name == "output")
        click.Path(dir_okay=False).convert(output, param, ctx)
    inst = load_instance(first)
    obj = resolve_objective(objective, prompt)
    if output:
        refuse_existing([output], force)
    if output and not Path(output).parent.is_dir():  # before the solve, not after it
        raise InputFailure(f"{output}: cannot write (no folder {Path(output).parent})")
    sol = mecopt.solve(inst, obj, method, time_limit=time_limit, seed=seed, bound=bound,
                       **parse_options(options))
    click.echo(sol.summary(), err=True)
    write_output(sol.to_json(), output, force)
    if sol.status == "error":
        sys.exit(1)


@cli.command()
@click.argument("instance", type=click.Path(exists=True, dir_okay=False))
@click.argument("solution", type=click.Path(exists=True, dir_okay=False))
def evaluate(instance, solution):
    """Check SOLUTION against INSTANCE independently; exit code 1 when infeasible."""
    inst = load_instance(instance)
    try:
        sol = mecopt.Solution.load(solution)
    except InputError as exc:
        raise InputFailure(str(exc)) from None
    if not sol.assignment:
        click.echo(f"{solution}: status {sol.status}, no decision to check ({sol.message})",
                   err=True)
        sys.exit(1)
    alloc = np.asarray(sol.allocation_hz, dtype=float) if sol.allocation_hz else None
    ev = mecopt.evaluate(inst, np.asarray(sol.assignment), alloc)
    objective = Objective.parse(sol.objective)
    value = ev.value(objective)
    click.echo(f"mean latency {ev.mean_latency_s:.9g} s, total energy {ev.total_energy_j:.9g} J")
    if sol.objective_value is not None:
        rel = abs(value - sol.objective_value) / max(abs(value), 1e-12)
        agree = "agrees" if rel <= 1e-9 else f"DISAGREES (relative difference {rel:.2e})"
        click.echo(f"claimed {objective.value} {sol.objective_value:.9g}, recomputed "
                   f"{value:.9g}: {agree}")
    if ev.feasible:
        click.echo("feasible")
    else:
        click.echo(f"infeasible: {len(ev.violations)} violated constraints\n{ev.report()}")
        sys.exit(1)


@cli.command()
@click.option("--options", "show_options", is_flag=True,
              help="also list each method's options: type, domain, default and help")
def methods(show_options):
    """List every method: available or not, and why."""
    for name, (ok, why, description) in mecopt.availability().items():
        state = "available  " if ok else "unavailable"
        click.echo(f"{name:10s} {state} {description if ok else why}")
        if show_options and ok:
            for key, opt in mecopt.get_method(name).options.items():
                click.echo(f"    {key} ({opt.summary}): {opt.help}")
