"""`mecopt reference` and the shipped reference files."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import mecopt
from mecopt.cli.main import cli
from mecopt.reference import load_reference, optimum

from conftest import INSTANCES, library


def test_reference_of_tiny_matches_brute_force(tmp_path, tiny_optima):
    out = tmp_path / "reference.json"
    result = CliRunner().invoke(cli, ["reference", str(INSTANCES / "tiny"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    ref = load_reference(out)
    assert ref["solver"] == "highs"
    assert ref["command"] == f"mecopt reference {INSTANCES / 'tiny'} -o {out}"
    for (name, objective), (best, value) in tiny_optima.items():
        got = optimum(ref, name, objective)
        if best is None:
            assert got is None  # tiny-008: infeasible, so nothing proven to store
        else:
            assert got == pytest.approx(value, rel=1e-7)
            assert ref["optima"][name][objective]["gap"] <= 1e-6
    # Never silently overwritten.
    again = CliRunner().invoke(cli, ["reference", str(INSTANCES / "tiny"), "-o", str(out)])
    assert again.exit_code == 2 and "--force" in again.output


def test_reference_one_objective_and_files(tmp_path):
    files = [str(INSTANCES / "tiny" / f"tiny-00{k}.json") for k in (1, 2)]
    out = tmp_path / "ref.json"
    result = CliRunner().invoke(cli, ["reference", *files, "--objectives", "energy",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    ref = json.loads(out.read_text())
    assert sorted(ref["optima"]) == ["tiny-001", "tiny-002"]
    assert all(list(v) == ["energy"] for v in ref["optima"].values())
    assert "--objectives energy" in ref["command"]


def test_reference_update_adds_an_objective_and_keeps_what_was_there(tmp_path):
    files = [str(INSTANCES / "tiny" / f"tiny-00{k}.json") for k in (1, 2)]
    out = tmp_path / "ref.json"
    runner = CliRunner()
    assert runner.invoke(cli, ["reference", *files, "--objectives", "energy",
                               "-o", str(out)]).exit_code == 0
    first = load_reference(out)
    # A planted value shows that the kept entries are not solved again.
    first["optima"]["tiny-001"]["energy"]["value"] = 123.0
    out.write_text(json.dumps(first))
    result = runner.invoke(cli, ["reference", *files, "--objectives", "latency,energy",
                                 "-o", str(out), "--update"])
    assert result.exit_code == 0, result.output
    ref = load_reference(out)
    assert optimum(ref, "tiny-001", "energy") == 123.0
    for name in ("tiny-001", "tiny-002"):
        assert sorted(ref["optima"][name]) == ["energy", "latency"]
        sol = mecopt.solve(mecopt.Instance.load(INSTANCES / "tiny" / f"{name}.json"),
                           "latency", "highs")
        assert optimum(ref, name, "latency") == pytest.approx(sol.objective_value, rel=1e-7)
    assert ref["command"].startswith(first["command"] + " && ")
    assert ref["command"].endswith("--update")
    assert "4 of 4 optima" in result.output
    clash = runner.invoke(cli, ["reference", *files, "-o", str(out), "--update", "--force"])
    assert clash.exit_code == 2 and "at most one" in clash.output


@pytest.mark.parametrize("family", ["paper", "hetero", "large"])
def test_shipped_reference_files_are_complete(family):
    """Every instance has both optima, proven, made by the command the file names."""
    ref = load_reference(INSTANCES / family / "reference.json")
    assert ref["command"].startswith(f"mecopt reference instances/{family} ")
    assert sorted(ref["optima"]) == [i.name for i in library(family)]
    for entry in ref["optima"].values():
        assert set(entry) == {"latency", "energy"}
        assert all(e["gap"] <= 1e-6 for e in entry.values())


# large-004's energy MILP alone takes HiGHS about a minute, so large is in the slow suite.
@pytest.mark.parametrize("family", ["paper", "hetero",
                                    pytest.param("large", marks=pytest.mark.slow)])
def test_shipped_reference_files_agree_on_energy(family):
    """The energy optima (the fast objective) are re-solved to check them."""
    ref = load_reference(INSTANCES / family / "reference.json")
    for inst in library(family):
        sol = mecopt.solve(inst, "energy", "highs")
        assert sol.objective_value == pytest.approx(ref["optima"][inst.name]["energy"]["value"],
                                                    rel=1e-6)
