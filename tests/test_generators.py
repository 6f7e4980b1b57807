"""Generators, the instance library and the scenario stream."""

from __future__ import annotations

import numpy as np
import pytest

import mecopt
from mecopt.errors import InputError
from mecopt.generators import Drift, ScenarioStream, family_stats
from mecopt.library import library_instances
from mecopt.reference import load_reference

from conftest import INSTANCES, library


@pytest.mark.parametrize("family", ["hetero", "tight", "sparse"])
def test_same_seed_same_instance(family):
    a, b = mecopt.generate(family, seed=11), mecopt.generate(family, seed=11)
    assert a.to_json() == b.to_json()
    assert a.to_json() != mecopt.generate(family, seed=12).to_json()


@pytest.mark.parametrize("kind", ["paper", "hetero", "tiny", "large", "tight"])
def test_library_is_regenerated_byte_identically(kind):
    for inst in library_instances(kind):
        assert (INSTANCES / kind / f"{inst.name}.json").read_text() == inst.to_json()


def test_paper_family_facts():
    inst = mecopt.generate("paper", seed=0)
    assert (inst.n_ues, inst.n_servers) == (50, 4)
    np.testing.assert_array_equal(inst.capacity_hz, [1.5e10, 1.5e10, 3e10, 5e10])
    assert np.all((inst.cycles >= 0.95e9) & (inst.cycles <= 1.05e9))
    assert np.all((inst.data_bits >= 0.95e6) & (inst.data_bits <= 1.05e6))
    assert np.all(inst.deadline_s == 1.5) and np.all(inst.local_hz == 1e9)
    # Free-space rate at the drawn distance, B = 1 MHz, noise 1e-12 W.
    d = max(np.linalg.norm(inst.ue_position_m[0] - inst.server_position_m[1]), 1.0)
    assert inst.rate_bps[0, 1] == pytest.approx(1e6 * np.log2(1 + d ** -2 / 1e-12))
    assert np.all(inst.ue_position_m <= 50)


def test_hetero_family_facts():
    sizes = [(g.n_ues, g.n_servers) for g in (mecopt.generate("hetero", seed=s)
                                               for s in range(30))]
    assert all(20 <= n <= 100 and 2 <= m <= 8 for n, m in sizes)
    inst = mecopt.generate("hetero", seed=0)
    assert set(inst.capacity_hz) <= {1.5e10, 3e10, 5e10}
    assert not inst.local_ok.all()  # some UEs must offload


def witness(inst: mecopt.Instance) -> np.ndarray:
    """The decision the capacity-bound families are built to admit: every must-offload UE on
    its server of smallest f_min, every other UE local."""
    return np.where(inst.local_ok, 0, np.argmin(inst.f_min, axis=1) + 1)


def test_tight_family_facts():
    """The properties docs/model.md promises, on 30 seeds; each instance feasible."""
    for seed in range(30):
        inst = mecopt.generate("tight", seed=seed)
        stats = family_stats(inst)
        assert 40 <= inst.n_ues <= 150 and 3 <= inst.n_servers <= 10
        assert 0.2 <= stats["capacity_ratio"] <= 0.7, (seed, stats)
        assert stats["capacity_ratio"] == pytest.approx(inst.meta["draws"]["capacity_ratio"])
        assert 0.1 <= stats["must_offload_share"] <= 0.4, (seed, stats)
        assert stats["deadline_spread"] >= 2, (seed, stats)
        assert stats["saves_energy_share"] > 0.5, (seed, stats)  # offloading pays for most
        assert len(set(inst.tx_power_w)) == inst.n_ues  # per-UE draws, not constants
        assert np.all(inst.local_hz <= 3e9)
        assert mecopt.evaluate(inst, witness(inst)).feasible, seed


def test_tight_energy_is_feasible_for_highs():
    inst = mecopt.generate("tight", n_ues=20, n_servers=3, seed=5)
    sol = mecopt.solve(inst, "energy", "highs", time_limit=5)
    assert sol.status in ("optimal", "feasible"), sol.message


