"""Property tests: evaluate agrees with the Pyomo model; solve never returns an unchecked
solution."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import mecopt
from mecopt.formulation import build_model, fix_decision


@st.composite
def instances(draw):
    n = draw(st.integers(1, 6))
    m = draw(st.integers(1, 3))
    floats = lambda lo, hi, k: st.lists(st.floats(lo, hi), min_size=k, max_size=k)  # noqa: E731
    rate = np.array(draw(floats(0.0, 5e8, n * m))).reshape(n, m)
    rate[rate < 1e6] = 0.0  # some unreachable pairs
    return mecopt.Instance(
        name="prop", data_bits=np.array(draw(floats(1e5, 3e8, n))),
        cycles=np.array(draw(floats(1e8, 3e9, n))), local_hz=np.array(draw(floats(3e8, 3e9, n))),
        tx_power_w=np.array(draw(floats(0.1, 2.0, n))),
        local_power_w=np.array(draw(floats(0.1, 2.0, n))),
        deadline_s=np.array(draw(floats(0.3, 3.0, n))),
        capacity_hz=np.array(draw(floats(1e9, 2e10, m))), rate_bps=rate)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.data())
def test_evaluate_matches_model(inst, data):
    if not inst.option_ok.any(axis=1).all():
        return  # some UE has no option the model could hold
    # Each UE takes one of the options that can meet its deadline alone (the model's x).
    a = np.array([data.draw(st.sampled_from(np.flatnonzero(inst.option_ok[i]).tolist()))
                  for i in range(inst.n_ues)])
    ev = mecopt.evaluate(inst, a)
    event("feasible" if ev.feasible else "infeasible")
    for objective in ("latency", "energy"):
        m = build_model(inst, objective)
        fix_decision(m, inst, a, ev.allocation_hz)
        assert np.isclose(pyo.value(m.cost), ev.value(objective), rtol=1e-9)
        ok = all((c.upper is None or pyo.value(c.body) <= pyo.value(c.upper) + 1e-7)
                 and (c.lower is None or pyo.value(c.body) >= pyo.value(c.lower) - 1e-7)
                 for c in m.component_data_objects(pyo.Constraint, active=True))
        assert ok == ev.feasible


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.sampled_from(["local", "random", "greedy"]),
       st.sampled_from(["latency", "energy"]), st.integers(0, 5))
def test_solve_is_always_checked(inst, method, objective, seed):
    sol = mecopt.solve(inst, objective, method, seed=seed)
    if sol.feasible:
        ev = mecopt.evaluate(inst, np.array(sol.assignment), np.array(sol.allocation_hz))
        assert ev.feasible
        assert np.isclose(ev.value(objective), sol.objective_value, rtol=1e-12)
    else:
        assert sol.status in ("infeasible", "no_solution", "timeout") and sol.message


def _enumerate_feasible(inst) -> bool:
    """Brute force: does any assignment meet every deadline and capacity?"""
    grids = np.meshgrid(*[np.arange(inst.n_servers + 1)] * inst.n_ues, indexing="ij")
    every = np.stack([g.ravel() for g in grids], axis=1)
    return bool(mecopt.evaluate_batch(inst, every).feasible.any())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.sampled_from(["local", "random", "greedy", "de", "pg"]),
       st.sampled_from(["latency", "energy"]))
def test_infeasible_is_only_said_when_true(inst, method, objective):
    """A status of "infeasible" is a proof: it never comes back on an instance that has a
    feasible decision, whether or not the method found one."""
    options = {"de": {"generations": 3, "pop_size": 8}, "pg": {"iterations": 3}}
    sol = mecopt.solve(inst, objective, method, seed=0, **options.get(method, {}))
    feasible = _enumerate_feasible(inst)
    event(f"{method}: {sol.status} ({'feasible' if feasible else 'infeasible'} instance)")
    if sol.status == "infeasible":
        assert not feasible, sol.message
        assert sol.message.startswith("proven infeasible")
    if feasible:
        assert sol.status in ("optimal", "feasible", "no_solution", "timeout")
