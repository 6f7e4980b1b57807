"""`mecopt finetune`: ALEF, fine-tuning LAMBO's decoder on expert labels to follow a drifting
system (learned/alef.py). torch is imported inside the command, so the CLI starts fast."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from mecopt.cli.config_options import FILE, config_option, config_values
from mecopt.cli.main import InputFailure, cli, command_line
from mecopt.errors import refuse_existing
from mecopt.learned.configs import PRESETS, ALEFConfig


@cli.command()
@click.option("--checkpoint", type=FILE, default=None,
              help="LAMBO checkpoint to start from  [default: the shipped lambo-s; with "
                   "--instances mostly outside its training envelope, lambo-w, as `lambo` "
                   "would decide them]")
@click.option("--preset", default="lambo-s", show_default=True,
              type=click.Choice(tuple(PRESETS)),
              help="the preset the checkpoint must be (a checkpoint of another size is an "
                   "error)")
@config_option(ALEFConfig, "scenario")
@config_option(ALEFConfig, "instances", type=click.Path(exists=True))
@config_option(ALEFConfig, "objective")
@config_option(ALEFConfig, "expert")
@config_option(ALEFConfig, "budget")
@config_option(ALEFConfig, "windows")
@config_option(ALEFConfig, "pool")
@config_option(ALEFConfig, "heldout")
@config_option(ALEFConfig, "n_ues")
@click.option("--strategies", default="max-entropy,random", show_default=True,
              help="query strategies to run (max-entropy, random, all); the first one's "
                   "model is saved")
@config_option(ALEFConfig, "steps")
@config_option(ALEFConfig, "lr")
@config_option(ALEFConfig, "align")
@config_option(ALEFConfig, "align_tol")
@config_option(ALEFConfig, "prefix", "--prefix/--full-label")
@config_option(ALEFConfig, "gate")
@config_option(ALEFConfig, "gate_set")
@config_option(ALEFConfig, "recipe")
@config_option(ALEFConfig, "strong_steps")
@config_option(ALEFConfig, "strong_above")
@config_option(ALEFConfig, "reorder")
@config_option(ALEFConfig, "seed")
@config_option(ALEFConfig, "threads")
@click.option("--quiet", is_flag=True, help="no progress lines on stderr")
@click.option("--report", type=FILE, default=None,
              help="JSON report  [default: NEW_CKPT with .json; the PNG plot beside it]")
@click.option("-o", "--output", type=FILE, required=True,
              help="the fine-tuned checkpoint to write")
@click.option("--force", is_flag=True,
              help="overwrite the checkpoint, the report and its plot if they exist")
def finetune(checkpoint, preset, strategies, quiet, report, output, force, **params):
    """Fine-tune LAMBO's decoder by ALEF on a drifting scenario, or on your own snapshots
    (--instances), with expert labels.

    Runs the pre-trained model (no fine-tuning), ALEF with each query strategy, and the
    expert on the same held-out instances; writes the first strategy's model, a JSON report
    of the gap to the optimum over the windows, and a PNG plot. With --instances, a bad
    file or line is skipped with a one-line reason on stderr.
    """
    import torch

    from mecopt.learned import alef
    from mecopt.learned.checkpoint import load_model, save_checkpoint, shipped_path

    started = time.time()
    names = tuple(s.strip() for s in strategies.split(",") if s.strip())
    cfg = ALEFConfig(**config_values(ALEFConfig, params))
    cfg.check()  # bad input fails before the model loads
    if not names or any(s not in alef.STRATEGIES for s in names):
        raise InputFailure(f"--strategies: expected a list of {', '.join(alef.STRATEGIES)}, "
                           f"got {strategies!r}")
    report_path = Path(report) if report else Path(output).with_suffix(".json")
    refuse_existing([output, report_path, report_path.with_suffix(".png")], force)
    snapshots = None
    if cfg.instances is not None:  # read (and count) them before the model loads
        snapshots = alef.read_snapshots(cfg.instances, alef.stderr_log)
        alef.snapshot_timeline(cfg, snapshots)
    path = Path(checkpoint) if checkpoint else shipped_path()
    if checkpoint is None and snapshots:
        path = _auto_start(snapshots, path, (lambda _: None) if quiet else alef.stderr_log)
    torch.set_num_threads(cfg.threads)
    model, info = load_model(path)
    alef.check_checkpoint(info, path, preset)
    log = (lambda _: None) if quiet else alef.stderr_log
    models, rep = alef.finetune(model, cfg, names, log=log, snapshots=snapshots)

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
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(alef.jsonable(rep), indent=1) + "\n")
    plot_path = report_path.with_suffix(".png")
    alef.plot_report(rep, plot_path)

    def at(curve: str, window: int) -> str:  # a point of the report, dead ends counted
        return alef.gap_text({"gap": rep["gap"][curve][window],
                              "no_decision": rep["no_decision"][curve][window],
                              "instances": rep["windows"][window]["heldout"]}).strip()

    after = ", ".join(f"{s} {at(s, -1)}" for s in names)
    expert = f"expert {cfg.expert} {at('expert', -1)}"
    if cfg.scenario is not None:
        text = (f"{cfg.scenario}: held-out gap before the drift {at('none', 0)}, right after "
                f"{at('none', 1)}; after ALEF: {after} (no fine-tuning {at('none', -1)}, "
                f"{expert})")
    else:  # no drift: before and after fine-tuning on the same final snapshots
        text = (f"{cfg.instances}: held-out gap in window 1 {at('none', 0)}; on the final "
                f"held-out snapshots before fine-tuning {at('none', -1)}, after ALEF: {after} "
                f"({expert})")
    click.echo(f"{text} in {rep['wall_s']:.0f} s; wrote {output}, {report_path}, {plot_path}")


def _auto_start(snapshots: list, default: Path, log) -> Path:
    """The checkpoint `lambo` (checkpoint=auto) would decide most of the user's snapshots
    with: lambo-w when more than half lie outside lambo-s's training envelope."""
    from mecopt.learned import shipped_checkpoint
    from mecopt.learned.lambo_method import OUT_OF_ENVELOPE, auto_checkpoint

    outside = [why for why in (auto_checkpoint(x)[1] for x in snapshots) if why]
    if 2 * len(outside) <= len(snapshots):
        return default
    log(f"{len(outside)} of {len(snapshots)} snapshots lie outside lambo-s's training "
        f"envelope (first: {outside[0]}): starting from {OUT_OF_ENVELOPE}, as the lambo "
        "method decides them; --checkpoint fixes the model")
    return shipped_checkpoint(f"{OUT_OF_ENVELOPE}.pt")
