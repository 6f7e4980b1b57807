"""The runner: one run through `solve` with a hard stop, and many runs, in this process or
in worker processes (--workers), each row appended to the journal as it finishes."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from mecopt.api import solve
from mecopt.bench.journal import JOURNAL, append
from mecopt.bench.row import Row
from mecopt.bench.spec import Run
from mecopt.errors import InputError
from mecopt.instance import Instance
from mecopt.solution import _jsonable
from mecopt.status import Status


class _HardTimeout(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` in a backend
    swallows it."""


def _on_alarm(signum, frame):
    raise _HardTimeout


def run_one(run: Run) -> Row:
    """Do one run and return its row. Never raises for a method's failure: an exception or
    an overrun becomes a row with status "error" or "timeout"."""
    inst = run.instance if isinstance(run.instance, Instance) else Instance.from_dict(run.instance)
    _, _, obj, seed = run.key
    row = _error_row(run, "")
    # SIGALRM stops a run that ignores its time limit; only possible in the main thread.
    alarm = (run.hard_limit is not None and hasattr(signal, "setitimer")
             and threading.current_thread() is threading.main_thread())
    start = time.perf_counter()
    previous = None
    try:
        if alarm:
            previous = signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, run.hard_limit)
        sol = solve(inst, obj, run.spec.method, time_limit=run.time_limit, seed=seed,
                    bound=run.bound, **run.spec.options)
    except _HardTimeout:
        row.status, row.wall_time_s = Status.TIMEOUT, time.perf_counter() - start
        row.message = (f"stopped by the harness after {run.hard_limit:g} s (time limit "
                       f"{run.time_limit:g} s)")
        return row
    except Exception as exc:  # whatever escapes solve is still one run's result
        row.wall_time_s = time.perf_counter() - start
        row.message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return row
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    row.status, row.feasible = Status(sol.status), sol.feasible
    # only a decision the checker accepted has a value worth comparing
    row.objective_value = sol.objective_value if sol.feasible else None
    row.bound, row.wall_time_s, row.message = sol.bound, sol.wall_time_s, sol.message
    row.extra = _jsonable(sol.extra)
    return row


def _init_worker() -> None:
    # Ctrl-C goes to the parent, which stops the workers; one thread per process because
    # the workers already share the cores among themselves.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def execute(runs: Sequence[Run], out: str | Path, *, workers: int = 1,
            on_start: Callable[[Run], None] | None = None) -> Iterator[Row]:
    """Do the runs, append each row to out/runs.jsonl as it finishes, and yield it.

    `workers` > 1 runs in that many processes (methods must then be registry names or
    importable classes and callables). On an interrupt the workers are stopped; every row
    already yielded is in the journal.
    """
    if workers < 1:
        raise InputError(f"workers: must be >= 1, got {workers}")
    journal = Path(out) / JOURNAL
    if workers == 1 or len(runs) <= 1:
        for run in runs:
            if on_start is not None:
                on_start(run)
            row = run_one(run)
            append(journal, row)
            yield row
        return
    yield from _in_processes(runs, journal, workers, on_start)


def _in_processes(runs: Sequence[Run], journal: Path, workers: int,
                  on_start: Callable[[Run], None] | None) -> Iterator[Row]:
    """`execute` with `workers` spawned processes."""
    for spec in {id(r.spec): r.spec for r in runs}.values():
        try:
            pickle.dumps(spec)
        except Exception:
            raise InputError(f"workers: method {spec.label!r} cannot be sent to a worker "
                             "process (define it at module level, or use one worker)") from None
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                               mp_context=multiprocessing.get_context("spawn"))
    finished = False
    try:
        pending: dict[Future, Run] = {}
        queue = list(reversed(runs))

        def submit() -> None:
            # Keep only `workers` runs in flight, so on_start names what is running now.
            while queue and len(pending) < workers:
                run = queue.pop()
                if on_start is not None:
                    on_start(run)
                as_data = Run(run.spec, run.instance.to_dict() if isinstance(
                    run.instance, Instance) else run.instance, run.objective, run.seed,
                    run.time_limit, run.hard_limit, run.bound)
                pending[pool.submit(run_one, as_data)] = run

        submit()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                run = pending.pop(fut)
                try:
                    row = fut.result()
                except Exception as exc:  # a worker died (e.g. out of memory)
                    row = _error_row(run, f"worker failed: {type(exc).__name__}: {exc}")
                append(journal, row)
                yield row
            submit()
        finished = True
    finally:
        if not finished:
            # Interrupted: stop the runs in flight instead of waiting for them.
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _error_row(run: Run, message: str) -> Row:
    """A run's row before it has a result: status "error" until something better is known."""
    label, name, obj, seed = run.key
    return Row(label, run.spec.name, _jsonable(run.spec.options), name, obj, seed,
               time_limit_s=run.time_limit,
               message=message.splitlines()[0] if message else "")
