"""An MEC offloading instance: N UEs with one task each, M edge servers, and the uplink rates.

`Instance` is immutable: its arrays are read-only, and the derived arrays every solver needs
(transmission time and energy, local time and energy, minimum allocations, usable options)
are computed once, vectorized, when it is built.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mecopt.errors import InputError, read_json

FORMAT = "mecopt-instance"
VERSION = 1

# (JSON key, attribute) for the per-UE fields that must be positive.
_UE_FIELDS = (
    ("data_bits", "data_bits"),
    ("cycles", "cycles"),
    ("local_hz", "local_hz"),
    ("tx_power_w", "tx_power_w"),
    ("local_power_w", "local_power_w"),
    ("deadline_s", "deadline_s"),
)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Instance:
    """N UEs and M servers; all quantities in SI units (bit, cycle, Hz, W, s, bit/s).

    Option 0 is local execution; option j in 1..M is server j. Arrays indexed by server use
    0-based columns (column j-1 is server j).
    """

    name: str
    data_bits: np.ndarray  # (N,) task input size D_i [bit]
    cycles: np.ndarray  # (N,) workload C_i [cycles]
    local_hz: np.ndarray  # (N,) local CPU speed f_i^loc [cycles/s]
    tx_power_w: np.ndarray  # (N,) transmit power [W]
    local_power_w: np.ndarray  # (N,) local compute power [W]
    deadline_s: np.ndarray  # (N,) deadline T_i [s]
    capacity_hz: np.ndarray  # (M,) server capacity F_j [cycles/s]
    rate_bps: np.ndarray  # (N, M) uplink rate r_ij [bit/s]; 0 = unreachable
    ue_position_m: np.ndarray | None = None  # (N, 2)
    server_position_m: np.ndarray | None = None  # (M, 2)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate(self)
        for name in ("data_bits", "cycles", "local_hz", "tx_power_w", "local_power_w",
                     "deadline_s", "capacity_hz", "rate_bps", "ue_position_m",
                     "server_position_m"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _readonly(np.array(value, dtype=float)))
        self._derive()

    # ----------------------------------------------------------------- sizes
    @property
    def n_ues(self) -> int:
        return int(self.cycles.shape[0])

    @property
    def n_servers(self) -> int:
        return int(self.capacity_hz.shape[0])

    # --------------------------------------------------------------- derived
    def _derive(self) -> None:
        D, C, T = self.data_bits, self.cycles, self.deadline_s
        reach = self.rate_bps > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            t_tx = np.where(reach, D[:, None] / np.where(reach, self.rate_bps, 1.0), np.inf)
            slack = T[:, None] - t_tx
            usable = reach & (slack > 0)
            f_min = np.where(usable, C[:, None] / np.where(usable, slack, 1.0), np.inf)
        t_loc = C / self.local_hz
        derived = {
            "t_tx": t_tx,  # (N, M) [s], inf if unreachable
            "e_tx": np.where(reach, self.tx_power_w[:, None] * t_tx, np.inf),  # (N, M) [J]
            "t_loc": t_loc,  # (N,) [s]
            "e_loc": self.local_power_w * t_loc,  # (N,) [J]
            "f_min": f_min,  # (N, M) [Hz]; inf where the pair cannot meet the deadline
            "usable": usable,  # (N, M): reachable and t_tx < T
            "local_ok": t_loc <= T,  # (N,)
        }
        # (N, M+1): which options (0 = local, j = server j) can meet the deadline on their own
        derived["option_ok"] = np.concatenate([derived["local_ok"][:, None], usable], axis=1)
        for key, value in derived.items():
            object.__setattr__(self, key, _readonly(value))

    # ------------------------------------------------------------------- I/O
    @classmethod
    def from_dict(cls, data: Any) -> Instance:
        """Build from the parsed instance JSON; raises InputError naming the bad field."""
        if not isinstance(data, dict):
            raise InputError("instance: expected a JSON object at the top level")
        if data.get("format") != FORMAT:
            raise InputError(f"format: expected {FORMAT!r}, got {data.get('format')!r}")
        if data.get("version") != VERSION:
            raise InputError(f"version: expected {VERSION}, got {data.get('version')!r}")
        ues = _section(data, "ues")
        servers = _section(data, "servers")
        if "rate_bps" not in data:
            raise InputError("rate_bps: missing field")
        name = data.get("name", "instance")
        if not isinstance(name, str):
            raise InputError("name: expected a string")
        meta = data.get("meta", {})
        if not isinstance(meta, dict):
            raise InputError("meta: expected an object")
        kwargs = {attr: _array(ues, key, f"ues.{key}", ndim=1) for key, attr in _UE_FIELDS}
        return cls(
            name=name,
            capacity_hz=_array(servers, "capacity_hz", "servers.capacity_hz", ndim=1),
            rate_bps=_array(data, "rate_bps", "rate_bps", ndim=2),
            ue_position_m=_array(ues, "position_m", "ues.position_m", ndim=2, optional=True),
            server_position_m=_array(servers, "position_m", "servers.position_m", ndim=2,
                                     optional=True),
            meta=meta,
            **kwargs,
        )

    def to_dict(self) -> dict[str, Any]:
        """The instance JSON object (SPEC section 3)."""
        ues: dict[str, Any] = {key: getattr(self, attr).tolist() for key, attr in _UE_FIELDS}
        if self.ue_position_m is not None:
            ues["position_m"] = self.ue_position_m.tolist()
        servers: dict[str, Any] = {"capacity_hz": self.capacity_hz.tolist()}
        if self.server_position_m is not None:
            servers["position_m"] = self.server_position_m.tolist()
        out: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": self.name,
                               "ues": ues, "servers": servers,
                               "rate_bps": self.rate_bps.tolist()}
        if self.meta:
            out["meta"] = self.meta
        return out

    @classmethod
    def load(cls, path: str | Path) -> Instance:
        """Read an instance JSON file; raises InputError with a one-line reason."""
        data = read_json(path)
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        """Write the instance JSON (stable formatting, so equal instances give equal bytes)."""
        Path(path).write_text(self.to_json())

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    def replace(self, **changes: Any) -> Instance:
        """A copy with some fields changed (validated and derived anew)."""
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__}
        fields.update(changes)
        return Instance(**fields)

    def __repr__(self) -> str:
        return f"Instance({self.name!r}, n_ues={self.n_ues}, n_servers={self.n_servers})"


# ------------------------------------------------------------------ validation
def _section(data: dict, key: str) -> dict:
    if key not in data:
        raise InputError(f"{key}: missing field")
    if not isinstance(data[key], dict):
        raise InputError(f"{key}: expected an object")
    return data[key]


def _array(section: dict, key: str, label: str, ndim: int, optional: bool = False):
    if key not in section:
        if optional:
            return None
        raise InputError(f"{label}: missing field")
    value = section[key]
    flag = _first_bool(value)
    if flag is not None:  # numpy would read true as 1.0
        raise InputError(f"{_where(label, flag)}: expected a number, got a boolean")
    try:
        arr = np.array(value, dtype=float)
    except OverflowError:  # an integer literal beyond any float (JSON allows any length)
        raise InputError(f"{label}: a number is too large for a float") from None
    except (TypeError, ValueError):
        raise InputError(f"{label}: expected {'a list' if ndim == 1 else 'a list of lists'} "
                         "of numbers") from None
    if arr.ndim != ndim:
        raise InputError(f"{label}: expected a {ndim}-d array, got shape {list(arr.shape)}")
    return arr


def _first_bool(value: Any, idx: tuple[int, ...] = ()) -> tuple[int, ...] | None:
    """The index of the first JSON boolean in a (nested) list, or None."""
    if isinstance(value, bool):
        return idx
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _first_bool(v, (*idx, i))
            if found is not None:
                return found
    return None


def _where(label: str, idx: tuple[int, ...]) -> str:
    if label.startswith("ues.") and len(idx) >= 1:
        return f"{label}[{idx[0]}] (UE {idx[0]})"
    if label.startswith("servers.") and len(idx) >= 1:
        return f"{label}[{idx[0]}] (server {idx[0] + 1})"
    if label == "rate_bps":
        return f"rate_bps[{idx[0]}][{idx[1]}] (UE {idx[0]}, server {idx[1] + 1})"
    return f"{label}{list(idx)}"


def _floats(value: Any, label: str) -> np.ndarray:
    """`value` as a float array, or InputError naming the field (the constructor's path;
    from_dict has checked its JSON already)."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{label}: expected numbers, got {type(value).__name__} "
                         f"{str(value)[:40]!r}") from None


