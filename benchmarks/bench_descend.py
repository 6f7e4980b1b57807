"""How long does the shared local search (`mecopt.descend`) take, and where does it end?

For every library family (tiny, paper, hetero, large) and objective, `descend` runs from
`--starts` random proposals per instance, repaired by `mecopt.repair` (seeded), and from
the greedy heuristic's assignment. Printed per row: the number of descents, the mean value
they end at relative to the start (how much the search gains), and the mean ms per
descent. `--json` writes every final value, so two versions of the code can be compared
start by start (the same seed gives the same starts):

    python benchmarks/bench_descend.py [--starts 6] [--seed 0] [--json out.json] \
        [--no-exchanges]

`--draws` times descents at scale instead: from the greedy heuristic's assignment on the
given draws (family:N:M:seed, generated), both objectives, one line each with the seconds
and the final value:

    python benchmarks/bench_descend.py --draws world:2000:20:9950010,hetero:1000:20:9950012
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import mecopt
from mecopt.construct import greedy_assignment
from mecopt.descend import descend
from mecopt.objective import Objective
from mecopt.repair import repair

ROOT = Path(__file__).resolve().parent.parent / "instances"
FAMILIES = ("tiny", "paper", "hetero", "large")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=6, help="random starts per instance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write every final value here")
    parser.add_argument("--no-exchanges", action="store_true",
                        help="descend without its cyclic and path exchanges (mecopt.exchange)")
    parser.add_argument("--draws", default=None,
                        help="family:N:M:seed,... : time descents from greedy on these draws")
    args = parser.parse_args()
    if args.draws:
        at_scale(args.draws.split(","), exchanges=not args.no_exchanges)
        return
    rng = np.random.default_rng(args.seed)
    finals: dict[str, list[float]] = {}
    total = 0.0
    print(f"{'family':8s} {'objective':9s} {'start':7s} {'runs':>5s} {'end/start':>10s} "
          f"{'ms':>7s}")
    for family in FAMILIES:
        insts = [mecopt.Instance.load(p) for p in sorted((ROOT / family).glob(f"{family}-*.json"))]
        for obj in (Objective.LATENCY, Objective.ENERGY):
            for kind in ("random", "greedy"):
                ratios, ms = [], []
                for inst in insts:
                    if kind == "random":
                        proposals = rng.integers(0, inst.n_servers + 1,
                                                 (args.starts, inst.n_ues))
                        dec = repair(inst, obj, proposals)
                        starts = list(zip(dec.assignment[dec.feasible],
                                          dec.value[dec.feasible], strict=True))
                    else:
                        a, _ = greedy_assignment(inst, obj)
                        starts = [] if a is None else [
                            (a, float(repair(inst, obj, a[None]).value[0]))]
                    for a, v0 in starts:
                        t = time.perf_counter()
                        _, v = descend(inst, obj, a, exchanges=not args.no_exchanges)
                        ms.append(1e3 * (time.perf_counter() - t))
                        ratios.append(v / v0)
                        finals.setdefault(f"{family}/{obj.value}/{kind}", []).append(v)
                total += sum(ms) / 1e3
                print(f"{family:8s} {obj.value:9s} {kind:7s} {len(ms):5d} "
                      f"{np.mean(ratios):10.6f} {np.mean(ms):7.2f}", flush=True)
    print(f"all descents: {total:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(finals) + "\n")


def at_scale(draws: list[str], exchanges: bool) -> None:
    """One descent from greedy per draw and objective: seconds and final value."""
    total = 0.0
    for draw in draws:
        family, n, m, seed = draw.split(":")
        inst = mecopt.generate(family, int(n), int(m), seed=int(seed))
        for obj in (Objective.LATENCY, Objective.ENERGY):
            a, _ = greedy_assignment(inst, obj)
            if a is None:
                print(f"{family} {n}x{m} seed {seed} {obj.value}: greedy found no decision")
                continue
            t = time.perf_counter()
            _, v = descend(inst, obj, a, exchanges=exchanges)
            dt = time.perf_counter() - t
            total += dt
            print(f"{family} {n}x{m} seed {seed} {obj.value}: {dt:.2f} s, value {v:.9g}",
                  flush=True)
    print(f"all descents: {total:.2f} s")


if __name__ == "__main__":
    main()
