"""`mecopt serve`: the solver service (mecopt.serve; needs the `serve` extra)."""

from __future__ import annotations

import importlib.util

import click

from mecopt.cli.main import cli


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (0.0.0.0: every interface)")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port to listen on")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True,
              help="solves running at once (more than 2 only adds contention: solves hold "
                   "the interpreter, and native solvers run one at a time)")
@click.option("--batch-window", "batch_window_ms", type=click.FloatRange(min=0), default=0.0,
              show_default=True,
              help="milliseconds a LAMBO request that finds no batch running waits for others "
                   "to share its batched pass (0: it goes at once; requests that arrive while "
                   "a batch runs form the next one)")
@click.option("--no-batching", "no_batching", is_flag=True,
              help="solve every LAMBO request on its own")
@click.option("--preload", default="lambo", show_default=True,
              help="comma-separated methods built at start-up (LAMBO loads its model); "
                   "empty: none")
def serve(host, port, threads, batch_window_ms, no_batching, preload):
    """Serve the solvers over HTTP: POST /solve, POST /solve_many, GET /methods, GET /health
    (docs/serve.md)."""
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(f"mecopt serve needs {' and '.join(missing)}: "
                                   "pip install \"mecopt[serve]\" (from a checkout: "
                                   "pip install -e \".[serve]\")")
    import uvicorn

    from mecopt.serve import create_app

    app = create_app(threads=threads, batch_window_ms=batch_window_ms, batching=not no_batching,
                     preload=[m.strip() for m in preload.split(",") if m.strip()])
    uvicorn.run(app, host=host, port=port, log_level="warning")
