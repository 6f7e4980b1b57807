"""A process-wide lock around what is not thread-safe, for callers that solve in threads
(`mecopt serve` runs its solves in a thread pool).

SOLVER_LOCK is held while a native solver runs:
- Pyomo's solver interfaces capture file descriptor 1 for the whole of every solve
  (pyomo.common.tee.capture_output); two captures at once in one process fail ("Captured
  output ... does not match sys.stdout") or leave the descriptor swapped;
- HiGHS keeps one thread scheduler per process, which the `highs` master rebuilds before its
  first solve when it is given a thread count;
- so one HiGHS or SCIP run at a time, whether through Pyomo (the exact methods) or highspy
  directly (the relaxation, the LNS steps, quiet_highs' construction, which prints). A run
  with a time limit holds the lock for at most that long; the LNS takes it per step, so
  concurrent searches interleave.
"""

from __future__ import annotations

import threading

SOLVER_LOCK = threading.RLock()

__all__ = ["SOLVER_LOCK"]
