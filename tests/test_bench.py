"""The benchmark harness (mecopt.bench) and `mecopt bench`."""

from __future__ import annotations

import csv
import json
import math
import shutil
import time

import numpy as np
import pytest
from click.testing import CliRunner

from mecopt import bench, registry
from mecopt.cli.main import cli
from mecopt.errors import InputError
from mecopt.method import Method
from mecopt.reference import save_reference
from mecopt.status import Status

from conftest import INSTANCES

TINY = INSTANCES / "tiny"
OUTPUTS = ("runs.jsonl", "bench.json", "results.csv", "results.json", "summary.md",
           "bars-latency.png", "bars-energy.png", "gap-vs-time.png")


class Boom(Method):
    """A method that always raises."""

    name = "boom"
    description = "raises"

    def _solve(self, instance, objective, *, time_limit, seed):
        raise RuntimeError("boom on purpose")


def boom_fn(instance, objective, *, time_limit, seed):
    """A callable method that raises outside Method's own error handling path."""
    raise ValueError("callable failed")


def sleeper(instance, objective, *, time_limit, seed):
    """Ignores its time limit."""
    time.sleep(30)
    return np.zeros(instance.n_ues, dtype=int)


def dawdler(instance, objective, *, time_limit, seed):
    """Answers all-local a second after any limit below it."""
    time.sleep(1.0)
    return np.zeros(instance.n_ues, dtype=int)


def tiny_copy(tmp_path, names=None):
    folder = tmp_path / "lib"
    folder.mkdir()
    for p in sorted(TINY.glob("tiny-*.json")):
        if names is None or p.stem in names:
            shutil.copy(p, folder / p.name)
    return folder


