"""Methods by name: the built-in backends and those other packages add by entry point.

Other packages (and `mecopt.learned`) register methods in the entry-point group
`mecopt.solvers`, each naming a `Method` subclass ("name = package.module:Class").
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

from mecopt.errors import InputError
from mecopt.method import Method, Outcome

ENTRY_POINT_GROUP = "mecopt.solvers"

# Built-in backends, imported only when used.
BUILTIN = {
    "local": "mecopt.solvers.local:LocalMethod",
    "random": "mecopt.solvers.random:RandomMethod",
    "greedy": "mecopt.solvers.greedy:GreedyMethod",
    "highs": "mecopt.solvers.highs:HighsMethod",
    "scip": "mecopt.solvers.scip:ScipMethod",
    "de": "mecopt.solvers.de:DEMethod",
    "pg": "mecopt.solvers.pg:PGMethod",
}


@functools.lru_cache(maxsize=1)
def _plugins() -> tuple[tuple[str, str], ...]:
    # Scanning the installed distributions takes milliseconds: once per process, not per solve.
    # importlib.metadata itself (email, zipfile, csv) is imported here, not at start-up:
    # a built-in method never needs the scan.
    from importlib.metadata import entry_points

    return tuple((ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP))


def _targets(refresh: bool = False) -> dict[str, str]:
    if refresh:
        _plugins.cache_clear()
    targets = dict(BUILTIN)
    for name, value in _plugins():
        targets.setdefault(name, value)
    return targets


def method_names() -> list[str]:
    """Every registered name, available or not."""
    return sorted(_targets())


def _load(target: str) -> type[Method]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_method(method: str | type[Method] | Callable[..., Any]) -> type[Method]:
    """The Method class for a name, a Method subclass, or a plain callable.

    A callable is called as fn(instance, objective, time_limit=..., seed=..., **options) and
    returns an assignment (N,), an (assignment, allocation) pair, or an Outcome.
    """
    if isinstance(method, type) and issubclass(method, Method):
        return method
    if callable(method):
        return _wrap_callable(method)
    if isinstance(method, str) and method in BUILTIN:
        target = BUILTIN[method]  # a built-in wins over an entry point: no scan needed
    else:
        targets = _targets()
        if isinstance(method, str) and method not in targets:
            targets = _targets(refresh=True)  # a package installed since the first scan
        if not isinstance(method, str) or method not in targets:
            raise InputError(f"method: unknown {method!r}; valid: {', '.join(sorted(targets))}")
        target = targets[method]
    try:
        return _load(target)
    except ImportError as exc:
        raise InputError(f"method {method!r} is unavailable: {exc}") from None


def availability() -> dict[str, tuple[bool, str, str]]:
    """name -> (available, reason if not, one-line description)."""
    out = {}
    for name, target in sorted(_targets().items()):
        try:
            cls = _load(target)
        except ImportError as exc:
            out[name] = (False, str(exc).splitlines()[0], "")
            continue
        ok, why = cls.availability()
        out[name] = (ok, why, cls.description)
    return out


def _wrap_callable(fn: Callable[..., Any]) -> type[Method]:
    class CallableMethod(Method):
        name = getattr(fn, "__name__", "custom")
        description = (fn.__doc__ or "a user-supplied callable").strip().splitlines()[0]

        def __init__(self, **options: Any) -> None:
            self.config = dict(options)  # the callable checks its own options

        def _solve(self, instance, objective, *, time_limit, seed):
            result = fn(instance, objective, time_limit=time_limit, seed=seed, **self.config)
            if isinstance(result, Outcome):
                return result
            if isinstance(result, tuple):
                return Outcome(result[0], result[1])
            return Outcome(result)

    return CallableMethod
