"""benchmarks/bench_stress.py draws what its docstring says, and its table renders."""

from __future__ import annotations

import sys
from pathlib import Path

import mecopt
from mecopt.certificate import certify_infeasible

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_stress  # noqa: E402


def test_each_kind_is_what_it_says(tmp_path):
    folders = bench_stress.draw([0, 1], tmp_path)
    assert [f.name for f in folders] == list(bench_stress.KINDS)
    drawn = {f.name: [mecopt.Instance.load(p) for p in sorted(f.glob("*.json"))]
             for f in folders}
    assert all(len(v) == 2 for v in drawn.values())
    for inst in drawn["nodeadline"]:
        assert (inst.deadline_s == 1e6).all()
    for inst in drawn["onemust"]:
        assert inst.n_servers == 1 and not inst.local_ok.any()
        assert inst.f_min[:, 0].sum() <= inst.capacity_hz[0]  # feasible, just
    for inst in drawn["pigeon"]:
        assert "must offload" in certify_infeasible(inst, lp=False, packing=False)
    for inst in drawn["dead"]:
        assert (inst.rate_bps[:, -1] == 0).all() and inst.capacity_hz[0] == 1.0
    for inst in drawn["bigunits"]:
        assert inst.cycles.min() >= 5e11
    # The same seeds draw the same bytes.
    again = bench_stress.draw([0, 1], tmp_path / "again")
    for a, b in zip(folders, again, strict=True):
        for p, q in zip(sorted(a.glob("*.json")), sorted(b.glob("*.json")), strict=True):
            assert p.read_bytes() == q.read_bytes()


def test_table_marks_runs_without_a_decision_and_the_audit():
    data = {"seeds": [0, 1], "methods": ["greedy", "x=lambo"],
            "rows": [{"kind": "micro", "objective": "energy", "method": "greedy",
                      "solved": 2, "mean_gap": 0.01, "missed": 0},
                     {"kind": "micro", "objective": "energy", "method": "x",
                      "solved": 2, "mean_gap": None, "missed": 2}],
            "false_infeasible": {"greedy": 0, "x": 1}}
    table = bench_stress.table(data)
    assert "| micro | energy | 2/2 | 1.000% | - (2 none) |" in table
    assert table.rstrip().endswith("greedy 0, x 1.")
