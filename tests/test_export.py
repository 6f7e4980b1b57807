"""`mecopt export`: model files that other solvers read back to the same optimum."""

from __future__ import annotations

import highspy
import pytest
from click.testing import CliRunner

import mecopt
from mecopt.cli.export_command import export_model
from mecopt.cli.main import cli
from mecopt.errors import InputError
from mecopt.objective import Objective

NAME = "tiny-004"  # 8 UEs, 3 servers, capacity binds


@pytest.fixture(scope="module")
def inst(tiny_instances):
    return next(i for i in tiny_instances if i.name == NAME)


def export(inst, objective, path, *extra):
    return CliRunner().invoke(cli, ["export", str(inst), "--objective", objective, "-o",
                                    str(path), *extra])


@pytest.fixture
def inst_file(inst, tmp_path):
    path = tmp_path / f"{NAME}.json"
    inst.save(path)
    return path


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_energy_lp_and_mps_solve_in_highspy_to_the_optimum(inst, inst_file, tmp_path, suffix):
    out = tmp_path / f"model{suffix}"
    result = export(inst_file, "energy", out)
    assert result.exit_code == 0, result.output
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(out)) == highspy.HighsStatus.kOk
    h.setOptionValue("mip_rel_gap", 1e-9)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    best = mecopt.solve(inst, "energy", "highs").objective_value
    assert h.getInfo().objective_function_value == pytest.approx(best, rel=1e-7)


@pytest.mark.parametrize("suffix", [".nl", ".gms"])
@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_nl_and_gms_hold_both_models(inst_file, tmp_path, suffix, objective):
    out = tmp_path / f"model{suffix}"
    result = export(inst_file, objective, out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    if suffix == ".nl":
        assert text.startswith("g")  # the AMPL nl header
    else:
        assert "EQUATIONS" in text and "SOLVE GAMS_MODEL USING" in text.upper()


def test_latency_nl_read_by_scip_gives_the_highs_optimum(inst, tmp_path):
    pyscipopt = pytest.importorskip("pyscipopt")
    out = export_model(inst, Objective.LATENCY, tmp_path / "model.nl")
    model = pyscipopt.Model()
    model.hideOutput()
    model.readProblem(str(out))
    model.optimize()
    assert model.getStatus() == "optimal"
    best = mecopt.solve(inst, "latency", "highs").objective_value
    assert model.getObjVal() == pytest.approx(best, rel=1e-6)


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_linear_formats_refuse_the_latency_model_in_one_line(inst_file, tmp_path, suffix):
    out = tmp_path / f"model{suffix}"
    result = export(inst_file, "latency", out)
    assert result.exit_code == 2
    error = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error) == 1 and suffix in error[0] and ".nl" in error[0]
    assert not out.exists()


def test_unknown_suffix_and_overwrite_are_refused(inst, inst_file, tmp_path):
    with pytest.raises(InputError, match="unknown format '.txt'"):
        export_model(inst, "energy", tmp_path / "model.txt")
    out = tmp_path / "model.lp"
    out.write_text("keep me")
    result = export(inst_file, "energy", out)
    assert result.exit_code == 2 and "--force" in result.output
    assert out.read_text() == "keep me"
    assert export(inst_file, "energy", out, "--force").exit_code == 0
