"""Packing the must-offload UEs: the tabu search (mecopt.packing) against HiGHS's MILP.

Instances with a planted packing (`planted`): M servers, each filled to `fill` of its
capacity by 1-4 UEs that cannot finish locally; each UE also reaches other servers, where
its f_min differs by a log-normal factor (channel rates differ). Two kinds (KINDS):
`alike`, every UE reaching every server at nearly the same f_min (short transmissions), and
`sparse`, each UE reaching 3 more servers at f_min up to about 1.5 times apart. Every
instance is feasible by construction. Side by side on each instance: `mecopt.packing.pack`
(its default budget, started from the cheapest servers for --objective as the rescue
anchor does; `none`: from best-fit decreasing) and the HiGHS feasibility MILP that the
anchor ran alone before (`assignment_lp(integer=True)`, --highs-limit seconds). Printed per
(kind, servers, fill): packings found and mean / worst seconds of each.

    python benchmarks/bench_packing.py [--seeds 0-9] [--kinds alike,sparse] \
        [--servers 10,40,100] [--fills 0.97,0.99,1] [--objective energy] \
        [--highs-limit 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from mecopt.instance import Instance
from mecopt.packing import pack
from mecopt.relaxation import assignment_lp

# kind -> (servers each UE reaches besides its own, at most all; sigma of the log f_min
# across servers)
KINDS = {"alike": (10**6, 0.02), "sparse": (3, 0.2)}
# The planted loads stay this far (relative) below the capacities: full, up to rounding.
FULL = 1 - 1e-6


def planted(seed: int, n_servers: int = 20, fill: float = 1.0, reach: int = 3,
            spread: float = 0.2, per_server: tuple[int, int] = (1, 4),
            local_ues: int = 0) -> Instance:
    """An instance whose must-offload UEs have a known packing, each server filled to
    `fill` (at most FULL) of its capacity by per_server UEs; `local_ues` more UEs can
    finish locally (they need no server)."""
    rng = np.random.default_rng([8311, seed, n_servers])
    M = n_servers
    capacity = 1e9 * rng.uniform(1.0, 3.0, M)
    counts = rng.integers(per_server[0], per_server[1] + 1, M)
    home = np.repeat(np.arange(M), counts)
    share = np.concatenate([rng.dirichlet(np.ones(c)) for c in counts])
    own = capacity[home] * min(fill, FULL) * share  # (K,) f_min on the planted server
    K = len(home)
    f_min = own[:, None] * np.exp(rng.normal(0.0, spread, (K, M)))
    f_min[np.arange(K), home] = own
    reached = np.zeros((K, M), dtype=bool)
    reached[np.arange(K), home] = True
    for k in range(K):
        reached[k, rng.choice(M, size=min(reach, M), replace=False)] = True
    # Deadline 1 s, 1 Mbit; cycles half the smallest f_min (times 1 s), so a rate
    # bits / (1 - cycles / f_min) gives each reachable server exactly that f_min; the local
    # CPU takes 2 s.
    deadline, bits = 1.0, 1e6
    cycles = 0.5 * np.where(reached, f_min, np.inf).min(axis=1) * deadline
    rate = np.where(reached, bits / (deadline - cycles[:, None] / f_min), 0.0)
    local_hz = cycles / (2 * deadline)
    if local_ues:
        cycles = np.r_[cycles, 1e8 * rng.uniform(0.5, 1.5, local_ues)]
        local_hz = np.r_[local_hz, 1e9 * rng.uniform(0.5, 1.5, local_ues)]
        rate = np.r_[rate, 1e7 * rng.uniform(0.5, 2.0, (local_ues, M))]
    N = len(cycles)
    return Instance(name=f"planted-{M}-{fill:g}-{seed}", data_bits=np.full(N, bits),
                    cycles=cycles, local_hz=local_hz, tx_power_w=np.full(N, 0.5),
                    local_power_w=np.full(N, 1.0), deadline_s=np.full(N, deadline),
                    capacity_hz=capacity, rate_bps=rate)


def _highs(inst: Instance, time_limit: float) -> bool:
    must = np.flatnonzero(~inst.local_ok)
    found = assignment_lp(inst, ues=must, integer=True, capacity_scale=1 - 1e-9,
                          time_limit=time_limit)
    return found.x is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9", help="a range a-b or a comma list")
    parser.add_argument("--servers", default="10,40,100")
    parser.add_argument("--fills", default="0.97,0.99,1")
    parser.add_argument("--kinds", default="alike,sparse", help=", ".join(KINDS))
    parser.add_argument("--objective", default="energy",
                        help="latency, energy, or none (best-fit decreasing start)")
    parser.add_argument("--highs-limit", type=float, default=5.0)
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seeds = (list(range(int(lo), int(hi) + 1)) if hi
             else [int(s) for s in args.seeds.split(",")])
    objective = None if args.objective == "none" else args.objective
    rows = []
    grid = [(kind, int(m), float(fill)) for kind in args.kinds.split(",")
            for m in args.servers.split(",") for fill in args.fills.split(",")]
    for kind, m, fill in grid:
        reach, spread = KINDS[kind]
        for seed in seeds:
            inst = planted(seed, m, fill, reach=reach, spread=spread)
            row = {"kind": kind, "servers": m, "fill": fill, "seed": seed,
                   "ues": inst.n_ues}
            t = time.perf_counter()
            row["search"] = pack(inst, objective, seed=seed) is not None
            row["search_s"] = time.perf_counter() - t
            t = time.perf_counter()
            row["highs"] = _highs(inst, args.highs_limit)
            row["highs_s"] = time.perf_counter() - t
            rows.append(row)
            print(f"{kind} {inst.name} ({inst.n_ues} UEs): search {row['search']} "
                  f"{row['search_s']:.2f} s, highs {row['highs']} {row['highs_s']:.2f} s",
                  flush=True)
    data = {"seeds": seeds, "objective": args.objective, "highs_limit_s": args.highs_limit,
            "rows": rows}
    print(table(data))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)


def table(data: dict) -> str:
    """Markdown: per (kind, servers, fill), packings found and seconds of each way."""
    lines = ["| kind | servers | fill | UEs (mean) | search: found | mean / worst s | "
             f"HiGHS {data['highs_limit_s']:g} s: found | mean / worst s |",
             "|---|--:|--:|--:|--:|--:|--:|--:|"]
    keys = list(dict.fromkeys((r["kind"], r["servers"], r["fill"]) for r in data["rows"]))
    for kind, m, fill in keys:
        rs = [r for r in data["rows"] if (r["kind"], r["servers"], r["fill"]) == (kind, m, fill)]
        cells = [kind, f"{m}", f"{fill:g}", f"{np.mean([r['ues'] for r in rs]):.0f}"]
        for way in ("search", "highs"):
            s = [r[f"{way}_s"] for r in rs]
            cells += [f"{sum(r[way] for r in rs)}/{len(rs)}",
                      f"{np.mean(s):.2f} / {max(s):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
