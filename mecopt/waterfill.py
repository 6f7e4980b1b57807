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
        # Feasible iff the group's own sum of lower bounds fits (g at its last breakpoint),
        # summed over its members alone as the evaluation sums a server's load: the running
        # sums differ from it in the last digits where a small server follows large ones.
        ok = fits(np.add.reduceat(low, starts), cap[starts])
        last = starts + members - 1
        first = np.where(ok & (first >= len(group)), last, first)
        k = np.where(ok, first, starts)
        # mu from sums over each group's own members: the running sums above span every
        # group, and taking differences of them loses digits where a small server follows
        # large ones (a 0.1 GHz server after 1,300 GHz ones was allocated 1.1e-12 over its
        # capacity, past FIT_TOL). They still place each group's piece.
        before = np.arange(len(group)) < k[gid]
        low_before_k = np.add.reduceat(np.where(before, low, 0.0), starts)
        root_from_k = np.add.reduceat(np.where(before, 0.0, root), starts)
        mu = np.where(ok, (cap[starts] - low_before_k) / root_from_k, 0.0)
        f = np.maximum(low, mu[gid] * root)
        alloc[p_idx[order], i_idx[order]] = f
        gs = group[starts]
        server_ok[gs // M, gs % M] = ok
    if single:
        return alloc[0], server_ok[0]
    return alloc, server_ok


class ServerFill:
    """Every server's water-filling under one assignment, prepared so that a server's total
    compute time after a few UEs leave it and a few join costs O(log n) (n: its UEs), for
    many such changes at once. Local search screens thousands of neighbours a round, each
    changing two to four servers (mecopt.descend); water-filling each neighbour's changed
    servers in full sorted all their UEs again, neighbour by neighbour, which was most of a
    latency descent's time at 500-2,000 UEs.

    Per server its UEs are kept sorted by the breakpoint r = l / sqrt(C), descending, as
    `waterfill` sorts them, with prefix sums of l, sqrt(C) and C / l. For a changed set,
    g(mu) = sum max(l_i, mu sqrt(C_i)) is the server's g at a base breakpoint (two prefix
    sums) minus the terms of the UEs that left plus those of the UEs that joined; a
    bisection over the base breakpoints finds the piece where g meets the capacity, and each
    joining UE's own breakpoint says on which side of mu it lies. The optimum is
    `waterfill`'s; the sums run in another order, so values agree to rounding (about 1e-14
    relative), and `times` flags the rare change whose piece it cannot place exactly.
    """

    def __init__(self, instance: Instance, assignment: np.ndarray) -> None:
        a = np.asarray(assignment)
        M = instance.n_servers
        on = np.flatnonzero(a > 0)
        j = a[on] - 1
        low = instance.f_min[on, j]
        root = np.sqrt(instance.cycles[on])
        ratio = low / root
        order = np.lexsort((-ratio, j))
        on, j, low, root, ratio = on[order], j[order], low[order], root[order], ratio[order]
        self.instance, self.capacity = instance, instance.capacity_hz
        self.count = np.bincount(j, minlength=M)
        self.start = np.concatenate(([0], np.cumsum(self.count)))[:-1]  # (M,)
        self.ratio = np.append(ratio, 0.0)  # one past the end: a probe of an empty last server
        # (server, -r) as one sortable key (numpy orders complex numbers by real part, then
        # imaginary part): a breakpoint's place in its server's order is one searchsorted.
        self._key = j + 1j * -ratio
        # Prefix sums with a leading 0: the sum over a server's first k UEs is
        # P[start + k] - P[start]. The total once more at the end: the bisection probes
        # every group at once, an empty last server's too (its sums are not read).
        self._low, self._root, self._time = (_padded_prefix(x)
                                             for x in (low, root, root * root / low))
        self.position = np.full(len(a), -1)  # each UE's index in its server's order
        self.position[on] = np.arange(len(on)) - self.start[j]

    def _sum(self, prefix: np.ndarray, j: np.ndarray, lo: np.ndarray, hi: np.ndarray
             ) -> np.ndarray:
        """Sums over positions lo..hi-1 of servers j (0-based) of a prefix-sum array."""
        s = self.start[j]
        return prefix[s + hi] - prefix[s + lo]

    def times(self, server: np.ndarray, leave: np.ndarray, join: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Groups g = 1..G of changes: server[g] (0-based), the UEs leaving it leave[g]
        (G, c) and joining it join[g] (G, c), -1 for none (a leaving UE must be on it now,
        a joining one must be able to use it). Returns per group the server's total compute
        time sum C_i / f_i after the change [s], whether its minimum allocations fit, and
        `unsure`: True where rounding leaves the piece of g in doubt (the caller then
        evaluates that change in full)."""
        inst, j = self.instance, np.asarray(server)
        n = self.count[j]
        F = self.capacity[j]
        limit = fit_limit(F)
        out_on, in_on = leave >= 0, join >= 0
        y, x = np.where(out_on, leave, 0), np.where(in_on, join, 0)
        jj = j[:, None]
        l_out = np.where(out_on, inst.f_min[y, jj], 0.0)
        r_out = np.where(out_on, np.sqrt(inst.cycles[y]), 0.0)
        l_in = np.where(in_on, inst.f_min[x, jj], 0.0)
        r_in = np.where(in_on, np.sqrt(inst.cycles[x]), 0.0)
        ratio_in = np.where(in_on, l_in / np.where(in_on, r_in, 1.0), np.inf)
        pos_out = np.where(out_on, self.position[y], -1)

        def g(mu: np.ndarray, k: np.ndarray) -> np.ndarray:
            """g at mu (G,), k (G,) the base UEs whose breakpoint is at least mu."""
            base = self._sum(self._low, j, 0, k) + mu * self._sum(self._root, j, k, n)
            m = mu[:, None]
            return (base - np.maximum(l_out, m * r_out).sum(axis=1)
                    + np.maximum(l_in, m * r_in).sum(axis=1))

        # Each joining UE's side: it is held at its minimum (binds) iff g at its own
        # breakpoint exceeds the capacity. k_x: base UEs with a larger breakpoint.
        free_in = np.zeros(join.shape, dtype=bool)
        for col in range(join.shape[1]):
            r = np.where(in_on[:, col], ratio_in[:, col], 0.0)
            k_x = np.searchsorted(self._key, j + 1j * -r) - self.start[j]  # breakpoints > r
            free_in[:, col] = in_on[:, col] & (g(r, k_x) <= limit)
        # k*: the first base breakpoint at which g fits (n when none does); on the piece
        # below it the first k* base UEs bind and the rest are free.
        k = self._first(j, n, lambda k: g(self.ratio[self.start[j] + k], k + 1) <= limit)
        bind_out = out_on & (pos_out < k[:, None])
        bind_in = in_on & ~free_in
        time_out = r_out * r_out / np.where(out_on, l_out, 1.0)  # C / l
        time_in = r_in * r_in / np.where(in_on, l_in, 1.0)
        A = self._sum(self._low, j, 0, k) - _masked(bind_out, l_out) + _masked(bind_in, l_in)
        B = (self._sum(self._root, j, k, n) - _masked(out_on & ~bind_out, r_out)
             + _masked(free_in, r_in))
        held = (self._sum(self._time, j, 0, k) - _masked(bind_out, time_out)
                + _masked(bind_in, time_in))
        total_low = self._sum(self._low, j, 0, n) - l_out.sum(axis=1) + l_in.sum(axis=1)
        ok = fits(total_low, F)
        with np.errstate(divide="ignore", invalid="ignore"):
            mu = np.where(ok & (B > 0), (F - A) / B, 0.0)
            compute = held + np.where(mu > 0, B / mu, 0.0)
        # The piece is exact when mu lies between its breakpoints and on each joining UE's
        # side; anything else (B = 0 on a set that fits and is not empty, a mu off its
        # piece) is rounding at a tie, and the caller evaluates it in full.
        hi = np.where(k > 0, self.ratio[self.start[j] + np.maximum(k - 1, 0)], np.inf)
        lo = np.where(k < n, self.ratio[self.start[j] + np.minimum(k, np.maximum(n - 1, 0))], 0.0)
        tol = 1e-12 * np.maximum(mu, 1e-300)
        empty = n - out_on.sum(axis=1) + in_on.sum(axis=1) == 0  # its last UEs left
        unsure = ok & ~empty & ((B <= 0) | (mu <= 0) | (mu > hi + tol) | (mu < lo - tol)
                       | (free_in & (mu[:, None] < ratio_in - tol[:, None])).any(axis=1)
                       | (bind_in & (mu[:, None] > ratio_in + tol[:, None])).any(axis=1))
        return np.where(empty, 0.0, np.where(ok, compute, held)), ok, unsure

    def _first(self, j: np.ndarray, n: np.ndarray, pred) -> np.ndarray:
        """Per group, the smallest k in 0..n[g] with pred(k) true (pred monotone in k; n
        when it holds for none): a bisection, all groups at once. pred is evaluated for every
        group, at k < n where n > 0 and at 0 otherwise, and read only where the group's
        bisection is still open (a group of an empty server never is)."""
        lo, hi = np.zeros_like(n), n.copy()
        while True:
            active = lo < hi
            if not active.any():
                return lo
            mid = (lo + hi) // 2
            probe = np.where(active, mid, 0)
            ok = np.where(active, pred(np.minimum(probe, np.maximum(n - 1, 0))), False)
            hi = np.where(active & ok, mid, hi)
            lo = np.where(active & ~ok, mid + 1, lo)


def _masked(mask: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Row sums of x (G, c) over the entries where mask holds."""
    return np.where(mask, x, 0.0).sum(axis=1)


def _padded_prefix(x: np.ndarray) -> np.ndarray:
    """[0, x0, x0 + x1, ..., total, total]: prefix sums with a leading 0 and the total once
    more."""
    prefix = np.concatenate(([0.0], np.cumsum(x)))
    return np.append(prefix, prefix[-1])
