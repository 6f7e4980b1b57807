"""benchmarks/bench_fuzz.py draws what its docstring says (the scale fuzz and the composite
networks), deterministically, and on one of its microjoule draws the exact solvers agree
with the heuristics (docs/exact.md's units)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import mecopt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_fuzz  # noqa: E402


def test_draws_span_decades_and_repeat_by_seed(tmp_path):
    folder = bench_fuzz.draw(20, 100, tmp_path)
    insts = [mecopt.Instance.load(p) for p in sorted(folder.glob("*.json"))]
    assert len(insts) == 20  # every draw of these seeds is a valid instance
    medians = np.log10([np.median(i.cycles) for i in insts])
    assert medians.max() - medians.min() > 4
    assert any((i.rate_bps == 0).any() for i in insts)
    again = bench_fuzz.draw(20, 100, tmp_path / "again")
    for p, q in zip(sorted(folder.glob("*.json")), sorted(again.glob("*.json")), strict=True):
        assert p.read_bytes() == q.read_bytes()


def test_composite_draws_are_what_the_docstring_says(tmp_path):
    ample = bench_fuzz.draw(6, 10, tmp_path / "ample", "composite")
    tight = bench_fuzz.draw(6, 10, tmp_path / "tight", "composite-tight")
    a = [mecopt.Instance.load(p) for p in sorted(ample.glob("*.json"))]
    t = [mecopt.Instance.load(p) for p in sorted(tight.glob("*.json"))]
    assert len(a) == len(t) == 6
    for inst in a + t:
        assert 200 <= inst.n_ues <= 1500 and 4 <= inst.n_servers <= 40
        assert inst.ue_position_m is not None and inst.server_position_m is not None
    assert any((i.rate_bps == 0).any() for i in a + t)  # sparse reach on some
    assert any((~i.local_ok).mean() > 0.3 for i in a + t)  # many UEs must offload
    # Tight capacities: the must-offload UEs' least need, planted at 0.85-1.05 times, fills
    # the servers; ample ones leave room.
    def need_share(inst):
        must = ~inst.local_ok
        least = np.where(inst.usable, inst.f_min, np.inf)[must].min(axis=1)
        return least[np.isfinite(least)].sum() / inst.capacity_hz.sum()
    assert np.median([need_share(i) for i in t]) > 0.5
    assert np.median([need_share(i) for i in a]) < np.median([need_share(i) for i in t])
    again = bench_fuzz.draw(6, 10, tmp_path / "again", "composite-tight")
    for p, q in zip(sorted(tight.glob("*.json")), sorted(again.glob("*.json")), strict=True):
        assert p.read_bytes() == q.read_bytes()


def test_fuzz_124_energy_optimum_is_found_and_proven():
    """Energies of 1e-11 to 3e5 J: highs once answered `optimal` 61% above what DE found."""
    inst = bench_fuzz.fuzz_instance(124)
    de = mecopt.solve(inst, "energy", "de", seed=0, time_limit=10)
    sol = mecopt.solve(inst, "energy", "highs", time_limit=30)
    assert sol.status == "optimal"
    assert sol.objective_value <= de.objective_value * (1 + 1e-9)
    assert sol.bound == pytest.approx(sol.objective_value, rel=1e-6)


def test_greedy_energy_tie_break_never_outweighs_the_energies():
    """fuzz-305: energies of 1e-8-1e-6 J, latencies of minutes to hours and capacity to
    spare, so each UE at its cheapest option is optimal. The latency tie-break, once scaled
    by the UE's largest energy, made greedy pick by latency: 194% above."""
    inst = bench_fuzz.fuzz_instance(305)
    cheapest = np.where(inst.option_ok, np.c_[inst.e_loc, inst.e_tx], np.inf).min(axis=1)
    sol = mecopt.solve(inst, "energy", "greedy")
    assert sol.objective_value == pytest.approx(cheapest.sum(), rel=1e-12)


def test_input_fuzz_finds_no_fault_in_a_short_seeded_run():
    # benchmarks/fuzz_inputs.py: each of these parts found faults in the code before
    # docs/notes/2026-12-07-input-fuzz-and-short-limits.md (tracebacks from files and
    # options, `error` statuses from seeds and extreme magnitudes).
    import fuzz_inputs

    for part in ("files", "options", "api", "extreme"):
        assert fuzz_inputs.PARTS[part](12, 7, ["greedy"]) == [], part
