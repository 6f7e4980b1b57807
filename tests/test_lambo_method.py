"""`--method lambo`: registry, shipped checkpoint, decoding options, results and errors."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import mecopt
from mecopt.cli.main import cli
from mecopt.construct import greedy_assignment
from mecopt.errors import InputError
from mecopt.improve import DUAL_BUILD_MIN_UES
from mecopt.learned import resolve_checkpoint, shipped_names
from mecopt.learned.checkpoint import read_checkpoint, shipped_path
from mecopt.learned.lambo_method import (
    ENERGY_START,
    GUARD_DUAL,
    GUARD_ROUNDING,
    GUARD_WON,
    OUTSIDE_ADVICE,
    LamboMethod,
    decode_instances,
)
from mecopt.objective import Objective
from mecopt.registry import method_names

from conftest import INSTANCES, library

torch.set_num_threads(1)


def test_lambo_is_registered_and_ships_its_checkpoint():
    assert "lambo" in method_names()
    path = shipped_path()
    package = Path(sys.modules[LamboMethod.__module__].__file__).parent  # .../learned
    assert path.is_file() and path.parent == package / "checkpoints"
    assert path.stat().st_size < 5_000_000  # "a few MB"
    ckpt = read_checkpoint(path)
    assert ckpt["command"].startswith("mecopt train --preset lambo-s")
    assert LamboMethod.availability() == (True, "")


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_solve_reports_both_allocations_and_uses_the_better(objective):
    inst = library("paper")[0]
    sol = mecopt.solve(inst, objective, "lambo")
    assert sol.status == "feasible", sol.message
    wf, sig = sol.extra["value_waterfill"], sol.extra["value_sigmoid"]
    assert wf is not None and sig is not None
    assert sol.objective_value == pytest.approx(min(wf, sig), rel=1e-12)
    assert sol.extra["decoding"] == "greedy"
    assert mecopt.evaluate(inst, sol.assignment, sol.allocation_hz).feasible


def test_best_of_k_is_never_worse_than_greedy_decoding():
    for inst in library("hetero")[:3]:
        one = mecopt.solve(inst, "latency", "lambo", refine=False)  # the decodes
        best = mecopt.solve(inst, "latency", "lambo", samples=16, seed=1, refine=False)
        assert best.extra["decoding"] == "best of 16"
        assert best.extra["value_waterfill"] <= one.extra["value_waterfill"] * (1 + 1e-12)
        again = mecopt.solve(inst, "latency", "lambo", samples=16, seed=1, refine=False)
        assert again.assignment == best.assignment, "seeded"


def test_polish_starts_from_the_decode_and_never_makes_it_worse():
    inst = library("hetero")[1]
    plain = mecopt.solve(inst, "latency", "lambo", refine=False)  # the decode
    sol = mecopt.solve(inst, "latency", "lambo", polish=True)
    assert sol.feasible and sol.extra["value_decoded"] == pytest.approx(
        plain.extra["value_waterfill"], rel=1e-12)
    assert sol.extra["value_polished"] <= sol.extra["value_decoded"]
    assert sol.objective_value <= sol.extra["value_polished"] * (1 + 1e-12)
    # The default relocates the decode; the polish descends from the relocated decode, so
    # it is never worse than the default (here descending the decode itself ended 0.3%
    # above the relocated one).
    default = mecopt.solve(inst, "latency", "lambo")
    assert default.extra["relocated"] > 0
    assert default.objective_value < plain.objective_value
    assert sol.objective_value <= default.objective_value * (1 + 1e-12)
    assert mecopt.evaluate(inst, sol.assignment, sol.allocation_hz).feasible


def test_energy_polish_keeps_the_better_of_the_decode_and_the_lp_rounding():
    """Energy polish descends from the decode and from the LP relaxation's rounding and keeps
    the better. On this sparse instance (capacities bind) the rounding's descent wins. (The
    guard, off here, would already return the rounding unpolished.)"""
    from mecopt.descend import descend
    from mecopt.lns import lp_rounding

    inst = mecopt.generate("sparse", seed=7100000)
    sol = mecopt.solve(inst, "energy", "lambo", polish=True, guard=False, tabu=False,
                       lns_polish=False)  # the descents alone
    decoded = mecopt.solve(inst, "energy", "lambo", guard=False)
    from_decode = descend(inst, "energy", np.array(decoded.assignment))[1]
    from_rounding = descend(inst, "energy", lp_rounding(
        inst, np.array(decoded.assignment), time_limit=10.0))[1]
    assert from_rounding < from_decode
    assert sol.extra["polish_start"] == "lp rounding"
    assert sol.extra["value_polished"] == pytest.approx(from_rounding, rel=1e-9)
    assert sol.objective_value <= sol.extra["value_polished"] * (1 + 1e-12)
    latency = mecopt.solve(inst, "latency", "lambo", polish=True, guard=False)
    # Latency has no LP rounding, and guard=false leaves the heuristics' starts out.
    assert latency.extra["polish_start"] == "decode"


def test_decode_instances_keeps_the_best_distinct_decodes_in_order():
    inst = library("hetero")[2]
    row = decode_instances([inst], [Objective.LATENCY], samples=16, seed=3, keep=4)[0]
    starts = row["starts"]
    assert 1 <= len(starts) <= 4
    assert (starts[0]["assignment"] == row["assignment"]).all()
    values = [s["value"] for s in starts]
    assert values == sorted(values) and values[0] == row["value"]
    assert len({s["assignment"].tobytes() for s in starts}) == len(starts)
    for s in starts:
        ev = mecopt.evaluate(inst, s["assignment"])
        assert ev.feasible and ev.value("latency") == pytest.approx(s["value"], rel=1e-9)


def test_doubt_is_one_minus_the_chosen_options_probability_and_guides_lns(monkeypatch):
    inst = library("hetero")[2]
    plain, = decode_instances([inst], [Objective.ENERGY])
    row, = decode_instances([inst], [Objective.ENERGY], doubt=True)
    assert (row["assignment"] == plain["assignment"]).all()  # the decision does not change
    doubt = row["starts"][0]["doubt"]
    assert doubt.shape == (inst.n_ues,) and ((doubt >= 0) & (doubt <= 1)).all()
    assert plain["starts"][0]["doubt"] is None
    import mecopt.learned.lambo_method as lambo_method

    seen = []
    original = lambo_method.finish_with_lns

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights"))
        return original(*args, **kwargs)

    monkeypatch.setattr(lambo_method, "finish_with_lns", spy)
    sol = mecopt.solve(inst, "energy", "lambo", polish=True, lns=0.2)
    assert sol.feasible and seen[0] is not None and seen[0].shape == (inst.n_ues,)


def test_polish_from_several_starts_is_never_worse_than_from_the_best_one():
    for inst in library("hetero")[:4]:
        one = mecopt.solve(inst, "latency", "lambo", samples=8, seed=2, polish=True)
        four = mecopt.solve(inst, "latency", "lambo", samples=8, seed=2, polish=True,
                            starts=4)
        # The decodes, then greedy's energy construction.
        assert one.extra["polish_starts"] == 2 and 2 <= four.extra["polish_starts"] <= 5
        assert four.extra["value_polished"] <= one.extra["value_polished"] * (1 + 1e-12)
        assert four.feasible
        assert mecopt.evaluate(inst, four.assignment, four.allocation_hz).feasible


def test_decoding_restores_the_callers_thread_count():
    torch.set_num_threads(2)
    try:
        sol = mecopt.solve(library("paper")[0], "latency", "lambo")  # decodes on 1 thread
        assert sol.status == "feasible" and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_auto_threads_one_for_a_few_rows_the_idle_cores_for_many():
    from mecopt.learned.lambo_method import AUTO_THREADS_ROWS, AUTO_THREADS_TOKENS, decode_threads

    assert decode_threads(3, 1) == 3  # an explicit count is kept
    assert decode_threads(0, 1, load=0.0) == decode_threads(0, AUTO_THREADS_ROWS - 1) == 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert decode_threads(0, AUTO_THREADS_ROWS, load=1.0) == cores  # only this process runs
    assert decode_threads(0, AUTO_THREADS_ROWS, load=cores + 1.0) == 1  # every core taken
    if cores >= 2:
        assert decode_threads(0, AUTO_THREADS_ROWS, load=2.0) == cores - 1
    # The encoder of one large instance splits over the idle cores too.
    assert decode_threads(0, 1, load=1.0, tokens=AUTO_THREADS_TOKENS) == cores
    assert decode_threads(0, 1, load=1.0, tokens=AUTO_THREADS_TOKENS - 1) == 1


def test_offload_first_order_puts_the_ues_that_cannot_stay_local_first():
    from mecopt.learned.features import decoding_order

    inst = mecopt.generate("sparse-large", seed=5_000_000)
    plain = decoding_order(inst, Objective.ENERGY)
    first = decoding_order(inst, Objective.ENERGY, offload_first=True)
    must = ~inst.option_ok[:, 0]
    k = int(must.sum())
    assert 0 < k < inst.n_ues
    assert must[first[:k]].all() and not must[first[k:]].any()
    # Each group keeps the plain order.
    assert list(first[:k]) == [i for i in plain if must[i]]
    assert list(first[k:]) == [i for i in plain if not must[i]]


def test_efficiency_order_puts_must_offload_ues_first_then_the_best_savers():
    from mecopt.learned.features import decoding_order, efficiency_order

    inst = mecopt.generate("tight", seed=5)
    order = efficiency_order(inst)
    assert sorted(order) == list(range(inst.n_ues))
    must = ~inst.option_ok[:, 0]
    k = int(must.sum())
    assert 0 < k < inst.n_ues and must[order[:k]].all()
    # The saving per unit of capacity at each UE's cheapest server never rises.
    ok = inst.option_ok[:, 1:]
    e = np.where(ok, inst.e_tx, np.inf)
    best = e.argmin(axis=1)
    rows = np.arange(inst.n_ues)
    rate = (inst.e_loc - e[rows, best]) / inst.f_min[rows, best]
    rest = order[k:]
    assert np.all(np.diff(rate[rest]) <= 1e-12)
    need = inst.f_min[rows, best]
    assert np.all(np.diff(need[order[:k]]) >= 0)  # must-offload: smallest need first
    assert np.array_equal(decoding_order(inst, Objective.ENERGY, energy_order="efficiency"),
                          order)
    # Latency keeps the regret rule whatever the network's energy order.
    assert np.array_equal(decoding_order(inst, Objective.LATENCY, energy_order="efficiency"),
                          decoding_order(inst, Objective.LATENCY))


def test_lambo_decodes_energy_in_the_order_its_checkpoint_was_trained_with(tmp_path):
    from mecopt.learned.checkpoint import load_model
    from mecopt.learned.features import make_batch
    from mecopt.learned.rollout import rollout

    ckpt = read_checkpoint(shipped_path())
    ckpt["config"]["energy_order"] = "efficiency"
    path = tmp_path / "eff.pt"
    torch.save(ckpt, path)
    model, _ = load_model(path)
    insts = [mecopt.generate("tight", seed=s) for s in range(3)]
    rows = decode_instances(insts, [Objective.ENERGY] * 3, checkpoint=str(path))
    with torch.inference_mode():
        want = rollout(model, make_batch(insts, [Objective.ENERGY] * 3,
                                         energy_order="efficiency")).assignment.numpy()
        regret = rollout(model, make_batch(insts, [Objective.ENERGY] * 3)).assignment.numpy()
    for b, (inst, row) in enumerate(zip(insts, rows, strict=True)):
        assert np.array_equal(row["assignment"], want[b, :inst.n_ues])
    assert not np.array_equal(want, regret)  # the order changes the decisions


def test_a_dead_end_row_is_decoded_again_only_where_the_order_changes(tmp_path, monkeypatch):
    """An efficiency network's energy order puts the UEs that must offload first already,
    and a row without such UEs keeps its order: a second decode would repeat the first, so
    only the repair completes those rows. A latency row with must-offload UEs decided
    later gets the second decode."""
    import mecopt.learned.lambo_method as lm

    ckpt = read_checkpoint(shipped_path())
    ckpt["config"]["energy_order"] = "efficiency"
    path = tmp_path / "eff.pt"
    torch.save(ckpt, path)
    calls = []

    def dead_ends(instances, objectives, **kw):  # every decode meets a dead end
        calls.append((list(objectives), kw.get("offload_first", False)))
        return [([], np.zeros(x.n_ues, dtype=int)) for x in instances]

    monkeypatch.setattr(lm, "_decode_pass", dead_ends)
    inst, paper = mecopt.generate("tight", seed=5), library("paper")[0]
    assert (~inst.option_ok[:, 0]).any() and paper.option_ok[:, 0].all()
    rows = decode_instances([inst, inst, paper],
                            [Objective.ENERGY, Objective.LATENCY, Objective.LATENCY],
                            checkpoint=str(path))
    assert calls == [([Objective.ENERGY, Objective.LATENCY, Objective.LATENCY], False),
                     ([Objective.LATENCY], True)]
    assert rows[0]["repaired"] and not rows[0].get("reordered")


def test_a_dead_end_is_decoded_again_with_the_ues_that_must_offload_first():
    """manyserver-5000001 (held out): the greedy decode fills the servers with UEs that could
    stay local until one that cannot finds no room; the second decode, with those UEs
    first, completes and beats the repaired first decode."""
    from mecopt.learned.lambo_method import _decode_pass
    from mecopt.repair import repair

    inst = mecopt.generate("manyserver", seed=5_000_001)
    starts, greedy = _decode_pass([inst], [Objective.ENERGY], checkpoint="", device="cpu",
                                  doubt=False)[0]
    assert starts == []  # the first decode met a dead end
    repaired = repair(inst, Objective.ENERGY, greedy)
    sol = mecopt.solve(inst, "energy", "lambo", checkpoint="lambo-s",  # auto: lambo-w
                       refine=False)  # the decode, not relocated
    assert sol.feasible and sol.extra["reordered"] and not sol.extra["repaired"]
    assert mecopt.evaluate(inst, np.array(sol.assignment)).feasible
    assert sol.objective_value < repaired.value[0]
    # In a batch with a row that meets no dead end, each row gets what it gets alone.
    other = library("paper")[0]
    rows = decode_instances([inst, other], [Objective.ENERGY] * 2)
    assert rows[0]["reordered"] and not rows[1].get("reordered")
    assert np.array_equal(rows[0]["assignment"], np.array(sol.assignment))
    alone = mecopt.solve(other, "energy", "lambo", checkpoint="lambo-s", refine=False)
    assert np.array_equal(rows[1]["assignment"], np.array(alone.assignment))


def test_infeasible_instance_says_why():
    inst = mecopt.Instance.load(INSTANCES / "tiny" / "tiny-008.json")
    sol = mecopt.solve(inst, "latency", "lambo", samples=4)
    assert sol.status == "infeasible"
    assert sol.message.startswith("proven infeasible")


def test_bad_options_are_one_line_errors(tmp_path):
    inst = library("tiny")[0]
    with pytest.raises(InputError, match="option samples: must be >= 1"):
        mecopt.solve(inst, "latency", "lambo", samples=0)
    with pytest.raises(InputError, match="option threads: must be >= 0"):
        mecopt.solve(inst, "latency", "lambo", threads=-1)
    with pytest.raises(InputError, match="option device"):
        mecopt.solve(inst, "latency", "lambo", device="tpu")
    with pytest.raises(InputError, match="option temperature: must be > 0"):
        mecopt.solve(inst, "latency", "lambo", samples=4, temperature=0)
    with pytest.raises(InputError, match="option starts: must be >= 1"):
        mecopt.solve(inst, "latency", "lambo", polish=True, starts=0)
    with pytest.raises(InputError, match="option starts: more than one start needs polish"):
        mecopt.solve(inst, "latency", "lambo", samples=4, starts=2)
    with pytest.raises(InputError, match=r"option starts: at most samples \(2\)"):
        mecopt.solve(inst, "latency", "lambo", samples=2, polish=True, starts=3)
    with pytest.raises(InputError, match="option checkpoint: no such file .* shipped "
                                         "checkpoint: .*lambo-s"):
        mecopt.solve(inst, "latency", "lambo", checkpoint=str(tmp_path / "none.pt"))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="cannot read"):
        mecopt.solve(inst, "latency", "lambo", checkpoint=str(tmp_path / "junk.pt"))


def test_cli_solve_with_lambo():
    path = INSTANCES / "paper" / "paper-000.json"
    res = CliRunner().invoke(cli, ["solve", str(path), "--method", "lambo", "--prompt",
                                   "Minimum energy", "--option", "samples=4"])
    assert res.exit_code == 0, res.output
    sol = json.loads(res.stdout)
    assert sol["method"] == "lambo" and sol["status"] == "feasible"
    assert sol["objective"] == "energy"


def test_a_shipped_checkpoint_by_name():
    inst = mecopt.Instance.load(INSTANCES / "paper" / "paper-000.json")
    default = mecopt.solve(inst, "energy", "lambo")
    named = mecopt.solve(inst, "energy", "lambo", checkpoint="lambo-s")
    assert np.array_equal(default.assignment, named.assignment)
    assert "lambo-s" in shipped_names()
    assert resolve_checkpoint("lambo-s").endswith("lambo-s.pt")
    assert resolve_checkpoint("no-such-model") == "no-such-model"


def test_auto_decodes_with_lambo_s_inside_its_training_envelope_and_lambo_w_outside():
    paper = library("paper")[0]
    tight = library("tight")[0]
    for inst, name in ((paper, "lambo-s"), (tight, "lambo-w")):
        auto = mecopt.solve(inst, "energy", "lambo", guard=False)  # the decode alone
        named = mecopt.solve(inst, "energy", "lambo", checkpoint=name)
        assert auto.extra["checkpoint"] == name
        assert np.array_equal(auto.assignment, named.assignment)
    assert "outside_training" not in mecopt.solve(paper, "latency", "lambo").extra
    sol = mecopt.solve(tight, "latency", "lambo", guard=False)  # the decode's own message
    why = sol.extra["outside_training"]
    assert "is outside lambo-s's training range" in why
    assert sol.message == f"decided by lambo-w: {why}{OUTSIDE_ADVICE}"  # the user is told
    polished = mecopt.solve(tight, "latency", "lambo", guard=False, polish=True)
    assert polished.message == f"decided by lambo-w: {why}"  # ... and not told to polish
    assert mecopt.solve(paper, "latency", "lambo", refine=False).message == ""
    assert "training range" not in mecopt.solve(paper, "latency", "lambo").message
    # Batched, each instance gets its own checkpoint's decision.
    together = mecopt.solve_many([paper, tight], "energy", "lambo")
    assert [s.extra["checkpoint"] for s in together] == ["lambo-s", "lambo-w"]
    assert np.array_equal(together[1].assignment,
                          mecopt.solve(tight, "energy", "lambo").assignment)


def test_guard_keeps_the_greedy_heuristics_decision_where_the_decode_is_far_off():
    """fuzz-217 (benchmarks/bench_fuzz.py: server capacities 300x apart) lies outside
    lambo-s's envelope, and lambo-w's decode has several times the greedy heuristic's mean
    latency: the default returns the `greedy` method's decision and says so; guard=false the
    decode."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_fuzz

    inst = bench_fuzz.fuzz_instance(217)
    greedy = mecopt.solve(inst, "latency", "greedy")
    net = mecopt.solve(inst, "latency", "lambo", guard=False)
    sol = mecopt.solve(inst, "latency", "lambo", refine=False)  # the guard's pick
    assert net.objective_value > 2 * greedy.objective_value and "guard" not in net.extra
    assert sol.extra["guard"] == GUARD_WON
    # Greedy's decision with the dual's rounding as its priced build, which the guard has
    # (the `greedy` method leaves it out below DUAL_BUILD_MIN_UES UEs): at or below greedy.
    assert inst.n_ues < DUAL_BUILD_MIN_UES
    assert sol.objective_value <= greedy.objective_value * (1 + 1e-12)
    assert sol.extra["value_network"] == pytest.approx(net.objective_value, rel=1e-9)
    assert sol.message.startswith("kept the greedy heuristic's decision, better than the "
                                  "decode of lambo-w: ")
    # The polish descends every start, relocated first: the decode, the guard's pick and
    # the dual's rounding, which lost the pick but descends lower than it; here the
    # relocated decode descends lowest of all.
    from mecopt.polish import latency_rounding

    polished = mecopt.solve(inst, "latency", "lambo", polish=True)
    from_pick = mecopt.descend(inst, "latency", sol.assignment)[1]
    from_dual = mecopt.descend(inst, "latency", latency_rounding(inst))[1]
    assert from_dual < from_pick <= sol.objective_value * (1 + 1e-12)
    assert polished.extra["polish_start"] == "decode"
    assert polished.objective_value <= from_dual * (1 + 1e-12)
    assert polished.extra["value_decoded"] == pytest.approx(net.objective_value, rel=1e-9)
    # Where the decode is as good it stays (world seed 3, 13 x 2: the decode, greedy and its
    # refinement decide alike); inside the envelope the guard does not run.
    small = mecopt.generate("world", seed=3)
    kept = mecopt.solve(small, "latency", "lambo", refine=False)
    assert kept.extra["guard"] == "decode" and kept.extra["outside_training"]
    assert kept.objective_value <= mecopt.solve(small, "latency", "greedy").objective_value
    assert np.array_equal(kept.assignment,
                          mecopt.solve(small, "latency", "lambo", guard=False).assignment)
    paper = library("paper")[0]
    assert "guard" not in mecopt.solve(paper, "latency", "lambo", refine=False).extra
    # Batched, each instance gets the decision it gets alone.
    together = mecopt.solve_many([inst, small, paper], "latency", "lambo", refine=False)
    assert [s.extra.get("guard") for s in together] == [GUARD_WON, "decode", None]
    assert np.array_equal(together[0].assignment, sol.assignment)


