"""Proofs that an instance has no feasible decision, each named in one line.

`infeasible` is a strong word (SPEC section 3): a solution says it only when something proves
it. `certify_infeasible` tries, cheapest first:
1. a UE that can meet its deadline neither locally nor on any usable server;
2. a UE that must offload (local misses the deadline) and whose f_min exceeds the capacity
   of every server it can reach;
3. the aggregate capacity argument: the UEs that must offload need, even each at its
   cheapest server, more than all the capacity there is;
4. the LP relaxation of the assignment (mecopt.relaxation) is infeasible: not even a
   fractional assignment fits the capacities;
5. (with `packing`) HiGHS proves, within `packing_time_limit` seconds, that the UEs that must
   offload cannot be packed onto the servers. Every other UE can run locally, which needs no
   capacity, so this decides feasibility exactly; only its time limit can leave it open.
It returns the first proof found as a message, or None when none of these proves anything.
The first three take microseconds to milliseconds and need no solver: every method's `solve`
runs them before the method (`mecopt.method`), so an instance they prove infeasible is
answered at once, whatever the method.
"""

from __future__ import annotations

import numpy as np

from mecopt.instance import Instance, usable_options


def certify_infeasible(instance: Instance, *, lp: bool = True, packing: bool = True,
                       packing_time_limit: float = 5.0) -> str | None:
    """A one-line proof that no decision meets every deadline and capacity, or None."""
    ok = instance.option_ok
    stuck = np.flatnonzero(~ok.any(axis=1))
    if len(stuck):
        i = int(stuck[0])
        return (f"proven infeasible: {len(stuck)} UEs can meet their deadline neither locally "
                f"nor on any server (first: UE {i}: local takes {instance.t_loc[i]:.6g} s > "
                f"{instance.deadline_s[i]:.6g} s, and every server is unreachable or too slow "
                "to transmit to)")
    fitting = usable_options(instance)
    alone = np.flatnonzero(~fitting.any(axis=1))
    if len(alone):
        return (f"proven infeasible: {len(alone)} UEs cannot meet their deadline locally and "
                "need more than the capacity of every server they reach to meet it offloaded "
                f"(first: UE {int(alone[0])})")
    must = np.flatnonzero(~instance.local_ok)
    if len(must):
        need = np.where(fitting[must, 1:], instance.f_min[must], np.inf).min(axis=1).sum()
        have = instance.capacity_hz.sum()
        if need > have * (1 + 1e-9):
            return (f"proven infeasible: {len(must)} UEs must offload and need at least "
                    f"{need / 1e9:.6g} GHz together, more than the {have / 1e9:.6g} GHz of all "
                    "servers")
    if not (lp or packing):
        return None
    from mecopt.relaxation import assignment_lp  # HiGHS only for the last two proofs

    if lp and assignment_lp(instance).status == "infeasible":
        return ("proven infeasible: not even a fractional assignment (the LP relaxation) fits "
                "the minimum allocations that meet the deadlines into the server capacities")
    if packing and len(must) and assignment_lp(
            instance, ues=must, integer=True, time_limit=packing_time_limit
    ).status == "infeasible":
        return (f"proven infeasible: HiGHS shows that the {len(must)} UEs that must offload "
                "cannot be packed onto the servers within their capacities")
    return None
