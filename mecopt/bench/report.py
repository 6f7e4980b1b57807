"""The report: a benchmark folder's rows with their gaps, and the files made from them:
results.json, results.csv and summary.md (the plots are mecopt.bench.plots)."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mecopt.bench.gaps import REFERENCE, GapSummary, add_gaps
from mecopt.bench.journal import manifest_reference, read_journal, read_manifest, write_atomic
from mecopt.bench.plots import write_plots
from mecopt.bench.row import COLUMNS, Row
from mecopt.objective import Objective
from mecopt.solution import _jsonable
from mecopt.status import Status

# A reference optimum this far above a checked value means the reference (or the checker)
# is wrong; summary.md says so instead of hiding it.
BELOW_REFERENCE_RTOL = 1e-6
FAILED = (Status.ERROR, Status.TIMEOUT, Status.NO_SOLUTION)
# A run is listed as past its time limit when its wall time exceeds the limit by more than
# this share plus OVER_LIMIT_S (a run's own start-up and the checker's time are in its wall
# time).
OVER_LIMIT_SHARE, OVER_LIMIT_S = 0.1, 0.5


def load_results(out: str | Path) -> tuple[list[Row], dict[str, Any]]:
    """The rows of a benchmark folder with their gaps, and its manifest."""
    manifest = read_manifest(out)
    rows = add_gaps(read_journal(out), manifest_reference(manifest))
    return sorted(rows, key=_sort_key(rows, manifest.get("methods", []))), manifest


def _sort_key(rows: Sequence[Row], methods: Sequence[str]) -> Callable[[Row], tuple]:
    """Objective, then method in the order given, then instance and seed."""
    labels = dict.fromkeys([*methods, *(r.method for r in rows)])
    order = {m: i for i, m in enumerate(labels)}
    objectives = {o.value: i for i, o in enumerate(Objective)}
    return lambda r: (objectives.get(r.objective, 9), order[r.method], r.instance, r.seed)


def write_outputs(out: str | Path) -> list[Row]:
    """Rebuild results.csv, results.json, summary.md and the plots from the journal."""
    out = Path(out)
    rows, manifest = load_results(out)
    write_atomic(out / "results.json", to_json(rows))
    write_atomic(out / "results.csv", to_csv(rows))
    write_atomic(out / "summary.md", summary_markdown(rows, manifest))
    write_plots(rows, out)
    return rows


def to_json(rows: Sequence[Row]) -> str:
    """results.json: the rows with their gaps (inf and nan as null)."""
    return json.dumps([_jsonable(r.to_dict()) for r in rows], indent=1) + "\n"


def to_csv(rows: Sequence[Row]) -> str:
    """results.csv: one line per row, `COLUMNS` in order; options and extra as JSON."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        cells = r.to_dict()
        for key in ("options", "extra"):
            cells[key] = json.dumps(_jsonable(cells[key]), sort_keys=True)
        for key in ("objective_value", "gap", "best_known", "bound", "time_limit_s"):
            cells[key] = "" if cells[key] is None else repr(float(cells[key]))
        writer.writerow(cells)
    return buf.getvalue()


@dataclass
class Stats:
    """One method on one objective."""

    method: str
    objective: str
    runs: int
    feasible: int
    errors: int
    timeouts: int
    no_solution: int
    infeasible: int
    mean_gap: float | None
    worst_gap: float | None
    basis: str
    median_time_s: float
    mean_value: float | None
    mean_certified_gap: float | None = None


