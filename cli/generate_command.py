"""Instance commands: generate, make-library. Apart from `solve` so that a solve does not
import the generators (their parameter tables are dataclasses, slow to build)."""

from __future__ import annotations

import click

import mecopt
from mecopt.cli.main import cli, write_output
from mecopt.generators import FAMILIES


@cli.command()
@click.option("--family", type=click.Choice(FAMILIES), default="paper", show_default=True,
              help="scenario family (SPEC section 2)")
@click.option("--ues", type=int, default=None, help="number of UEs  [default: family's]")
@click.option("--servers", type=int, default=None, help="number of servers  [default: family's]")
@click.option("--seed", type=int, default=0, show_default=True, help="random seed")
@click.option("--name", default=None, help="instance name  [default: <family>-<seed>]")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="write the instance JSON here instead of stdout")
@click.option("--force", is_flag=True, help="overwrite --output if it exists")
def generate(family, ues, servers, seed, name, output, force):
    """Generate one seeded instance (same seed, same bytes on any machine)."""
    inst = mecopt.generate(family, n_ues=ues, n_servers=servers, seed=seed, name=name)
    write_output(inst.to_json(), output, force)


@cli.command("make-library")
@click.argument("root", type=click.Path(file_okay=False), default="instances")
@click.option("--force", is_flag=True, help="overwrite library files that differ")
def make_library(root, force):
    """Regenerate the shipped instance library under ROOT (default: instances),
    byte-identical. A file there that differs from what would be written (an instance you
    edited) stops it before anything is written, unless --force."""
    from mecopt.library import build_library

    files = build_library(root, force=force)
    click.echo(f"wrote {len(files)} instances under {root}", err=True)
