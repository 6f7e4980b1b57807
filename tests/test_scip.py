"""`scip`: the independent global MINLP check of `highs`, and its optional install."""

from __future__ import annotations

import importlib.util

import pytest
from click.testing import CliRunner

import mecopt
from mecopt.cli.main import cli
from mecopt.errors import InputError
from mecopt.solvers.scip import INSTALL_HINT, ScipMethod


@pytest.mark.parametrize("objective", ["latency", "energy"])
@pytest.mark.parametrize("family, n_ues, seed", [("paper", 6, 0), ("paper", 6, 1),
                                                 ("hetero", 7, 0), ("hetero", 7, 1)])
def test_highs_and_scip_agree(family, n_ues, seed, objective):
    pytest.importorskip("pyscipopt")
    inst = mecopt.generate(family, n_ues=n_ues, n_servers=2, seed=seed)
    exact = mecopt.solve(inst, objective, "highs")
    check = mecopt.solve(inst, objective, "scip", time_limit=60)
    assert exact.status == "optimal" and check.status == "optimal", check.message
    # Both proven within a relative gap of 1e-6, so they agree within twice that.
    assert check.objective_value == pytest.approx(exact.objective_value, rel=2e-6)
    assert check.bound <= exact.objective_value * (1 + 1e-6)
    assert exact.bound <= check.objective_value * (1 + 1e-6)


def test_scip_reports_an_infeasible_instance(tiny_instances):
    pytest.importorskip("pyscipopt")
    inst = next(i for i in tiny_instances if i.name == "tiny-008")
    sol = mecopt.solve(inst, "energy", "scip")
    assert sol.status == "infeasible"
    assert sol.message.startswith("proven infeasible")


def test_without_pyscipopt_scip_is_unavailable_with_the_install_hint(monkeypatch,
                                                                      tiny_instances):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyscipopt" else real(name, *a))
    assert ScipMethod.availability() == (False, INSTALL_HINT)
    with pytest.raises(InputError, match=r'pip install "mecopt\[scip\]"') as err:
        mecopt.solve(tiny_instances[0], "latency", "scip")
    assert "\n" not in str(err.value)
    listing = CliRunner().invoke(cli, ["methods"]).output
    line = next(row for row in listing.splitlines() if row.startswith("scip "))
    assert "unavailable" in line and 'pip install "mecopt[scip]"' in line


def test_building_the_model_counts_against_the_time_limit():
    pytest.importorskip("pyscipopt")
    inst = mecopt.generate("hetero", n_ues=60, n_servers=4, seed=3)
    sol = mecopt.solve(inst, "latency", "scip", time_limit=1e-6)
    assert sol.status == "timeout"
    assert "the time limit passed while Pyomo built the model (60 UEs x 4 servers)" \
        in sol.message
