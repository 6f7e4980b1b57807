"""Seeded instance generators (SPEC section 2) and a scenario stream for dynamic systems.

Families:
- "paper": the LAMBO case study with the authors' earlier channel model (4 servers, 50 UEs,
  50 m square, 1 MHz per link, h = d^-2, noise 1e-12 W, no fading).
- "hetero": mecopt's harder family (N in 20..100, M in 2..8, mixed capacities, 3GPP-style
  path loss with Rayleigh fading, heterogeneous tasks and local CPUs).
- "tight": capacity-bound energy, the generalized-assignment-hard regime (N in 40..150,
  M in 3..10): offloading saves energy for most UEs, but the servers hold only 20-70% of
  the UEs that would like to offload; per-UE deadlines, powers and bandwidths.
- "sparse": a validation family no method is tuned on (N in 60..400, M in 10..30): each UE
  reaches only its nearest 2-4 servers, heavy-tailed tasks, device classes.
- "world": a randomized training world (issue #18; N in 10..500, M in 1..20, log-uniform):
  bandwidth, powers and task sizes spread over a decade or more, deadline spread, must-offload
  UEs, capacity from scarce to ample, sparse reachability on 30% of the instances, and three
  energy regimes (offloading saves, is mixed, or costs energy).
- Held out (HELD_OUT_FAMILIES, with "tight"): validation families never used in training or
  tuning. "manyserver" (tight's generator at N in 100..300, M in 20..50), "heavytail"
  (sparse's generator with full reach and heavier lognormal tails, N in 40..200, M in 3..10),
  "sparse-large" (sparse at N in 300..1000, M in 15..40).

Each family is a row of FAMILY_TABLE (its parameters, sizes and drawing function), so
adding a family is adding a row. Every tight and sparse instance is feasible by
construction (see `fit_capacities`). All randomness comes from numpy's PCG64 seeded by
`seed`, drawn in a fixed order, so the same seed gives the same instance on any machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from mecopt.errors import InputError
from mecopt.instance import Instance


def _as_meta(params: object) -> dict:
    """A family's parameters as JSON-ready meta (tuples become lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.__dict__.items()}


@dataclass(frozen=True)
class FamilyParams:
    """The distribution an instance is drawn from (units: m, bit, cycle, Hz, W, s)."""

    family: str
    area_m: float
    cycles: tuple[float, float]  # C_i = scale * U(lo, hi): given as (lo, hi) in cycles
    data_bits: tuple[float, float]
    local_hz: tuple[float, float]
    capacities_hz: tuple[float, ...]  # paper: fixed list; hetero: values drawn from
    deadline_s: float
    tx_power_w: float
    local_power_w: float
    bandwidth_hz: float
    channel: str  # "free-space" (h = d^-2, noise in W) or "3gpp" (path loss dB + Rayleigh)
    noise_w: float

    def as_meta(self) -> dict:
        return _as_meta(self)


PAPER = FamilyParams(
    family="paper", area_m=50.0, cycles=(0.95e9, 1.05e9), data_bits=(0.95e6, 1.05e6),
    local_hz=(1e9, 1e9), capacities_hz=(1.5e10, 1.5e10, 3e10, 5e10), deadline_s=1.5,
    tx_power_w=1.0, local_power_w=1.0, bandwidth_hz=1e6, channel="free-space", noise_w=1e-12,
)
# The SPEC leaves hetero's area open; 100 m keeps most links usable for 200-Mbit tasks while
# deep Rayleigh fades make some pairs unusable (documented in docs/model.md).
HETERO = FamilyParams(
    family="hetero", area_m=100.0, cycles=(0.5e9, 1.5e9), data_bits=(1e8, 3e8),
    local_hz=(0.5e9, 1.5e9), capacities_hz=(1.5e10, 3e10, 5e10), deadline_s=1.5,
    tx_power_w=1.0, local_power_w=1.0, bandwidth_hz=20e6, channel="3gpp",
    noise_w=10 ** ((-174 - 30) / 10) * 20e6,
)


