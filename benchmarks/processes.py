"""What the process-timing benchmarks share (bench_batch, bench_serve, bench_startup): the
`mecopt` command a user runs, one timed run of a command, and the machine's load."""

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


def load_line() -> str:
    """The 1- and 5-minute load averages and the CPU count, for a benchmark's output."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"
