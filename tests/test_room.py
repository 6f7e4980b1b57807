"""Room moves (mecopt.room): one UE onto a full server, several off it, in `descend`."""

from __future__ import annotations

import functools
import itertools
import sys

import numpy as np
import pytest

import mecopt
from mecopt.descend import descend
from mecopt.evaluation import evaluate, evaluate_batch
from mecopt.objective import Objective
from mecopt.room import room_moves

from conftest import plain_construction

E = Objective.ENERGY


def big_and_small() -> mecopt.Instance:
    """One 1-GHz server. UE 0 needs 0.8 GHz there and costs 10 J locally; UEs 1-3 need
    0.3 GHz each and cost 1 J locally; on the server each costs 1 mJ. With the three small
    UEs on the server (0.9 GHz) the big one cannot come in unless at least three leave:
    no move, swap, depth-two chain or exchange reaches the optimum (UE 0 alone on it)."""
    n = 4
    cycles = np.array([0.8e9, 0.3e9, 0.3e9, 0.3e9])
    return mecopt.Instance(
        name="big-and-small", data_bits=np.full(n, 1e5), cycles=cycles,
        local_hz=np.full(n, 1e9), tx_power_w=np.full(n, 0.1),
        local_power_w=np.array([12.5, 10 / 3, 10 / 3, 10 / 3]), deadline_s=np.full(n, 1.01),
        capacity_hz=np.array([1e9]), rate_bps=np.full((n, 1), 1e7))  # t_tx 10 ms: f_min = C


def brute_force(inst: mecopt.Instance) -> float:
    rows = np.array(list(itertools.product(range(inst.n_servers + 1), repeat=inst.n_ues)))
    batch = evaluate_batch(inst, rows)
    return float(np.where(batch.feasible, batch.value(E), np.inf).min())


def test_a_room_move_brings_the_big_ue_in():
    inst = big_and_small()
    start = np.array([0, 1, 1, 1])
    assert evaluate(inst, start).feasible
    stuck, v_stuck = descend(inst, E, start, rooms=False)
    assert list(stuck) == [0, 1, 1, 1] and v_stuck == pytest.approx(10.003, rel=1e-6)
    cand = room_moves(inst, start)
    assert [list(row) for row in cand] == [[1, 0, 0, 0]]
    best, v = descend(inst, E, start)
    assert list(best) == [1, 0, 0, 0]
    assert v == pytest.approx(brute_force(inst), rel=1e-9)


def test_room_moves_evict_only_what_is_needed():
    """On a 1.4-GHz server the big UE and two small ones fit together (0.8 + 0.6 GHz): the
    move evicts one small UE, not all three."""
    inst = big_and_small().replace(capacity_hz=np.array([1.4e9]))
    cand = room_moves(inst, np.array([0, 1, 1, 1]))
    assert len(cand) == 1
    row = cand[0]
    assert row[0] == 1 and (row[1:] == 0).sum() == 1 and (row[1:] == 1).sum() == 2
    assert evaluate(inst, row).feasible


def test_room_moves_bring_back_evictees_that_were_not_needed():
    """UE 0 needs 0.7 GHz of a 1-GHz server holding A (0.1 GHz, 0.09 J locally) and B
    (0.4 GHz, 0.4 J). By energy per GHz freed A leaves first, then B; with B gone there is
    room for A again, so A comes back: the candidate is UE 0 and A on the server."""
    n = 3
    cycles = np.array([0.7e9, 0.1e9, 0.4e9])
    inst = mecopt.Instance(
        name="bring-back", data_bits=np.full(n, 1e5), cycles=cycles, local_hz=np.full(n, 1e9),
        tx_power_w=np.full(n, 0.1), local_power_w=np.array([10 / 0.7, 0.9, 1.0]),
        deadline_s=np.full(n, 1.01), capacity_hz=np.array([1e9]),
        rate_bps=np.full((n, 1), 1e7))
    cand = room_moves(inst, np.array([0, 1, 1]))
    assert [list(row) for row in cand] == [[1, 1, 0]]
    assert evaluate(inst, cand[0]).total_energy_j == pytest.approx(brute_force(inst), rel=1e-9)