def test_latency_polish_also_descends_greedys_energy_construction(tmp_path):
    """The energy construction lies in a basin the latency starts miss: on the boundary
    stress draw of seed 1 (benchmarks/bench_stress.py) its descent ends 1.05% below all of
    them, and the polish keeps it; on the library it is never above that descent."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_stress

    bench_stress.draw([1], tmp_path)
    boundary = mecopt.Instance.load(tmp_path / "boundary" / "boundary-1.json")
    for inst in [boundary, *library("hetero")[10:13]]:
        built, _ = greedy_assignment(inst, "energy")
        from_energy = mecopt.descend(inst, "latency", built)[1]
        sol = mecopt.solve(inst, "latency", "lambo", polish=True)
        assert sol.feasible and sol.objective_value <= from_energy * (1 + 1e-12)
        assert mecopt.evaluate(inst, sol.assignment, sol.allocation_hz).feasible
    without = mecopt.descend(boundary, "latency", mecopt.solve(boundary, "latency", "lambo")
                             .assignment)[1]
    polished = mecopt.solve(boundary, "latency", "lambo", polish=True)
    assert polished.extra["polish_start"] == ENERGY_START
    assert polished.objective_value < without * (1 - 1e-3)


def test_guard_rounds_the_latency_dual_once_for_greedy_and_the_refinement(monkeypatch):
    """A sparse instance (100 x 10, seed 3) under the latency prompt: the Lagrangian dual's
    rounding (each UE's cheapest option at the dual's capacity prices, repaired), improved
    as greedy's priced build, beats the construction and the decode; the guard's pick is
    the `greedy` method's answer, and the dual is rounded once per call, for greedy's
    priced build and the refinement both. The guard's limit is GUARD_DUAL_CELLS, not the
    energy LP's GUARD_LP_CELLS, and it counts the usable (UE, option) pairs, which the
    dual's price evaluations touch, not N (M + 1); past it greedy still rounds the dual for
    its priced build, so the pick is the same."""
    import mecopt.improve as improve_module
    import mecopt.learned.lambo_method as lm
    from mecopt.instance import usable_options
    from mecopt.polish import latency_rounding

    inst = mecopt.generate("sparse", 100, 10, seed=3)
    greedy = mecopt.solve(inst, "latency", "greedy")
    construction = mecopt.solve(inst, "latency", "greedy", priced=False)
    net = mecopt.solve(inst, "latency", "lambo", guard=False)
    rounded = latency_rounding(inst)
    assert rounded is not None and mecopt.evaluate(inst, rounded).feasible
    assert greedy.objective_value < construction.objective_value
    assert greedy.objective_value <= mecopt.evaluate(inst, rounded).mean_latency_s
    calls = []

    def counted(instance):
        calls.append(instance)
        return latency_rounding(instance)

    monkeypatch.setattr(lm, "latency_rounding", counted)
    monkeypatch.setattr(improve_module, "latency_rounding", counted)
    sol = mecopt.solve(inst, "latency", "lambo", refine=False)
    assert len(calls) == 1
    assert sol.status == "feasible" and sol.extra["guard"] == GUARD_WON
    assert sol.objective_value == pytest.approx(greedy.objective_value, rel=1e-12)
    assert sol.objective_value < net.objective_value
    assert sol.message.startswith("kept the greedy heuristic's decision, better than the "
                                  "decode of lambo-w: ")
    polished = mecopt.solve(inst, "latency", "lambo", polish=True)
    assert polished.objective_value <= sol.objective_value
    cells = inst.n_ues * (inst.n_servers + 1)
    monkeypatch.setattr(lm, "GUARD_LP_CELLS", cells - 1)
    assert not lm.within_guard_cells(inst, Objective.ENERGY)
    assert lm.within_guard_cells(inst, Objective.LATENCY)
    pairs = int(usable_options(inst).sum())
    assert pairs < cells - 1  # sparse reach
    monkeypatch.setattr(lm, "GUARD_DUAL_CELLS", cells - 1)
    assert lm.within_guard_cells(inst, Objective.LATENCY)
    monkeypatch.setattr(lm, "GUARD_DUAL_CELLS", pairs - 1)
    assert not lm.within_guard_cells(inst, Objective.LATENCY)
    calls.clear()
    past = mecopt.solve(inst, "latency", "lambo", refine=False)
    assert len(calls) == 1  # greedy's own
    assert past.objective_value == sol.objective_value


def test_guard_keeps_the_lp_rounding_where_capacity_binds_energy(monkeypatch):
    """A sparse energy instance (each UE reaches 2-4 servers, capacity binds: a generalized
    assignment problem) outside lambo-s's envelope: the LP relaxation's rounding beats both
    the decode and the `greedy` method's decision, so the default returns it and says so; the polish
    starts from the same rounding without solving the LP again."""
    import mecopt.lns

    inst = mecopt.generate("sparse", 100, 10, seed=11)
    greedy = mecopt.solve(inst, "energy", "greedy")
    net = mecopt.solve(inst, "energy", "lambo", guard=False)
    sol = mecopt.solve(inst, "energy", "lambo", refine=False)
    assert sol.status == "feasible" and sol.extra["guard"] == GUARD_ROUNDING
    assert sol.objective_value < min(net.objective_value, greedy.objective_value)
    assert sol.extra["value_network"] == pytest.approx(net.objective_value, rel=1e-9)
    assert sol.message.startswith("kept the LP relaxation's rounding, better than the decode "
                                  "of lambo-w: ")
    assert "guard" not in mecopt.solve(inst, "latency", "lambo", guard=False).extra
    rounded = []
    real = mecopt.lns.lp_rounding
    monkeypatch.setattr(mecopt.lns, "lp_rounding",
                        lambda *a, **k: rounded.append(1) or real(*a, **k))
    polished = mecopt.solve(inst, "energy", "lambo", polish=True)
    assert len(rounded) == 1 and polished.extra["polish_start"] == "lp rounding"
    assert polished.objective_value <= sol.objective_value * (1 + 1e-12)


def test_inside_the_envelope_the_energy_guard_keeps_greedys_decision_where_cheaper():
    """hetero-000 lies inside lambo-s's envelope; for energy, the `greedy` method's decision
    is cheaper than the decode, so the default keeps it and says so, with no advice about
    the envelope and no refinement. Not for latency (the dual's rounding competes there,
    next test), nor with guard=false or an explicit checkpoint."""
    inst = library("hetero")[0]
    greedy = mecopt.solve(inst, "energy", "greedy")
    net = mecopt.solve(inst, "energy", "lambo", guard=False)
    sol = mecopt.solve(inst, "energy", "lambo")
    assert "guard" not in net.extra and "outside_training" not in sol.extra
    assert greedy.objective_value < net.objective_value
    assert sol.extra["guard"] == GUARD_WON and np.array_equal(sol.assignment, greedy.assignment)
    assert sol.extra["value_network"] == pytest.approx(net.objective_value, rel=1e-9)
    assert sol.message == "kept the greedy heuristic's decision, better than the decode of " \
                          "lambo-s"
    assert "value_refined" not in sol.extra
    assert mecopt.solve(inst, "latency", "lambo").extra["guard"] != GUARD_WON
    assert "guard" not in mecopt.solve(inst, "energy", "lambo", checkpoint="lambo-s").extra
    # Where the decode is cheaper it stays (hetero-002).
    kept = mecopt.solve(library("hetero")[2], "energy", "lambo")
    assert kept.extra["guard"] == "decode" and kept.message == ""


def test_inside_the_envelope_latency_keeps_the_dual_rounding_where_cheaper():
    """paper-000 lies inside lambo-s's envelope; for latency the Lagrangian dual's rounding,
    relocated (relocated_dual), is below the decode relocated, so the default keeps it and
    says so. Not with refine=false (the bare decode), guard=false, an explicit checkpoint or
    the polish (which has its own starts). Where the relocated decode is at or below it
    (hetero-011), the decode stays."""
    import mecopt.learned.lambo_method as lm
    from mecopt.relocate import relocate

    inst = library("paper")[0]
    sol = mecopt.solve(inst, "latency", "lambo")
    bare = mecopt.solve(inst, "latency", "lambo", refine=False)
    relocated = relocate(inst, Objective.LATENCY, bare.assignment)
    dual, value = lm.relocated_dual(inst)
    assert value < mecopt.evaluate(inst, relocated).mean_latency_s
    assert sol.extra["guard"] == GUARD_DUAL and np.array_equal(sol.assignment, dual)
    assert sol.objective_value == pytest.approx(value, rel=1e-12)
    assert sol.extra["value_network"] == pytest.approx(bare.objective_value, rel=1e-12)
    assert sol.message == "kept the Lagrangian dual's rounding, better than the decode of " \
                          "lambo-s"
    for other in (bare, mecopt.solve(inst, "latency", "lambo", guard=False),
                  mecopt.solve(inst, "latency", "lambo", checkpoint="lambo-s"),
                  mecopt.solve(inst, "latency", "lambo", polish=True)):
        assert other.extra.get("guard") != GUARD_DUAL
    assert lm.relocated_dual(inst, deadline=time.perf_counter() - 1) is None
    other = library("hetero")[11]
    kept = mecopt.solve(other, "latency", "lambo")
    stays = relocate(other, Objective.LATENCY, mecopt.solve(
        other, "latency", "lambo", refine=False).assignment)
    assert kept.extra["guard"] == "decode" and np.array_equal(kept.assignment, stays)
    assert kept.objective_value <= lm.relocated_dual(other)[1]


def test_the_guards_greedy_decision_is_the_greedy_methods_answer(monkeypatch):
    """Outside the envelope the guard's heuristic is the `greedy` method's whole decision
    (mecopt.improve.greedy_decision in the placement order, with the solve's seed), so the
    guard's pick is never above what `greedy` answers; inside the envelope the energy guard
    builds the same decision. Sparse 100 x 10 draws, both prompts, two seeds."""
    import mecopt.learned.lambo_method as lm

    calls = []
    real = lm.greedy_decision

    def spy(instance, objective, orders, **kwargs):
        calls.append((len(orders), kwargs["seed"]))
        return real(instance, objective, orders, **kwargs)

    monkeypatch.setattr(lm, "greedy_decision", spy)
    for k in (1, 2):
        inst = mecopt.generate("sparse", 100, 10, seed=k)  # outside the envelope
        for objective in ("latency", "energy"):
            for seed in (0, 5):
                greedy = mecopt.solve(inst, objective, "greedy", seed=seed)
                pick = mecopt.solve(inst, objective, "lambo", refine=False, seed=seed)
                assert calls[-1] == (1, seed)
                assert pick.objective_value <= greedy.objective_value * (1 + 1e-12)
                if pick.extra["guard"] == GUARD_WON:
                    assert np.array_equal(pick.assignment, greedy.assignment)
                final = mecopt.solve(inst, objective, "lambo", seed=seed)
                assert final.objective_value <= pick.objective_value * (1 + 1e-12)
    inside = library("hetero")[0]
    calls.clear()
    mecopt.solve(inside, "energy", "lambo")
    mecopt.solve(inside, "latency", "lambo")
    assert calls == [(1, 0)]  # energy only


def test_the_guard_keeps_a_regret_orders_construction_where_it_is_cheaper(monkeypatch):
    """Energy, sparse 80 x 8 seed 25: greedy's construction in a regret order, as built,
    is below the `greedy` method's finished decision (placement order), so the guard keeps
    it and says so; above GUARD_ORDERS_MAX_UES UEs (energy) it is not built."""
    import mecopt.learned.lambo_method as lm
    from mecopt.construct import cheapest_construction, start_orders

    inst = mecopt.generate("sparse", 80, 8, seed=25)
    regret = cheapest_construction(inst, Objective.ENERGY,
                                   start_orders(inst, Objective.ENERGY)[1:])[1]
    greedy = mecopt.solve(inst, "energy", "greedy")
    pick = mecopt.solve(inst, "energy", "lambo", refine=False)
    assert regret < greedy.objective_value
    assert pick.extra["guard"] == lm.GUARD_REGRET
    assert pick.objective_value == pytest.approx(regret, rel=1e-12)
    assert pick.message.startswith("kept the greedy construction in a regret order, better "
                                   "than the decode of lambo-w: ")
    monkeypatch.setattr(lm, "GUARD_ORDERS_MAX_UES", inst.n_ues - 1)
    assert mecopt.solve(inst, "energy", "lambo", refine=False).extra["guard"] != lm.GUARD_REGRET


def test_the_guard_builds_greedys_first_order_when_the_decode_spent_the_time_limit(
        monkeypatch):
    """A decode that spends the whole time limit (a slow or busy machine; here it finishes
    past the deadline, as its last steps or the repair can) still meets the guard: greedy's
    construction alone (past the deadline the priced build and every improvement are left
    out), no relaxation's rounding, no refinement, and greedy's decision kept where it beats
    the decode (sparse 100 x 10, energy)."""
    import mecopt.construct as construct
    import mecopt.learned.lambo_method as lm
    import mecopt.lns as lns

    built, rounded = [], []
    real, decode = construct.greedy_assignment, lm.decode_instances

    def spy(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(construct, "greedy_assignment", spy)
    monkeypatch.setattr(lm, "decode_instances",
                        lambda *a, deadline=None, **k: decode(*a, deadline=None, **k))
    monkeypatch.setattr(lns, "lp_rounding", lambda *a, **k: rounded.append(1))
    inst = mecopt.generate("sparse", 100, 10, seed=3)  # outside the envelope
    sol = mecopt.solve(inst, "energy", "lambo", time_limit=1e-6)
    assert len(built) == 1 and not rounded
    assert sol.feasible and sol.extra["guard"] == lm.GUARD_WON
    assert "value_refined" not in sol.extra
    first = construct.cheapest_construction(inst, "energy", [construct.placement_order(inst)])[1]
    assert sol.objective_value == pytest.approx(first, rel=1e-12)
    assert sol.objective_value < sol.extra["value_network"]
    assert not sol.extra["decode_timed_out"]


def test_the_decode_stops_at_the_time_limit_and_the_guard_answers():
    """A time limit the decode cannot meet stops it at the deadline (checked at every
    step, in the torch and the numpy loop); the guard's greedy decision is then the answer
    and the message says so, and with guard=false the status is timeout, not no_solution.
    Batched solves stop the same way."""
    import mecopt.learned.lambo_method as lm
    from mecopt.construct import cheapest_construction, placement_order
    from mecopt.learned.deadline import DecodeTimeout

    inst = mecopt.generate("hetero", 60, 4, seed=5)
    for loop in ("torch", "numpy"):
        with pytest.raises(DecodeTimeout):
            _rollout_with_deadline(inst, loop, time.perf_counter())
    assert _rollout_with_deadline(inst, "numpy", time.perf_counter() + 60).feasible.all()
    rows = lm.decode_instances([inst, inst], [Objective.LATENCY, Objective.ENERGY],
                               deadline=time.perf_counter())
    assert all(r["timed_out"] and r["assignment"] is None for r in rows)
    assert not lm.decode_instances([inst], [Objective.LATENCY],
                                   deadline=time.perf_counter() + 60)[0].get("timed_out")
    for objective in ("latency", "energy"):
        sol = mecopt.solve(inst, objective, "lambo", time_limit=1e-6)
        assert sol.feasible and sol.extra["decode_timed_out"]
        assert sol.extra["guard"] == lm.GUARD_WON
        assert "did not finish within the time limit" in sol.message
        first = cheapest_construction(inst, objective,
                                      [placement_order(inst, Objective.parse(objective))])[1]
        assert sol.objective_value == pytest.approx(first, rel=1e-12)
        off = mecopt.solve(inst, objective, "lambo", time_limit=1e-6, guard=False)
        assert off.status == "timeout" and "guard=false" in off.message
    for sol in mecopt.solve_many([inst] * 3, "latency", "lambo", time_limit=1e-6):
        assert sol.feasible and sol.extra["decode_timed_out"]
    both = mecopt.solve(inst, "latency", "lambo", time_limit=1e-6, checkpoint="both")
    assert both.feasible and both.extra["decode_timed_out"]


def _rollout_with_deadline(inst, loop, deadline):
    """The shipped network's greedy rollout of `inst` (latency) with `loop` and
    `deadline`."""
    from mecopt.learned import load_cached
    from mecopt.learned.features import make_batch
    from mecopt.learned.rollout import rollout

    model, _ = load_cached("lambo", "", "cpu")
    batch = make_batch([inst], [Objective.LATENCY], energy_order=model.cfg.energy_order)
    with torch.inference_mode():
        return rollout(model, batch, stats=False, loop=loop, deadline=deadline)


def test_refine_descends_from_the_guards_pick(monkeypatch):
    """Outside lambo-s's envelope the default descends from the guard's pick (refine=true):
    on a sparse instance it improves on it under both prompts and says so, within a budget
    of refine_work(instance) UE evaluations, which a time limit's deadline caps too; greedy's
    finish (mecopt.improve) then never raises it.
    It does not run inside the envelope, with guard=false, with polish (which descends
    anyway) or above REFINE_MAX_UES UEs, whatever GUARD_LP_CELLS says."""
    import mecopt.learned.lambo_method as lm

    budgets = []
    real = lm.descend

    def recorded(*args, deadline=None, max_work=None, **kwargs):
        budgets.append((deadline, max_work))
        return real(*args, deadline=deadline, max_work=max_work, **kwargs)

    monkeypatch.setattr(lm, "descend", recorded)
    inst = mecopt.generate("sparse", 100, 10, seed=29)
    work = lm.refine_work(inst)
    assert work == max(lm.REFINE_MIN_WORK, lm.REFINE_WORK_PER_UE * inst.n_ues)
    draws = {"latency": inst, "energy": mecopt.generate("sparse", 100, 10, seed=1)}
    for objective, inst in draws.items():
        pick = mecopt.solve(inst, objective, "lambo", refine=False)
        sol = mecopt.solve(inst, objective, "lambo")
        assert pick.extra["guard"] == GUARD_WON
        value = real(inst, objective, pick.assignment, max_work=work)[1]
        assert sol.extra["value_guard"] == pytest.approx(pick.objective_value, rel=1e-12)
        assert sol.extra["refine_start"] == GUARD_WON
        assert sol.extra["value_refined"] == pytest.approx(value, rel=1e-12)
        assert sol.objective_value <= value * (1 + 1e-12)
        assert sol.objective_value < pick.objective_value * (1 - 1e-3)
        assert ", then refined by local search: " in sol.message
    # Latency descends the dual's rounding too (it lost the pick), energy's LP rounding
    # descends in mecopt.polish.
    assert len(budgets) == 3 and set(budgets) == {(None, work)}
    inst = draws["energy"]
    mecopt.solve(inst, "energy", "lambo", time_limit=30)
    deadline, max_work = budgets[-1]
    assert max_work == work and 0 < deadline - time.perf_counter() <= 30  # the limit caps it
    for other in (mecopt.solve(library("paper")[0], "energy", "lambo"),
                  mecopt.solve(inst, "energy", "lambo", guard=False),
                  mecopt.solve(inst, "energy", "lambo", polish=True)):
        assert other.feasible and "value_refined" not in other.extra
    monkeypatch.setattr(lm, "GUARD_LP_CELLS", inst.n_ues * (inst.n_servers + 1) - 1)
    assert "value_refined" in mecopt.solve(inst, "energy", "lambo").extra  # no LP, a descent
    monkeypatch.setattr(lm, "REFINE_MAX_UES", inst.n_ues - 1)
    assert "value_refined" not in mecopt.solve(inst, "energy", "lambo").extra  # too large


def slow_local_search(monkeypatch) -> None:
    """Every evaluation of the shared local search (mecopt.descend) 20 ms slower: a slow or
    busy machine."""
    descend_module = sys.modules["mecopt.descend"]
    real = descend_module.evaluate_batch

    def slow(*args, **kwargs):
        time.sleep(0.02)
        return real(*args, **kwargs)

    monkeypatch.setattr(descend_module, "evaluate_batch", slow)


def test_refine_gives_the_same_answer_on_a_slower_machine(monkeypatch):
    """The refinement's budget is work, not seconds: with every evaluation of the shared
    local search made 20 ms slower (a slow or busy machine), `lambo` without a time limit
    returns the same decision, where a budget in seconds stopped the descent early."""
    draws = {"latency": mecopt.generate("sparse", 100, 10, seed=29),
             "energy": mecopt.generate("sparse", 100, 10, seed=1)}
    fast = [mecopt.solve(inst, objective, "lambo") for objective, inst in draws.items()]
    slow_local_search(monkeypatch)
    for (objective, inst), before in zip(draws.items(), fast, strict=True):
        after = mecopt.solve(inst, objective, "lambo")
        assert np.array_equal(after.assignment, before.assignment)
        assert after.objective_value == before.objective_value
        assert after.extra["value_refined"] < after.extra["value_guard"]  # it did descend


def test_batched_rows_are_refined_as_they_are_alone(monkeypatch):
    """solve_many decodes in one pass and then guards and refines each row; the refinement's
    budget is work, not the row's share of the pass's seconds, so each instance gets the
    decision it gets alone, refinement included, even with the batch's local search slowed
    by 20 ms an evaluation (a busy machine)."""
    insts = [mecopt.generate("sparse", 100, 10, seed=3), mecopt.generate("sparse", 80, 6, seed=5),
             library("paper")[0]]
    objectives = ("latency", "energy")
    alone = {o: [mecopt.solve(inst, o, "lambo") for inst in insts] for o in objectives}
    slow_local_search(monkeypatch)
    for objective in objectives:
        together = mecopt.solve_many(insts, objective, "lambo")
        assert "value_refined" in together[0].extra
        for sol, single in zip(together, alone[objective], strict=True):
            assert np.array_equal(sol.assignment, single.assignment)
            assert sol.objective_value == single.objective_value


def test_refine_also_descends_the_lp_rounding_where_it_lost_the_pick(monkeypatch):
    """Energy, heavytail seed 5,000,402: the guard keeps greedy's decision, but the LP
    relaxation's rounding, descended, ends lower than greedy's decision descended; the
    refinement keeps the better of the two descents, as the polish does, and says so."""
    import mecopt.learned.lambo_method as lm
    from mecopt.lns import lp_rounding

    monkeypatch.setattr(lm, "REFINE_MIN_WORK", 10**12)  # both descents end at their local optima
    inst = mecopt.generate("heavytail", seed=5_000_402)
    pick = mecopt.solve(inst, "energy", "lambo", refine=False)
    assert pick.extra["guard"] == GUARD_WON
    sol = mecopt.solve(inst, "energy", "lambo")
    greedy_descent = mecopt.descend(inst, "energy", pick.assignment)[1]
    fallback = np.asarray(pick.assignment)
    rounding_descent = mecopt.descend(inst, "energy",
                                      lp_rounding(inst, fallback, time_limit=10))[1]
    assert rounding_descent < greedy_descent
    assert sol.extra["refine_start"] == GUARD_ROUNDING
    assert sol.objective_value == pytest.approx(rounding_descent, rel=1e-12)
    assert ", then beaten by the LP relaxation's rounding, refined by local search: " \
        in sol.message


def test_refine_also_descends_the_dual_rounding_where_it_lost_the_pick(monkeypatch):
    """Latency, sparse 100 x 10 seed 22: the guard keeps greedy's decision (there its priced
    build, the dual's rounding improved by relocation and matching rounds), but the
    Lagrangian dual's rounding as rounded, descended, ends lower than greedy's decision
    descended; the refinement keeps the better of the two descents, as it does with the LP's
    rounding for energy."""
    import mecopt.learned.lambo_method as lm
    from mecopt.polish import latency_rounding

    monkeypatch.setattr(lm, "REFINE_MIN_WORK", 10**12)  # both descents end at their local optima
    inst = mecopt.generate("sparse", 100, 10, seed=22)
    pick = mecopt.solve(inst, "latency", "lambo", refine=False)
    assert pick.extra["guard"] == GUARD_WON
    sol = mecopt.solve(inst, "latency", "lambo")
    greedy_descent = mecopt.descend(inst, "latency", pick.assignment)[1]
    rounding_descent = mecopt.descend(inst, "latency", latency_rounding(inst))[1]
    assert rounding_descent < greedy_descent
    assert sol.extra["refine_start"] == GUARD_DUAL
    assert sol.objective_value == pytest.approx(rounding_descent, rel=1e-12)
    assert ", then beaten by the Lagrangian dual's rounding, refined by local search: " \
        in sol.message
    polished = mecopt.solve(inst, "latency", "lambo", polish=True)  # descends it too
    assert polished.objective_value <= sol.objective_value * (1 + 1e-12)


def test_checkpoint_both_keeps_the_better_of_the_two_networks():
    """On tight latency lambo-s decodes better on tight-000 and lambo-w on tight-005; both
    returns that network's decision and says which."""
    for inst, winner in ((library("tight")[0], "lambo-s"), (library("tight")[5], "lambo-w")):
        one = {ck: mecopt.solve(inst, "latency", "lambo", checkpoint=ck, refine=False)
               for ck in ("lambo-s", "lambo-w")}
        assert one[winner].objective_value < min(s.objective_value for s in one.values()) \
            * (1 + 1e-12)
        both = mecopt.solve(inst, "latency", "lambo", checkpoint="both", guard=False)
        assert both.extra["checkpoint"] == winner
        assert both.assignment == one[winner].assignment
        assert both.objective_value == pytest.approx(one[winner].objective_value, rel=1e-12)
