"""`mecopt pareto`: the latency-energy front of one instance (CSV + PNG)."""

from __future__ import annotations

import click

from mecopt.cli.main import InputFailure, cli, load_instance
from mecopt.pareto import METHODS, check_writable, compute_front, write_front


@cli.command()
@click.argument("instance", type=click.Path(exists=True, dir_okay=False))
@click.option("--method", type=click.Choice(METHODS), default="nsga2", show_default=True,
              help="nsga2: pymoo NSGA-II with the shared repair; highs: exact epsilon "
                   "constraint (minimum latency s.t. energy <= eps)")
@click.option("-o", "--output-dir", "output_dir", type=click.Path(file_okay=False),
              default=".", show_default=True,
              help="directory for <instance>-<method>-front.csv and .png")
@click.option("--points", type=int, default=11, show_default=True,
              help="highs: number of epsilon values in the sweep")
@click.option("--pop-size", type=int, default=100, show_default=True,
              help="nsga2: population size")
@click.option("--generations", type=int, default=200, show_default=True,
              help="nsga2: generations")
@click.option("--time-limit", type=float, default=None,
              help="seconds: nsga2 in total, highs per solve  [default: none]")
@click.option("--seed", type=int, default=0, show_default=True, help="nsga2: random seed")
@click.option("--force", is_flag=True, help="overwrite existing output files")
def pareto(instance, method, output_dir, points, pop_size, generations, time_limit, seed,
           force):
    """Compute the mean-latency / total-energy Pareto front of INSTANCE.

    Writes the points (with their assignments) as CSV and a PNG plot, and prints the number
    of points and the hypervolume against the stated reference point.
    """
    if time_limit is not None and not time_limit > 0:
        raise InputFailure(f"--time-limit: must be positive, got {time_limit}")
    inst = load_instance(instance)
    check_writable(inst.name, method, output_dir, force)  # before the long computation
    front = compute_front(inst, method, seed=seed, time_limit=time_limit, points=points,
                          pop_size=pop_size, generations=generations)
    csv_path, png_path = write_front(front, output_dir, force=force)
    ref = front.reference
    click.echo(f"{inst.name}: {len(front)} Pareto points by {method} in "
               f"{front.wall_time_s:.1f} s")
    click.echo(f"hypervolume {front.hypervolume:.6g} (reference point: mean latency "
               f"{ref[0]:.6g} s, total energy {ref[1]:.6g} J)")
    click.echo(f"wrote {csv_path} and {png_path}", err=True)
