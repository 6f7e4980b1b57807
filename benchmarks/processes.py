"""What the process-timing benchmarks share (bench_batch, bench_serve, bench_startup): the
`mecopt` command a user runs, one timed run of a command, and the machine's load and speed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path


def mecopt_command() -> list[str]:
    """The `mecopt` console script beside this interpreter (what a user runs)."""
    script = Path(sys.executable).parent / "mecopt"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "mecopt.cli"]


def timed(args: list[str], env: Mapping[str, str] | None = None) -> float:
    """Wall seconds of one command, which must succeed (`env`: its environment, default
    this process's)."""
    start = time.perf_counter()
    res = subprocess.run(args, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({res.returncode}): {res.stderr[-500:]}")
    return elapsed


def reference_op_us(repeat: int = 5, calls: int = 2000) -> float:
    """The machine's speed at small operations, the kind a decode step is made of: the
    median over `repeat` runs of the mean time of one (1 x 64) @ (64 x 192) numpy product, in
    microseconds. Timings taken on different days compare only alongside this figure (the
    same code measured 3-5 times slower on one day than on another)."""
    import numpy as np

    x, w = np.ones((1, 64)), np.ones((64, 192))
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            x @ w
        runs.append((time.perf_counter() - start) / calls * 1e6)
    return sorted(runs)[len(runs) // 2]


def load_line() -> str:
    """The 1- and 5-minute load averages, the CPU count and the reference operation's time,
    for a benchmark's output."""
    one, five, _ = os.getloadavg()
    return (f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs; "
            f"reference op {reference_op_us():.1f} us")