def summarize(rows: Sequence[Row]) -> list[Stats]:
    """Per method and objective: feasible share, mean and worst gap, median wall time."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.method, r.objective), []).append(r)
    stats = []
    for (method, obj), rs in groups.items():
        gaps = GapSummary.of(r.gap for r in rs)
        values = [r.objective_value for r in rs if r.feasible]
        bases = {r.gap_basis for r in rs if r.gap is not None}
        certified = [r.certified_gap for r in rs if r.certified_gap is not None]

        def count(status: Status, rs=rs) -> int:
            return sum(r.status == status for r in rs)

        stats.append(Stats(
            method, obj, len(rs), sum(bool(r.feasible) for r in rs), count(Status.ERROR),
            count(Status.TIMEOUT), count(Status.NO_SOLUTION), count(Status.INFEASIBLE),
            gaps.mean, gaps.worst, " + ".join(sorted(bases)) if bases else "-",
            statistics.median(r.wall_time_s for r in rs),
            statistics.fmean(values) if values else None,
            statistics.fmean(certified) if certified else None))
    return stats


def _pct(x: float | None) -> str:
    """A gap in percent, keeping small nonzero gaps visible (0.0003% is not 0.00%)."""
    if x is None:
        return "-"
    return f"{100 * x:.3g}%" if abs(100 * x) < 1000 else f"{100 * x:.0f}%"


def _time(x: float) -> str:
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def summary_markdown(rows: Sequence[Row], manifest: dict[str, Any]) -> str:
    """summary.md: the table, then what could distort it (no feasible run, values below a
    reference optimum, errors, skipped files)."""
    lines = ["# Benchmark summary", ""]
    n_inst = len({r.instance for r in rows})
    lines.append(f"{len(rows)} runs on {n_inst} instances. Gap = (value - best known) / best "
                 "known, over feasible runs only; best known is the proven optimum from "
                 "reference.json (basis \"reference\") or else the best value found in this "
                 "benchmark (\"best found\").")
    lines.append("")
    lines += _tables(rows) + _caveats(rows) + _provenance(manifest)
    return "\n".join(lines)


def _tables(rows: Sequence[Row]) -> list[str]:
    """One table per objective, a line per method."""
    unit = {"latency": "mean latency [s]", "energy": "total energy [J]"}
    lines = []
    for obj in dict.fromkeys(r.objective for r in rows):
        lines += [f"## {obj}: {unit.get(obj, obj)}", "",
                  "| method | runs | feasible | no solution | infeasible | errors | timeouts "
                  "| mean value | mean gap | worst gap | gap basis | certified gap "
                  "| median time |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
        for s in summarize([r for r in rows if r.objective == obj]):
            mean = "-" if s.mean_value is None else f"{s.mean_value:.6g}"
            lines.append(f"| {s.method} | {s.runs} | {s.feasible / s.runs:.0%} | "
                         f"{s.no_solution} | {s.infeasible} | {s.errors} | {s.timeouts} | "
                         f"{mean} | {_pct(s.mean_gap)} | {_pct(s.worst_gap)} | {s.basis} | "
                         f"{_pct(s.mean_certified_gap)} | {_time(s.median_time_s)} |")
        lines.append("")
    return lines


def _caveats(rows: Sequence[Row]) -> list[str]:
    """Instances with no feasible run, values below a reference optimum, runs past their
    time limit, failed runs."""
    lines = []
    none = sorted({(r.instance, r.objective) for r in rows if r.best_known is None})
    if none:
        lines += ["## No feasible run (gap undefined)", ""]
        lines += [f"- {inst} ({obj})" for inst, obj in none] + [""]
    below = [r for r in rows if r.gap_basis == REFERENCE and r.gap is not None
             and r.gap < -BELOW_REFERENCE_RTOL]
    if below:
        lines += ["## Warning: checked values below the reference optimum", "",
                  "These contradict reference.json: the reference or the checker is wrong.", ""]
        lines += [f"- {_run(r)}: gap {r.gap:.3e}" for r in below] + [""]
    late = [r for r in rows if past_limit(r)]
    if late:
        lines += ["## Runs past the time limit", "",
                  f"Wall time above the limit by more than {OVER_LIMIT_SHARE:.0%} + "
                  f"{OVER_LIMIT_S:g} s (docs/exact.md says where HiGHS and SCIP overrun).",
                  ""]
        lines += _listed([f"- {_run(r)}: {r.wall_time_s:.1f} s for {r.time_limit_s:g} s"
                          for r in late]) + [""]
    failed = [r for r in rows if r.status in FAILED]
    if failed:
        lines += ["## Errors, timeouts and runs with no solution", ""]
        lines += _listed([f"- {_run(r)}: {r.status.value}: {r.message}"
                          for r in failed]) + [""]
    return lines


def _listed(items: list[str], limit: int = 50) -> list[str]:
    """The first `limit` lines of a list, and how many more results.csv has."""
    more = [f"- ... and {len(items) - limit} more (see results.csv)"] if len(items) > limit \
        else []
    return items[:limit] + more


def past_limit(r: Row) -> bool:
    """Whether the run took longer than its time limit allows (OVER_LIMIT_SHARE,
    OVER_LIMIT_S); never for a run without a limit."""
    return (r.time_limit_s is not None
            and r.wall_time_s > r.time_limit_s * (1 + OVER_LIMIT_SHARE) + OVER_LIMIT_S)


def _run(r: Row) -> str:
    return f"{r.method} on {r.instance} ({r.objective}, seed {r.seed})"


def _provenance(manifest: dict[str, Any]) -> list[str]:
    """Where the reference optima came from, the files skipped, and the sessions."""
    lines = []
    if manifest.get("reference_files"):
        lines += ["## Reference optima", ""]
        lines += [f"- {path}" + (f", made by `{cmd}`" if cmd else "")
                  for path, cmd in manifest["reference_files"].items()] + [""]
    if manifest.get("skipped"):
        lines += ["## Skipped files", ""]
        lines += [f"- {s['error']}" for s in manifest["skipped"]] + [""]
    sessions = manifest.get("sessions", [])
    if sessions:
        total = sum(s["elapsed_s"] for s in sessions)
        lines += ["## Sessions", "", f"Total wall time {total:.1f} s over {len(sessions)} "
                  "session(s):", ""]
        lines += [f"- {s['finished_utc']}: {s['runs']} runs in {s['elapsed_s']:.1f} s"
                  + (f" (`{s['command']}`)" if s.get("command") else "") for s in sessions]
        lines.append("")
    return lines
