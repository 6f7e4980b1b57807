"""`mecopt export`: write the exact model (mecopt.formulation.build_model) for other solvers.

The format follows the file's suffix: .nl (AMPL; any AMPL-compatible MINLP solver such as
SCIP, Couenne, Bonmin or BARON), .gms (GAMS), and, for the linear energy model only, .lp
(CPLEX LP) and .mps. The latency model is nonlinear (C x^2 / (f + 1 - x)), which LP and MPS
files cannot hold.
"""

from __future__ import annotations

from pathlib import Path

import click

from mecopt.cli.main import InputFailure, cli, load_instance, resolve_objective
from mecopt.errors import InputError, refuse_existing
from mecopt.instance import Instance
from mecopt.objective import Objective

# suffix -> (Pyomo writer name, holds nonlinear models)
FORMATS = {".nl": ("nl", True), ".gms": ("gams", True), ".lp": ("cpxlp", False),
           ".mps": ("mps", False)}


def export_model(instance: Instance, objective: Objective | str, path: str | Path) -> Path:
    """Write build_model(instance, objective) to `path` in the format of its suffix."""
    objective = Objective.parse(objective)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"output: unknown format {suffix or '(no suffix)'!r}; use one of "
                         f"{', '.join(FORMATS)}")
    writer, nonlinear = FORMATS[suffix]
    if objective is Objective.LATENCY and not nonlinear:
        raise InputError(f"output: {suffix} cannot hold the nonlinear latency model; use .nl "
                         "(AMPL, for MINLP solvers) or .gms (GAMS) instead")
    from mecopt.formulation import build_model  # pyomo loads only when exporting

    model = build_model(instance, objective)
    # Readable names (x[3,1], capacity[2]) so that the file can be inspected by hand.
    model.write(str(path), format=writer, io_options={"symbolic_solver_labels": True})
    return path


@cli.command("export")
@click.argument("instance", type=click.Path(exists=True, dir_okay=False))
@click.option("--objective", type=click.Choice([o.value for o in Objective]), default=None,
              help="what the model minimizes  [default: latency]")
@click.option("--prompt", default=None,
              help='the objective as a text prompt, e.g. "Minimum energy"')
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="file to write; the suffix picks the format: .nl, .gms, .lp or .mps "
                   "(.lp and .mps for the linear energy model only)")
@click.option("--force", is_flag=True, help="overwrite --output if it exists")
def export_command(instance, objective, prompt, output, force):
    """Write the exact MINLP of INSTANCE for an external solver."""
    inst = load_instance(instance)
    obj = resolve_objective(objective, prompt)
    out = Path(output)
    refuse_existing([out], force)
    try:
        export_model(inst, obj, out)
    except OSError as exc:
        raise InputFailure(f"{out}: cannot write ({exc.strerror})") from None
    click.echo(f"wrote {out} ({inst.name}, {obj.value})", err=True)
