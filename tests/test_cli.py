"""The CLI through click's CliRunner."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

import mecopt
from mecopt.cli.main import cli

from conftest import INSTANCES, ROOT

PAPER0 = str(INSTANCES / "paper" / "paper-000.json")


@pytest.fixture
def runner():
    return CliRunner()


def test_solve_then_evaluate(runner, tmp_path):
    out = tmp_path / "sol.json"
    res = runner.invoke(cli, ["solve", PAPER0, "--method", "greedy", "-o", str(out)])
    assert res.exit_code == 0, res.output
    sol = json.loads(out.read_text())
    assert sol["status"] == "feasible" and sol["method"] == "greedy"
    res = runner.invoke(cli, ["evaluate", PAPER0, str(out)])
    assert res.exit_code == 0 and "feasible" in res.output and "agrees" in res.output


def test_solve_prints_json_to_stdout(runner):
    res = runner.invoke(cli, ["solve", PAPER0, "--prompt", "Minimum energy"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["objective"] == "energy"
    assert "greedy: feasible" in res.stderr


def test_evaluate_exits_1_on_infeasible(runner, tmp_path):
    sol = mecopt.solve(mecopt.Instance.load(PAPER0), "latency", "greedy")
    sol.assignment = [1] * 50  # everything on server 1: over capacity
    sol.allocation_hz = [1e9] * 50
    path = tmp_path / "bad.json"
    sol.save(path)
    res = runner.invoke(cli, ["evaluate", PAPER0, str(path)])
    assert res.exit_code == 1 and "capacity: server 1" in res.output


def one_line(res) -> str:
    """The error of a run with bad input: exit code 2 and a single `Error: ...` line on
    stderr (no usage text, no traceback)."""
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    return lines[0]


def test_bad_instance_file_is_one_line(runner, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = runner.invoke(cli, ["solve", str(bad)])
    assert "malformed JSON" in one_line(res) and "Traceback" not in res.output
    bad.write_text(json.dumps({**json.loads(open(PAPER0).read()), "rate_bps": [[1.0]]}))
    res = runner.invoke(cli, ["solve", str(bad)])
    assert "rate_bps: expected shape [50, 4]" in one_line(res)


def test_bad_method_and_option(runner):
    res = runner.invoke(cli, ["solve", PAPER0, "--method", "nope"])
    assert "method: unknown 'nope'; valid:" in one_line(res)
    res = runner.invoke(cli, ["solve", PAPER0, "--method", "random", "--option", "tries=x"])
    assert "option tries: expected int" in one_line(res)
    res = runner.invoke(cli, ["solve", PAPER0, "--option", "tries"])
    assert "expected KEY=VALUE" in one_line(res)
    # solve's own parameters given as options were a TypeError's traceback
    res = runner.invoke(cli, ["solve", PAPER0, "--option", "time_limit=5"])
    assert "--option time_limit: not a method option; use --time-limit" in one_line(res)
    res = runner.invoke(cli, ["solve", PAPER0, PAPER0, "--option", "seed=1"])
    assert "--option seed: not a method option; use --seed" in one_line(res)
    res = runner.invoke(cli, ["solve", PAPER0, "--option", "orders=all", "--option",
                              "orders=one"])
    assert "--option orders: given twice" in one_line(res)
    res = runner.invoke(cli, ["solve", PAPER0, "--prompt", "maximum fun"])
    assert "accepted" in one_line(res)
    res = runner.invoke(cli, ["solve", PAPER0, "--objective", "speed"])  # click's own choice
    assert "'--objective'" in one_line(res) and "'latency', 'energy'" in res.stderr
    res = runner.invoke(cli, ["solve", "missing.json"])  # click's own path check
    assert "does not exist" in one_line(res)
    res = runner.invoke(cli, ["solve"])  # a command line that does not parse: usage lines
    assert res.exit_code == 2 and "Usage:" in res.stderr


def test_output_is_never_overwritten(runner, tmp_path):
    out = tmp_path / "keep.json"
    out.write_text("precious")
    res = runner.invoke(cli, ["solve", PAPER0, "-o", str(out)])
    assert "--force" in one_line(res)
    assert out.read_text() == "precious"
    res = runner.invoke(cli, ["solve", PAPER0, "-o", str(out), "--force"])
    assert res.exit_code == 0 and json.loads(out.read_text())["status"] == "feasible"


def test_unwritable_output(runner, tmp_path):
    # A path under a regular file cannot be created, whoever runs the test.
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = runner.invoke(cli, ["solve", PAPER0, "-o", str(blocker / "x.json")])
    assert "cannot write" in one_line(res)
    assert "Traceback" not in res.output


def test_generate_reproduces_the_library(runner):
    res = runner.invoke(cli, ["generate", "--family", "paper", "--seed", "0"])
    assert res.exit_code == 0
    assert res.stdout == open(PAPER0).read()


def test_methods_and_version(runner):
    res = runner.invoke(cli, ["methods"])
    assert res.exit_code == 0 and "greedy" in res.output and "available" in res.output
    res = runner.invoke(cli, ["--version"])
    assert mecopt.__version__ in res.output


def test_methods_lists_options_with_their_domains(runner):
    res = runner.invoke(cli, ["methods", "--options"])
    assert res.exit_code == 0
    assert "tries (int >= 1, default 100): random draws before giving up" in res.output
    assert "gap (float in [0, 1), default 1e-06)" in res.output
    assert "coding (str in {integer, keys}, default 'integer')" in res.output
    assert "tries" not in runner.invoke(cli, ["methods"]).output


def test_make_library(runner, tmp_path):
    res = runner.invoke(cli, ["make-library", str(tmp_path)])
    assert res.exit_code == 0
    assert (tmp_path / "tiny" / "tiny-000.json").read_text() == (
        INSTANCES / "tiny" / "tiny-000.json").read_text()


def test_python_dash_m_runs_the_same_cli():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "mecopt.cli", "methods"], capture_output=True,
                         text=True, check=True).stdout
    assert "greedy" in out and "highs" in out


def test_every_command_is_in_the_lazy_table():
    """Each module under cli/ defines exactly the commands COMMANDS gives it, so `--help`
    lists every command and `mecopt NAME` finds it without importing the other modules."""
    import ast

    from mecopt.cli.main import COMMANDS

    defined = {}
    for path in sorted((ROOT / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                        and ast.unparse(deco.func) == "cli.command"):
                    name = deco.args[0].value if deco.args else node.name.replace("_", "-")
                    defined[name] = path.stem
    assert defined == COMMANDS
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(COMMANDS)
    assert all(cli.get_command(ctx, name).name == name for name in COMMANDS)


@pytest.mark.parametrize("args,exists", [
    (["train", "--preset", "lambo-s", "--steps", "1", "-o", "{d}/x.pt"], "x.pt"),
    (["train", "--preset", "lambo-s", "--steps", "1", "-o", "{d}/x.pt"], "x.png"),
    (["finetune", "--scenario", "density", "-o", "{d}/x.pt"], "x.json"),
    (["train-baseline", "droo", "--frames", "10", "-o", "{d}/x.pt"], "x.pt"),
])
def test_training_commands_never_overwrite_an_output(runner, tmp_path, args, exists):
    # They overwrote a checkpoint (and finetune its report and plot) without a word.
    (tmp_path / exists).write_text("precious")
    res = runner.invoke(cli, [a.format(d=tmp_path) for a in args])
    assert f"{exists} exists; pass --force to overwrite it" in one_line(res)
    assert (tmp_path / exists).read_text() == "precious"


def test_make_library_keeps_an_edited_instance(runner, tmp_path):
    assert runner.invoke(cli, ["make-library", str(tmp_path)]).exit_code == 0
    again = runner.invoke(cli, ["make-library", str(tmp_path)])  # unchanged: rewritten
    assert again.exit_code == 0
    edited = tmp_path / "paper" / "paper-003.json"
    edited.write_text("{}")
    res = runner.invoke(cli, ["make-library", str(tmp_path)])
    assert "paper-003.json differs from the library's (1 of its files do)" in one_line(res)
    assert edited.read_text() == "{}"
    assert runner.invoke(cli, ["make-library", str(tmp_path), "--force"]).exit_code == 0
    assert edited.read_text() != "{}"
