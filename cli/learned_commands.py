"""LAMBO commands: train, model-info. torch is imported inside the commands, so the rest of
the CLI does not pay for it."""

from __future__ import annotations

import click

from mecopt.cli.main import cli, command_line

PRESET_NAMES = ("lambo-s", "lambo-m", "lambo-l")  # checked against model.PRESETS in tests


@cli.command()
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="lambo-s", show_default=True,
              help="network size")
@click.option("--seed", type=int, default=0, show_default=True,
              help="seed of the weights, the generated instances and the sampling")
@click.option("--minutes", type=float, default=None, help="train for this much wall time")
@click.option("--steps", type=int, default=None, help="train for this many steps")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N")
@click.option("--batch", "batch_instances", type=int, default=8, show_default=True,
              help="instances per step (each under both prompts)")
@click.option("--samples", type=int, default=8, show_default=True,
              help="sampled decodes per (instance, prompt)")
@click.option("--baseline", type=click.Choice(["critic", "shared", "both"]), default="shared",
              show_default=True,
              help="REINFORCE baseline: the critic (paper), the mean of the other samples, "
                   "or their average")
@click.option("--advantage", type=click.Choice(["batch", "row"]), default="batch",
              show_default=True,
              help="scale the advantages by the std of the whole batch, or of each "
                   "(instance, prompt) row so that every row weighs the same")
@click.option("--imitation", type=float, default=0.2, show_default=True,
              help="fraction of the budget spent imitating the greedy heuristic first")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="imitation learning rate")
@click.option("--lr-acl", type=float, default=2e-4, show_default=True,
              help="actor-critic learning rate")
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads")
@click.option("--init", type=click.Path(exists=True, dir_okay=False), default=None,
              help="start from this checkpoint's weights")
@click.option("--families", default="paper,hetero", show_default=True,
              help="instance families, one per step in turn (repeat one to weight it)")
@click.option("--max-ues", type=int, default=100, show_default=True,
              help="largest N of the generated hetero instances (drawn in 20..max)")
@click.option("--quiet", is_flag=True, help="no progress lines on stderr")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="checkpoint to write (best validation); the CSV log and PNG curve go "
                   "beside it")
def train(preset, seed, minutes, steps, device, batch_instances, samples, baseline, advantage,
          imitation, lr, lr_acl, threads, init, families, max_ues, quiet, output):
    """Pre-train LAMBO by actor-critic learning (ACL) on generated instances."""
    from mecopt.learned.train import TrainConfig
    from mecopt.learned.train import train as run_training

    command = command_line(click.get_current_context())
    cfg = TrainConfig(preset=preset, seed=seed, minutes=minutes, steps=steps, device=device,
                      batch_instances=batch_instances, samples=samples, baseline=baseline,
                      advantage=advantage, imitation=imitation, lr=lr, lr_acl=lr_acl,
                      threads=threads, init=init,
                      families=tuple(f.strip() for f in families.split(",") if f.strip()),
                      max_ues=max_ues, quiet=quiet, output=output, command=command)
    result = run_training(cfg)
    best = result["best"]
    click.echo(f"{result['steps']} steps in {result['wall_s'] / 60:.1f} min; best validation "
               f"cost / greedy {best.get('val_ratio', float('nan')):.4f}; wrote {output}")



@cli.command("model-info")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="lambo-s", show_default=True,
              help="network size")
def model_info(preset):
    """Print a preset's configuration and parameter count (built on the meta device)."""
    from mecopt.learned.model import PAPER_PARAMS, PRESETS, count_parameters

    cfg = PRESETS[preset]
    n = count_parameters(cfg)
    click.echo(f"{preset}: {n:,} parameters")
    click.echo("  " + ", ".join(f"{k}={v}" for k, v in cfg.to_dict().items()))
    if preset in PAPER_PARAMS:
        paper = PAPER_PARAMS[preset]
        click.echo(f"  paper: {paper:,} ({(n - paper) / paper:+.3%})")