def _validate(inst: Instance) -> None:
    if not isinstance(inst.name, str):
        raise InputError(f"name: expected a string, got {inst.name!r}")
    if not isinstance(inst.meta, dict):
        raise InputError(f"meta: expected a dict, got {type(inst.meta).__name__}")
    # N is the length most UE fields agree on, so the odd one out is the one named.
    shaped = [_floats(getattr(inst, attr), f"ues.{key}") for key, attr in _UE_FIELDS]
    lengths = [len(a) for a in shaped if a.ndim == 1]
    if not lengths:
        raise InputError("ues.data_bits: expected a 1-d array")
    n = max(set(lengths), key=lengths.count)
    if n == 0:
        raise InputError("ues: the instance has no UEs")
    for (key, _), arr in zip(_UE_FIELDS, shaped, strict=True):
        label = f"ues.{key}"
        if arr.shape != (n,):
            raise InputError(f"{label}: expected length {n} (one per UE), got shape "
                             f"{list(arr.shape)}")
        _check_values(arr, label, positive=True)
    cap = _floats(inst.capacity_hz, "servers.capacity_hz")
    if cap.ndim != 1 or cap.shape[0] == 0:
        raise InputError(f"servers.capacity_hz: expected a non-empty list, got shape "
                         f"{list(cap.shape)}")
    m = cap.shape[0]
    _check_values(cap, "servers.capacity_hz", positive=True)
    rate = _floats(inst.rate_bps, "rate_bps")
    if rate.shape != (n, m):
        raise InputError(f"rate_bps: expected shape [{n}, {m}] (N UEs x M servers), got "
                         f"{list(rate.shape)}")
    _check_values(rate, "rate_bps", positive=False)
    for label, pos, k in (("ues.position_m", inst.ue_position_m, n),
                          ("servers.position_m", inst.server_position_m, m)):
        if pos is not None:
            pos = _floats(pos, label)
            if pos.shape != (k, 2):
                raise InputError(f"{label}: expected shape [{k}, 2], got {list(pos.shape)}")
            bad = np.argwhere(~np.isfinite(pos))
            if len(bad):
                raise InputError(f"{_where(label, tuple(bad[0]))}: not a finite number")


