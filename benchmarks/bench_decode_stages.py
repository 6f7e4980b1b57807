"""Where the time of a LAMBO greedy decode goes, by batch size: building the batch (features,
CPU), the network's decode (on --device) and the water-filled costs (CPU).

    python benchmarks/bench_decode_stages.py --device cuda --batches 1,200,2000,8000
    python benchmarks/bench_decode_stages.py --size 2000x20 --batches 1

Rows are 4x50 paper instances (or, with --size NxM, hetero instances of N UEs and M
servers), the two prompts alternating. Each stage is timed on its own (the GPU synchronized
before the clock stops), best of --repeats after one warm-up.
"""

from __future__ import annotations

import argparse
import time

import torch

from mecopt.generators import generate
from mecopt.learned import load_cached
from mecopt.learned.features import make_batch
from mecopt.learned.rollout import costs, rollout
from mecopt.objective import Objective

OBJECTIVES = (Objective.LATENCY, Objective.ENERGY)


def _timed(on: str, fn, *args, **kwargs):
    """Result and wall seconds of fn(*args, **kwargs), with the device's queue drained before
    and after."""
    if on.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    if on.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def stages(n: int, device: str, repeats: int, size: tuple[int, int] | None = None
           ) -> dict[str, float]:
    """Best-of-repeats seconds of each stage for a batch of n rows (4x50 paper rows, or
    hetero rows of size (N, M))."""
    model, _ = load_cached("lambo", "", device)
    family, (n_ues, n_servers) = ("paper", (50, 4)) if size is None else ("hetero", size)
    insts = [generate(family, n_ues, n_servers, seed=4_000_000 + k % 500) for k in range(n)]
    objs = [OBJECTIVES[k % 2] for k in range(n)]
    best = {"features": float("inf"), "decode": float("inf"), "costs": float("inf")}
    with torch.inference_mode():
        for _ in range(repeats + 1):  # the first is a warm-up and is overwritten
            batch, t_feat = _timed(device, make_batch, insts, objs, device=device)
            out, t_dec = _timed(device, rollout, model, batch, stats=False)
            _, t_cost = _timed(device, costs, batch, out)
            for key, t in (("features", t_feat), ("decode", t_dec), ("costs", t_cost)):
                best[key] = min(best[key], t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", default="1,200,2000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--size", default=None, help="NxM: hetero rows of N UEs, M servers")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = None if args.size is None else tuple(int(x) for x in args.size.lower().split("x"))
    rows = "4x50 paper" if size is None else f"{size[0]} UE x {size[1]} server hetero"
    print(f"device {args.device}; torch threads {args.threads}; {rows} rows, greedy")
    print(f"{'rows':>6s} {'features ms':>12s} {'decode ms':>10s} {'costs ms':>9s} "
          f"{'total ms':>9s} {'rows/s':>8s} {'decode rows/s':>14s}")
    for n in (int(x) for x in args.batches.split(",")):
        t = stages(n, args.device, args.repeats, size)
        total = sum(t.values())
        print(f"{n:6d} {1e3 * t['features']:12.1f} {1e3 * t['decode']:10.1f} "
              f"{1e3 * t['costs']:9.1f} {1e3 * total:9.1f} {n / total:8.0f} "
              f"{n / t['decode']:14.0f}", flush=True)


if __name__ == "__main__":
    main()