def test_tight_reference_holds_energy_optima_between_cheap_bounds():
    """instances/tight/reference.json: energy only, made by `mecopt reference`, and each
    optimum lies between the capacity-free minimum and the witness decision's energy."""
    ref = load_reference(INSTANCES / "tight" / "reference.json")
    assert ref["command"].startswith("mecopt reference instances/tight ")
    insts = {inst.name: inst for inst in library("tight")}
    assert len(insts) == 20 and set(ref["optima"]) <= set(insts)
    assert len(ref["optima"]) >= 15
    for name, entry in ref["optima"].items():
        assert set(entry) == {"energy"} and entry["energy"]["gap"] <= 1e-6
        inst, value = insts[name], entry["energy"]["value"]
        free = np.where(inst.option_ok, np.column_stack([inst.e_loc, inst.e_tx]), np.inf)
        assert free.min(axis=1).sum() <= value + 1e-9
        assert value <= mecopt.evaluate(inst, witness(inst)).total_energy_j + 1e-9


def test_sparse_family_facts():
    for seed in range(5):
        inst = mecopt.generate("sparse", seed=seed)
        stats = family_stats(inst)
        assert 60 <= inst.n_ues <= 400 and 10 <= inst.n_servers <= 30
        assert (stats["reach_min"], stats["reach_max"]) == (2, 4)
        # Each UE reaches its nearest servers, and no other.
        d = np.linalg.norm(inst.ue_position_m[:, None] - inst.server_position_m[None], axis=2)
        reach = inst.rate_bps > 0
        far = np.where(reach, d, -np.inf).max(axis=1)
        assert np.all(np.where(~reach, d, np.inf).min(axis=1) >= far)
        assert stats["must_offload_share"] > 0.05 and stats["capacity_ratio"] <= 0.9
        assert mecopt.evaluate(inst, witness(inst)).feasible, seed
    small = mecopt.generate("sparse", n_ues=40, n_servers=10, seed=3)
    assert mecopt.solve(small, "energy", "highs", time_limit=5).status in ("optimal",
                                                                           "feasible")


def test_sizes_can_be_given_for_every_family():
    for family in mecopt.generators.FAMILIES:
        inst = mecopt.generate(family, n_ues=12, n_servers=3, seed=1)
        assert (inst.n_ues, inst.n_servers) == (12, 3)
    assert family_stats(mecopt.generate("sparse", n_ues=12, n_servers=3, seed=1))[
        "reach_max"] <= 3


def test_streams_only_evolve_channel_families():
    with pytest.raises(InputError, match="scenario stream evolves paper, hetero"):
        ScenarioStream("tight", seed=0)


def test_generate_rejects_bad_arguments():
    with pytest.raises(InputError, match="family: unknown 'x'; valid: paper, hetero"):
        mecopt.generate("x")
    with pytest.raises(InputError, match="n_ues: must be an integer >= 1"):
        mecopt.generate("paper", n_ues=0)
    with pytest.raises(InputError, match="seed"):
        mecopt.generate("paper", seed=-1)


def test_stream_moves_redraws_and_drifts():
    drifts = [Drift(2, "capacity-drop", factor=0.5, server=4), Drift(3, "task-growth", 1.5),
              Drift(4, "density", 2.0), Drift(5, "server-loss", server=1)]
    s = ScenarioStream("hetero", seed=3, n_ues=20, n_servers=4, dt=10.0, drifts=drifts)
    insts = s.take(6)
    assert insts[0].to_dict()["rate_bps"] == mecopt.generate(
        "hetero", n_ues=20, n_servers=4, seed=3).to_dict()["rate_bps"]
    step = np.linalg.norm(insts[1].ue_position_m - insts[0].ue_position_m, axis=1)
    assert np.all(step <= 1.2 * 10.0 + 1e-9) and step.max() > 0
    assert not np.allclose(insts[1].rate_bps, insts[0].rate_bps)
    assert insts[2].capacity_hz[3] == insts[1].capacity_hz[3] / 2
    assert insts[3].cycles.mean() > 1.2 * insts[2].cycles.mean()
    assert insts[4].n_ues == 40
    assert insts[5].n_servers == 3
    again = ScenarioStream("hetero", seed=3, n_ues=20, n_servers=4, dt=10.0,
                           drifts=drifts).take(6)
    assert [i.to_json() for i in again] == [i.to_json() for i in insts]


