"""Water-filling: the optimal server allocation for a fixed assignment, batched.

For one server j with the set S of UEs assigned to it, the allocation problem is

    minimize  sum_{i in S} C_i / f_i   s.t.  sum_{i in S} f_i <= F_j,  f_i >= l_i = f_min[i, j].

It is convex. The KKT conditions give f_i = max(l_i, mu * sqrt(C_i)) with one multiplier
mu > 0 per server, chosen so that the capacity is used exactly (docs/model.md derives it).
g(mu) = sum_i max(l_i, mu sqrt(C_i)) is increasing and piecewise linear with breakpoints at
r_i = l_i / sqrt(C_i); sorting the UEs by r_i (descending) and evaluating g at each
breakpoint with cumulative sums finds the right piece, so the whole batch of (assignment,
server) groups is solved exactly with one sort and no iteration. The server is feasible iff
sum_i l_i <= F_j (up to `FIT_TOL`: `fits`).
"""

from __future__ import annotations

import numpy as np

from mecopt.instance import Instance

# The one relative slack on a server's capacity: a load fits when load <= F (1 + FIT_TOL).
# Loads are sums of floats, so an exact fit can come out a few ulps over F (1e-16
# relative); 1e-12 absorbs that and nothing larger. Every "does it fit" test uses it: the
# shared construction (greedy and the repair), water-filling's verdict, the evaluation's
# capacity check, local search and LNS; the LAMBO rollout masks with the same slack.
FIT_TOL = 1e-12


def fit_limit(capacity):
    """The largest load that fits a capacity (same unit, elementwise): F (1 + FIT_TOL)."""
    return capacity * (1 + FIT_TOL)


def fits(load, capacity):
    """Whether a load fits a capacity (same unit; floats, arrays or tensors, elementwise):
    load <= F (1 + FIT_TOL)."""
    return load <= fit_limit(capacity)


def waterfill(instance: Instance, assignment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal allocations for one assignment (N,) or a batch (P, N) of assignments.

    Options are 0 (local) or j in 1..M; every offloaded pair must be usable
    (instance.usable). Returns (allocation_hz, server_ok): allocation_hz has the shape of
    `assignment` (0 for local UEs); server_ok is (M,) or (P, M), False where the minimum
    allocations exceed the capacity, in which case those UEs get exactly f_min (the capacity
    is then violated, which the evaluation reports).
    """
    a = np.asarray(assignment)
    single = a.ndim == 1
    a = np.atleast_2d(a)
    P, N = a.shape
    M = instance.n_servers
    alloc = np.zeros((P, N))
    server_ok = np.ones((P, M), dtype=bool)
    p_idx, i_idx = np.nonzero(a > 0)
    if len(p_idx):
        j_idx = a[p_idx, i_idx] - 1
        group = p_idx * M + j_idx
        low = instance.f_min[i_idx, j_idx]  # lower bounds l_i
        root = np.sqrt(instance.cycles[i_idx])  # sqrt(C_i)
        ratio = low / root  # breakpoints r_i
        order = np.lexsort((-ratio, group))  # by group, then r descending
        group, low, root, ratio = group[order], low[order], root[order], ratio[order]
        # (np.concatenate, not np.r_: this runs once per evaluation, and np.r_'s parsing
        # was a fifth of a small instance's water-filling.)
        starts = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
        members = np.diff(np.append(starts, len(group)))
        gid = np.repeat(np.arange(len(starts)), members)  # group number per entry
        cum_low, cum_root = np.cumsum(low), np.cumsum(root)
        low_before = cum_low - low - (cum_low - low)[starts][gid]  # sum of l before k in group
        root_from = (np.add.reduceat(root, starts)[gid]
                     - (cum_root - root - (cum_root - root)[starts][gid]))  # sum sqrt(C) from k
        cap = instance.capacity_hz[group % M]
        g_at_break = low_before + ratio * root_from  # g(r_k), non-increasing in k
        pos = np.where(fits(g_at_break, cap), np.arange(len(group)), len(group))
        first = np.minimum.reduceat(pos, starts)  # first breakpoint where g(r_k) <= F
        ok = first < len(group)
        k = np.where(ok, first, starts)
        mu = np.where(ok, (cap[starts] - low_before[k]) / root_from[k], 0.0)
        f = np.maximum(low, mu[gid] * root)
        alloc[p_idx[order], i_idx[order]] = f
        gs = group[starts]
        server_ok[gs // M, gs % M] = ok
    if single:
        return alloc[0], server_ok[0]
    return alloc, server_ok
