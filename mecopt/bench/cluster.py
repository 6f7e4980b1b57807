"""`execute` on a dask.distributed cluster (--executor dask; the optional extra "dask").

The client side keeps as many runs in flight as the cluster has worker threads and appends
each row to the journal as it comes back, exactly as the local process pool does. On a
worker, a dask task runs in a thread, where SIGALRM cannot stop a run, so every worker
thread hands its runs to one long-lived child process (`python -m mecopt.bench.cluster`)
that runs `run_one` in its main thread, hard stop included; a child that does not answer
well after the hard stop is killed and the run becomes a timeout row.

Nothing here imports dask at module level: the core never needs it.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import mecopt
from mecopt.errors import InputError

INSTALL = ('executor dask: dask.distributed is not installed; install the extra with '
           'pip install "mecopt[dask]" (or pip install -e ".[dask]" in a checkout)')
# A child that is still silent this long after the hard stop is killed.
BACKSTOP_S = 15.0
_HEADER = struct.Struct("!Q")


def import_distributed():
    """The distributed module, or the one-line InputError that says how to install it."""
    try:
        import distributed
    except ImportError:
        raise InputError(INSTALL) from None
    return distributed


# ---- client side ---------------------------------------------------------------------------

def on_dask(runs: Sequence, journal: Path, workers: int, scheduler: str | None,
            on_start: Callable | None, windowed: Callable) -> Iterator:
    """`execute` on dask: a LocalCluster of `workers` processes, or the cluster at
    `scheduler`. `windowed` is the runner's submit/wait loop, shared with --workers."""
    distributed = import_distributed()
    cluster = None
    if scheduler is None:
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"scheduler: cannot connect to {scheduler}: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                             ) from None
    try:
        if scheduler is not None:
            _check_workers(client, scheduler)

        def capacity() -> int:
            return max(1, sum(client.nthreads().values()))

        def submit(run):
            return client.submit(run_remote, run, pure=False)

        def wait_any(pending):
            return distributed.wait(list(pending), return_when="FIRST_COMPLETED").done

        yield from windowed(runs, journal, capacity, submit, wait_any, on_start,
                            lambda pending: client.cancel(list(pending)))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _check_workers(client, scheduler: str) -> None:
    """Every worker must run this mecopt version (a run on another one would not be the
    same run)."""
    try:
        versions = client.run(worker_version)
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise InputError(f"scheduler: a worker of {scheduler} cannot run mecopt "
                         f"{mecopt.__version__} ({why}); install the same mecopt on every "
                         "worker") from None
    other = {addr: v for addr, v in versions.items() if v != mecopt.__version__}
    if other:
        addr, v = next(iter(other.items()))
        raise InputError(f"scheduler: worker {addr} runs mecopt {v}, this is "
                         f"{mecopt.__version__}; install the same version on every worker")


def worker_version() -> str:
    return mecopt.__version__


# ---- worker side ---------------------------------------------------------------------------

class _Child:
    """A `python -m mecopt.bench.cluster` process that does runs sent over its pipes."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("MKL_NUM_THREADS", "1")
        # the worker's import path, so that a method it could unpickle the child can too
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen([sys.executable, "-m", "mecopt.bench.cluster"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        if _read_frame(self.proc.stdout.fileno(), None) != b"ready":
            raise RuntimeError("the run process did not start")

    def call(self, payload: bytes, timeout: float | None) -> bytes | None:
        """The answer, or None when none came within `timeout` (the child is then killed)."""
        self.proc.stdin.write(_HEADER.pack(len(payload)) + payload)
        self.proc.stdin.flush()
        answer = _read_frame(self.proc.stdout.fileno(), timeout)
        if answer is None:
            self.kill()
        return answer

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


_local = threading.local()
_children: list[_Child] = []
_lock = threading.Lock()


@atexit.register
def _kill_children() -> None:
    with _lock:
        for child in _children:
            child.kill()
        _children.clear()


def run_remote(run):
    """The dask task: `run_one(run)` in this worker thread's child process, with the same
    hard stop as a local run, and a kill if the child ignores even that."""
    from mecopt.bench.runner import _error_row, timeout_message
    from mecopt.status import Status

    child = getattr(_local, "child", None)
    if child is None or child.proc.poll() is not None:
        child = _local.child = _Child()
        with _lock:
            _children.append(child)
    timeout = None if run.hard_limit is None else run.hard_limit + BACKSTOP_S
    start = time.perf_counter()
    try:
        answer = child.call(pickle.dumps(run), timeout)
    except (OSError, EOFError) as exc:  # the child died (e.g. out of memory)
        child.kill()
        return _error_row(run, f"worker failed: run process ended ({type(exc).__name__})")
    if answer is None:
        row = _error_row(run, timeout_message(run))
        row.status, row.wall_time_s = Status.TIMEOUT, time.perf_counter() - start
        return row
    result = pickle.loads(answer)
    if isinstance(result, str):  # the child could not load the run
        return _error_row(run, f"worker failed: {result}")
    return result


def _read_frame(fd: int, timeout: float | None) -> bytes | None:
    """One length-prefixed frame from `fd`; None if it has not begun within `timeout`."""
    if timeout is not None and not select.select([fd], [], [], max(0.0, timeout))[0]:
        return None
    size = _HEADER.unpack(_read_exact(fd, _HEADER.size))[0]
    return _read_exact(fd, size)


def _read_exact(fd: int, n: int) -> bytes:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the run process closed its output")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _child_main() -> None:
    """The child: answer every run sent on stdin with its row, until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the client stops the runs
    out = os.dup(1)
    os.dup2(2, 1)  # whatever a solver prints goes to stderr, not into the frames
    from mecopt.bench.runner import run_one

    def write(data: bytes) -> None:
        _write_all(out, _HEADER.pack(len(data)) + data)

    write(b"ready")
    fd = sys.stdin.fileno()
    while True:
        try:
            frame = _read_frame(fd, None)
        except EOFError:
            return
        try:
            run = pickle.loads(frame)
        except Exception as exc:  # e.g. a method this process cannot import
            write(pickle.dumps(f"cannot load the run: {type(exc).__name__}: {exc}"))
            continue
        write(pickle.dumps(run_one(run)))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


if __name__ == "__main__":
    _child_main()
