"""The Pyomo model's expressions equal the evaluation module at a fixed decision."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest

import mecopt
from mecopt.formulation import build_model, fix_decision

from conftest import library


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_model_objective_equals_evaluate(objective):
    for inst in [library("paper")[0], library("hetero")[1], *library("tiny")[:3]]:
        sol = mecopt.solve(inst, objective, "greedy")
        a, f = np.array(sol.assignment), np.array(sol.allocation_hz)
        m = build_model(inst, objective)
        fix_decision(m, inst, a, f)
        assert pyo.value(m.cost) == pytest.approx(sol.objective_value, rel=1e-12)
        ev = mecopt.evaluate(inst, a, f)
        for i in range(inst.n_ues):
            assert pyo.value(m.latency[i]) == pytest.approx(ev.latency_s[i], rel=1e-12)
            assert pyo.value(m.energy[i]) == pytest.approx(ev.energy_j[i], rel=1e-12)
        # A feasible decision satisfies every constraint of the model.
        for con in m.component_data_objects(pyo.Constraint, active=True):
            body = pyo.value(con.body)
            assert con.lower is None or body >= pyo.value(con.lower) - 1e-9, con.name
            assert con.upper is None or body <= pyo.value(con.upper) + 1e-9, con.name


def test_model_components_and_scaling():
    inst = library("paper")[0]
    m = build_model(inst, "Minimum latency")
    assert {"assign", "capacity", "deadline", "only_if_assigned", "x", "f"} <= {
        c.local_name for c in m.component_objects()}
    assert m.capacity.doc and m.x.doc
    # Scaled units: capacities in GHz, not 1e10 Hz.
    assert max(pyo.value(m.capacity[j].upper) for j in m.capacity) < 100
    assert len(m.x) == int(inst.option_ok.sum())


def test_over_capacity_decision_violates_the_model():
    inst = library("tiny")[1]
    a = np.ones(inst.n_ues, dtype=int)  # everything on server 1
    ev = mecopt.evaluate(inst, a)
    assert not ev.feasible
    m = build_model(inst, "energy")
    fix_decision(m, inst, a, ev.allocation_hz)
    cap = m.capacity[1]
    assert pyo.value(cap.body) > pyo.value(cap.upper)


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_model_objective_in_another_unit_is_the_same_value(objective):
    """`unit` (what the scip backend passes, mecopt.units) rescales the objective only."""
    inst = library("hetero")[1]
    sol = mecopt.solve(inst, objective, "greedy")
    a, f = np.array(sol.assignment), np.array(sol.allocation_hz)
    m = build_model(inst, objective, unit=2.0 ** -20)
    fix_decision(m, inst, a, f)
    assert pyo.value(m.cost) * 2.0 ** -20 == pytest.approx(sol.objective_value, rel=1e-12)
