"""`mecopt train-baseline droo|are`: train the paper's deep-learning contenders. torch is
imported inside the command, so the rest of the CLI does not pay for it; the options come
from DROOConfig and AREConfig (torch-free)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import click

from mecopt.cli.config_options import FILE, config_option, config_values, field_help
from mecopt.cli.main import cli, command_line
from mecopt.errors import refuse_existing
from mecopt.learned.configs import AREConfig, BaselineTrainConfig, DROOConfig

CONFIGS = {"droo": DROOConfig, "are": AREConfig}


def _fields(config: type) -> set[str]:
    return {f.name for f in dataclasses.fields(config)}


def _option(name: str, *decls: str, **overrides) -> Callable:
    """The option of a config field; one that only one method reads says which in its help
    (and is left out of the other's recorded command)."""
    if name in _fields(BaselineTrainConfig):
        return config_option(BaselineTrainConfig, name, *decls, **overrides)
    method = next(m for m, config in CONFIGS.items() if name in _fields(config))
    help = f"{method.upper()}: {field_help(CONFIGS[method], name)}"
    return config_option(CONFIGS[method], name, *decls, help=help, **overrides)


@cli.command("train-baseline")
@click.argument("method", type=click.Choice(list(CONFIGS)))
@_option("preset")
@_option("seed")
@_option("minutes")
@_option("frames")
@_option("steps")
@_option("n_ues")
@_option("n_servers")
@_option("lr")
@_option("latency_labels")
@_option("energy_labels")
@_option("label_cache", type=FILE)
@_option("threads")
@_option("quiet")
@_option("output", "-o", "--output", type=FILE, default=None, required=True)
@click.option("--force", is_flag=True, help="overwrite the checkpoint if it exists")
def train_baseline(method, force, **params):
    """Train DROO (online, over scenario streams) or ARE (supervised, on highs optima)."""
    refuse_existing([params["output"]], force)
    config, (other,) = CONFIGS[method], [c for m, c in CONFIGS.items() if m != method]
    ctx = click.get_current_context()
    command = command_line(ctx, keep=lambda name: name in _fields(config)
                           or name not in _fields(other))

    def log(msg: str) -> None:
        click.echo(msg, err=True)

    if method == "droo":
        if params["steps"] is not None:
            raise click.UsageError("--steps is for are; droo counts --frames")
        from mecopt.learned.droo import train_droo

        result = train_droo(DROOConfig(**config_values(config, params), command=command),
                            log=log)
        done = f"{result['frames']} frames, {result['steps']} training steps"
    else:
        if params["frames"] is not None:
            raise click.UsageError("--frames is for droo; are counts --steps")
        from mecopt.learned.are import train_are

        result = train_are(AREConfig(**config_values(config, params), command=command),
                           log=log)
        done = (f"{result['labels']} labels in {result['label_s'] / 60:.1f} min, "
                f"{result['steps']} steps")
    best = result["best"]
    click.echo(f"{done} in {result['wall_s'] / 60:.1f} min; best validation value / greedy: "
               f"latency {best['val_latency']:.4f}, energy {best['val_energy']:.4f}; "
               f"wrote {params['output']}")
