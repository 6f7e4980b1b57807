"""Click options built from config dataclass fields (mecopt.learned.configs), so that a
default and its help text are written once, in the config.

`config_option(TrainConfig, "lr")` is `--lr` with the field's type, default and help;
`config_values(TrainConfig, params)` picks a command's parameters that are fields of the
config, to build it with.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

import click

FILE = click.Path(dir_okay=False)  # an output file; its folder is made when missing


class CommaList(click.ParamType):
    """A tuple of names given as one comma-separated word ("paper,hetero")."""

    name = "text"  # the metavar: one word on the command line

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        return tuple(part.strip() for part in str(value).split(",") if part.strip())


@cache
def _fields(config: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    """{name: (field, resolved type)} of a config dataclass."""
    hints = typing.get_type_hints(config)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(config)}


def field_help(config: type, name: str) -> str:
    return _fields(config)[name][0].metadata["help"]


def _click_type(annotation: Any, choices: tuple[str, ...] | None) -> Any:
    """The click type of a field: its choices, or its type without the `| None`."""
    if choices is not None:
        return click.Choice(choices)
    if typing.get_origin(annotation) is tuple:
        return CommaList()
    base = next((a for a in typing.get_args(annotation) if a is not type(None)), annotation)
    return {int: click.INT, float: click.FLOAT}.get(base, click.STRING)


def config_option(config: type, name: str, *decls: str, **overrides: Any) -> Callable:
    """The click option of field `name` of `config`: flag --name-with-dashes (or `decls`),
    the field's type, default and help, shown default. A bool field that defaults to True
    is an on/off pair (--x/--no-x), one that defaults to False a flag. A field without a
    default is required. `overrides` go to click.option as they are (type=FILE, ...)."""
    f, annotation = _fields(config)[name]
    flag = "--" + name.replace("_", "-")
    kwargs: dict[str, Any] = {"help": f.metadata["help"], "show_default": True}
    if f.default is dataclasses.MISSING:
        kwargs["required"] = True
    elif annotation is bool:
        kwargs.update(is_flag=True, default=f.default)
        if f.default and not decls:
            decls = (f"{flag}/--no-{name.replace('_', '-')}",)
    else:
        kwargs["type"] = _click_type(annotation, f.metadata["choices"])
        default = f.default
        kwargs["default"] = ",".join(default) if isinstance(default, tuple) else default
    kwargs.update(overrides)
    return click.option(*(decls or (flag,)), name, **kwargs)


def config_values(config: type, params: dict[str, Any]) -> dict[str, Any]:
    """The command's parameters that are fields of `config`."""
    return {k: v for k, v in params.items() if k in _fields(config)}
