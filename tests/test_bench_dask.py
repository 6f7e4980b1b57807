"""`mecopt bench --executor dask`: the same runs, rows, journal and --resume on a dask
cluster (a LocalCluster of two worker processes here)."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from mecopt import bench
from mecopt.cli.main import cli
from mecopt.errors import InputError

from conftest import INSTANCES

distributed = pytest.importorskip("distributed")

METHODS = ["greedy", "highs"]
OBJECTIVES = ["latency", "energy"]


def sleeper(instance, objective, *, time_limit, seed):
    """Ignores its time limit."""
    time.sleep(30)
    return np.zeros(instance.n_ues, dtype=int)


@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lib")
    for name in ("tiny-000", "tiny-001", "tiny-002"):
        shutil.copy(INSTANCES / "tiny" / f"{name}.json", folder / f"{name}.json")
    return folder


@pytest.fixture(scope="module")
def local_rows(lib, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    bench.run_bench([lib], METHODS, OBJECTIVES, out=out, workers=1)
    return out


def without_timings(value):
    """A row's fields with every timing (wall_time_s, and *_s inside extra) left out."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items()
                if k != "wall_time_s" and not k.endswith("_s")
                or k == "time_limit_s"}
    return value


def journal(out):
    return {bench.row_key(r): without_timings(r) for r in
            (json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines())}


def results(out):
    return {bench.row_key(r): without_timings(r)
            for r in json.loads((out / "results.json").read_text())}


def test_dask_runs_equal_the_local_runs(lib, local_rows, scheduler, tmp_path):
    out = tmp_path / "dask"
    report = bench.run_bench([lib], METHODS, OBJECTIVES, out=out, executor="dask",
                             scheduler=scheduler)
    assert report.new_runs == 12
    assert journal(out) == journal(local_rows) and len(journal(out)) == 12
    assert results(out) == results(local_rows)
    assert {r["status"] for r in journal(out).values()} == {"feasible", "optimal"}


def test_resume_after_a_partial_journal_under_dask(lib, local_rows, scheduler, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(local_rows, out)
    lines = (out / "runs.jsonl").read_text().splitlines()
    # As if killed mid-write: 5 rows finished, the sixth cut short.
    (out / "runs.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][:25])
    result = CliRunner().invoke(cli, [
        "bench", str(lib), "--methods", ",".join(METHODS), "--objectives", ",".join(OBJECTIVES),
        "--executor", "dask", "--scheduler", scheduler, "--out", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    assert "7 runs to do, 5 already" in result.output
    assert journal(out) == journal(local_rows)
    assert len((out / "runs.jsonl").read_text().splitlines()) == 12
    assert results(out) == results(local_rows)


def test_hard_stop_still_applies_on_a_worker(lib, scheduler, tmp_path):
    start = time.perf_counter()
    report = bench.run_bench([lib / "tiny-000.json"], [bench.MethodSpec("sleeper", sleeper),
                                                       "greedy"],
                             ["latency"], out=tmp_path / "out", time_limit=0.1, grace_s=0.3,
                             executor="dask", scheduler=scheduler)
    assert time.perf_counter() - start < 10
    rows = {r.method: r for r in report.rows}
    assert rows["sleeper"].status == "timeout" and "stopped by the harness" in \
        rows["sleeper"].message
    assert rows["greedy"].status == "feasible"


def test_without_the_extra_one_line_says_how_to_install(lib, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if absent
    with pytest.raises(InputError, match=r'pip install "mecopt\[dask\]"'):
        bench.run_bench([lib], ["greedy"], ["latency"], out=tmp_path / "out",
                        executor="dask")
    assert not (tmp_path / "out").exists()  # refused before anything was written
    result = CliRunner().invoke(cli, ["bench", str(lib), "-m", "greedy", "--executor", "dask",
                                      "--out", str(tmp_path / "cli")])
    assert result.exit_code == 2
    message = result.output.strip().splitlines()[-1]
    assert "pip install" in message and "dask" in message
    assert "--scheduler" in CliRunner().invoke(cli, ["bench", "--help"]).output
