"""LAMBO's decode speed against issue #18's targets, side by side for the two decode loops.

    python benchmarks/bench_decode_speed.py [--loops torch,auto,numpy] [--rounds 3]
                                            [--json out.json]

Every round runs each loop setting in a fresh process, in turn, so the settings see the same
machine (its speed varies 2-4x from day to day here). In each process, on one torch thread
for the steps (lambo's default, `threads=auto`):
- `call_ms`: the median wall time of 30 `mecopt.solve(paper-000, "lambo")` calls, the
  prompts alternating, after a first call that loads the model (target: at most 20 ms);
- `decode_2000_s`: the wall times of `decode_instances` on one hetero 2,000 x 20 instance
  (seed 0), each prompt with lambo-s and lambo-w, after a warm-up decode of each network
  (target: under 1 s);
- `batched_per_s`: instances per second of `decode_instances` on 200 paper 4 x 50 rows in
  one call, the prompts alternating, median of 3 after a warm-up (bench_lambo.py's
  throughput; target: at least 1,000).
`torch` decodes everything in rollout's torch loop (numpy_decode.NUMPY_MAX_ROWS set to 0
in its process); `auto` is the shipped choice (numpy for decodes of at most
NUMPY_MAX_ROWS rows); `numpy` takes every decode to the numpy loop, whatever its rows (the
batch too). The figures are printed per round and as ranges.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OBJECTIVES = ("latency", "energy")


def measure(loop: str) -> dict:
    """The three figures in this process, with `loop` ("torch", "auto" or "numpy")."""
    import mecopt
    from mecopt.generators import generate
    from mecopt.learned import numpy_decode
    from mecopt.learned.lambo_method import decode_instances

    if loop == "torch":
        numpy_decode.NUMPY_MAX_ROWS = 0
    elif loop == "numpy":
        numpy_decode.NUMPY_MAX_ROWS = 1 << 30
    inst = mecopt.Instance.load(ROOT / "instances" / "paper" / "paper-000.json")
    mecopt.solve(inst, "latency", "lambo")
    walls = []
    for k in range(30):
        start = time.perf_counter()
        mecopt.solve(inst, OBJECTIVES[k % 2], "lambo")
        walls.append(time.perf_counter() - start)
    big = generate("hetero", n_ues=2000, n_servers=20, seed=0)
    decodes = []
    for checkpoint in ("lambo-s", "lambo-w"):
        decode_instances([big], ["latency"], checkpoint=checkpoint)
        for objective in OBJECTIVES:
            start = time.perf_counter()
            decode_instances([big], [objective], checkpoint=checkpoint)
            decodes.append(time.perf_counter() - start)
    rows = [generate("paper", 50, 4, seed=4_000_000 + k) for k in range(200)]
    objectives = [OBJECTIVES[k % 2] for k in range(200)]
    rates = []
    for _ in range(4):
        start = time.perf_counter()
        decode_instances(rows, objectives)
        rates.append(len(rows) / (time.perf_counter() - start))
    return {"loop": loop, "call_ms": 1e3 * statistics.median(walls),
            "decode_2000_s": decodes, "batched_per_s": statistics.median(rates[1:])}


def table(results: list[dict]) -> str:
    """The range of each figure over the rounds, per loop setting (markdown)."""
    lines = ["| loop | processes | one solve call (ms) | 2,000 x 20 decode (s) "
             "| 200 rows batched (/s) |", "|---|---:|---|---|---|"]
    for loop in dict.fromkeys(r["loop"] for r in results):
        mine = [r for r in results if r["loop"] == loop]
        calls = [r["call_ms"] for r in mine]
        dec = [s for r in mine for s in r["decode_2000_s"]]
        rate = [r["batched_per_s"] for r in mine]
        lines.append(f"| {loop} | {len(mine)} | {min(calls):.1f}-{max(calls):.1f} "
                     f"| {min(dec):.2f}-{max(dec):.2f} | {min(rate):,.0f}-{max(rate):,.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", default="torch,auto,numpy")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the per-process figures here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    loops = args.loops.split(",")
    results = []
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    for r in range(args.rounds):
        for loop in loops:
            out = subprocess.run([sys.executable, __file__, "--child", loop], check=True,
                                 capture_output=True, text=True).stdout
            res = json.loads(out.strip().splitlines()[-1])
            res["round"] = r
            results.append(res)
            print(f"round {r} {loop:6s} call {res['call_ms']:6.2f} ms | 2,000 x 20 decode "
                  + " ".join(f"{s:.3f}" for s in res["decode_2000_s"])
                  + f" s | batched {res['batched_per_s']:6.0f} /s", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(table(results), end="")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
