"""`scip`: the independent global MINLP check of `highs`, and its optional install."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
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


@pytest.mark.parametrize("limit", [float("inf"), 1e300])
def test_a_time_limit_beyond_scips_range_is_no_limit(limit):
    # SCIP takes limits/time in [0, 1e20]: these were an `error` status.
    pytest.importorskip("pyscipopt")
    inst = mecopt.generate("paper", n_ues=6, n_servers=2, seed=3)
    assert mecopt.solve(inst, "energy", "scip", time_limit=limit).status == "optimal"


def test_coefficients_beyond_scips_infinity_are_named():
    # Transmit powers of 1e30 W: "Exception: SCIP: error in input data!" was the message.
    pytest.importorskip("pyscipopt")
    inst = mecopt.generate("paper", n_ues=6, n_servers=2, seed=3)
    inst = inst.replace(tx_power_w=inst.tx_power_w * 1e30)
    sol = mecopt.solve(inst, "energy", "scip", time_limit=5)
    assert sol.status == "error" and "beyond its infinity, 1e+20" in sol.message
    assert mecopt.solve(inst, "energy", "highs", time_limit=5).status == "optimal"


def test_a_model_stops_building_when_its_deadline_passes(monkeypatch):
    # At 2,000 x 20 the whole build took 3.4 s past a 1e-4 s limit; it now stops between
    # the model's parts.
    import time

    from mecopt import formulation

    inst = mecopt.generate("hetero", n_ues=60, n_servers=4, seed=3)
    parts = []
    real = formulation.pyo.Constraint
    monkeypatch.setattr(formulation.pyo, "Constraint",
                        lambda *a, **k: parts.append(1) or real(*a, **k))
    with pytest.raises(formulation.BuildOutOfTime):
        formulation.build_model(inst, "energy", deadline=time.perf_counter() - 1)
    assert not parts
    whole = formulation.build_model(inst, "energy", deadline=time.perf_counter() + 600)
    assert len(parts) == 4 and whole.capacity[2].body is not None


def test_scip_printing_more_than_a_pipe_holds_does_not_hang():
    # Pyomo captures file descriptor 1 into a pipe that a Python thread drains, while
    # pyscipopt's optimize holds the GIL: SCIP writing more than the pipe holds straight to
    # the descriptor waited for that thread forever (a 742-UE energy run in a benchmark hung
    # on a printed row of a few thousand terms). Here SCIP prints its log on every node,
    # about 140 KB, with no time limit (the same log on every machine). Run in a fresh
    # process so that a regression fails at the timeout instead of hanging the suite.
    pytest.importorskip("pyscipopt")
    script = textwrap.dedent("""
        import mecopt
        from mecopt.formulation import build_model
        from mecopt.solvers.scip import _deadline_scip
        from mecopt.units import objective_unit
        inst = mecopt.generate("tight", seed=0)
        energy = mecopt.Objective.ENERGY
        model = build_model(inst, energy, unit=objective_unit(inst, energy))
        res = _deadline_scip(None).solve(
            model, load_solutions=False, raise_exception_on_nonoptimal_result=False,
            solver_options={"display/verblevel": 5, "display/freq": 1,
                            "display/headerfreq": 1, "randomization/randomseedshift": 0})
        print(len(res.solver_log), res.termination_condition.name)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    size, termination = done.stdout.split()
    assert int(size) > 2 ** 16 and termination == "convergenceCriteriaSatisfied"


def _must_offload(capacity_share: float, servers: int = 1) -> mecopt.Instance:
    """Ten UEs that must offload (local takes twice their deadline); server 1's capacity is
    `capacity_share` times what they need there together, the others have room for all."""
    rng = np.random.default_rng(4)
    n = 10
    cycles = rng.uniform(1e8, 1e9, n)
    inst = mecopt.Instance(name="must-offload", data_bits=rng.uniform(1e5, 1e6, n),
                           cycles=cycles, local_hz=np.full(n, 1e8), tx_power_w=np.full(n, 0.5),
                           local_power_w=np.full(n, 1.0), deadline_s=cycles / 1e8 * 0.5,
                           capacity_hz=np.full(servers, 1e12),
                           rate_bps=np.full((n, servers), 2e7))
    capacity = inst.capacity_hz.copy()
    capacity[0] = inst.f_min[:, 0].sum() * capacity_share
    return inst.replace(capacity_hz=capacity)


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_scip_within_its_own_tolerance_only_is_not_an_error(objective):
    # All ten must go to the one server, which lacks 1e-9 of what they need: SCIP's
    # tolerance (1e-6) lets them fit, the checker's (1e-12) does not.
    pytest.importorskip("pyscipopt")
    inst = _must_offload(1 - 1e-9)
    sol = mecopt.solve(inst, objective, "scip", time_limit=30)
    assert sol.status in ("no_solution", "infeasible"), sol.message
    if sol.status == "no_solution":
        assert "the checker refused SCIP's decision" in sol.message
    assert "\n" not in sol.message


def test_a_decision_the_checker_refuses_is_repaired_or_dropped():
    from mecopt.solvers.scip import _within_checker

    tight = _must_offload(1 - 1e-9, servers=2)  # server 2 has room
    everyone_on_1 = np.ones(10, dtype=int)
    kept, note = _within_checker(tight, mecopt.Objective.ENERGY, everyone_on_1)
    assert note.startswith("the checker refused SCIP's decision (capacity: server 1")
    assert kept is not None and mecopt.evaluate(tight, kept).feasible
    alone = _must_offload(1 - 1e-9)
    kept, note = _within_checker(alone, mecopt.Objective.ENERGY, everyone_on_1)
    assert kept is None and note.endswith("the shared repair found no decision from it")
    roomy = _must_offload(1.0 + 1e-6)
    kept, note = _within_checker(roomy, mecopt.Objective.ENERGY, everyone_on_1)
    assert note == "" and np.array_equal(kept, everyone_on_1)
