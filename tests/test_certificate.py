"""Statuses say what is known: "infeasible" only with a proof (mecopt.certificate)."""

from __future__ import annotations

import numpy as np
import pytest

import mecopt
from mecopt.certificate import certify_infeasible
from mecopt.method import Outcome
from mecopt.status import Status


def three_into_two(capacity_ghz: float = 1.0) -> mecopt.Instance:
    """Three UEs that must offload, each needing 0.6 GHz on either of two 1-GHz servers:
    the capacities add up (1.8 <= 2 GHz) and a fractional assignment fits, but no server
    holds two of them, so no decision exists; only the packing MILP proves it."""
    n = 3
    return mecopt.Instance(
        name="three-into-two", data_bits=np.full(n, 1e6), cycles=np.full(n, 0.5e9),
        local_hz=np.full(n, 0.1e9), tx_power_w=np.ones(n), local_power_w=np.ones(n),
        deadline_s=np.full(n, 1.0), capacity_hz=np.full(2, capacity_ghz * 1e9),
        rate_bps=np.full((n, 2), 6e6))  # t_tx = 1/6 s, f_min = 0.5 / (5/6) = 0.6 GHz


def test_certificates_name_their_proof():
    inst = three_into_two()
    assert certify_infeasible(inst, packing=False) is None  # the LP relaxation is feasible
    assert "cannot be packed" in certify_infeasible(inst)
    assert certify_infeasible(three_into_two(1.2)) is None  # feasible: two fit on one
    # Aggregate capacity: 3 x 0.6 GHz > 2 x 0.8 GHz.
    assert "must offload" in certify_infeasible(three_into_two(0.8))
    # No server can hold even one of them.
    assert "every server" in certify_infeasible(three_into_two(0.5))
    # A UE that can meet its deadline nowhere.
    rate = np.full((3, 2), 6e6)
    rate[0] = 0.0
    assert "neither locally nor on any server" in certify_infeasible(inst.replace(rate_bps=rate))


def out_of_reach() -> mecopt.Instance:
    """All three UEs reach only server 2 (1 GHz); server 1 (5 GHz) is out of their reach. The
    aggregate argument counts all 6 GHz and proves nothing; the LP relaxation does."""
    rate = np.zeros((3, 2))
    rate[:, 1] = 6e6
    return three_into_two().replace(rate_bps=rate, capacity_hz=np.array([5e9, 1e9]))


def test_lp_relaxation_is_a_certificate():
    assert "LP relaxation" in certify_infeasible(out_of_reach())


@pytest.mark.parametrize("method", ["greedy", "random", "local", "de", "pg", "lambo"])
def test_no_decision_on_an_infeasible_instance_comes_with_the_proof(method):
    sol = mecopt.solve(three_into_two(), "energy", method)
    assert sol.status is Status.INFEASIBLE and not sol.feasible
    assert sol.message.startswith("proven infeasible")


def test_a_heuristic_that_gives_up_says_no_solution():
    def gives_up(instance, objective, **_):
        return Outcome(None, status=Status.INFEASIBLE, message="gave up after 3 tries")

    sol = mecopt.solve(three_into_two(1.2), "energy", gives_up)  # feasible
    assert sol.status is Status.NO_SOLUTION
    assert sol.message.startswith("gave up after 3 tries") and "no proof" in sol.message


def test_a_search_that_runs_out_of_time_says_infeasible_when_a_certificate_proves_it():
    def runs_out(instance, objective, **_):
        return Outcome(None, status=Status.TIMEOUT, message="time limit reached")

    sol = mecopt.solve(out_of_reach(), "energy", runs_out)
    assert sol.status is Status.INFEASIBLE
    assert sol.message.startswith("proven infeasible") and "LP relaxation" in sol.message
    assert "after the time limit: time limit reached" in sol.message
    # Only the packing MILP proves three_into_two infeasible: it is not run after a timeout.
    assert mecopt.solve(three_into_two(), "energy", runs_out).status is Status.TIMEOUT
    assert mecopt.solve(three_into_two(1.2), "energy", runs_out).status is Status.TIMEOUT


