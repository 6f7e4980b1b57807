"""How often the constructive methods miss a decision on an instance that has one.

Draws random instances of mixed kinds and sizes, decides each exactly with `highs` (energy:
a generalized assignment MILP, so "optimal" or "feasible" means a decision exists and
"infeasible" is proven; a loose gap, since any decision settles feasibility), and counts,
among the feasible ones, how often

- `greedy_assignment` finds no decision (each objective), and
- `decode` of random proposals (as DE draws its initial population: uniform options)
  leaves a row infeasible.

Instance kinds (fixed seeds, so runs compare):
- hetero: `mecopt.generate("hetero")` with 10-400 UEs (log-uniform), 1-12 servers, and the
  capacities scaled down so that capacity binds: half by a log-uniform factor in
  [0.02, 1], half to 0.9-1.5 times the least that the UEs that must offload need;
- tiny: 2-8 UEs and 1-3 servers with random sizes, rates (some unreachable) and deadlines.

    python benchmarks/bench_feasibility.py                  # 500 instances, about a minute
    python benchmarks/bench_feasibility.py --instances 100 --time-limit 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import mecopt
from mecopt.decoder import decode
from mecopt.solvers.greedy import greedy_assignment


def hetero_instance(rng: np.random.Generator, seed: int) -> mecopt.Instance:
    n = int(round(np.exp(rng.uniform(np.log(10), np.log(400)))))
    m = int(rng.integers(1, 13))
    inst = mecopt.generate("hetero", n_ues=n, n_servers=m, seed=seed)
    if rng.random() < 0.5:
        factor = np.exp(rng.uniform(np.log(0.02), 0.0))
    else:  # near the boundary: about what the UEs that must offload need at least
        need = np.where(inst.usable, inst.f_min, np.inf).min(axis=1)[~inst.option_ok[:, 0]]
        need = need[np.isfinite(need)].sum()
        factor = min(1.0, max(need / inst.capacity_hz.sum(), 0.002) * rng.uniform(0.9, 1.5))
    return inst.replace(name=f"hetero-{seed}-x{factor:.3f}",
                        capacity_hz=inst.capacity_hz * factor)


def tiny_instance(rng: np.random.Generator, seed: int) -> mecopt.Instance:
    n, m = int(rng.integers(2, 9)), int(rng.integers(1, 4))
    rate = 1e6 * np.exp(rng.uniform(np.log(0.5), np.log(50), (n, m)))
    rate[rng.random((n, m)) < 0.15] = 0.0  # some pairs unreachable
    return mecopt.Instance(
        name=f"tiny-{seed}", data_bits=1e6 * rng.uniform(0.5, 1.5, n),
        cycles=1e9 * rng.uniform(0.5, 1.5, n), local_hz=1e9 * rng.uniform(0.3, 1.5, n),
        tx_power_w=rng.uniform(0.1, 1.0, n), local_power_w=rng.uniform(0.5, 2.0, n),
        deadline_s=rng.uniform(0.8, 2.0, n), capacity_hz=1e9 * rng.uniform(0.5, 4.0, m),
        rate_bps=rate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=500, help="instances to draw")
    ap.add_argument("--tiny-share", type=float, default=0.3, help="share of tiny instances")
    ap.add_argument("--time-limit", type=float, default=5.0, help="highs limit per instance [s]")
    ap.add_argument("--proposals", type=int, default=40, help="random proposals per decode")
    ap.add_argument("--seed", type=int, default=0, help="seed of the instance draw")
    args = ap.parse_args()

    counts = {"feasible": 0, "infeasible": 0, "undecided": 0}
    greedy_miss = {obj: 0 for obj in mecopt.Objective}
    rows = rows_missed = inst_any = inst_all = 0
    missed: list[str] = []
    t_exact = t_greedy = t_decode = 0.0
    slowest = (0.0, "")  # the slowest greedy or decode call
    start = time.perf_counter()
    for k in range(args.instances):
        rng = np.random.default_rng([args.seed, k])  # one stream per instance
        inst = (tiny_instance if rng.random() < args.tiny_share else hetero_instance)(rng, k)
        t = time.perf_counter()
        status = mecopt.solve(inst, "energy", "highs", time_limit=args.time_limit,
                              gap=0.5).status  # any decision settles feasibility
        t_exact += time.perf_counter() - t
        if status not in ("optimal", "feasible"):
            counts["infeasible" if status == "infeasible" else "undecided"] += 1
            continue
        counts["feasible"] += 1
        for obj in mecopt.Objective:
            t = time.perf_counter()
            a, _ = greedy_assignment(inst, obj)
            t_greedy += time.perf_counter() - t
            slowest = max(slowest, (time.perf_counter() - t, f"greedy {obj.value} {inst.name}"))
            if a is None:
                greedy_miss[obj] += 1
                missed.append(f"greedy {obj.value} {inst.name} ({inst.n_ues}x{inst.n_servers})")
        proposals = rng.integers(  # the same proposals whatever happened to other instances
            0, inst.n_servers + 1, (args.proposals, inst.n_ues))
        t = time.perf_counter()
        dec = decode(inst, "energy", proposals)
        t_decode += time.perf_counter() - t
        slowest = max(slowest, (time.perf_counter() - t, f"decode {inst.name}"))
        bad = int((~dec.feasible).sum())
        rows += len(proposals)
        rows_missed += bad
        inst_any += bad > 0
        inst_all += bad == len(proposals)
        if bad:
            missed.append(f"decode {bad}/{len(proposals)} rows {inst.name} "
                          f"({inst.n_ues}x{inst.n_servers})")

    f = counts["feasible"]
    print(f"{args.instances} instances: {f} feasible, {counts['infeasible']} proven infeasible, "
          f"{counts['undecided']} undecided by highs in {args.time_limit:g} s")
    for obj in mecopt.Objective:
        print(f"greedy {obj.value:8s}: no decision on {greedy_miss[obj]} of {f} feasible")
    print(f"decode of {args.proposals} random proposals: {rows_missed} of {rows} rows "
          f"infeasible; instances with any such row {inst_any}, with every row {inst_all}")
    print(f"time: highs {t_exact:.1f} s, greedy {t_greedy:.2f} s, decode {t_decode:.2f} s, "
          f"total {time.perf_counter() - start:.1f} s; slowest call {slowest[0]:.2f} s "
          f"({slowest[1]})")
    for line in missed[:20]:
        print("  missed:", line)


if __name__ == "__main__":
    main()
