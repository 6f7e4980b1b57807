"""`run_bench`: a whole benchmark in one call (the CLI calls the same steps one by one)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mecopt.bench.journal import open_out, write_manifest
from mecopt.bench.report import write_outputs
from mecopt.bench.row import Row
from mecopt.bench.runner import check_executor, execute
from mecopt.bench.spec import MethodSpec, collect_instances, plan
from mecopt.objective import Objective


@dataclass
class BenchReport:
    """What `run_bench` did."""

    rows: list[Row]  # every row in the folder, with gaps
    new_runs: int
    skipped: list[tuple[str, str]]
    elapsed_s: float


def run_bench(instances: Iterable[str | Path], methods: Sequence[MethodSpec | str],
              objectives: Sequence[Objective | str] = ("latency", "energy"), *,
              out: str | Path, seeds: Sequence[int] = (0,), time_limit: float | None = None,
              workers: int = 1, resume: bool = False, force: bool = False,
              grace_s: float = 30.0, command: str = "", bound: bool = False,
              executor: str = "local", scheduler: str | None = None) -> BenchReport:
    """Benchmark methods on instance files/folders and write every output into `out`.

    Methods are `MethodSpec`s or spec strings ("greedy", "de:generations=50"). A run that
    raises or overruns (twice `time_limit` plus `grace_s`) becomes an error or timeout row.
    With `bound`, every run also gets mecopt.bound's lower bound and its certified gap.
    Even when interrupted, the outputs are rebuilt from the runs that finished.
    `executor="dask"` does the same runs on a dask cluster (`scheduler`'s address, else a
    local one of `workers` processes; needs the "dask" extra).
    """
    start = time.perf_counter()
    col = collect_instances(instances)
    specs = [m if isinstance(m, MethodSpec) else MethodSpec.parse(m) for m in methods]
    for spec in specs:
        spec.check()
    check_executor(executor, scheduler)
    done = open_out(out, resume=resume, force=force)
    runs = plan(col, specs, objectives, seeds, time_limit=time_limit, done=done,
                grace_s=grace_s, bound=bound)
    n = 0
    try:
        for _ in execute(runs, out, workers=workers, executor=executor,
                         scheduler=scheduler):
            n += 1
    finally:
        write_manifest(out, col, specs, command=command,
                       elapsed_s=time.perf_counter() - start, n_runs=n)
        rows = write_outputs(out)
    return BenchReport(rows, n, col.skipped, time.perf_counter() - start)
