"""The `mecopt` command line. Thin: options become config objects, library functions do
the work. Results go to stdout (JSON), messages to stderr; user errors are one line with
exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Callable
from pathlib import Path

import click

import mecopt
from mecopt.cli.config_options import CommaList
from mecopt.errors import InputError, refuse_existing
from mecopt.objective import Objective

# Each command -> the module under mecopt.cli that defines it (with @cli.command). A module is
# imported only when one of its commands runs or is listed: `mecopt solve` then starts without
# the bench runner, the learned configs and the rest (tests/test_cli.py checks this table).
COMMANDS = {
    "solve": "core_commands", "evaluate": "core_commands", "methods": "core_commands",
    "generate": "generate_command", "make-library": "generate_command",
    "bench": "bench_command", "export": "export_command", "finetune": "finetune_command",
    "train": "learned_commands", "model-info": "learned_commands",
    "train-baseline": "baseline_commands", "pareto": "pareto_command",
    "reference": "reference_command", "serve": "serve_command",
}


class InputFailure(click.ClickException):
    """Bad input (a file, a field, an option's value, an output path): one line on stderr,
    `Error: ...`, exit code 2. Click's usage lines are for a command line that does not parse;
    a bad file is not one."""

    exit_code = 2


class MecoptGroup(click.Group):
    """Loads commands from their modules on demand (`COMMANDS`), and turns InputError from
    anywhere below, and click's own rejection of a value, into a one-line error (exit 2)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"mecopt.cli.{COMMANDS[cmd_name]}")
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            raise InputFailure(str(exc)) from None
        except click.MissingParameter:
            raise  # the command line is incomplete: the usage lines help
        except click.BadParameter as exc:  # a value click checks itself (a choice, a path)
            raise InputFailure(exc.format_message()) from None


@click.group(cls=MecoptGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(mecopt.__version__, prog_name="mecopt")
def cli() -> None:
    """mecopt: task offloading in multi-access edge computing (exact, heuristic and LAMBO)."""


def load_instance(path: str) -> mecopt.Instance:
    """Load an instance, turning a bad file into a one-line error naming it."""
    try:
        return mecopt.Instance.load(path)
    except InputError as exc:
        msg = str(exc)
        raise InputFailure(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


def resolve_objective(objective: str | None, prompt: str | None) -> Objective:
    if objective and prompt:
        raise click.UsageError("give --objective or --prompt, not both")
    try:
        return Objective.parse(prompt or objective or "latency")
    except InputError as exc:
        raise InputFailure(f"{'--prompt' if prompt else '--objective'}: {exc}") from None


def write_output(text: str, output: str | None, force: bool) -> None:
    """Write to stdout, or to a file that is never silently overwritten."""
    if output is None:
        click.echo(text, nl=False)
        return
    path = Path(output)
    refuse_existing([path], force)
    try:
        path.write_text(text)
    except OSError as exc:
        raise InputFailure(f"{path}: cannot write ({exc.strerror})") from None


def command_line(ctx: click.Context, keep: Callable[[str], bool] = lambda name: True) -> str:
    """The command with every given option spelled out (recorded in checkpoints so that a
    run can be repeated); `keep(name)` drops parameters that do not apply."""
    parts = ["mecopt", ctx.info_name or ""]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value is False or not keep(param.name):
            continue
        if param.param_type_name == "argument":
            parts.append(shlex.quote(str(value)))
        else:
            flag = max(param.opts, key=len)
            text = ",".join(value) if isinstance(param.type, CommaList) else str(value)
            parts += [flag] if value is True else [flag, shlex.quote(text)]
    return " ".join(parts)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mecopt")

