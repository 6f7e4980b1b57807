"""`mecopt finetune`: ALEF, fine-tuning LAMBO's decoder on expert labels to follow a drifting
system (learned/alef.py). torch is imported inside the command, so the CLI starts fast."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from mecopt.cli.main import cli, command_line

SCENARIO_HELP = "mobility, capacity-drop, task-growth, density, server-loss"


@cli.command()
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="LAMBO checkpoint to start from  [default: the shipped lambo-s]")
@click.option("--preset", default="lambo-s", show_default=True,
              help="the preset the checkpoint must be (a checkpoint of another size is an "
                   "error)")
@click.option("--scenario", required=True, help=f"dynamic scenario: {SCENARIO_HELP}")
@click.option("--objective", default="latency", show_default=True,
              help="latency, energy or a prompt such as 'Minimum energy'")
@click.option("--expert", default="highs", show_default=True,
              help="who labels the queried instances: highs (exact), de or pg")
@click.option("--budget", type=int, default=32, show_default=True,
              help="expert labels over the whole run (split evenly over the windows)")
@click.option("--windows", type=int, default=4, show_default=True,
              help="windows after the drift; each deploys, queries and updates once")
@click.option("--pool", type=int, default=32, show_default=True,
              help="unlabelled instances the model decides per window")
@click.option("--heldout", type=int, default=6, show_default=True,
              help="never-labelled instances per window that measure the gap to the optimum")
@click.option("--n-ues", type=int, default=None,
              help="override the scenario's number of UEs (before a density drift)  "
                   "[default: the scenario's, 50]")
@click.option("--strategies", default="max-entropy,random", show_default=True,
              help="query strategies to run (max-entropy, random, all); the first one's "
                   "model is saved")
@click.option("--steps", type=int, default=15, show_default=True,
              help="gradient steps on the decoder per window")
@click.option("--lr", type=float, default=1e-4, show_default=True,
              help="learning rate (Adam, decoder only)")
@click.option("--align/--no-align", default=True, show_default=True,
              help="re-match each expert label towards the model's own decision among "
                   "near-equal solutions before imitating it (docs/alef.md)")
@click.option("--align-tol", type=float, default=3e-3, show_default=True,
              help="how much worse than the expert's (relative) an aligned label may be")
@click.option("--prefix/--full-label", default=True, show_default=True,
              help="imitate each label only up to its first correction of the model's own "
                   "decisions (--full-label: every UE, the paper's recipe)")
@click.option("--gate/--no-gate", default=True, show_default=True,
              help="keep a window's update only if it lowers the cost on that window's "
                   "unlabelled pool instances")
@click.option("--seed", type=int, default=0, show_default=True,
              help="seed of the scenario, the random queries and the minibatches")
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads")
@click.option("--quiet", is_flag=True, help="no progress lines on stderr")
@click.option("--report", type=click.Path(dir_okay=False), default=None,
              help="JSON report  [default: NEW_CKPT with .json; the PNG plot beside it]")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="the fine-tuned checkpoint to write")
def finetune(checkpoint, preset, scenario, objective, expert, budget, windows, pool, heldout,
             n_ues, strategies, steps, lr, align, align_tol, prefix, gate, seed, threads, quiet,
             report, output):
    """Fine-tune LAMBO's decoder by ALEF on a drifting scenario, with expert labels.

    Runs the pre-trained model (no fine-tuning), ALEF with each query strategy, and the
    expert on the same held-out instances; writes the first strategy's model, a JSON report
    of the gap to the optimum over the windows, and a PNG plot.
    """
    import torch

    from mecopt.learned import alef
    from mecopt.learned.checkpoint import load_model, save_checkpoint, shipped_path

    started = time.time()
    names = tuple(s.strip() for s in strategies.split(",") if s.strip())
    cfg = alef.ALEFConfig(scenario=scenario, objective=objective, expert=expert,
                          budget=budget, windows=windows, pool=pool, heldout=heldout,
                          steps=steps, lr=lr, align=align, align_tol=align_tol,
                          prefix=prefix, gate=gate, seed=seed, threads=threads, n_ues=n_ues)
    cfg.check()  # bad input fails before the model loads
    if not names or any(s not in alef.STRATEGIES for s in names):
        raise click.BadParameter(f"strategies: expected a list of "
                                 f"{', '.join(alef.STRATEGIES)}, got {strategies!r}",
                                 param_hint="--strategies")
    path = Path(checkpoint) if checkpoint else shipped_path()
    torch.set_num_threads(threads)
    model, info = load_model(path)
    alef.check_checkpoint(info, path, preset)
    log = (lambda _: None) if quiet else alef.stderr_log
    models, rep = alef.finetune(model, cfg, names, log=log)

    command = command_line(click.get_current_context())
    rep["checkpoint"] = str(path)
    rep["command"] = command
    rep["wall_s"] = time.time() - started
    summary = rep["summary"]
    metrics = alef.jsonable({"alef": summary, "alef_config": rep["config"],
                             "alef_strategy": names[0], "parent": str(path),
                             "parent_step": int(info["step"])})
    save_checkpoint(output, models[names[0]], preset=info["preset"], command=command,
                    step=int(info["step"]), metrics=metrics)
    report_path = Path(report) if report else Path(output).with_suffix(".json")
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(alef.jsonable(rep), indent=1) + "\n")
    plot_path = report_path.with_suffix(".png")
    alef.plot_report(rep, plot_path)
    gap = rep["gap"]
    click.echo(f"{scenario}: held-out gap before the drift {summary['before_drift']:.2f}%, "
               f"right after {summary['after_drift']:.2f}%; after ALEF: "
               + ", ".join(f"{s} {gap[s][-1]:.2f}%" for s in names)
               + f" (no fine-tuning {gap['none'][-1]:.2f}%, expert {expert} "
               f"{gap['expert'][-1]:.2f}%) in {rep['wall_s']:.0f} s; wrote {output}, "
               f"{report_path}, {plot_path}")

