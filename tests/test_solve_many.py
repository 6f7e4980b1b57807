"""Many instances in one process: `solve_many` and `mecopt solve` over files, folders and a
JSONL stream on stdin (mecopt.batch)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import mecopt
from mecopt.cli.main import cli
from mecopt.errors import InputError
from mecopt.learned.lambo_method import LamboMethod

from conftest import INSTANCES, library

PAPER0 = str(INSTANCES / "paper" / "paper-000.json")
HETERO = INSTANCES / "hetero"


def decision(sol: mecopt.Solution) -> dict:
    """What a solve decides and reports, without its wall times."""
    d = sol.to_dict()
    d.pop("wall_time_s")
    d["extra"] = {k: v for k, v in d["extra"].items() if not k.endswith("_s")}
    return d


def jsonl(instances: list[mecopt.Instance]) -> str:
    return "".join(json.dumps(i.to_dict()) + "\n" for i in instances)


@pytest.fixture
def runner():
    return CliRunner()


def test_files_folder_and_stdin_in_input_order(runner):
    streamed = [mecopt.generate("paper", seed=7, name="streamed-7"),
                mecopt.generate("hetero", seed=8, name="streamed-8")]
    res = runner.invoke(cli, ["solve", PAPER0, str(HETERO), "-", "--objective", "energy"],
                        input=jsonl(streamed))
    assert res.exit_code == 0, res.output
    records = [json.loads(line) for line in res.stdout.splitlines()]
    folder = [mecopt.Instance.load(p) for p in sorted(HETERO.glob("hetero-*.json"))]
    expected = [mecopt.Instance.load(PAPER0), *folder, *streamed]
    assert [r["instance"] for r in records] == [i.name for i in expected]  # no reference.json
    for rec, inst in zip(records, expected, strict=True):
        alone = mecopt.solve(inst, "energy", "greedy")
        assert rec["assignment"] == alone.assignment and rec["status"] == "feasible"
    stderr = res.stderr.splitlines()
    assert len(stderr) == len(expected) + 1 and stderr[0].startswith("paper-000: greedy:")
    assert f"{len(expected)} instances, 0 failed" in stderr[-1]


def test_one_file_keeps_the_single_solution_json(runner):
    res = runner.invoke(cli, ["solve", PAPER0])
    assert res.exit_code == 0 and res.stdout.startswith("{\n")  # indented, as before
    assert json.loads(res.stdout)["instance"] == "paper-000"


def test_a_bad_record_in_the_middle_fails_alone(runner):
    good = library("paper")[:2]
    nan = good[0].to_dict()
    nan["name"] = "with-nan"
    nan["ues"]["cycles"][3] = float("nan")
    shapes = {**good[0].to_dict(), "name": "bad-shape", "rate_bps": [[1.0]]}
    lines = [json.dumps(good[0].to_dict()), '{"format": "mecopt-instance", "ues": [1,',
             json.dumps(nan), "", json.dumps(shapes), json.dumps(good[1].to_dict())]
    res = runner.invoke(cli, ["solve", "-"], input="\n".join(lines) + "\n")
    assert res.exit_code == 1
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["status"] for r in records] == ["feasible", "error", "error", "error", "feasible"]
    assert [r["instance"] for r in records] == ["paper-000", "stdin line 2", "with-nan",
                                                "bad-shape", "paper-001"]
    messages = [r["message"] for r in records[1:4]]
    assert messages[0].startswith("stdin line 2: malformed JSON at column")
    assert messages[1] == "stdin line 3: ues.cycles[3] (UE 3): not a finite number (nan)"
    assert messages[2].startswith("stdin line 5: rate_bps: expected shape [50, 4]")
    assert all("\n" not in m for m in messages)
    assert "5 instances, 3 failed" in res.stderr
    assert "Traceback" not in res.output


def test_a_jsonl_file_is_read_line_by_line(runner, tmp_path):
    good = library("paper")[:2]
    path = tmp_path / "snapshots.jsonl"
    path.write_text(jsonl(good[:1]) + "{\n" + jsonl(good[1:]))
    res = runner.invoke(cli, ["solve", str(path), "--objective", "energy"])
    assert res.exit_code == 1
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["status"] for r in records] == ["feasible", "error", "feasible"]
    assert records[1]["message"].startswith(f"{path} line 2: malformed JSON at column")


def test_output_folder_one_file_each_and_never_overwritten(runner, tmp_path):
    out = tmp_path / "sols"
    res = runner.invoke(cli, ["solve", str(HETERO), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"hetero-{k:03d}.json" for k in range(20)]
    sol = mecopt.Solution.load(out / "hetero-003.json")
    alone = mecopt.solve(mecopt.Instance.load(HETERO / "hetero-003.json"), "latency", "greedy")
    assert decision(sol) == decision(alone)
    # A second run would overwrite the user's files: refused before anything is solved.
    (out / "hetero-003.json").write_text("precious")
    (out / "hetero-000.json").unlink()
    res = runner.invoke(cli, ["solve", str(HETERO), "-o", str(out)])
    assert res.exit_code == 2 and "--force" in res.stderr
    assert "hetero-001.json exists" in res.stderr  # the first one, named
    assert res.stderr.strip().splitlines()[-1].startswith("Error: ")  # one line, as for one file
    assert "greedy:" not in res.stderr and "Traceback" not in res.output  # nothing solved
    assert (out / "hetero-003.json").read_text() == "precious"
    assert not (out / "hetero-000.json").exists()
    res = runner.invoke(cli, ["solve", str(HETERO), "-o", str(out), "--force"])
    assert res.exit_code == 0 and mecopt.Solution.load(out / "hetero-003.json").feasible


def test_output_folder_refuses_a_file_and_shared_names(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = runner.invoke(cli, ["solve", PAPER0, PAPER0, "-o", str(blocker)])
    assert res.exit_code == 2 and "is not a folder" in res.stderr
    res = runner.invoke(cli, ["solve", PAPER0, PAPER0, "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "inputs 1 and 2 are both named 'paper-000'" in res.stderr
    assert not (tmp_path / "out").exists()


def test_bad_method_fails_before_anything_is_solved(runner, tmp_path):
    res = runner.invoke(cli, ["solve", PAPER0, PAPER0, "--method", "nope"])
    assert res.exit_code == 2 and "method: unknown 'nope'" in res.stderr
    assert res.stdout == ""
    res = runner.invoke(cli, ["solve", str(HETERO), "-o", str(tmp_path / "out"), "--option",
                              "nope=1"])
    assert res.exit_code == 2 and "option nope: unknown for method 'greedy'" in res.stderr
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="option tries"):
        mecopt.solve_many([PAPER0], "latency", "random", tries="x")


def test_solve_many_takes_instances_json_and_paths():
    inst = mecopt.Instance.load(PAPER0)
    sols = mecopt.solve_many([inst, inst.to_dict(), PAPER0, {"format": "nope"},
                              HETERO / "missing.json"], "latency", "greedy")
    assert [s.status for s in sols] == ["feasible"] * 3 + ["error"] * 2
    assert sols[0].assignment == sols[1].assignment == sols[2].assignment
    assert sols[3].message == "instance 3: format: expected 'mecopt-instance', got 'nope'"
    assert sols[4].instance == "missing" and "cannot read" in sols[4].message


def picky(instance, objective, *, time_limit, seed):
    """A method that rejects one instance by its input."""
    if instance.name == "paper-001":
        raise InputError("ues: this method wants no paper-001")
    return np.zeros(instance.n_ues, dtype=int)


def test_a_method_input_error_fails_only_that_instance():
    sols = mecopt.solve_many(library("paper")[:3], "latency", picky)
    assert [s.status for s in sols] == ["feasible", "error", "feasible"]
    assert sols[1].message == "paper-001: ues: this method wants no paper-001"


def test_workers_give_the_same_solutions():
    items = [*library("hetero")[:3], {"format": "mecopt-instance"}, *library("paper")[:2]]
    one = mecopt.solve_many(items, "energy", "greedy")
    two = mecopt.solve_many(items, "energy", "greedy", workers=2)
    assert [decision(s) for s in two] == [decision(s) for s in one]
    assert one[3].status == "error"
    with pytest.raises(InputError, match="worker process"):
        mecopt.solve_many(items, "energy", lambda i, o, **_: np.zeros(i.n_ues, int), workers=2)


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_lambo_decodes_in_batches_with_the_decisions_it_gives_alone(objective, monkeypatch):
    insts = library("hetero") + library("paper")[:4]
    passes = []
    decode = LamboMethod._decode

    def counted(self, instances, *args):
        passes.append(len(instances))
        return decode(self, instances, *args)

    monkeypatch.setattr(LamboMethod, "_decode", counted)
    together = mecopt.solve_many(insts, objective, "lambo")
    assert sum(passes) == len(insts) and len(passes) < len(insts) / 4, passes
    for sol, inst in zip(together, insts, strict=True):
        alone = mecopt.solve(inst, objective, "lambo")
        assert sol.instance == inst.name and sol.status == alone.status == "feasible"
        assert sol.assignment == alone.assignment, inst.name
        assert sol.extra["allocation"] == alone.extra["allocation"]
        assert sol.objective_value == pytest.approx(alone.objective_value, rel=1e-6)
        assert sol.wall_time_s > 0


def test_lambo_batched_polish_equals_one_by_one():
    insts = library("hetero")[:4]
    together = mecopt.solve_many(insts, "latency", "lambo", polish=True)
    alone = [mecopt.solve(i, "latency", "lambo", polish=True) for i in insts]
    assert [s.assignment for s in together] == [s.assignment for s in alone]
    assert [s.extra["value_decoded"] for s in together] == pytest.approx(
        [s.extra["value_decoded"] for s in alone], rel=1e-9)


def test_lambo_sampled_decodes_are_seeded_per_instance():
    # Sampling draws from one generator per pass, so these go one by one: same as alone.
    insts = library("paper")[:3]
    together = mecopt.solve_many(insts, "latency", "lambo", samples=4, seed=5)
    alone = [mecopt.solve(i, "latency", "lambo", samples=4, seed=5) for i in insts]
    assert [s.assignment for s in together] == [s.assignment for s in alone]


def test_a_long_instance_name_is_a_file_name_the_system_takes(runner, tmp_path):
    # A 300-character name was an OSError traceback ("File name too long").
    from mecopt.batch import file_name

    long = "x" * 300
    assert len(file_name(long).encode()) < 200 and file_name(long) != file_name(long + "y")
    folder = tmp_path / "in"
    folder.mkdir()
    for k, name in enumerate([long, long + "y"]):
        mecopt.generate("paper", 5, 2, seed=k, name=name).save(folder / f"{k}.json")
    res = runner.invoke(cli, ["solve", str(folder), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "out").glob("*.json"))) == 2