def _random_binding(seed: int) -> mecopt.Instance:
    """Capacity-bound energy: 20-40 UEs on 2-4 servers holding about half the demand."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(20, 41)), int(rng.integers(2, 5))
    cycles = 1e9 * rng.uniform(0.1, 1.0, n)
    inst = mecopt.Instance(
        name=f"binding-{seed}", data_bits=1e5 * rng.uniform(0.5, 2, n), cycles=cycles,
        local_hz=np.full(n, 1e9), tx_power_w=np.full(n, 0.1),
        local_power_w=rng.uniform(0.5, 20, n), deadline_s=np.full(n, 1.2),
        capacity_hz=np.ones(m), rate_bps=1e7 * rng.uniform(0.5, 2, (n, m)))
    return inst.replace(capacity_hz=np.full(m, 0.5 * cycles.sum() / m))


@pytest.mark.parametrize("seed", range(6))
def test_room_candidates_are_feasible_improvements_and_descend_never_loses(seed):
    inst = _random_binding(seed)
    start, _ = mecopt.construct.greedy_assignment(inst, E)
    base, v_base = descend(inst, E, start, rooms=False)
    value = evaluate(inst, base).total_energy_j
    cand = room_moves(inst, base)
    if len(cand):
        batch = evaluate_batch(inst, cand)
        assert batch.feasible.all()
        assert (batch.value(E) < value).all()
    # Room moves come only after every other neighbourhood found nothing: the search
    # follows the same path to that local optimum, then can only go lower.
    _, v = descend(inst, E, start)
    assert v <= v_base * (1 + 1e-12)


def test_descend_reaches_a_tight_optimum_that_only_room_moves_reach():
    """A tight 9 x 2 draw (seed 34, one of three in 0-59 where descend without room moves
    stops above the optimum, from the plain construction's decision)."""
    inst = mecopt.generate("tight", n_ues=9, n_servers=2, seed=34)
    start = plain_construction(inst)
    _, v_plain = descend(inst, E, start, rooms=False)
    best = brute_force(inst)
    assert v_plain > best * (1 + 1e-9)
    _, v = descend(inst, E, start)
    assert v == pytest.approx(best, rel=1e-9)


def full_servers_chain() -> mecopt.Instance:
    """Two 1-GHz servers, both full. UE 0 (0.8 GHz, 10 J locally) reaches server 1 only,
    which holds UE 1 (0.8 GHz, cannot finish locally); server 2 holds three small UEs (0.3
    GHz and 0.1 J locally each) and has no room for UE 1. UE 0 gets in only if UE 1 goes to
    server 2 and all three small UEs go local: a chain of two room moves."""
    n = 5
    cycles = np.array([0.8e9, 0.8e9, 0.3e9, 0.3e9, 0.3e9])
    rate = np.full((n, 2), 1e7)  # t_tx 10 ms: f_min = C
    rate[0, 1] = 0.0
    return mecopt.Instance(
        name="full-servers-chain", data_bits=np.full(n, 1e5), cycles=cycles,
        local_hz=np.array([1e9, 0.5e9, 1e9, 1e9, 1e9]), tx_power_w=np.full(n, 0.1),
        local_power_w=np.array([12.5, 1.0, 1 / 3, 1 / 3, 1 / 3]),
        deadline_s=np.full(n, 1.01), capacity_hz=np.array([1e9, 1e9]), rate_bps=rate)


def test_a_chain_of_room_moves_goes_through_a_second_full_server():
    inst = full_servers_chain()
    start = np.array([0, 1, 2, 2, 2])
    assert evaluate(inst, start).feasible
    # UE 1 has nowhere to go that fits: a single room move cannot take UE 0 in.
    assert len(room_moves(inst, start, chains=False)) == 0
    _, v_stuck = descend(inst, E, start, rooms=False)
    assert v_stuck == pytest.approx(evaluate(inst, start).total_energy_j, rel=1e-9)
    cand = room_moves(inst, start)
    assert [list(row) for row in cand] == [[1, 2, 0, 0, 0]]
    best, v = descend(inst, E, start)
    assert list(best) == [1, 2, 0, 0, 0]
    assert v == pytest.approx(brute_force(inst), rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_chains_come_after_single_room_moves_and_never_lose(seed, monkeypatch):
    inst = _random_binding(seed)
    start, _ = mecopt.construct.greedy_assignment(inst, E)
    _, v = descend(inst, E, start)
    single = functools.partial(room_moves, chains=False)
    monkeypatch.setattr(sys.modules["mecopt.descend"], "room_moves", single)
    _, v_single = descend(inst, E, start)
    assert v <= v_single * (1 + 1e-12)
    if seed == 0:  # here a chain goes further (50.82 J against 50.92 J)
        assert v < v_single * (1 - 1e-9)


def test_room_moves_evict_the_ue_with_one_destination_first_when_the_cheap_order_fails():
    """UE 0 (10 J locally) needs the whole 1-GHz server 1, which holds A and B (0.4 GHz
    each). Server 2 has room for one of them. A costs less per GHz freed to move there
    (2 mJ against B's 3 mJ), but B must offload and reaches only servers 1 and 2, while A
    can also run locally (1 J). Cheapest first, A takes server 2's room and B is stuck; the
    fallback order (fewest destinations first) sends B to server 2 and A local."""
    n = 3
    rate = np.array([[1e7, 0.0], [1e7, 5e6], [1e7, 1e5 / 0.03]])  # t_tx 10, 20, 30 ms
    inst = mecopt.Instance(
        name="scarce-first", data_bits=np.full(n, 1e5), cycles=np.array([0.8e9, 0.4e9, 0.4e9]),
        local_hz=np.array([1e9, 1e9, 0.3e9]), tx_power_w=np.full(n, 0.1),
        local_power_w=np.array([12.5, 2.5, 1.0]), deadline_s=np.full(n, 1.01),
        capacity_hz=np.array([1e9, 0.5e9]), rate_bps=rate)
    start = np.array([0, 1, 1])
    assert evaluate(inst, start).feasible
    assert not inst.local_ok[2] and inst.local_ok[1]
    cand = room_moves(inst, start)
    assert [list(row) for row in cand] == [[1, 0, 2]]
    best, v = descend(inst, E, start)
    assert list(best) == [1, 0, 2]
    assert v == pytest.approx(brute_force(inst), rel=1e-9)
