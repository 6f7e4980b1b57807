"""LAMBO commands: train, model-info. torch is imported inside the commands, so the rest of
the CLI does not pay for it; the options come from TrainConfig (torch-free)."""

from __future__ import annotations

import click

from mecopt.cli.config_options import FILE, config_option, config_values
from mecopt.cli.main import cli, command_line
from mecopt.errors import refuse_existing
from mecopt.learned.configs import PRESETS, TrainConfig


@cli.command()
@config_option(TrainConfig, "preset")
@config_option(TrainConfig, "seed")
@config_option(TrainConfig, "minutes")
@config_option(TrainConfig, "steps")
@config_option(TrainConfig, "device")
@config_option(TrainConfig, "batch_instances", "--batch")
@config_option(TrainConfig, "samples")
@config_option(TrainConfig, "baseline")
@config_option(TrainConfig, "advantage")
@config_option(TrainConfig, "imitation")
@config_option(TrainConfig, "lr")
@config_option(TrainConfig, "lr_acl")
@config_option(TrainConfig, "threads")
@config_option(TrainConfig, "init", type=click.Path(exists=True, dir_okay=False))
@config_option(TrainConfig, "energy_order")
@config_option(TrainConfig, "families")
@config_option(TrainConfig, "max_ues")
@config_option(TrainConfig, "instances", type=click.Path(exists=True))
@config_option(TrainConfig, "instances_weight")
@config_option(TrainConfig, "quiet")
@config_option(TrainConfig, "output", "-o", "--output", type=FILE, default=None, required=True)
@click.option("--force", is_flag=True,
              help="overwrite the checkpoint and its CSV log and PNG curve if they exist")
def train(force, **params):
    """Pre-train LAMBO by actor-critic learning (ACL) on generated instances, and on your
    own (--instances) mixed into every batch."""
    from mecopt.learned.train import train as run_training

    command = command_line(click.get_current_context())
    cfg = TrainConfig(**config_values(TrainConfig, params), command=command)
    refuse_existing(list(cfg.output_paths()), force)
    result = run_training(cfg)
    best = result["best"]
    click.echo(f"{result['steps']} steps in {result['wall_s'] / 60:.1f} min; best validation "
               f"cost / greedy {best.get('val_ratio', float('nan')):.4f}; wrote "
               f"{params['output']}")


@cli.command("model-info")
@config_option(TrainConfig, "preset")
def model_info(preset):
    """Print a preset's configuration and parameter count (built on the meta device)."""
    from mecopt.learned.model import PAPER_PARAMS, count_parameters

    cfg = PRESETS[preset]
    n = count_parameters(cfg)
    click.echo(f"{preset}: {n:,} parameters")
    click.echo("  " + ", ".join(f"{k}={v}" for k, v in cfg.to_dict().items()))
    if preset in PAPER_PARAMS:
        paper = PAPER_PARAMS[preset]
        click.echo(f"  paper: {paper:,} ({(n - paper) / paper:+.3%})")