def _check_values(arr: np.ndarray, label: str, positive: bool) -> None:
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        idx = tuple(int(i) for i in bad[0])
        raise InputError(f"{_where(label, idx)}: not a finite number ({arr[idx]})")
    bad = np.argwhere(arr <= 0) if positive else np.argwhere(arr < 0)
    if len(bad):
        idx = tuple(int(i) for i in bad[0])
        need = "positive" if positive else "non-negative"
        raise InputError(f"{_where(label, idx)}: must be {need}, got {_num(arr[idx])}")
    # A subnormal magnitude (below about 2.2e-308) is positive, but the first ratio taken of
    # it rounds to 0 (cycles of 1e-320 gave a local time of 0, and the features' log -inf).
    bad = np.argwhere((arr != 0) & (np.abs(arr) < np.finfo(float).tiny))
    if len(bad):
        idx = tuple(int(i) for i in bad[0])
        raise InputError(f"{_where(label, idx)}: {_num(arr[idx])} is below the smallest normal "
                         f"number ({np.finfo(float).tiny:.3g})")


def _num(x: float) -> str:
    return str(int(x)) if math.isfinite(x) and float(x).is_integer() else repr(float(x))


def server_load(instance: Instance, assignment: np.ndarray) -> np.ndarray:
    """(M,) the f_min sum of the UEs each server holds under `assignment` (N,) [Hz]; float,
    0 on a server no UE uses (every offloaded pair must be usable)."""
    a = np.asarray(assignment)
    on = np.flatnonzero(a > 0)
    return np.bincount(a[on] - 1, weights=instance.f_min[on, a[on] - 1],
                       minlength=instance.n_servers).astype(float)


def option_f_min(instance: Instance) -> np.ndarray:
    """(N, M+1) minimum allocation per option: 0 for local, inf where the pair is unusable."""
    return np.concatenate([np.zeros((instance.n_ues, 1)),
                           np.where(instance.usable, instance.f_min, np.inf)], axis=1)


def usable_options(instance: Instance) -> np.ndarray:
    """(N, M+1) options that can hold a UE in some decision: the deadline can be met on that
    option alone and, on a server, the UE's f_min alone fits the capacity."""
    ok = instance.option_ok.copy()
    ok[:, 1:] &= np.where(instance.usable, instance.f_min, np.inf) \
        <= instance.capacity_hz[None, :]
    return ok
