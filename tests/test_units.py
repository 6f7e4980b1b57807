"""The exact models measure energy and time in the instance's own units (mecopt.units): the
solvers' tolerances are absolute, so a network of microjoule or microsecond tasks must get
the same optimum (scaled) and a valid bound, not an assignment that merely looks optimal."""

from __future__ import annotations

import numpy as np
import pytest

import mecopt
from mecopt.bounds import bound
from mecopt.lns import improve_with_stats
from mecopt.reference import load_reference, optimum
from mecopt.units import cost_unit, energy_unit, time_unit

from conftest import INSTANCES

NAME = "hetero-003"  # the hetero instance where energy is hardest


def scaled(factor: float) -> mecopt.Instance:
    """hetero-003 with both powers times `factor`: every energy scales by it, nothing else
    changes, so the optimal assignment is the same."""
    inst = mecopt.Instance.load(INSTANCES / "hetero" / f"{NAME}.json")
    return inst.replace(tx_power_w=inst.tx_power_w * factor,
                        local_power_w=inst.local_power_w * factor)


def test_the_unit_is_a_power_of_two_near_the_median_cheapest_energy():
    for factor in (1e-10, 1.0, 1e6):
        inst = scaled(factor)
        unit = energy_unit(inst)
        assert np.log2(unit) == round(np.log2(unit))
        cheapest = np.where(inst.option_ok, np.c_[inst.e_loc, inst.e_tx], np.inf).min(axis=1)
        assert 0.7 < unit / np.median(cheapest) < 1.42
    assert cost_unit(np.zeros((3, 2)), np.ones((3, 2), dtype=bool)) == 1.0


@pytest.mark.parametrize("factor", [1e-7, 1e-10, 1e6])
def test_exact_energy_optimum_and_bounds_do_not_depend_on_the_unit(factor):
    best = optimum(load_reference(INSTANCES / "hetero" / "reference.json"), NAME, "energy")
    inst = scaled(factor)
    sol = mecopt.solve(inst, "energy", "highs", time_limit=60)
    assert sol.status == "optimal"
    assert sol.objective_value == pytest.approx(best * factor, rel=1e-6)
    assert sol.bound <= sol.objective_value * (1 + 1e-9)
    lower = bound(inst, "energy").value
    assert lower <= best * factor * (1 + 1e-9)
    assert lower == pytest.approx(bound(scaled(1.0), "energy").value * factor, rel=1e-6)
    greedy = mecopt.solve(inst, "energy", "greedy")
    _, value, stats = improve_with_stats(inst, "energy", np.array(greedy.assignment),
                                         time_limit=30.0, max_steps=1, sub_time_limit=30.0)
    assert stats.proven and value == pytest.approx(best * factor, rel=1e-6)


def test_scip_energy_optimum_does_not_depend_on_the_unit():
    pytest.importorskip("pyscipopt")
    best = optimum(load_reference(INSTANCES / "hetero" / "reference.json"), NAME, "energy")
    sol = mecopt.solve(scaled(1e-10), "energy", "scip", time_limit=60)
    assert sol.status == "optimal"
    assert sol.objective_value == pytest.approx(best * 1e-10, rel=1e-6)
    assert sol.bound <= sol.objective_value * (1 + 1e-6)


def slowed(factor: float) -> mecopt.Instance:
    """hetero-003 with cycles, data and deadlines times `factor`: every time scales by it."""
    inst = mecopt.Instance.load(INSTANCES / "hetero" / f"{NAME}.json")
    return inst.replace(cycles=inst.cycles * factor, data_bits=inst.data_bits * factor,
                        deadline_s=inst.deadline_s * factor)


@pytest.mark.parametrize("factor", [1e-5, 1e4])
def test_exact_latency_optimum_does_not_depend_on_the_unit(factor):
    best = optimum(load_reference(INSTANCES / "hetero" / "reference.json"), NAME, "latency")
    inst = slowed(factor)
    assert time_unit(inst) == pytest.approx(time_unit(slowed(1.0)) * factor, rel=0.5)
    sol = mecopt.solve(inst, "latency", "highs", time_limit=60)
    assert sol.status == "optimal"
    assert sol.objective_value == pytest.approx(best * factor, rel=1e-6)
    assert sol.bound <= sol.objective_value * (1 + 1e-9)
    # The Lagrangian bound's prices are found as well at any scale.
    lower = bound(inst, "latency").value
    assert lower <= best * factor
    assert lower == pytest.approx(bound(slowed(1.0), "latency").value * factor, rel=1e-5)