def _distances(ue_pos: np.ndarray, server_pos: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(ue_pos[:, None, :] - server_pos[None, :, :], axis=2)
    return np.maximum(d, 1.0)  # distances clamped below at 1 m


def channel_rates(params: FamilyParams, ue_pos: np.ndarray, server_pos: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Uplink rates (N, M) [bit/s] from positions; draws Rayleigh fading for "3gpp"."""
    d = _distances(ue_pos, server_pos)
    if params.channel == "free-space":
        gain = d ** -2.0
    else:
        path_loss_db = 128.1 + 37.6 * np.log10(d / 1000.0)
        gain = 10.0 ** (-path_loss_db / 10.0) * rng.exponential(1.0, size=d.shape)
    return portable(params.bandwidth_hz * np.log2(1.0 + params.tx_power_w * gain
                                                  / params.noise_w))


def portable(x: np.ndarray) -> np.ndarray:
    """x rounded to 12 significant digits. numpy's log, exp and power are vectorized
    differently on different CPUs (AVX2, AVX-512) and can differ in the last bit; rounding
    whatever they produce makes the same seed give the same bytes on any machine."""
    x = np.asarray(x, dtype=float)
    return np.array([float(f"{v:.12g}") for v in x.ravel()]).reshape(x.shape)


def _check_size(label: str, value: int | None, low: int) -> None:
    if value is not None and (not isinstance(value, (int, np.integer)) or value < low):
        raise InputError(f"{label}: must be an integer >= {low}, got {value!r}")


@dataclass
class _World:
    """The state a scenario evolves: positions, velocities and the current distribution."""

    params: FamilyParams
    ue_pos: np.ndarray
    server_pos: np.ndarray
    capacity_hz: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    task_scale: float = 1.0


def _draw_world(family: Family, n_ues: int, n_servers: int, rng: np.random.Generator) -> _World:
    params = family.params
    ue_pos = rng.uniform(0.0, params.area_m, size=(n_ues, 2))
    server_pos = rng.uniform(0.0, params.area_m, size=(n_servers, 2))
    if family.cycle_capacities:
        caps = np.resize(np.array(params.capacities_hz), n_servers)
    else:
        caps = rng.choice(np.array(params.capacities_hz), size=n_servers)
    return _World(params, ue_pos, server_pos, caps.astype(float))


def _draw_instance(world: _World, rng: np.random.Generator, name: str, meta: dict) -> Instance:
    p, n = world.params, len(world.ue_pos)
    cycles = rng.uniform(*p.cycles, size=n) * world.task_scale
    data = rng.uniform(*p.data_bits, size=n) * world.task_scale
    local = rng.uniform(*p.local_hz, size=n) if p.local_hz[0] != p.local_hz[1] \
        else np.full(n, p.local_hz[0])
    rate = channel_rates(p, world.ue_pos, world.server_pos, rng)
    return Instance(
        name=name, data_bits=data, cycles=cycles, local_hz=local,
        tx_power_w=np.full(n, p.tx_power_w), local_power_w=np.full(n, p.local_power_w),
        deadline_s=np.full(n, p.deadline_s), capacity_hz=world.capacity_hz.copy(),
        rate_bps=rate, ue_position_m=world.ue_pos.copy(),
        server_position_m=world.server_pos.copy(), meta=meta,
    )


# ------------------------------------------------------- capacity-bound families
@dataclass(frozen=True)
class TightParams:
    """The `tight` family: capacity-bound energy, a generalized-assignment-hard regime.

    Ranges (lo, hi) are drawn uniformly per UE (per instance for the shares and the ratio).
    Units: m, bit, cycle, Hz, W, s.
    """

    family: str = "tight"
    ues: tuple[int, int] = (40, 150)  # N drawn in lo..hi when not given
    servers: tuple[int, int] = (3, 10)  # M drawn in lo..hi when not given
    area_m: float = 300.0  # wider than hetero, so a UE's servers differ in rate (and e_tx)
    cycles: tuple[float, float] = (0.4e9, 1.6e9)
    data_bits: tuple[float, float] = (15e6, 50e6)  # e_tx is a real share of e_loc (median 1/2)
    deadline_s: tuple[float, float] = (0.6, 2.0)  # per UE: a spread of about 3x
    bandwidth_hz: tuple[float, float] = (5e6, 10e6)  # per UE link (hetero: 20 MHz for all)
    tx_power_w: tuple[float, float] = (0.2, 1.0)  # per UE (hetero: 1 W for all)
    local_power_w: tuple[float, float] = (0.1, 0.5)  # per UE, so e_loc varies apart from t_loc
    noise_dbm_per_hz: float = -174.0  # path loss and Rayleigh fading as in hetero
    must_offload_share: tuple[float, float] = (0.1, 0.35)  # of N; drawn per instance
    must_offload_tx_share: float = 0.5  # a must-offload UE has a server with t_tx <= this * T
    local_slack: tuple[float, float] = (0.3, 0.95)  # t_loc / T for UEs that can run locally
    must_local_overrun: tuple[float, float] = (1.2, 2.5)  # t_loc / T for must-offload UEs
    max_local_hz: float = 3e9  # the local CPU is capped; t_loc stays below T (C/T < 2.7e9)
    capacity_ratio: tuple[float, float] = (0.2, 0.7)  # total capacity / would-offload need
    must_margin: float = 1.3  # each server holds >= 1.3x the must-offload UEs placed on it
    capacity_mix: tuple[float, ...] = (1.0, 2.0, 4.0)  # relative sizes of the servers

    def as_meta(self) -> dict:
        return _as_meta(self)


@dataclass(frozen=True)
class SparseParams:
    """The `sparse` family: a validation family that no method is tuned on.

    Many small cells: each UE reaches only its nearest 2-4 servers (rate 0 elsewhere), tasks
    are heavy-tailed (lognormal cycles and data), local CPUs come in device classes, and the
    capacities are moderately binding. Units: m, bit, cycle, Hz, W, s.
    """

    family: str = "sparse"
    ues: tuple[int, int] = (60, 400)
    servers: tuple[int, int] = (10, 30)
    area_m: float = 1000.0
    reach: tuple[int, int] = (2, 4)  # a UE reaches its nearest lo..hi servers (drawn per UE)
    cycles_median: float = 0.8e9  # lognormal: median * exp(sigma * N(0, 1)), clipped
    cycles_sigma: float = 0.8
    cycles_clip: tuple[float, float] = (0.05e9, 8e9)
    data_median_bits: float = 4e6
    data_sigma: float = 1.0
    data_clip: tuple[float, float] = (0.1e6, 100e6)
    local_hz: tuple[float, ...] = (0.5e9, 1e9, 2e9)  # device classes, one drawn per UE
    deadline_s: tuple[float, float] = (0.5, 3.0)
    bandwidth_hz: tuple[float, ...] = (2e6, 5e6, 10e6)  # one drawn per UE
    tx_power_w: tuple[float, float] = (0.05, 0.3)
    local_power_w: tuple[float, float] = (0.3, 1.5)
    path_loss_db: tuple[float, float] = (140.7, 36.7)  # a + b log10(d / km)
    shadowing_db: float = 8.0  # log-normal shadowing per pair, instead of Rayleigh fading
    noise_dbm_per_hz: float = -174.0
    must_offload_tx_share: float = 0.7  # a must-offload UE has a server with t_tx <= this * T
    relaxed_deadline: tuple[float, float] = (1.05, 1.5)  # else T := t_loc * U(lo, hi)
    capacity_ratio: tuple[float, float] = (0.4, 0.9)
    must_margin: float = 1.3
    capacity_mix: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)

    def as_meta(self) -> dict:
        return _as_meta(self)


@dataclass(frozen=True)
class WorldParams:
    """The `world` family: a randomized training world spanning the regimes a network can be
    in (issue #18). Every range is drawn per instance, and the per-UE values spread over it:
    (lo, hi) pairs are log-uniform unless said otherwise. Units: m, bit, cycle, Hz, W, s.
    """

    family: str = "world"
    ues: tuple[int, int] = (10, 500)  # N drawn log-uniformly in lo..hi when not given
    servers: tuple[int, int] = (1, 20)  # M drawn log-uniformly in lo..hi when not given
    area_m: tuple[float, float] = (100.0, 1500.0)  # per instance
    cycles_median: tuple[float, float] = (0.2e9, 2e9)  # per instance; per UE median / x..x
    data_median_bits: tuple[float, float] = (0.5e6, 20e6)  # per instance
    task_spread: float = 4.0  # x: a UE's cycles and bits are median * logU(1/x, x) each
    bandwidth_hz: tuple[float, float] = (1e6, 20e6)  # per UE link
    tx_power_w: tuple[float, float] = (0.05, 1.0)  # per UE
    local_hz: tuple[float, float] = (0.3e9, 3e9)  # per UE (must-offload UEs are slowed)
    deadline_base_s: tuple[float, float] = (0.3, 3.0)  # per instance
    deadline_spread: tuple[float, float] = (1.0, 5.0)  # s, uniform: T = base * logU(1, s)
    relaxed_deadline: tuple[float, float] = (1.05, 1.5)  # T := t_loc * U(..) if local misses it
    must_offload_share: tuple[float, float] = (0.0, 0.5)  # of N, uniform per instance
    must_offload_tx_share: float = 0.5  # a must-offload UE has a server with t_tx <= this * T
    must_local_overrun: tuple[float, float] = (1.2, 3.0)  # t_loc / T for must-offload UEs
    sparse_share: float = 0.3  # share of instances where a UE reaches its nearest few servers
    reach: tuple[int, int] = (1, 3)  # those few, drawn per UE (uniform integers)
    # Energy regime, drawn per instance: e_loc / (cheapest e_tx) is about g * logU(1/3, 3)
    # with g drawn in one of these ranges (offloading saves, is mixed, or costs energy).
    energy_regimes: tuple[tuple[float, float], ...] = ((2.0, 20.0), (0.3, 3.0), (0.05, 0.5))
    local_power_clip_w: tuple[float, float] = (0.005, 10.0)
    noise_dbm_per_hz: float = -174.0  # path loss 128.1 + 37.6 log10(d / km), Rayleigh fading
    capacity_ratio: tuple[float, float] = (0.15, 3.0)  # scarce (0.15) to ample (3)
    must_margin: float = 1.3
    capacity_mix: tuple[float, float] = (1.0, 8.0)  # relative server sizes, log-uniform

    def as_meta(self) -> dict:
        return _as_meta(self)


TIGHT = TightParams()
SPARSE = SparseParams()
WORLD = WorldParams()
# Held-out validation families (issue #18): never drawn in training or used in tuning.
MANYSERVER = replace(TIGHT, family="manyserver", ues=(100, 300), servers=(20, 50),
                     area_m=600.0, capacity_ratio=(0.3, 1.0))
HEAVYTAIL = replace(SPARSE, family="heavytail", ues=(40, 200), servers=(3, 10), area_m=400.0,
                    reach=(50, 50), cycles_sigma=1.3, cycles_clip=(0.02e9, 20e9),
                    data_sigma=1.6, data_clip=(0.02e6, 200e6), capacity_ratio=(0.3, 1.0))
SPARSE_LARGE = replace(SPARSE, family="sparse-large", ues=(300, 1000), servers=(15, 40),
                       area_m=1500.0)
HELD_OUT_FAMILIES = ("tight", "manyserver", "heavytail", "sparse-large")


def _offload_demand(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    """(would, need): which UEs would like to offload (they must, or some usable server
    costs less energy than local execution), and each UE's smallest f_min [Hz]."""
    need = np.min(inst.f_min, axis=1, initial=np.inf)
    saves = (inst.usable & (inst.e_tx < inst.e_loc[:, None])).any(axis=1)
    would = (saves | ~inst.local_ok) & np.isfinite(need)
    return would, need


def _must_share(inst: Instance) -> float:
    """The must-offload UEs' share of the would-offload demand (0 when nothing would)."""
    would, need = _offload_demand(inst)
    demand = need[would].sum()
    return need[~inst.local_ok].sum() / demand if demand > 0 else 0.0


def family_stats(inst: Instance) -> dict[str, float]:
    """What makes an instance capacity-bound, as the tight family's docs measure it.

    capacity_ratio: total capacity / sum over would-offload UEs of their smallest f_min;
    must_offload_share: share of UEs whose local execution misses the deadline;
    saves_energy_share: share of UEs with a usable server where e_tx < e_loc;
    deadline_spread: max T / min T; reach: the fewest and most servers a UE reaches.
    """
    would, need = _offload_demand(inst)
    demand = need[would].sum()
    reach = (inst.rate_bps > 0).sum(axis=1)
    saves = (inst.usable & (inst.e_tx < inst.e_loc[:, None])).any(axis=1)
    return {
        "capacity_ratio": float(inst.capacity_hz.sum() / demand) if demand > 0 else math.inf,
        "must_offload_share": float(np.mean(~inst.local_ok)),
        "would_offload_share": float(np.mean(would)),
        "saves_energy_share": float(np.mean(saves)),
        "deadline_spread": float(inst.deadline_s.max() / inst.deadline_s.min()),
        "reach_min": int(reach.min()),
        "reach_max": int(reach.max()),
    }


def fit_capacities(inst: Instance, ratio: float, margin: float,
                   weights: np.ndarray) -> np.ndarray:
    """Capacities (M,) summing to `ratio` x the would-offload demand, feasible by construction.

    Each must-offload UE (local execution misses its deadline) is placed on its server of
    smallest f_min; that server gets `margin` x the f_min of the UEs placed on it, and the rest
    of the total is split in proportion to `weights`. So the must-offload UEs fit where they
    were placed, every other UE runs locally, and the instance has a feasible decision. The
    caller keeps `ratio` >= margin x (must-offload demand / would-offload demand).
    """
    would, need = _offload_demand(inst)
    must = ~inst.local_ok
    assert np.isfinite(need[must]).all(), "every must-offload UE needs a usable server"
    home = np.argmin(inst.f_min, axis=1)
    must_load = np.bincount(home[must], weights=need[must], minlength=inst.n_servers)
    total = ratio * need[would].sum()
    rest = max(total - margin * must_load.sum(), 0.0)
    if rest <= 0:  # nothing would offload apart from must (tiny sizes): still leave room
        rest = max(0.05 * margin * must_load.sum(), 1e9)
    return margin * must_load + rest * weights / weights.sum()


def _pathloss_rates(d: np.ndarray, bandwidth: np.ndarray, power: np.ndarray,
                    path_loss_db: np.ndarray, noise_dbm_per_hz: float) -> np.ndarray:
    """Shannon rates (N, M) for per-UE bandwidth and power over a path loss in dB."""
    noise_w = 10.0 ** ((noise_dbm_per_hz - 30.0) / 10.0) * bandwidth
    snr = power[:, None] * 10.0 ** (-path_loss_db / 10.0) / noise_w[:, None]
    return portable(bandwidth[:, None] * np.log2(1.0 + snr))


def _generate_channel_family(family: Family, n: int, m: int, rng: np.random.Generator,
                             name: str, meta: dict) -> Instance:
    """paper and hetero: positions, then capacities, tasks, local CPUs and the channel."""
    world = _draw_world(family, n, m, rng)
    meta.update({"n_ues": n, "n_servers": m, "generator": "mecopt.generators.generate",
                 "params": family.params.as_meta()})
    return _draw_instance(world, rng, name, meta)


def _generate_tight(family: Family, n: int, m: int, rng: np.random.Generator, name: str,
                    meta: dict) -> Instance:
    """The tight family (TightParams): capacity binds for energy and every instance is
    feasible.

    1. Draw (after the sizes) positions, tasks, per-UE deadlines, bandwidths and powers, and
       the channel (3GPP path loss, Rayleigh fading).
    2. Draw the must-offload share s and make ceil(s N) UEs must-offload, chosen among those
       with a server that takes at most half their deadline to reach: their local CPU is set
       so that t_loc = T * U(1.2, 2.5); every other UE gets t_loc = T * U(0.3, 0.95) (its
       local CPU capped at 3 GHz, which still meets T).
    3. Draw the capacity ratio rho in [max(0.2, 1.37 x must-offload demand share), 0.7] and
       set the capacities with `fit_capacities` (mixed server sizes 1:2:4). Where the
       must-offload UEs would push that lower end past 0.65, the last ones chosen run locally
       instead (rare; at least ceil(0.1 N) stay).
    """
    p = family.params
    ue_pos = rng.uniform(0.0, p.area_m, size=(n, 2))
    server_pos = rng.uniform(0.0, p.area_m, size=(m, 2))
    cycles = rng.uniform(*p.cycles, size=n)
    data = rng.uniform(*p.data_bits, size=n)
    deadline = rng.uniform(*p.deadline_s, size=n)
    bandwidth = rng.uniform(*p.bandwidth_hz, size=n)
    tx_power = rng.uniform(*p.tx_power_w, size=n)
    local_power = rng.uniform(*p.local_power_w, size=n)
    d = _distances(ue_pos, server_pos)
    path_loss = 128.1 + 37.6 * np.log10(d / 1000.0) - 10.0 * np.log10(
        rng.exponential(1.0, size=d.shape))  # Rayleigh fading |h|^2 ~ Exp(1)
    rate = _pathloss_rates(d, bandwidth, tx_power, path_loss, p.noise_dbm_per_hz)

    # Who must offload: only UEs with a server they reach well within their deadline.
    t_tx = data[:, None] / rate
    eligible = np.flatnonzero((t_tx <= p.must_offload_tx_share * deadline[:, None]).any(axis=1))
    share = float(rng.uniform(*p.must_offload_share))
    order = rng.permutation(eligible)
    slack = rng.uniform(*p.local_slack, size=n)
    overrun = rng.uniform(*p.must_local_overrun, size=n)
    # The must-offload UEs (with the margin) must leave room below the largest ratio; in the
    # rare draw where they do not, the last ones drawn run locally instead (k >= 0.1 N kept).
    k, k_min = min(math.ceil(share * n), len(order)), math.ceil(0.1 * n)
    while True:
        must = np.zeros(n, dtype=bool)
        must[order[:k]] = True
        local_hz = np.where(must, cycles / (overrun * deadline),
                            np.minimum(cycles / (slack * deadline), p.max_local_hz))
        probe = Instance(name=name, data_bits=data, cycles=cycles, local_hz=local_hz,
                         tx_power_w=tx_power, local_power_w=local_power, deadline_s=deadline,
                         capacity_hz=np.ones(m), rate_bps=rate)
        would, need = _offload_demand(probe)
        demand = need[would].sum()
        must_share = need[must].sum() / demand if demand > 0 else 0.0
        low = max(p.capacity_ratio[0], 1.05 * p.must_margin * must_share)
        if low <= p.capacity_ratio[1] - 0.05 or k <= k_min:
            break
        k -= 1
    ratio = float(rng.uniform(low, max(low, p.capacity_ratio[1])))
    weights = rng.choice(np.array(p.capacity_mix), size=m) * rng.uniform(0.8, 1.25, size=m)
    capacity = fit_capacities(probe, ratio, p.must_margin, weights)
    meta.update({"n_ues": n, "n_servers": m, "generator": "mecopt.generators.generate",
                 "params": p.as_meta(),
                 "draws": {"must_offload_share": share, "must_offload": int(k),
                           "capacity_ratio": ratio}})
    return probe.replace(capacity_hz=capacity, ue_position_m=ue_pos,
                         server_position_m=server_pos, meta=meta)


def _generate_sparse(family: Family, n: int, m: int, rng: np.random.Generator, name: str,
                     meta: dict) -> Instance:
    """The sparse family (SparseParams), feasible by construction.

    UEs reach their nearest 2-4 servers only; lognormal tasks; must-offload UEs arise from
    heavy tasks on slow devices, and one that has no server within 70% of its deadline gets
    a deadline its local CPU meets (t_loc * U(1.05, 1.5)). Capacities as in tight, with the
    ratio drawn in [max(0.4, 1.37 x must-offload demand share), 0.9] (just above 0.9 where
    the must-offload UEs need it) and sizes 1:2:4:8.
    """
    p = family.params
    ue_pos = rng.uniform(0.0, p.area_m, size=(n, 2))
    server_pos = rng.uniform(0.0, p.area_m, size=(m, 2))
    cycles = np.clip(portable(p.cycles_median * np.exp(p.cycles_sigma
                                                       * rng.standard_normal(n))),
                     *p.cycles_clip)
    data = np.clip(portable(p.data_median_bits * np.exp(p.data_sigma * rng.standard_normal(n))),
                   *p.data_clip)
    local_hz = rng.choice(np.array(p.local_hz), size=n)
    deadline = rng.uniform(*p.deadline_s, size=n)
    bandwidth = rng.choice(np.array(p.bandwidth_hz), size=n)
    tx_power = rng.uniform(*p.tx_power_w, size=n)
    local_power = rng.uniform(*p.local_power_w, size=n)
    reach = np.minimum(rng.integers(p.reach[0], p.reach[1] + 1, size=n), m)
    d = _distances(ue_pos, server_pos)
    a, b = p.path_loss_db
    path_loss = a + b * np.log10(d / 1000.0) + p.shadowing_db * rng.standard_normal(d.shape)
    rate = _pathloss_rates(d, bandwidth, tx_power, path_loss, p.noise_dbm_per_hz)
    nearest = np.argsort(d, axis=1, kind="stable")
    reached = np.zeros((n, m), dtype=bool)
    reached[np.arange(n).repeat(reach), nearest[np.arange(m) < reach[:, None]]] = True
    rate = np.where(reached, rate, 0.0)

    # A UE that misses its deadline locally and reaches no server well within it would make
    # the instance infeasible: relax its deadline so that its local CPU meets it.
    relax = rng.uniform(*p.relaxed_deadline, size=n)
    t_loc = cycles / local_hz
    with np.errstate(divide="ignore"):
        t_tx = np.where(reached, data[:, None] / np.where(reached, rate, 1.0), np.inf)
    good = (t_tx <= p.must_offload_tx_share * deadline[:, None]).any(axis=1)
    deadline = np.where((t_loc > deadline) & ~good, t_loc * relax, deadline)

    probe = Instance(name=name, data_bits=data, cycles=cycles, local_hz=local_hz,
                     tx_power_w=tx_power, local_power_w=local_power, deadline_s=deadline,
                     capacity_hz=np.ones(m), rate_bps=rate)
    must_share = _must_share(probe)
    low = max(p.capacity_ratio[0], 1.05 * p.must_margin * must_share)
    ratio = float(rng.uniform(low, max(low, p.capacity_ratio[1])))
    weights = rng.choice(np.array(p.capacity_mix), size=m) * rng.uniform(0.8, 1.25, size=m)
    capacity = fit_capacities(probe, ratio, p.must_margin, weights)
    meta.update({"n_ues": n, "n_servers": m, "generator": "mecopt.generators.generate",
                 "params": p.as_meta(), "draws": {"capacity_ratio": ratio}})
    return probe.replace(capacity_hz=capacity, ue_position_m=ue_pos,
                         server_position_m=server_pos, meta=meta)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float,
                 size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
    """log-uniform draws in [lo, hi] (one draw of rng.uniform), portable to the last bit."""
    x = portable(np.exp(rng.uniform(math.log(lo), math.log(hi), size=size)))
    return x if size is not None else float(x)


def _world_channel(p: WorldParams, n: int, m: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, ...]:
    """world: positions, tasks, local CPUs, deadlines, bandwidths, powers and rates, and
    whether this instance is sparse (each UE reaching its nearest 1-3 servers only)."""
    area = _log_uniform(rng, *p.area_m)
    ue_pos = rng.uniform(0.0, area, size=(n, 2))
    server_pos = rng.uniform(0.0, area, size=(m, 2))
    spread = 1.0 / p.task_spread, p.task_spread
    cycles = _log_uniform(rng, *p.cycles_median) * _log_uniform(rng, *spread, size=n)
    data = _log_uniform(rng, *p.data_median_bits) * _log_uniform(rng, *spread, size=n)
    local_hz = _log_uniform(rng, *p.local_hz, size=n)
    base = _log_uniform(rng, *p.deadline_base_s)
    deadline = base * _log_uniform(rng, 1.0, float(rng.uniform(*p.deadline_spread)), size=n)
    bandwidth = _log_uniform(rng, *p.bandwidth_hz, size=n)
    tx_power = _log_uniform(rng, *p.tx_power_w, size=n)
    d = _distances(ue_pos, server_pos)
    path_loss = 128.1 + 37.6 * np.log10(d / 1000.0) - 10.0 * np.log10(
        rng.exponential(1.0, size=d.shape))  # Rayleigh fading |h|^2 ~ Exp(1)
    rate = _pathloss_rates(d, bandwidth, tx_power, path_loss, p.noise_dbm_per_hz)
    reach = np.minimum(rng.integers(p.reach[0], p.reach[1] + 1, size=n), m)
    sparse = bool(rng.random() < p.sparse_share) and m > 1
    if sparse:
        nearest = np.argsort(d, axis=1, kind="stable")
        reached = np.zeros((n, m), dtype=bool)
        reached[np.arange(n).repeat(reach), nearest[np.arange(m) < reach[:, None]]] = True
        rate = np.where(reached, rate, 0.0)
    return ue_pos, server_pos, cycles, data, local_hz, deadline, tx_power, rate, sparse


def _generate_world(family: Family, n: int, m: int, rng: np.random.Generator, name: str,
                    meta: dict) -> Instance:
    """The world family (WorldParams): a randomized training world, feasible by construction.

    1. Draw the channel and tasks (`_world_channel`): per-instance medians, per-UE spreads.
    2. Draw the must-offload share s; ceil(s N) UEs among those with a server reached within
       half their deadline get a local CPU with t_loc = T * U(1.2, 3). Any other UE whose local
       CPU misses its deadline gets T := t_loc * U(1.05, 1.5).
    3. Draw the energy regime g (offloading saves, is mixed, or costs energy): each UE's local
       power makes e_loc = g * logU(1/3, 3) x its cheapest e_tx (clipped to 5 mW..10 W).
    4. Draw the capacity ratio log-uniformly in [0.15, 3] (raised to 1.37 x the must-offload
       demand share where needed) and set the capacities with `fit_capacities`.
    """
    p = family.params
    ue_pos, server_pos, cycles, data, local_hz, deadline, tx_power, rate, sparse = \
        _world_channel(p, n, m, rng)
    with np.errstate(divide="ignore"):
        t_tx = np.where(rate > 0, data[:, None] / np.where(rate > 0, rate, 1.0), np.inf)
    eligible = np.flatnonzero((t_tx <= p.must_offload_tx_share * deadline[:, None]).any(axis=1))
    share = float(rng.uniform(*p.must_offload_share))
    order = rng.permutation(eligible)
    must = np.zeros(n, dtype=bool)
    must[order[:min(math.ceil(share * n), len(order))]] = True
    overrun = rng.uniform(*p.must_local_overrun, size=n)
    relax = rng.uniform(*p.relaxed_deadline, size=n)
    local_hz = np.where(must, np.minimum(local_hz, cycles / (overrun * deadline)), local_hz)
    t_loc = cycles / local_hz
    deadline = np.where(~must & (t_loc > deadline), t_loc * relax, deadline)

    regime = int(rng.integers(len(p.energy_regimes)))
    g = _log_uniform(rng, *p.energy_regimes[regime])
    e_tx_min = np.min(tx_power[:, None] * t_tx, axis=1)  # inf for a UE that reaches none
    finite = np.isfinite(e_tx_min)
    e_tx_min = np.where(finite, e_tx_min, np.median(e_tx_min[finite]) if finite.any() else 1.0)
    local_power = np.clip(portable(g * _log_uniform(rng, 1 / 3, 3.0, size=n) * e_tx_min / t_loc),
                          *p.local_power_clip_w)

    probe = Instance(name=name, data_bits=data, cycles=cycles, local_hz=local_hz,
                     tx_power_w=tx_power, local_power_w=local_power, deadline_s=deadline,
                     capacity_hz=np.ones(m), rate_bps=rate)
    must_share = _must_share(probe)
    ratio = float(max(_log_uniform(rng, *p.capacity_ratio), 1.05 * p.must_margin * must_share))
    weights = _log_uniform(rng, *p.capacity_mix, size=m)
    capacity = fit_capacities(probe, ratio, p.must_margin, weights)
    meta.update({"n_ues": n, "n_servers": m, "generator": "mecopt.generators.generate",
                 "params": p.as_meta(),
                 "draws": {"must_offload_share": share, "must_offload": int(must.sum()),
                           "energy_regime": ("saves", "mixed", "costs")[regime],
                           "energy_factor": g, "sparse": sparse, "capacity_ratio": ratio}})
    return probe.replace(capacity_hz=capacity, ue_position_m=ue_pos,
                         server_position_m=server_pos, meta=meta)


@dataclass(frozen=True)
class Family:
    """A row of the family table: a family's parameters and how `generate` draws it. Adding
    a family is adding a row to FAMILY_TABLE."""

    params: FamilyParams | TightParams | SparseParams | WorldParams
    # Draws the rest of an instance of N x M: (family, N, M, rng, name, meta) -> Instance.
    draw: Callable[[Family, int, int, np.random.Generator, str, dict], Instance]
    # N and M when not given: (lo, hi) drawn uniformly, and drawn even when given so that
    # the draws after them stay aligned; a single number is a fixed default, nothing drawn.
    ues: tuple[int, int] | int
    servers: tuple[int, int] | int
    stream: bool = False  # a ScenarioStream can evolve it (a _World of positions + channel)
    cycle_capacities: bool = False  # servers take params.capacities_hz in turn, not at random
    log_sizes: bool = False  # N and M drawn log-uniformly in (lo, hi), not uniformly

    def sizes(self, n_ues: int | None, n_servers: int | None, rng: np.random.Generator
              ) -> tuple[int, int]:
        """(N, M) of one instance: the given ones, else the family's."""
        if isinstance(self.ues, int) and isinstance(self.servers, int):
            return n_ues or self.ues, n_servers or self.servers
        if self.log_sizes:  # floor of logU(lo, hi + 1): each size about as likely per decade
            n_draw = min(int(_log_uniform(rng, self.ues[0], self.ues[1] + 1)), self.ues[1])
            m_draw = min(int(_log_uniform(rng, self.servers[0], self.servers[1] + 1)),
                         self.servers[1])
        else:
            n_draw = int(rng.integers(self.ues[0], self.ues[1] + 1))
            m_draw = int(rng.integers(self.servers[0], self.servers[1] + 1))
        return n_ues or n_draw, n_servers or m_draw


FAMILY_TABLE: dict[str, Family] = {
    "paper": Family(PAPER, _generate_channel_family, ues=50, servers=4, stream=True,
                    cycle_capacities=True),
    "hetero": Family(HETERO, _generate_channel_family, ues=(20, 100), servers=(2, 8),
                     stream=True),
    "tight": Family(TIGHT, _generate_tight, ues=TIGHT.ues, servers=TIGHT.servers),
    "sparse": Family(SPARSE, _generate_sparse, ues=SPARSE.ues, servers=SPARSE.servers),
    "world": Family(WORLD, _generate_world, ues=WORLD.ues, servers=WORLD.servers,
                    log_sizes=True),
    # Held out (HELD_OUT_FAMILIES): validation only, never in TRAIN_FAMILIES or in tuning.
    "manyserver": Family(MANYSERVER, _generate_tight, ues=MANYSERVER.ues,
                         servers=MANYSERVER.servers),
    "heavytail": Family(HEAVYTAIL, _generate_sparse, ues=HEAVYTAIL.ues,
                        servers=HEAVYTAIL.servers),
    "sparse-large": Family(SPARSE_LARGE, _generate_sparse, ues=SPARSE_LARGE.ues,
                           servers=SPARSE_LARGE.servers),
}
FAMILIES = tuple(FAMILY_TABLE)
STREAM_FAMILIES = tuple(name for name, f in FAMILY_TABLE.items() if f.stream)


def family_params(family: str) -> FamilyParams | TightParams | SparseParams | WorldParams:
    """The parameters of a family; raises InputError for an unknown name."""
    if family not in FAMILY_TABLE:
        raise InputError(f"family: unknown {family!r}; valid: {', '.join(FAMILIES)}")
    return FAMILY_TABLE[family].params


def generate(family: str = "paper", n_ues: int | None = None, n_servers: int | None = None,
             seed: int = 0, name: str | None = None) -> Instance:
    """Draw one instance of a family (SPEC section 2; docs/model.md for tight and sparse).

    paper: 50 UEs and 4 servers unless given (capacities repeat 1.5e10, 1.5e10, 3e10, 5e10
    cyclically when more servers are asked for). hetero: N drawn in 20..100 and M in 2..8
    unless given; tight: 40..150 and 3..10; sparse: 60..400 and 10..30. The sizes are drawn
    even when given, so the rest of the draws stay aligned. The name defaults to
    "<family>-<seed:03d>".
    """
    family_params(family)  # an unknown name fails first
    _check_size("n_ues", n_ues, 1)
    _check_size("n_servers", n_servers, 1)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    name = name or f"{family}-{seed:03d}"
    meta = {"family": family, "seed": int(seed)}
    row = FAMILY_TABLE[family]
    n, m = row.sizes(n_ues, n_servers, rng)
    return row.draw(row, n, m, rng, name, meta)


# --------------------------------------------------------------------- dynamics
DRIFT_KINDS = ("capacity-drop", "task-growth", "density", "server-loss")


@dataclass(frozen=True)
class Drift:
    """A change of distribution at a given step.

    capacity-drop: server `server` (1-based) keeps `factor` of its capacity;
    task-growth: task sizes (cycles and bits) are multiplied by `factor`;
    density: the number of UEs is multiplied by `factor` (new UEs placed uniformly);
    server-loss: server `server` disappears.
    """

    step: int
    kind: str
    factor: float = 0.5
    server: int = 1

    def __post_init__(self) -> None:
        if self.kind not in DRIFT_KINDS:
            raise InputError(f"drift kind: unknown {self.kind!r}; valid: "
                             f"{', '.join(DRIFT_KINDS)}")
        if not self.factor > 0:
            raise InputError(f"drift factor: must be positive, got {self.factor}")


class ScenarioStream:
    """Instances of a family over time: UEs move at U(0, 1.2) m/s in a random direction
    (reflecting at the border), fading is redrawn every step, tasks are drawn anew every step
    and drift events change the distribution. Iterate to get one instance per step.
    """

    MAX_SPEED_MPS = 1.2

    def __init__(self, family: str = "paper", seed: int = 0, n_ues: int | None = None,
                 n_servers: int | None = None, dt: float = 1.0,
                 drifts: tuple[Drift, ...] | list[Drift] = (), name: str = "stream") -> None:
        if not dt > 0:
            raise InputError(f"dt: must be positive, got {dt}")
        if family in FAMILIES and family not in STREAM_FAMILIES:
            raise InputError(f"family: a scenario stream evolves {', '.join(STREAM_FAMILIES)}; "
                             f"{family!r} is drawn whole by generate()")
        self.family, self.seed, self.dt, self.name = family, seed, dt, name
        self.drifts = tuple(sorted(drifts, key=lambda d: d.step))
        first = generate(family, n_ues, n_servers, seed=seed)
        self.rng = np.random.default_rng([seed, 1])  # a stream independent of generate's
        self.world = _World(family_params(family), np.array(first.ue_position_m),
                            np.array(first.server_position_m), np.array(first.capacity_hz))
        self.world.velocity = self._velocities(len(self.world.ue_pos))
        self.step = 0
        self.first = first

    def _velocities(self, n: int) -> np.ndarray:
        speed = self.rng.uniform(0.0, self.MAX_SPEED_MPS, size=n)
        angle = self.rng.uniform(0.0, 2 * math.pi, size=n)
        return np.stack([speed * np.cos(angle), speed * np.sin(angle)], axis=1)

    def _move(self) -> None:
        w, area = self.world, self.world.params.area_m
        pos = w.ue_pos + w.velocity * self.dt
        low, high = pos < 0, pos > area
        # Reflect at the border: fold the coordinate back and flip that velocity component.
        pos = np.where(low, -pos, np.where(high, 2 * area - pos, pos))
        w.velocity = np.where(low | high, -w.velocity, w.velocity)
        w.ue_pos = np.clip(pos, 0.0, area)

    def _apply(self, drift: Drift) -> None:
        w = self.world
        m = len(w.capacity_hz)
        if drift.kind in ("capacity-drop", "server-loss") and not 1 <= drift.server <= m:
            raise InputError(f"drift server: must be in 1..{m}, got {drift.server}")
        if drift.kind == "capacity-drop":
            w.capacity_hz[drift.server - 1] *= drift.factor
        elif drift.kind == "task-growth":
            w.task_scale *= drift.factor
        elif drift.kind == "density":
            extra = max(0, int(round(len(w.ue_pos) * (drift.factor - 1))))
            new_pos = self.rng.uniform(0.0, w.params.area_m, size=(extra, 2))
            w.ue_pos = np.concatenate([w.ue_pos, new_pos])
            w.velocity = np.concatenate([w.velocity, self._velocities(extra)])
        elif drift.kind == "server-loss":
            if m == 1:
                raise InputError("drift server-loss: cannot remove the only server")
            keep = np.arange(m) != drift.server - 1
            w.capacity_hz, w.server_pos = w.capacity_hz[keep], w.server_pos[keep]

    def next(self) -> Instance:
        """The instance at the current step; then advance time by dt."""
        if self.step == 0:
            inst = self.first.replace(name=f"{self.name}-{self.step:04d}",
                                      meta={**self.first.meta, "step": 0, "time_s": 0.0})
        else:
            for drift in self.drifts:
                if drift.step == self.step:
                    self._apply(drift)
            self._move()
            meta = {"family": self.family, "seed": self.seed, "step": self.step,
                    "time_s": self.step * self.dt, "generator": "mecopt.ScenarioStream"}
            inst = _draw_instance(self.world, self.rng, f"{self.name}-{self.step:04d}", meta)
        self.step += 1
        return inst

    def __iter__(self) -> Iterator[Instance]:
        while True:
            yield self.next()

    def take(self, k: int) -> list[Instance]:
        return [self.next() for _ in range(k)]


__all__ = ["FAMILIES", "FAMILY_TABLE", "HELD_OUT_FAMILIES", "DRIFT_KINDS", "STREAM_FAMILIES",
           "Drift", "Family", "FamilyParams", "ScenarioStream", "SparseParams", "TightParams",
           "WorldParams", "channel_rates", "family_params", "family_stats", "fit_capacities",
           "generate"]
