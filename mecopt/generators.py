"""Seeded instance generators (SPEC section 2) and a scenario stream for dynamic systems.

Families:
- "paper": the LAMBO case study with the authors' earlier channel model (4 servers, 50 UEs,
  50 m square, 1 MHz per link, h = d^-2, noise 1e-12 W, no fading).
- "hetero": mecopt's harder family (N in 20..100, M in 2..8, mixed capacities, 3GPP-style
  path loss with Rayleigh fading, heterogeneous tasks and local CPUs).

All randomness comes from numpy's PCG64 seeded by `seed`, drawn in a fixed order, so the
same seed gives the same instance on any machine.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from mecopt.errors import InputError
from mecopt.instance import Instance

FAMILIES = ("paper", "hetero")


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
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


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
PARAMS = {"paper": PAPER, "hetero": HETERO}


def family_params(family: str) -> FamilyParams:
    if family not in PARAMS:
        raise InputError(f"family: unknown {family!r}; valid: {', '.join(FAMILIES)}")
    return PARAMS[family]


def channel_rates(params: FamilyParams, ue_pos: np.ndarray, server_pos: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Uplink rates (N, M) [bit/s] from positions; draws Rayleigh fading for "3gpp"."""
    d = np.linalg.norm(ue_pos[:, None, :] - server_pos[None, :, :], axis=2)
    d = np.maximum(d, 1.0)  # distances clamped below at 1 m
    if params.channel == "free-space":
        gain = d ** -2.0
    else:
        path_loss_db = 128.1 + 37.6 * np.log10(d / 1000.0)
        gain = 10.0 ** (-path_loss_db / 10.0) * rng.exponential(1.0, size=d.shape)
    return params.bandwidth_hz * np.log2(1.0 + params.tx_power_w * gain / params.noise_w)


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


def _draw_world(params: FamilyParams, n_ues: int, n_servers: int,
                rng: np.random.Generator) -> _World:
    ue_pos = rng.uniform(0.0, params.area_m, size=(n_ues, 2))
    server_pos = rng.uniform(0.0, params.area_m, size=(n_servers, 2))
    if params.family == "paper":
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


def generate(family: str = "paper", n_ues: int | None = None, n_servers: int | None = None,
             seed: int = 0, name: str | None = None) -> Instance:
    """Draw one instance of a family (SPEC section 2).

    paper: 50 UEs and 4 servers unless given (capacities repeat 1.5e10, 1.5e10, 3e10, 5e10
    cyclically when more servers are asked for). hetero: N drawn in 20..100 and M in 2..8
    unless given. The name defaults to "<family>-<seed:03d>".
    """
    params = family_params(family)
    _check_size("n_ues", n_ues, 1)
    _check_size("n_servers", n_servers, 1)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    if family == "paper":
        n, m = n_ues or 50, n_servers or 4
    else:
        n_draw, m_draw = int(rng.integers(20, 101)), int(rng.integers(2, 9))
        n, m = n_ues or n_draw, n_servers or m_draw
    world = _draw_world(params, n, m, rng)
    meta = {"family": family, "seed": int(seed), "n_ues": n, "n_servers": m,
            "generator": "mecopt.generators.generate", "params": params.as_meta()}
    return _draw_instance(world, rng, name or f"{family}-{seed:03d}", meta)


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


__all__ = ["FAMILIES", "DRIFT_KINDS", "Drift", "FamilyParams", "ScenarioStream",
           "channel_rates", "family_params", "generate"]
