"""ALEF on every named scenario: does fine-tuning the decoder on a few expert labels follow
the drift? (docs/alef.md)

    python benchmarks/bench_alef.py [--checkpoint PATH] [--scenarios all] [--seeds 0,1,2]
        [--budgets 16,64,128] [--strategies max-entropy,random] [--objective latency]
        [--windows 4] [--pool 40] [--heldout 6] [--steps 15]
        [--cache runs/alef/labels-{objective}-{scenario}.jsonl] [--prepare] [--csv out.csv]
    python benchmarks/bench_alef.py --family tight --objective energy --budgets 16,64,128 \
        --strategies max-entropy,random,all --pool 48 --heldout 8 --expert-time-limit 3 \
        --csv shift.csv                                      # the shift study (issue #18)
    python benchmarks/bench_alef.py table A.csv [B.csv ...]     # the markdown table
    python benchmarks/bench_alef.py shift-table shift.csv       # the shift study's table
    python benchmarks/bench_alef.py plot A.csv [B.csv ...] out.png

For each scenario and seed, one timeline (learned/alef.timeline; the pool size is fixed, so
every budget sees the same instances) and, on it, the held-out gap to the optimum (highs) of
the pre-trained model before the drift, right after it (window 1, nothing fine-tuned yet)
and at the end (the "after ALEF" window) with no fine-tuning, and after ALEF with each
budget (expert labels in total, split over the windows) and strategy. `recovered` is the
share of the drift's gap increase that ALEF removed, on the same final window:
(gap_none_final - gap_alef_final) / (gap_none_final - gap_before), defined when the drift
raised the gap (by more than 1 point for the target).

The shift study (`--family F`): instead of a scenario's drift, the model meets a family
it never trained on (`tight`, capacity-bound energy, costs lambo-s about 8 points of gap).
Per seed, the run writes time-ordered snapshots of F (seeds SHIFT_SEED_BASE up, disjoint
from the library, holdout and generalization seeds) to
runs/alef/shift-F-s{seed}-n{count}.jsonl and fine-tunes on them exactly as `mecopt
finetune --instances` does. `before` is then the
model's held-out gap on its home family (`--home`, hetero), `after_drift` its gap on F's
first window, and `recovered` the share of the shift's gap (none_final - before) that ALEF
removed on F's final held-out window. The `all` strategy labels every pool instance, so it
runs once per seed (its row has the budget it used).

Expert answers and optima are cached in a JSON-lines file keyed by instance name, so
`--prepare` can label every pool and held-out instance ahead (it needs no model), and the
runs then pay only for deploying and training. The wall time reported per run is the ALEF
compute (deploy, query, update, evaluation) plus the expert time of the labels it used
(their recorded solve times), i.e. what the run would cost without a cache.
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import numpy as np
import torch

from mecopt.api import solve
from mecopt.generators import generate
from mecopt.learned import alef
from mecopt.learned.checkpoint import load_model
from mecopt.learned.scenarios import SCENARIOS

SHIFT_SEED_BASE = 7_000_000  # shift-study snapshots: seed s uses SHIFT_SEED_BASE + 10_000 s up
HOME_OFFSET = 5_000  # ... and its home-family instances from + 5_000
FIELDS = ("scenario", "seed", "budget", "strategy", "before", "after_drift", "none_final",
          "final", "recovered", "labels", "alef_s", "expert_s", "wall_s", "energy_order",
          "order_final", "greedy_final", "home_after", "none_dead", "final_dead")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="default: the shipped lambo-s")
    ap.add_argument("--scenarios", default="all")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budgets", default="16,64,128")
    ap.add_argument("--strategies", default="max-entropy,random")
    ap.add_argument("--objective", default="latency")
    ap.add_argument("--expert", default="highs")
    ap.add_argument("--expert-time-limit", type=float,
                    default=alef.ALEFConfig.expert_time_limit,
                    help="seconds per expert (and optimum) solve")
    ap.add_argument("--family", default=None,
                    help="the shift study: snapshots of this family instead of --scenarios")
    ap.add_argument("--home", default="hetero",
                    help="with --family: the training family whose held-out gap is 'before'")
    ap.add_argument("--home-instances", type=int, default=16,
                    help="with --family: home-family instances that measure 'before'")
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--pool", type=int, default=40)
    ap.add_argument("--heldout", type=int, default=6)
    ap.add_argument("--steps", type=int, default=alef.ALEFConfig.steps)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=alef.ALEFConfig.lr)
    ap.add_argument("--prefix", action=argparse.BooleanOptionalAction,
                    default=alef.ALEFConfig.prefix,
                    help="cross-entropy only up to each label's first correction")
    ap.add_argument("--align", action=argparse.BooleanOptionalAction,
                    default=alef.ALEFConfig.align,
                    help="re-match each label towards the model's own decision first")
    ap.add_argument("--reorder", action=argparse.BooleanOptionalAction,
                    default=alef.ALEFConfig.reorder,
                    help="energy: strong updates in the efficiency decoding order")
    ap.add_argument("--gate", action=argparse.BooleanOptionalAction,
                    default=alef.ALEFConfig.gate,
                    help="keep an update only if it lowers the cost on the window's gate set")
    ap.add_argument("--gate-set", type=int, default=alef.ALEFConfig.gate_set,
                    help="pool instances per window held back from the query for the gate")
    ap.add_argument("--recipe", default=alef.ALEFConfig.recipe, choices=alef.RECIPES,
                    help="the update: auto, gentle or strong (docs/alef.md)")
    ap.add_argument("--strong-steps", type=int, default=alef.ALEFConfig.strong_steps)
    ap.add_argument("--cache", default="runs/alef/labels-{objective}-{scenario}.jsonl",
                    help="expert cache (JSON lines), {scenario} and {objective} filled in")
    ap.add_argument("--prepare", action="store_true",
                    help="only label every pool and held-out instance (no model)")
    ap.add_argument("--csv", default=None, help="append result rows here")
    return ap


def main() -> None:
    args = _parser().parse_args()
    torch.set_num_threads(args.threads)
    scenarios = list(SCENARIOS) if args.scenarios == "all" else args.scenarios.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    budgets = [int(b) for b in args.budgets.split(",")]
    strategies = args.strategies.split(",")
    model = None if args.prepare else load_model(args.checkpoint)[0]
    out, writer = _open_csv(args.csv) if args.csv else (None, None)
    for seed in seeds:  # seed-major: a partial run still covers every scenario
        for name in [args.family] if args.family else scenarios:
            cfg = alef.ALEFConfig(objective=args.objective, expert=args.expert,
                                  budget=max(budgets), windows=args.windows, pool=args.pool,
                                  heldout=args.heldout, steps=args.steps, seed=seed,
                                  threads=args.threads, lr=args.lr, prefix=args.prefix,
                                  gate=args.gate, gate_set=args.gate_set,
                                  align=args.align, track_loss=False,
                                  reorder=args.reorder,
                                  recipe=args.recipe, strong_steps=args.strong_steps,
                                  expert_time_limit=args.expert_time_limit)
            label = f"shift-{name}" if args.family else name
            cache_path = args.cache.format(scenario=label, objective=args.objective)
            cache = alef.ExpertCache(cfg.objective, cfg.expert, seed, cfg.expert_time_limit,
                                     cache_path)
            if args.family:
                cfg.instances = _shift_snapshots(args.family, seed, cfg)
                windows = alef.timeline(cfg, alef.read_snapshots(cfg.instances, _log))
                home = [generate(args.home, seed=_shift_seed(seed, HOME_OFFSET + k))
                        for k in range(args.home_instances)]
                windows.insert(0, alef.Window("home", [], home, (0, 0)))
            else:
                cfg.scenario = name
                windows = alef.timeline(cfg)
            cfg.check()
            if args.prepare:
                _prepare(windows, cache, f"{label} seed {seed}")
                continue
            for row in _runs(model, windows, cfg, cache, budgets, strategies):
                row["scenario"] = label
                _log(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in row.items()))
                if writer:
                    writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v)
                                     for k, v in row.items()})
                    out.flush()
    if writer:
        out.close()


def _log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def _open_csv(path: str) -> tuple[TextIO, csv.DictWriter]:
    """The result CSV, opened for appending (with its header when new)."""
    new = not Path(path).exists()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out = open(path, "a", newline="")
    writer = csv.DictWriter(out, FIELDS)
    if new:
        writer.writeheader()
    return out, writer


def _shift_seed(seed: int, k: int) -> int:
    return SHIFT_SEED_BASE + 10_000 * seed + k


def _shift_snapshots(family: str, seed: int, cfg: alef.ALEFConfig) -> str:
    """Write seed's time-ordered snapshots of `family` as JSONL (what `mecopt finetune
    --instances` reads); returns the path."""
    need = cfg.snapshots_needed()
    path = Path(f"runs/alef/shift-{family}-s{seed}-n{need}.jsonl")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(generate(family, seed=_shift_seed(seed, k)).to_dict())
                 for k in range(need)]
        path.write_text("\n".join(lines) + "\n")
    return str(path)


def _prepare(windows: list[alef.Window], cache: alef.ExpertCache, what: str) -> None:
    """Label every held-out and pool instance of the timeline (no model needed)."""
    t0 = time.time()
    for w in windows:
        for inst in w.heldout:
            cache.optimum(inst)
            cache.expert_value(inst)
        if w.label != "after ALEF":
            for inst in w.pool:
                cache.label(inst)
    _log(f"prepared {what}: {cache.solves} new solves, {cache.solve_s:.0f} s solving, "
         f"{time.time() - t0:.0f} s")


def _runs(model, windows: list[alef.Window], cfg: alef.ALEFConfig, cache: alef.ExpertCache,
          budgets: list[int], strategies: list[str]) -> Iterator[dict]:
    """One result row per budget and strategy, on one timeline."""
    refs = alef.reference_curves(model, windows, cache)
    none = [p["gap"] for p in refs["none"]]
    greedy_final = greedy_gap(windows[-1], cache)
    for b, budget in enumerate(budgets):
        cfg.budget = budget
        for strategy in strategies:
            if strategy == "all" and b > 0:  # labels the whole pool whatever the budget
                continue
            t0 = time.time()
            tuned, rec = alef.run_strategy(model, windows, cfg, strategy, cache)
            alef_s = time.time() - t0
            expert_s = sum(cache.rows[(cfg.expert, n)]["wall_s"] for n in rec["labelled"])
            final = rec["points"][-1]["gap"]
            # The order ALEF chose, without any label: the base model decoding in it.
            reordered = copy.copy(model)
            reordered.cfg = dataclasses.replace(model.cfg, energy_order=rec["energy_order"])
            order_final = alef.heldout_gap(reordered, windows[-1], cache)["gap"]
            # What fine-tuning did where the model was trained: the first window (the home
            # family, or the scenario before its drift) decided by the tuned model.
            home_after = alef.heldout_gap(tuned, windows[0], cache)["gap"]
            increase = none[-1] - none[0]
            used = rec["labels"] if strategy == "all" else budget
            yield {"scenario": cfg.scenario, "seed": cfg.seed, "budget": used,
                   "strategy": strategy, "before": none[0], "after_drift": none[1],
                   "none_final": none[-1], "final": final,
                   "recovered": (none[-1] - final) / increase if increase > 0 else math.nan,
                   "labels": rec["labels"], "alef_s": alef_s, "expert_s": expert_s,
                   "wall_s": alef_s + expert_s, "energy_order": rec["energy_order"],
                   "order_final": order_final, "greedy_final": greedy_final,
                   "home_after": home_after,
                   "none_dead": refs["none"][-1]["no_decision"],
                   "final_dead": rec["points"][-1]["no_decision"]}


def greedy_gap(window: alef.Window, cache: alef.ExpertCache) -> float:
    """The mean gap (%) of mecopt's `greedy` construction on the window's held-out
    instances: what a UE-by-UE rule with no learning reaches there."""
    values = np.array([solve(x, cache.objective, "greedy").objective_value
                       for x in window.heldout])
    optima = np.array([cache.optimum(x) for x in window.heldout])
    return float(np.nanmean(alef.gaps(values, optima)))


def table(*csv_paths: str) -> str:
    """The markdown table of docs/alef.md from the CSVs: means over seeds, gaps in %."""
    rows = [r for p in csv_paths for r in csv.DictReader(open(p))]
    out = ["| scenario | seeds | before drift | right after | end, no FT | drift raised by | "
           "labels | ALEF max-entropy | ALEF random | ALEF - no FT (ME / R) | "
           "ME better than R (seeds) | wall s (ME, R) |",
           "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    keys = sorted({(r["scenario"], int(r["budget"])) for r in rows},
                  key=lambda k: (list(SCENARIOS).index(k[0]), k[1]))
    for scen, budget in keys:
        pick = {s: {r["seed"]: r for r in rows if r["scenario"] == scen
                    and int(r["budget"]) == budget and r["strategy"] == s}
                for s in ("max-entropy", "random")}
        seeds = sorted(set(pick["max-entropy"]) & set(pick["random"]))
        if not seeds:
            continue
        me = [pick["max-entropy"][s] for s in seeds]
        ra = [pick["random"][s] for s in seeds]

        def mean(rs, k):
            return float(np.mean([float(r[k]) for r in rs]))

        wins = sum(float(m["final"]) <= float(r["final"]) for m, r in zip(me, ra, strict=True))
        out.append(
            f"| {scen} | {len(seeds)} | {mean(me, 'before'):.2f} | {mean(me, 'after_drift'):.2f}"
            f" | {mean(me, 'none_final'):.2f} | "
            f"{mean(me, 'none_final') - mean(me, 'before'):+.2f} | {budget} | "
            f"{mean(me, 'final'):.2f} | {mean(ra, 'final'):.2f} | "
            f"{mean(me, 'final') - mean(me, 'none_final'):+.2f} / "
            f"{mean(ra, 'final') - mean(ra, 'none_final'):+.2f} | {wins}/{len(seeds)} | "
            f"{mean(me, 'wall_s'):.0f}, {mean(ra, 'wall_s'):.0f} |")
    return "\n".join(out)


def shift_table(*csv_paths: str) -> str:
    """The shift study's markdown table (docs/alef.md): per budget and strategy, the mean
    over seeds of the final held-out gap and of the share of the shift's gap removed, and
    the paired difference max-entropy - random (per seed) with its standard error."""
    rows = [r for p in csv_paths for r in csv.DictReader(open(p))]
    out = ["| family | seeds | home gap (before) | no FT, first window | no FT, end | "
           "order only, end | greedy, end | strategy | labels | ALEF, end | "
           "shift's gap removed | ME - R, paired (± SE) | home gap (after) |",
           "|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|"]
    for fam in sorted({r["scenario"] for r in rows}):
        mine = [r for r in rows if r["scenario"] == fam]
        for budget, strategy in sorted({(int(r["budget"]), r["strategy"]) for r in mine}):
            pick = {r["seed"]: r for r in mine
                    if int(r["budget"]) == budget and r["strategy"] == strategy}
            rs = list(pick.values())

            def mean(k, rs=rs):
                return float(np.mean([float(r[k]) for r in rs]))

            # Rows written before these columns existed have no value: "-".
            order, greedy, home = (f"{mean(k):.2f}%" if all(r.get(k) for r in rs) else "-"
                                   for k in ("order_final", "greedy_final", "home_after"))
            paired = ""
            if strategy == "max-entropy":
                rand = {r["seed"]: r for r in mine
                        if int(r["budget"]) == budget and r["strategy"] == "random"}
                d = [float(pick[s]["final"]) - float(rand[s]["final"])
                     for s in sorted(set(pick) & set(rand))]
                if len(d) > 1:
                    se = float(np.std(d, ddof=1) / math.sqrt(len(d)))
                    paired = f"{np.mean(d):+.2f} ± {se:.2f} ({len(d)} seeds)"
            out.append(f"| {fam} | {len(rs)} | {mean('before'):.2f}% | "
                       f"{mean('after_drift'):.2f}% | {mean('none_final'):.2f}% | {order} | "
                       f"{greedy} | {strategy} | "
                       f"{budget} | {mean('final'):.2f}% | {100 * mean('recovered'):.0f}% | "
                       f"{paired} | {home} |")
    return "\n".join(out)


def plot(csv_paths: list[str], png: str) -> None:
    """Per scenario: the final held-out gap against the budget (mean over seeds) for
    max-entropy and random, with no fine-tuning and before the drift as references."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for p in csv_paths for r in csv.DictReader(open(p))]
    names = [s for s in SCENARIOS if any(r["scenario"] == s for r in rows)]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
    for ax, scen in zip(axes[0], names, strict=True):
        mine = [r for r in rows if r["scenario"] == scen]
        budgets = sorted({int(r["budget"]) for r in mine})
        for strategy, style in (("max-entropy", "o-"), ("random", "s-")):
            ys = [np.mean([float(r["final"]) for r in mine if int(r["budget"]) == b
                           and r["strategy"] == strategy]) for b in budgets]
            ax.plot(budgets, ys, style, label=f"ALEF {strategy}")
        none = np.mean([float(r["none_final"]) for r in mine])
        before = np.mean([float(r["before"]) for r in mine])
        ax.axhline(none, color="k", ls="--", lw=1, label="no fine-tuning (end)")
        ax.axhline(before, color="g", ls=":", lw=1, label="before the drift")
        seeds = len({r["seed"] for r in mine})
        ax.set_title(f"{scen} ({seeds} seed{'s' * (seeds > 1)})", fontsize=9)
        ax.set_xlabel("expert labels")
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets, [str(b) for b in budgets])
    axes[0][0].set_ylabel("held-out gap after ALEF [%]")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "shift-table":
        print(shift_table(*sys.argv[2:]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "table":
        print(table(*sys.argv[2:]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "plot":
        plot(sys.argv[2:-1], sys.argv[-1])
    else:
        main()
