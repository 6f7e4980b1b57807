"""`mecopt train-baseline droo|are`: train the paper's deep-learning contenders. torch is
imported inside the command, so the rest of the CLI does not pay for it."""

from __future__ import annotations

import click

from mecopt.cli.main import cli, command_line

PRESET_NAMES = ("small", "paper")  # checked against baseline_nets.PRESETS in tests
# Options that only one of the two methods reads (left out of the other's recorded command).
ONLY_FOR = {"frames": "droo", "steps": "are", "latency_labels": "are", "energy_labels": "are",
            "label_cache": "are"}


@cli.command("train-baseline")
@click.argument("method", type=click.Choice(["droo", "are"]))
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="small", show_default=True,
              help="network size: small (trains on a CPU) or paper (60 layers, 326,535 "
                   "parameters; the paper's agents: 326,662)")
@click.option("--seed", type=int, default=0, show_default=True,
              help="seed of the weights, the training instances and the sampling")
@click.option("--minutes", type=float, default=None,
              help="training wall time (ARE: after the labels are ready)")
@click.option("--frames", type=int, default=None, help="DROO: stop after this many frames")
@click.option("--steps", type=int, default=None, help="ARE: stop after this many steps")
@click.option("--n-ues", type=int, default=50, show_default=True,
              help="UEs of the system size the model is for")
@click.option("--n-servers", type=int, default=4, show_default=True,
              help="servers of the system size the model is for")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate")
@click.option("--latency-labels", type=int, default=400, show_default=True,
              help="ARE: highs-labelled instances for the latency prompt (seconds each)")
@click.option("--energy-labels", type=int, default=3000, show_default=True,
              help="ARE: highs-labelled instances for the energy prompt (~0.01 s each)")
@click.option("--label-cache", type=click.Path(dir_okay=False), default=None,
              help="ARE: JSON-lines file of labels, reused and extended (keep it out of the "
                   "repository)")
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads")
@click.option("--quiet", is_flag=True, help="no progress lines on stderr")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="checkpoint to write (the best validated model)")
def train_baseline(method, preset, seed, minutes, frames, steps, n_ues, n_servers, lr,
                   latency_labels, energy_labels, label_cache, threads, quiet, output):
    """Train DROO (online, over scenario streams) or ARE (supervised, on highs optima)."""
    ctx = click.get_current_context()
    command = command_line(ctx, keep=lambda name: ONLY_FOR.get(name, method) == method)

    def log(msg: str) -> None:
        click.echo(msg, err=True)

    if method == "droo":
        if steps is not None:
            raise click.UsageError("--steps is for are; droo counts --frames")
        from mecopt.learned.droo import DROOConfig, train_droo

        cfg = DROOConfig(preset=preset, seed=seed, minutes=minutes, frames=frames,
                         n_ues=n_ues, n_servers=n_servers, lr=lr, threads=threads,
                         quiet=quiet, output=output, command=command)
        result = train_droo(cfg, log=log)
        done = f"{result['frames']} frames, {result['steps']} training steps"
    else:
        if frames is not None:
            raise click.UsageError("--frames is for droo; are counts --steps")
        from mecopt.learned.are import AREConfig, train_are

        cfg = AREConfig(preset=preset, seed=seed, minutes=minutes, steps=steps, n_ues=n_ues,
                        n_servers=n_servers, lr=lr, latency_labels=latency_labels,
                        energy_labels=energy_labels, label_cache=label_cache,
                        threads=threads, quiet=quiet, output=output, command=command)
        result = train_are(cfg, log=log)
        done = (f"{result['labels']} labels in {result['label_s'] / 60:.1f} min, "
                f"{result['steps']} steps")
    best = result["best"]
    click.echo(f"{done} in {result['wall_s'] / 60:.1f} min; best validation value / greedy: "
               f"latency {best['val_latency']:.4f}, energy {best['val_energy']:.4f}; "
               f"wrote {output}")

