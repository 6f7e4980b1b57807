"""`mecopt solve` over several instances: one solution per instance, in input order, as
JSONL on stdout or one <instance name>.json each in the folder -o DIR (mecopt.batch)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from mecopt.batch import output_paths, read_inputs, solve_stream
from mecopt.cli.main import InputFailure, write_output
from mecopt.objective import Objective


def solve_several(sources: tuple[str, ...], objective: Objective, method: str, *,
                  output: str | None, force: bool, workers: int, **solve: Any) -> None:
    """Solve every instance of `sources`; a summary line per instance and a tally go to
    stderr; exit code 1 when any instance failed (an error record)."""
    start = time.perf_counter()
    items = list(read_inputs(sources))
    # The method and its options are checked here, before any output is made.
    solutions = solve_stream(items, objective, method, workers=workers, **solve)
    paths = None
    if output is not None:
        paths = output_paths(items, output, force=force)
        try:
            Path(output).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputFailure(f"{output}: cannot create ({exc.strerror})") from None
    failed = 0
    for k, sol in enumerate(solutions):
        failed += sol.status == "error"
        click.echo(f"{sol.instance}: {sol.summary()}", err=True)
        if paths is None:
            click.echo(json.dumps(sol.to_dict()))
        else:
            write_output(sol.to_json(), str(paths[k]), force=True)  # checked before solving
    where = "stdout" if output is None else output
    click.echo(f"{len(items)} instances, {failed} failed, {time.perf_counter() - start:.2f} s; "
               f"solutions in {where}", err=True)
    if failed:
        sys.exit(1)