def test_the_proof_after_a_method_gives_up_stays_within_the_time_limit(monkeypatch):
    """The packing MILP gets what the method left of the time limit, and its time counts
    in the solution's wall time (the caller waited for it)."""
    import time

    import mecopt.method as method

    asked = []

    def slow_proof(instance, **options):
        asked.append(options)
        time.sleep(0.2)
        return None

    def gives_up(instance, objective, **_):
        time.sleep(0.3)
        return Outcome(None, status=Status.NO_SOLUTION, message="found nothing")

    monkeypatch.setattr(method, "certify_infeasible", slow_proof)
    sol = mecopt.solve(three_into_two(1.2), "energy", gives_up, time_limit=1.0)
    # The screen's call (no solvers), then the proof's, with at most the 0.7 s left.
    assert asked[0] == {"lp": False, "packing": False}
    assert asked[1]["packing"] and asked[1]["packing_time_limit"] <= 0.7
    assert sol.status is Status.NO_SOLUTION
    assert sol.wall_time_s >= 0.5 and sol.extra["proof_s"] >= 0.2
    # Nothing left of the limit: no packing MILP.
    sol = mecopt.solve(three_into_two(1.2), "energy", gives_up, time_limit=0.3)
    assert asked[-1]["packing"] is False


@pytest.mark.parametrize("method", ["de", "pg"])
def test_a_search_does_not_spend_its_time_limit_on_a_certified_infeasible_instance(method):
    # Generations and iterations beyond any time limit: only the time limit would stop them.
    options = {"de": {"generations": 10**6}, "pg": {"iterations": 10**6}}[method]
    sol = mecopt.solve(three_into_two(0.8), "latency", method, time_limit=20, **options)
    assert sol.status is Status.INFEASIBLE and "must offload" in sol.message
    assert "after the time limit" not in sol.message


@pytest.mark.parametrize("method", ["de", "pg"])
@pytest.mark.parametrize("make", [three_into_two, out_of_reach])
def test_a_search_whose_starts_are_proven_unpackable_stops_at_once(method, make):
    """Past the cheap screen (the packing MILP or the LP relaxation proves these), DE and
    PG stop when their greedy starts fail and HiGHS has proved that the UEs that must
    offload cannot share the servers, instead of searching until the time limit."""
    options = {"de": {"generations": 10**6}, "pg": {"iterations": 10**6}}[method]
    sol = mecopt.solve(make(), "latency", method, time_limit=20, **options)
    assert sol.status is Status.INFEASIBLE and sol.message.startswith("proven infeasible")
    assert "after the time limit" not in sol.message


def test_solve_answers_what_the_cheap_proofs_settle_before_the_method_runs():
    calls = []

    def never_finds(instance, objective, **_):
        calls.append(instance.name)
        return Outcome(None, status=Status.NO_SOLUTION, message="found nothing")

    # The aggregate capacity argument settles it: the method is not called.
    sol = mecopt.solve(three_into_two(0.8), "energy", never_finds)
    assert calls == [] and sol.status is Status.INFEASIBLE and "must offload" in sol.message
    # Only the LP relaxation proves this one: the method runs first, then the proof comes.
    sol = mecopt.solve(out_of_reach(), "energy", never_finds)
    assert calls == ["three-into-two"] and "LP relaxation" in sol.message
    # In a batch the others are solved, in order.
    sols = mecopt.solve_many([three_into_two(1.2), three_into_two(0.8), three_into_two(1.2)],
                             "energy", "greedy")
    assert [s.status for s in sols] == [Status.FEASIBLE, Status.INFEASIBLE, Status.FEASIBLE]


def test_an_exact_method_proves_it():
    sol = mecopt.solve(three_into_two(), "energy", "highs")
    assert sol.status is Status.INFEASIBLE


def test_solution_files_keep_the_status(tmp_path):
    sol = mecopt.solve(three_into_two(), "latency", "greedy")
    sol.save(tmp_path / "s.json")
    back = mecopt.Solution.load(tmp_path / "s.json")
    assert back.status is Status.INFEASIBLE and back.message == sol.message


def test_an_unknown_status_is_an_error_not_a_crash():
    def odd(instance, objective, **_):
        return Outcome(None, status="maybe")

    sol = mecopt.solve(three_into_two(1.2), "energy", odd)
    assert sol.status is Status.ERROR and "unknown status 'maybe'" in sol.message
