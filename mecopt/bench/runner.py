"""The runner: one run through `solve` with a hard stop, and many runs, in this process, in
worker processes (--workers) or on a dask cluster (--executor dask, mecopt.bench.cluster),
each row appended to the journal as it finishes."""

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
        row.message = timeout_message(run)
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


def timeout_message(run: Run) -> str:
    return (f"stopped by the harness after {run.hard_limit:g} s (time limit "
            f"{run.time_limit:g} s)")


def _init_worker() -> None:
    # Ctrl-C goes to the parent, which stops the workers; one thread per process because
    # the workers already share the cores among themselves.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


EXECUTORS = ("local", "dask")


def check_executor(executor: str, scheduler: str | None = None) -> None:
    """Refuse an unknown executor, or dask when it is not installed, before anything runs."""
    if executor not in EXECUTORS:
        raise InputError(f"executor: one of {', '.join(EXECUTORS)}, got {executor!r}")
    if scheduler is not None and executor != "dask":
        raise InputError("scheduler: only with --executor dask")
    if executor == "dask":
        from mecopt.bench.cluster import import_distributed
        import_distributed()


def execute(runs: Sequence[Run], out: str | Path, *, workers: int = 1,
            on_start: Callable[[Run], None] | None = None, executor: str = "local",
            scheduler: str | None = None) -> Iterator[Row]:
    """Do the runs, append each row to out/runs.jsonl as it finishes, and yield it.

    `workers` > 1 runs in that many processes (methods must then be registry names or
    importable classes and callables). `executor="dask"` runs them on a dask cluster: the
    one at the `scheduler` address, else a local one of `workers` processes; the rows are
    the same. On an interrupt the workers are stopped; every row already yielded is in the
    journal.
    """
    if workers < 1:
        raise InputError(f"workers: must be >= 1, got {workers}")
    check_executor(executor, scheduler)
    journal = Path(out) / JOURNAL
    if executor == "dask" and runs:
        from mecopt.bench.cluster import on_dask
        _check_picklable(runs)
        yield from on_dask(runs, journal, workers, scheduler, on_start, _windowed)
        return
    if workers == 1 or len(runs) <= 1:
        for run in runs:
            if on_start is not None:
                on_start(run)
            row = run_one(run)
            append(journal, row)
            yield row
        return
    yield from _in_processes(runs, journal, workers, on_start)


def _check_picklable(runs: Sequence[Run]) -> None:
    for spec in {id(r.spec): r.spec for r in runs}.values():
        try:
            pickle.dumps(spec)
        except Exception:
            raise InputError(f"workers: method {spec.label!r} cannot be sent to a worker "
                             "process (define it at module level, or use one worker)") from None


def _as_data(run: Run) -> Run:
    """The run with its instance as a dict: what travels to a worker."""
    return Run(run.spec, run.instance.to_dict() if isinstance(run.instance, Instance)
               else run.instance, run.objective, run.seed, run.time_limit, run.hard_limit,
               run.bound)


def _in_processes(runs: Sequence[Run], journal: Path, workers: int,
                  on_start: Callable[[Run], None] | None) -> Iterator[Row]:
    """`execute` with `workers` spawned processes."""
    _check_picklable(runs)
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                               mp_context=multiprocessing.get_context("spawn"))
    finished = False
    try:
        yield from _windowed(
            runs, journal, lambda: workers, lambda run: pool.submit(run_one, run),
            lambda pending: wait(pending, return_when=FIRST_COMPLETED)[0], on_start,
            lambda pending: None)
        finished = True
    finally:
        if not finished:
            # Interrupted: stop the runs in flight instead of waiting for them.
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def _windowed(runs: Sequence[Run], journal: Path, capacity: Callable[[], int],
              submit: Callable[[Run], Future], wait_any: Callable[[dict], set],
              on_start: Callable[[Run], None] | None,
              cancel: Callable[[dict], None]) -> Iterator[Row]:
    """The submit/wait loop of every parallel executor: at most capacity() runs in flight
    (so on_start names what is running now), each row appended to the journal as it comes
    back, in the order they finish. `cancel` drops the runs in flight on an interrupt."""
    pending: dict = {}
    queue = list(reversed(runs))

    def fill() -> None:
        while queue and len(pending) < capacity():
            run = queue.pop()
            if on_start is not None:
                on_start(run)
            pending[submit(_as_data(run))] = run

    finished = False
    try:
        fill()
        while pending:
            for fut in wait_any(pending):
                run = pending.pop(fut)
                try:
                    row = fut.result()
                except Exception as exc:  # a worker died (e.g. out of memory)
                    row = _error_row(run, f"worker failed: {type(exc).__name__}: {exc}")
                append(journal, row)
                yield row
            fill()
        finished = True
    finally:
        if not finished and pending:
            cancel(pending)


def _error_row(run: Run, message: str) -> Row:
    """A run's row before it has a result: status "error" until something better is known."""
    label, name, obj, seed = run.key
    return Row(label, run.spec.name, _jsonable(run.spec.options), name, obj, seed,
               time_limit_s=run.time_limit,
               message=message.splitlines()[0] if message else "")
