"""How often the fast methods miss a decision on an instance that has one.

Draws random instances of mixed kinds and sizes, decides each exactly with `highs` (energy:
a generalized assignment MILP, so "optimal" or "feasible" means a decision exists and
"infeasible" is proven; a loose gap, since any decision settles feasibility), and counts,
among the feasible ones, how often

- each fast method (`--methods`, default greedy and lambo's greedy decoding), solved through
  `mecopt.solve` for each objective, answers `infeasible` (false: the instance has a
  decision), `no_solution`, or another status without a decision, and
- `repair` of random proposals (as DE draws its initial population: uniform options)
  leaves a row infeasible.

Instance kinds (fixed seeds, so runs compare):
- hetero: `mecopt.generate("hetero")` with 10-400 UEs (log-uniform), 1-12 servers, and the
  capacities scaled down so that capacity binds: half by a log-uniform factor in
  [0.02, 1], half to 0.9-1.5 times the least that the UEs that must offload need;
- tiny: 2-8 UEs and 1-3 servers with random sizes, rates (some unreachable) and deadlines;
- tight and sparse: the families of those names (40-150 and 60-400 UEs), random seeds.

    python benchmarks/bench_feasibility.py                  # 500 instances, about a minute
    python benchmarks/bench_feasibility.py --instances 100 --time-limit 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import mecopt
from mecopt.repair import repair


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


def family_instance(family: str, rng: np.random.Generator, seed: int) -> mecopt.Instance:
    return mecopt.generate(family, seed=int(rng.integers(10**6, 10**7)),
                           name=f"{family}-{seed}")


def draw(rng: np.random.Generator, k: int, tiny_share: float) -> mecopt.Instance:
    """One instance: tiny with probability tiny_share, else hetero (60%), tight or sparse."""
    u = rng.random()
    if u < tiny_share:
        return tiny_instance(rng, k)
    u = (u - tiny_share) / (1 - tiny_share)
    if u < 0.6:
        return hetero_instance(rng, k)
    return family_instance("tight" if u < 0.8 else "sparse", rng, k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=500, help="instances to draw")
    ap.add_argument("--tiny-share", type=float, default=0.3, help="share of tiny instances")
    ap.add_argument("--time-limit", type=float, default=5.0, help="highs limit per instance [s]")
    ap.add_argument("--proposals", type=int, default=40, help="random proposals per repair")
    ap.add_argument("--seed", type=int, default=0, help="seed of the instance draw")
    ap.add_argument("--methods", default="greedy,lambo", help="fast methods, comma-separated")
    args = ap.parse_args()
    methods = args.methods.split(",")

    counts = {"feasible": 0, "infeasible": 0, "undecided": 0}
    said = {(m, obj): {} for m in methods for obj in mecopt.Objective}  # status -> count
    t_method = {m: 0.0 for m in methods}
    rows = rows_missed = inst_any = inst_all = 0
    missed: list[str] = []
    t_exact = t_repair = 0.0
    slowest = (0.0, "")  # the slowest method or repair call
    start = time.perf_counter()
    for k in range(args.instances):
        rng = np.random.default_rng([args.seed, k])  # one stream per instance
        inst = draw(rng, k, args.tiny_share)
        t = time.perf_counter()
        status = mecopt.solve(inst, "energy", "highs", time_limit=args.time_limit,
                              gap=0.5).status  # any decision settles feasibility
        t_exact += time.perf_counter() - t
        if status not in ("optimal", "feasible"):
            counts["infeasible" if status == "infeasible" else "undecided"] += 1
            continue
        counts["feasible"] += 1
        for method in methods:
            for obj in mecopt.Objective:
                t = time.perf_counter()
                sol = mecopt.solve(inst, obj, method)
                spent = time.perf_counter() - t
                t_method[method] += spent
                slowest = max(slowest, (spent, f"{method} {obj.value} {inst.name}"))
                tally = said[(method, obj)]
                tally[str(sol.status)] = tally.get(str(sol.status), 0) + 1
                if not sol.feasible:
                    missed.append(f"{method} {obj.value} {inst.name} ({inst.n_ues}x"
                                  f"{inst.n_servers}): {sol.status}: {sol.message}")
        proposals = rng.integers(  # the same proposals whatever happened to other instances
            0, inst.n_servers + 1, (args.proposals, inst.n_ues))
        t = time.perf_counter()
        dec = repair(inst, "energy", proposals)
        t_repair += time.perf_counter() - t
        slowest = max(slowest, (time.perf_counter() - t, f"repair {inst.name}"))
        bad = int((~dec.feasible).sum())
        rows += len(proposals)
        rows_missed += bad
        inst_any += bad > 0
        inst_all += bad == len(proposals)
        if bad:
            missed.append(f"repair {bad}/{len(proposals)} rows {inst.name} "
                          f"({inst.n_ues}x{inst.n_servers})")

    f = counts["feasible"]
    print(f"{args.instances} instances: {f} feasible, {counts['infeasible']} proven infeasible, "
          f"{counts['undecided']} undecided by highs in {args.time_limit:g} s")
    for (method, obj), tally in said.items():
        wrong = tally.get("infeasible", 0)
        none = sum(c for st, c in tally.items() if st not in ("optimal", "feasible"))
        print(f"{method} {obj.value:8s}: no decision on {none} of {f} feasible "
              f"({100 * none / max(f, 1):.2f}%), of which false 'infeasible' {wrong}; "
              f"statuses {dict(sorted(tally.items()))}")
    print(f"repair of {args.proposals} random proposals: {rows_missed} of {rows} rows "
          f"infeasible; instances with any such row {inst_any}, with every row {inst_all}")
    spent = ", ".join(f"{m} {t:.2f} s" for m, t in t_method.items())
    print(f"time: highs {t_exact:.1f} s, {spent}, repair {t_repair:.2f} s, "
          f"total {time.perf_counter() - start:.1f} s; slowest call {slowest[0]:.2f} s "
          f"({slowest[1]})")
    for line in missed[:20]:
        print("  missed:", line)


if __name__ == "__main__":
    main()