def test_stream_positions_stay_in_area():
    s = ScenarioStream("paper", seed=1, dt=30.0)
    for inst in s.take(20):
        assert np.all((inst.ue_position_m >= 0) & (inst.ue_position_m <= 50))


def test_drift_validation():
    with pytest.raises(InputError, match="drift kind: unknown 'melt'"):
        Drift(1, "melt")


def test_a_family_is_a_row_of_the_table(monkeypatch):
    """generate() reads sizes, capacities and the drawing from FAMILY_TABLE; paper's default
    size is its fixed 4 x 50 (nothing drawn), so giving it changes nothing."""
    from dataclasses import replace

    from mecopt.generators import FAMILY_TABLE

    for seed in range(3):
        assert mecopt.generate("paper", seed=seed).to_json() == mecopt.generate(
            "paper", 50, 4, seed=seed).to_json()
    monkeypatch.setitem(FAMILY_TABLE, "paper-6", replace(FAMILY_TABLE["paper"], servers=6))
    inst = mecopt.generate("paper-6", seed=1)
    assert (inst.n_ues, inst.n_servers) == (50, 6)
    np.testing.assert_array_equal(inst.capacity_hz, [1.5e10, 1.5e10, 3e10, 5e10, 1.5e10, 1.5e10])


# ------------------------------------------------------------ world and held-out (#18)
@pytest.mark.parametrize("family", ["world", "manyserver", "heavytail", "sparse-large"])
def test_new_families_are_deterministic(family):
    a, b = mecopt.generate(family, seed=7), mecopt.generate(family, seed=7)
    assert a.to_json() == b.to_json()
    assert a.to_json() != mecopt.generate(family, seed=8).to_json()


def test_held_out_families_are_not_trained_on():
    from mecopt.generators import FAMILY_TABLE, HELD_OUT_FAMILIES
    from mecopt.learned.configs import TRAIN_FAMILIES

    assert set(HELD_OUT_FAMILIES) <= set(FAMILY_TABLE)
    assert not set(HELD_OUT_FAMILIES) & set(TRAIN_FAMILIES)
    assert "world" in TRAIN_FAMILIES
    sizes = {f: mecopt.generate(f, seed=3) for f in ("manyserver", "sparse-large")}
    assert 20 <= sizes["manyserver"].n_servers <= 50
    assert 100 <= sizes["manyserver"].n_ues <= 300
    assert 300 <= sizes["sparse-large"].n_ues <= 1000


def test_world_spans_its_ranges_and_is_feasible():
    """Over 50 seeds: small and large N and M, sparse and scarce instances, both energy
    regimes; greedy finds a decision (else highs proves none) for nearly every seed."""
    insts = [mecopt.generate("world", seed=s) for s in range(50)]
    ns, ms = [i.n_ues for i in insts], [i.n_servers for i in insts]
    assert min(ns) < 20 and max(ns) > 300 and all(10 <= n <= 500 for n in ns)
    assert min(ms) == 1 and max(ms) >= 15 and all(1 <= m <= 20 for m in ms)
    stats = [family_stats(i) for i in insts]
    assert any(i.meta["draws"]["sparse"] and s["reach_max"] < i.n_servers
               for i, s in zip(insts, stats, strict=True))
    assert any(s["capacity_ratio"] < 0.3 for s in stats)  # scarce
    assert any(s["capacity_ratio"] > 2 for s in stats)  # ample
    assert any(s["saves_energy_share"] > 0.95 for s in stats)  # offloading saves energy
    assert any(s["saves_energy_share"] < 0.2 for s in stats)  # offloading costs energy
    assert any(s["must_offload_share"] > 0.2 for s in stats)
    assert max(s["deadline_spread"] for s in stats) > 3
    settled = 0
    for inst in insts:
        for obj in ("latency", "energy"):
            sol = mecopt.solve(inst, obj, "greedy")
            if sol.status.value != "feasible" and inst.n_ues <= 150:
                sol = mecopt.solve(inst, obj, "highs", time_limit=10)
            settled += sol.status.value in ("feasible", "optimal", "infeasible")
    assert settled >= 0.9 * 2 * len(insts)
