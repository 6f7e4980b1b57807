"""The benchmark harness: every (method, instance, objective, seed) run through `solve`.

A benchmark lives in one output folder:

- ``runs.jsonl``: the journal, one JSON row per finished run, appended (and flushed) as each
  run ends, so an interrupted benchmark leaves every finished run on disk and ``resume``
  skips them;
- ``bench.json``: what was benchmarked (instances and their files, reference optima,
  skipped files, sessions with their wall time);
- rebuilt from those two after every session: ``results.csv`` and ``results.json`` (one row
  per run, with its gap), ``summary.md`` (per method and objective) and the plots
  ``bars-latency.png``, ``bars-energy.png`` and ``gap-vs-time.png``.

Gaps are relative, (value - best) / |best|, to the proven optimum in a ``reference.json``
beside the instances (basis "reference") or else to the best value any run of this
benchmark found (basis "best found"); each row says which. A row with a bound (an exact
method's own, or any method's with ``bound=True``, mecopt.bound) also has its certified gap,
(value - bound) / |value|: how far from optimal the answer can be, with no reference needed.

Library use: `run_bench` does everything; the CLI (`mecopt bench`) calls the steps one by
one (`collect_instances`, `parse_methods`, `open_out`, `plan`, `execute`, `write_outputs`)
to drive a progress bar.

The modules, by role:

- `row`: `Row`, one run's result, typed (to_dict/from_dict give the JSON of the files);
- `spec`: what to run: `MethodSpec`, `collect_instances`, `plan`;
- `runner`: `run_one` and `execute` (with worker processes, or on dask: `check_executor`);
- `cluster`: the dask executor (imports dask only when asked for);
- `journal`: the folder: `open_out`, `read_journal` (for --resume), `write_manifest`;
- `gaps`: `relative_gap`, `best_known`, `add_gaps`, `GapSummary`, shared by benchmarks/;
- `report`: results.json/csv and summary.md (`summarize`, `write_outputs`);
- `plots`: the PNGs;
- `api`: `run_bench`.
"""

from mecopt.bench.api import BenchReport, run_bench
from mecopt.bench.gaps import (
    BEST_FOUND,
    REFERENCE,
    GapSummary,
    add_gaps,
    best_known,
    certified_gap,
    pct_cell,
    percent,
    relative_gap,
)
from mecopt.bench.journal import (
    JOURNAL,
    MANIFEST,
    OUTPUTS,
    OWN_FILES,
    open_out,
    read_journal,
    write_manifest,
)
from mecopt.bench.plots import write_plots
from mecopt.bench.report import (
    BELOW_REFERENCE_RTOL,
    Stats,
    load_results,
    summarize,
    summary_markdown,
    to_csv,
    to_json,
    write_outputs,
)
from mecopt.bench.row import COLUMNS, Row, row_key
from mecopt.bench.runner import check_executor, execute, run_one
from mecopt.bench.spec import (
    Collection,
    MethodSpec,
    Run,
    collect_instances,
    hard_limit,
    parse_methods,
    parse_objectives,
    parse_seeds,
    plan,
)

__all__ = [
    "BELOW_REFERENCE_RTOL", "BEST_FOUND", "COLUMNS", "JOURNAL", "MANIFEST", "OUTPUTS",
    "OWN_FILES", "REFERENCE", "BenchReport", "Collection", "GapSummary", "MethodSpec", "Row",
    "Run", "Stats", "add_gaps", "best_known", "certified_gap", "check_executor",
    "collect_instances", "execute",
    "hard_limit", "load_results", "open_out", "parse_methods", "parse_objectives",
    "parse_seeds", "pct_cell", "percent", "plan", "read_journal", "relative_gap", "row_key",
    "run_bench", "run_one", "summarize", "summary_markdown", "to_csv", "to_json",
    "write_manifest", "write_outputs", "write_plots",
]