def test_small_bench_writes_all_outputs_with_gaps_to_brute_force(tmp_path, tiny_optima):
    # A reference.json made from the brute-force optima: every gap must be measured against it.
    lib = tiny_copy(tmp_path)
    optima = {}
    for (name, obj), (assignment, value) in tiny_optima.items():
        if assignment is not None:
            optima.setdefault(name, {})[obj] = {"value": value, "gap": 0.0, "time_s": 0.0}
    save_reference(lib / "reference.json", optima, command="brute force (tests/conftest.py)")

    report = bench.run_bench([lib], ["greedy", "local"], ["latency", "energy"],
                             out=tmp_path / "out", seeds=[0, 1])
    out = tmp_path / "out"
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 10 * 2 * 2 * 2 == report.new_runs
    with (out / "results.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)

    checked = 0
    for row in rows:
        assignment, best = tiny_optima[(row["instance"], row["objective"])]
        if assignment is None:  # tiny-008: nothing feasible, so no method may claim a value
            assert not row["feasible"] and row["gap"] is None and row["gap_basis"] is None
            continue
        assert row["gap_basis"] == "reference"
        assert row["best_known"] == pytest.approx(best, rel=1e-12)
        if row["feasible"]:
            assert row["gap"] == pytest.approx((row["objective_value"] - best) / best, abs=1e-12)
            assert row["gap"] >= -1e-9, f"{row['method']} beat the brute-force optimum: {row}"
            checked += 1
        else:
            assert row["gap"] is None
    assert checked >= 20
    summary = (out / "summary.md").read_text()
    assert "| greedy |" in summary and "| local |" in summary and "reference" in summary
    assert "tiny-008" in summary  # listed as having no feasible run
    assert "brute force (tests/conftest.py)" in summary  # where the reference came from
    assert "below the reference" not in summary


def test_values_below_a_wrong_reference_are_flagged_not_hidden(tmp_path):
    lib = tiny_copy(tmp_path, names={"tiny-000"})
    save_reference(lib / "reference.json", {"tiny-000": {"energy": {"value": 1e6}}},
                   command="made up")
    report = bench.run_bench([lib], ["greedy"], ["energy"], out=tmp_path / "out")
    assert report.rows[0].gap < 0  # not clipped to zero
    assert "below the reference optimum" in (tmp_path / "out" / "summary.md").read_text()


def test_runs_past_their_time_limit_are_listed(tmp_path):
    lib = tiny_copy(tmp_path, names={"tiny-000"})
    specs = [bench.MethodSpec("dawdler", dawdler), bench.MethodSpec.parse("greedy")]
    report = bench.run_bench([lib], specs, ["energy"], out=tmp_path / "out", time_limit=0.2)
    late = [r for r in report.rows if bench.report.past_limit(r)]
    assert [r.method for r in late] == ["dawdler"] and late[0].wall_time_s >= 1.0
    summary = (tmp_path / "out" / "summary.md").read_text()
    section = summary.split("## Runs past the time limit")[1].split("##")[0]
    assert "dawdler on tiny-000" in section and "for 0.2 s" in section
    assert "greedy" not in section
    calm = bench.run_bench([lib], ["greedy"], ["energy"], out=tmp_path / "calm", time_limit=5)
    assert not any(bench.report.past_limit(r) for r in calm.rows)
    assert "past the time limit" not in (tmp_path / "calm" / "summary.md").read_text()


def test_best_found_basis_without_reference(tmp_path):
    report = bench.run_bench([TINY], ["greedy", "random"], ["energy"], out=tmp_path / "out")
    by_instance = {}
    for r in report.rows:
        if r.feasible:
            by_instance.setdefault(r.instance, []).append(r)
    assert by_instance
    for rs in by_instance.values():
        best = min(r.objective_value for r in rs)
        assert min(r.gap for r in rs) == 0.0
        for r in rs:
            assert r.gap_basis == "best found"
            assert r.gap == pytest.approx((r.objective_value - best) / best)


def test_raising_methods_become_error_rows_and_the_rest_run(tmp_path):
    specs = [bench.MethodSpec("boom", Boom), bench.MethodSpec("boom_fn", boom_fn),
             bench.MethodSpec.parse("greedy")]
    report = bench.run_bench([TINY], specs, ["latency"], out=tmp_path / "out")
    rows = report.rows
    assert len(rows) == 3 * 10
    for label, text in (("boom", "boom on purpose"), ("boom_fn", "callable failed")):
        mine = [r for r in rows if r.method == label]
        assert len(mine) == 10
        # tiny-008 is proven infeasible before any method runs (Method.solve's screen).
        assert all(r.status == "error" and not r.feasible and text in r.message
                   for r in mine if r.instance != "tiny-008")
        assert [r.status for r in mine if r.instance == "tiny-008"] == ["infeasible"]
    greedy = [r for r in rows if r.method == "greedy"]
    assert sum(r.feasible for r in greedy) == 9  # all but the infeasible tiny-008
    assert "boom on purpose" in (tmp_path / "out" / "summary.md").read_text()


def test_run_that_ignores_its_time_limit_is_stopped_as_timeout(tmp_path):
    lib = tiny_copy(tmp_path, names={"tiny-000"})
    start = time.perf_counter()
    report = bench.run_bench([lib], [bench.MethodSpec("sleeper", sleeper), "greedy"],
                             ["latency"], out=tmp_path / "out", time_limit=0.1, grace_s=0.3)
    assert time.perf_counter() - start < 10
    status = {r.method: r.status for r in report.rows}
    assert status == {"sleeper": "timeout", "greedy": "feasible"}


def test_resume_does_not_repeat_finished_runs(tmp_path):
    out = tmp_path / "out"
    first = bench.run_bench([TINY], ["greedy"], ["latency"], out=out)
    assert first.new_runs == 10
    with pytest.raises(InputError, match="not empty"):
        bench.run_bench([TINY], ["greedy"], ["latency"], out=out)
    again = bench.run_bench([TINY], ["greedy", "local"], ["latency"], out=out, resume=True)
    assert again.new_runs == 10  # only local's runs are new
    lines = (out / "runs.jsonl").read_text().splitlines()
    keys = [bench.row_key(json.loads(line)) for line in lines]
    assert len(keys) == len(set(keys)) == 20
    # A different time limit for the same label would mix incomparable runs: refused.
    with pytest.raises(InputError, match="time-limit"):
        bench.run_bench([TINY], ["greedy"], ["latency"], out=out, resume=True, time_limit=5)


def test_interrupted_journal_resumes_cleanly(tmp_path):
    out = tmp_path / "out"
    bench.run_bench([TINY], ["greedy"], ["latency"], out=out)
    journal = out / "runs.jsonl"
    lines = journal.read_text().splitlines()
    # As if killed mid-write: 4 rows finished, the fifth cut short.
    journal.write_text("\n".join(lines[:4]) + "\n" + lines[4][:25])
    report = bench.run_bench([TINY], ["greedy"], ["latency"], out=out, resume=True)
    assert report.new_runs == 6
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sorted(r["instance"] for r in rows) == [f"tiny-{i:03d}" for i in range(10)]


def test_malformed_file_in_folder_is_reported_and_skipped(tmp_path):
    lib = tiny_copy(tmp_path, names={"tiny-000", "tiny-001"})
    (lib / "broken.json").write_text('{"format": "mecopt-instance", "version": 1,')
    bad = json.loads((lib / "tiny-001.json").read_text())
    bad["ues"]["cycles"][0] = -1
    (lib / "negative.json").write_text(json.dumps(bad))
    col = bench.collect_instances([lib])
    assert [inst.name for inst, _ in col.instances] == ["tiny-000", "tiny-001"]
    reasons = dict(col.skipped)
    assert set(reasons) == {str(lib / "broken.json"), str(lib / "negative.json")}
    assert "malformed JSON" in reasons[str(lib / "broken.json")]
    assert "cycles" in reasons[str(lib / "negative.json")]
    assert all("\n" not in r for r in reasons.values())

    report = bench.run_bench([lib], ["greedy"], ["latency"], out=tmp_path / "out")
    assert report.new_runs == 2
    assert "broken.json" in (tmp_path / "out" / "summary.md").read_text()


def test_workers_give_the_same_results_as_one_process(tmp_path):
    lib = tiny_copy(tmp_path, names={f"tiny-00{i}" for i in range(4)})
    one = bench.run_bench([lib], ["greedy", "random"], ["latency"], out=tmp_path / "a",
                          seeds=[0, 1])
    two = bench.run_bench([lib], ["greedy", "random"], ["latency"], out=tmp_path / "b",
                          seeds=[0, 1], workers=2)

    def values(report):
        return {r.key: r.objective_value for r in report.rows}

    assert values(one) == values(two) and len(values(one)) == 16


def test_method_specs():
    spec = bench.MethodSpec.parse("lambo_s=lambo:decode=sampling:samples=8")
    assert (spec.label, spec.method, spec.options) == (
        "lambo_s", "lambo", {"decode": "sampling", "samples": "8"})
    assert bench.MethodSpec.parse("random:tries=5").label == "random:tries=5"
    with pytest.raises(InputError, match="twice"):
        bench.parse_methods("greedy,greedy")
    with pytest.raises(InputError, match="nosuch"):
        bench.MethodSpec.parse("nosuch").check()
    with pytest.raises(InputError, match="tries"):
        bench.MethodSpec.parse("random:tries=zero").check()
    assert bench.parse_seeds("0, 2,2") == [0, 2]
    with pytest.raises(InputError, match="seeds"):
        bench.parse_seeds("a")
    with pytest.raises(InputError, match="option 'orders' given twice"):
        bench.MethodSpec.parse("greedy:orders=all:orders=one")  # the last one won, silently
    with pytest.raises(InputError, match=r"seed: expected an integer in \[0, 2\^63\)"):
        bench.parse_seeds("1,-1")


def test_cli_bench_resume_and_refusal(tmp_path, monkeypatch):
    # A registered method that raises, by name, through the CLI.
    monkeypatch.setitem(registry.BUILTIN, "boom", f"{__name__}:Boom")
    lib = tiny_copy(tmp_path, names={"tiny-000", "tiny-001", "tiny-002"})
    (lib / "junk.json").write_text("[]")
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["bench", str(lib), "--methods", "greedy,local,boom", "--objectives",
            "latency,energy", "--seeds", "0", "--out", str(out)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "junk.json" in result.output
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 3 * 3 * 2
    assert {r["status"] for r in rows if r["method"] == "boom"} == {"error"}

    result = runner.invoke(cli, args)
    assert result.exit_code == 2 and "not empty" in result.output
    result = runner.invoke(cli, [*args, "--resume"])
    assert result.exit_code == 0 and "0 runs to do" in result.output
    assert len((out / "runs.jsonl").read_text().splitlines()) == 18
    result = runner.invoke(cli, [*args, "--force"])
    assert result.exit_code == 0 and "18 runs to do" in result.output

    result = runner.invoke(cli, ["bench", str(lib), "--methods", "nosuch", "--out",
                                 str(tmp_path / "x")])
    assert result.exit_code == 2 and "nosuch" in result.output
    assert "Traceback" not in result.output


def test_plots_survive_a_method_with_no_feasible_run(tmp_path):
    lib = tiny_copy(tmp_path, names={"tiny-008"})  # infeasible for both objectives
    report = bench.run_bench([lib], ["greedy", "local"], ["latency", "energy"],
                             out=tmp_path / "out")
    assert all(not r.feasible and r.gap is None for r in report.rows)
    assert (tmp_path / "out" / "bars-latency.png").stat().st_size > 0
    assert not any(isinstance(r.gap, float) and math.isnan(r.gap) for r in report.rows)


def test_workers_refuse_a_method_that_cannot_reach_them(tmp_path):
    def local_fn(instance, objective, *, time_limit, seed):
        return np.zeros(instance.n_ues, dtype=int)

    with pytest.raises(InputError, match="worker"):
        bench.run_bench([TINY], [bench.MethodSpec("inner", local_fn)], ["latency"],
                        out=tmp_path / "out", workers=2)


def test_bound_gives_every_feasible_run_a_certified_gap(tmp_path, tiny_optima):
    report = bench.run_bench([TINY], ["greedy", "random"], ["energy"], out=tmp_path / "out",
                             bound=True)
    for r in report.rows:
        if not r.feasible:
            assert r.certified_gap is None
            continue
        # The bound is valid: the certified gap is at least the gap to the true optimum.
        assert r.bound <= tiny_optima[(r.instance, "energy")][1] * (1 + 1e-9)
        assert r.certified_gap >= r.gap / (1 + r.gap) - 1e-9
    statuses = {r.status for r in report.rows if r.instance == "tiny-008"}
    assert statuses == {Status.INFEASIBLE}  # proven, by a certificate
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "certified gap" in summary and "no solution" in summary


def test_row_writes_back_the_files_it_was_read_from(tmp_path):
    # The typed row changes nothing on disk: a journal line and a results row read into a
    # Row give back the same text, and results.csv is rebuilt byte for byte.
    lib = tiny_copy(tmp_path, names={"tiny-000", "tiny-008"})  # tiny-008: bound inf
    out = tmp_path / "out"
    specs = [bench.MethodSpec("boom", Boom), "greedy", "random"]
    bench.run_bench([lib], specs, ["latency", "energy"], out=out, bound=True)
    for line in (out / "runs.jsonl").read_text().splitlines():
        assert json.dumps(bench.Row.from_dict(json.loads(line)).to_dict(gaps=False)) == line
    results = (out / "results.json").read_text()
    assert bench.to_json([bench.Row.from_dict(d) for d in json.loads(results)]) == results
    rows, _ = bench.load_results(out)
    assert bench.to_csv(rows) == (out / "results.csv").read_text()
    assert {(r.instance, r.status) for r in rows if r.method == "boom"} == {
        ("tiny-000", Status.ERROR), ("tiny-008", Status.INFEASIBLE)}  # proven before it runs


def test_gap_functions_shared_with_the_benchmark_scripts():
    assert bench.relative_gap(1.1, 1.0) == pytest.approx(0.1)
    assert bench.relative_gap(-0.9, -1.0) == pytest.approx(0.1)  # measured on |best|
    known = bench.best_known([("a", 3.0), ("a", 2.0), ("b", 5.0)], {"b": 4.0, "c": 1.0})
    assert known == {"a": (2.0, bench.BEST_FOUND), "b": (4.0, bench.REFERENCE),
                     "c": (1.0, bench.REFERENCE)}
    summary = bench.GapSummary.of([0.1, None, 0.3])
    assert (summary.count, summary.mean, summary.worst) == (2, pytest.approx(0.2), 0.3)
    assert summary.cells() == "  20.000%   30.000%"
    assert bench.GapSummary.of([None]).cells(digits=4) == "        -         -"
    assert bench.percent(None) is None and bench.percent(0.25) == 25.0
