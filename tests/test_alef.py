"""ALEF: scenarios, the frozen encoder, the max-entropy query, the supervised update, the
`mecopt finetune` command and its bad-input errors. Small seeded cases (12-UE paper-family
instances, the energy objective, so highs labels in milliseconds)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import mecopt
from mecopt.cli.main import cli
from mecopt.errors import InputError
from mecopt.learned import alef, shipped_checkpoint
from mecopt.learned.checkpoint import load_model, save_checkpoint
from mecopt.learned.model import Lambo, LamboConfig
from mecopt.learned.scenarios import DRIFT_STEP, SCENARIOS, get_scenario, scenario_instances

from conftest import library

torch.set_num_threads(1)

SMALL = dict(objective="energy", n_ues=12, pool=6, heldout=2, batch=4, seed=3)


@pytest.fixture(scope="module")
def base():
    model, _ = load_model()
    return model


# ----------------------------------------------------------------------------- scenarios
def test_scenarios_are_seeded_and_drift_at_the_documented_step():
    for name in SCENARIOS:
        a = scenario_instances(name, 5, DRIFT_STEP + 1, n_ues=10)
        b = scenario_instances(name, 5, DRIFT_STEP + 1, n_ues=10)
        c = scenario_instances(name, 6, DRIFT_STEP + 1, n_ues=10)
        assert all(np.array_equal(x.rate_bps, y.rate_bps) and np.array_equal(x.cycles, y.cycles)
                   for x, y in zip(a, b, strict=True)), name
        assert not np.array_equal(a[-1].cycles, c[-1].cycles), name
    before, after = {}, {}
    for name in SCENARIOS:
        insts = scenario_instances(name, 0, DRIFT_STEP + 1)
        before[name], after[name] = insts[DRIFT_STEP - 1], insts[DRIFT_STEP]
    cap = before["capacity-drop"].capacity_hz
    assert np.allclose(after["capacity-drop"].capacity_hz, [cap[0], cap[1], cap[2], cap[3] / 2])
    assert after["server-loss"].n_servers == 3 and before["server-loss"].n_servers == 4
    assert np.allclose(after["server-loss"].capacity_hz, cap[:3])
    assert (before["density"].n_ues, after["density"].n_ues) == (50, 75)
    lo, hi = before["task-growth"].cycles.mean(), after["task-growth"].cycles.mean()
    assert 1.4 < hi / lo < 1.6
    # mobility: no drift, but UEs move (up to 1.2 m/s over dt = 5 s) and fading is redrawn
    m0, m1 = before["mobility"], after["mobility"]
    step = np.linalg.norm(m1.ue_position_m - m0.ue_position_m, axis=1)
    assert 0 < step.max() <= 1.2 * 5 + 1e-9
    assert np.array_equal(m0.capacity_hz, m1.capacity_hz)


def test_unknown_scenario_is_a_one_line_error():
    with pytest.raises(InputError, match=r"^scenario: unknown 'tsunami'; valid: mobility") as e:
        get_scenario("tsunami")
    assert "\n" not in str(e.value)


def test_timeline_holds_out_instances_that_are_never_in_the_pool():
    cfg = alef.ALEFConfig(scenario="capacity-drop", budget=4, windows=2, **SMALL)
    windows = alef.timeline(cfg)
    assert [w.label for w in windows] == ["before drift", "window 1", "window 2", "after ALEF"]
    assert windows[0].steps == (DRIFT_STEP - 2, DRIFT_STEP - 1) and not windows[0].pool
    assert windows[1].steps[0] == DRIFT_STEP
    for w in windows[1:]:
        assert len(w.pool) == 6 and len(w.heldout) == 2
        assert not {x.name for x in w.pool} & {x.name for x in w.heldout}
    names = [x.name for w in windows for x in w.pool + w.heldout]
    assert len(names) == len(set(names))
    assert cfg.per_window() == [2, 2]
    assert alef.ALEFConfig(scenario="density", budget=5, windows=3).per_window() == [2, 2, 1]


# ----------------------------------------------------------------------------- query
def test_max_entropy_picks_the_highest_entropy_instances():
    entropy = np.array([0.10, 0.90, 0.50, 0.95, 0.30, 0.70])
    rng = np.random.default_rng(0)
    assert list(alef.select_queries(entropy, 3, "max-entropy", rng)) == [3, 1, 5]
    picked = alef.select_queries(entropy, 3, "random", rng)
    assert len(set(picked)) == 3 and set(picked) <= set(range(6))
    assert list(alef.select_queries(entropy, 2, "all", rng)) == list(range(6))


def test_max_entropy_never_queries_an_instance_the_model_is_certain_about(base):
    """Constructed: on instances whose servers are all unreachable every UE has one option
    (local), so the decoder's entropy is exactly 0; with k no larger than the number of
    ordinary instances, max-entropy must pick only ordinary ones, ranked by their entropy."""
    ordinary = scenario_instances("server-loss", 1, 4, n_ues=12)
    certain = [x.replace(name=f"{x.name}-cut", rate_bps=np.zeros_like(x.rate_bps))
               for x in ordinary[:3]]
    pool = [certain[0], ordinary[0], certain[1], ordinary[1], ordinary[2], certain[2],
            ordinary[3]]
    _, entropy, _ = alef.deploy(base, pool, "latency")
    assert np.all(entropy[[0, 2, 5]] == 0) and np.all(entropy[[1, 3, 4, 6]] > 0)
    chosen = alef.select_queries(entropy, 4, "max-entropy", np.random.default_rng(0))
    assert sorted(chosen) == [1, 3, 4, 6]
    assert list(entropy[chosen]) == sorted(entropy[[1, 3, 4, 6]], reverse=True)


def test_the_query_ranks_by_the_decisions_entropy_not_its_mean_per_ue(base):
    """A pool of instances of different sizes: each one's uncertainty is the sum of its
    decoding steps' entropies, as the rollout of that instance alone gives it, so a larger
    instance is not diluted by its size."""
    from mecopt.learned.features import make_batch
    from mecopt.learned.rollout import rollout

    pool = [mecopt.generate("tight", seed=s) for s in range(11, 19)]
    assert len({x.n_ues for x in pool}) > 1
    _, entropy, _ = alef.deploy(base, pool, "energy")
    alone = []
    for x in pool:
        batch = make_batch([x], ["energy"], energy_order=base.cfg.energy_order)
        with torch.no_grad():
            alone.append(float(rollout(base, batch).entropy[0]))
    np.testing.assert_allclose(entropy, alone, rtol=1e-4)
    per_ue = np.array(alone) / [x.n_ues for x in pool]
    assert (np.argsort(-entropy, kind="stable") != np.argsort(-per_ue, kind="stable")).any(), \
        "a pool where the sum and the mean rank differently"


# ----------------------------------------------------------------------------- update
def test_encoder_is_bit_identical_and_decoder_changed(base):
    # gate=False: the update is always kept, so it must have changed every decoder part
    cfg = alef.ALEFConfig(scenario="capacity-drop", budget=4, windows=1, steps=3, gate=False,
                          **SMALL)
    cache = alef.ExpertCache(cfg.objective, cfg.expert, cfg.seed)
    tuned, record = alef.run_strategy(base, alef.timeline(cfg), cfg, "max-entropy", cache)
    assert record["labels"] == 4
    assert_only_decoder_changed(base.state_dict(), tuned.state_dict())


def assert_only_decoder_changed(before: dict, after: dict) -> None:
    """Every frozen tensor bit-identical, every decoder part changed."""
    assert before.keys() == after.keys()
    changed_parts = set()
    for name, value in before.items():
        if alef.is_decoder(name):
            if not torch.equal(value, after[name]):
                changed_parts.add(name.split(".")[0])
        else:  # bit for bit: same dtype, shape and every value
            assert value.dtype == after[name].dtype and torch.equal(value, after[name]), name
    assert changed_parts == set(alef.DECODER_PARTS)
    tops = {name.split(".")[0] for name in before}
    assert tops == set(alef.DECODER_PARTS) | set(alef.FROZEN_PARTS)


@pytest.mark.parametrize("align", [False, True])
def test_finetuning_on_a_drifted_scenario_lowers_the_supervised_loss(base, align):
    """align=False is the paper's recipe (the expert's own options on every UE), checked
    independently of the loop; align=True is the default loss (re-matched labels, imitated
    up to their first correction), checked by the loop's own record (the loss over its
    labelled set before and after the update). The gate is off so the update is kept."""
    cfg = alef.ALEFConfig(scenario="server-loss", budget=6, windows=1, steps=8, align=align,
                          prefix=align, gate=False, **SMALL)
    cache = alef.ExpertCache(cfg.objective, cfg.expert, cfg.seed)
    windows = alef.timeline(cfg)
    assert all(x.n_servers == 3 for x in windows[1].pool)  # after the drift
    tuned, record = alef.run_strategy(base, windows, cfg, "max-entropy", cache)
    assert record["labels"] == 6
    point = record["points"][1]
    assert point["loss_after"] < point["loss_before"], point
    if not align:
        names = set(record["labelled"])
        labelled = [cache.label(x) for x in windows[1].pool if x.name in names]
        old = alef.labelled_loss(base, labelled, cfg.objective)
        new = alef.labelled_loss(tuned, labelled, cfg.objective)
        assert new["loss"] < old["loss"], (old, new)
        assert new["ce"] < old["ce"], (old, new)
        assert old["loss"] == pytest.approx(point["loss_before"], rel=1e-5)


def test_supervised_loss_follows_the_expert_options(base):
    """Teacher forcing scores the expert's own options: their off-label count is 0, and the
    cross-entropy of the expert's assignment is finite and positive."""
    insts = scenario_instances("density", 2, 3, n_ues=10)
    cache = alef.ExpertCache("energy", "highs")
    labels = [cache.label(x) for x in insts]
    loss, stats = alef.supervised_loss(base, labels, "energy")
    assert stats["off_label"] == 0
    assert 0 < stats["ce"] < np.log(5) * 3 and stats["share"] >= 0
    assert loss.requires_grad


def test_correction_mask_ends_at_the_first_departure_in_decoding_order():
    """Constructed: the label departs from the deployed decision at two UEs; the mask keeps
    every UE decided up to the earlier of them (in decoding order), that UE included."""
    from mecopt.learned.features import decoding_order, make_batch

    inst = scenario_instances("capacity-drop", 4, 1, n_ues=8)[0]
    order = decoding_order(inst, mecopt.Objective.LATENCY)
    deployed = mecopt.solve(inst, "latency", "greedy").assignment
    label = deployed.copy()
    for step in (5, 2):  # change the UEs decided at steps 2 and 5
        ue = order[step]
        label[ue] = next(k for k in range(inst.n_servers + 1)
                         if k != deployed[ue] and inst.option_ok[ue, k])
    lab = alef.Label(inst, label, np.zeros(8), 0.0, "optimal", 0.0, deployed=deployed)
    batch = make_batch([inst], ["latency"])
    mask = alef.correction_mask([lab], batch.order)[0].numpy()
    assert set(np.nonzero(mask)[0]) == set(order[:3])
    agree = alef.Label(inst, deployed, np.zeros(8), 0.0, "optimal", 0.0, deployed=deployed)
    assert alef.correction_mask([agree], batch.order).all()


def test_step_log_probs_add_up_to_the_decode_log_prob(base):
    from mecopt.learned.features import make_batch
    from mecopt.learned.rollout import rollout
    from mecopt.learned.strategies import Sampling

    insts = scenario_instances("density", 1, 3, n_ues=9)
    batch = make_batch(insts, ["latency"] * 3)
    with torch.no_grad():
        out = rollout(base, batch, Sampling(generator=torch.Generator().manual_seed(0)),
                      samples=2)
    assert out.step_log_prob.shape == out.assignment.shape
    assert torch.allclose(out.step_log_prob.sum(1), out.log_prob)
    assert (out.step_log_prob <= 0).all()


@pytest.mark.parametrize("keep", [False, True])
def test_gate_rolls_back_an_update_it_does_not_keep(base, monkeypatch, keep):
    cfg = alef.ALEFConfig(scenario="capacity-drop", budget=4, windows=1, steps=3, gate=True,
                          **SMALL)
    cache = alef.ExpertCache(cfg.objective, cfg.expert, cfg.seed)
    monkeypatch.setattr(alef, "gate_keeps", lambda *a, **k: keep)
    tuned, record = alef.run_strategy(base, alef.timeline(cfg), cfg, "max-entropy", cache)
    assert record["points"][1]["kept"] is keep
    same = all(torch.equal(v, tuned.state_dict()[k]) for k, v in base.state_dict().items())
    assert same is not keep


def test_the_gate_set_is_drawn_apart_from_the_strategies_and_capped_at_a_quarter():
    cfg = alef.ALEFConfig(scenario="capacity-drop", gate_set=8, seed=5)
    held = alef.gate_split(cfg, 48, 0)
    assert len(held) == 8 and len(set(held)) == 8 and held.max() < 48
    assert np.array_equal(held, alef.gate_split(cfg, 48, 0))  # seeded
    assert not np.array_equal(held, alef.gate_split(cfg, 48, 1))  # a new draw per window
    assert len(alef.gate_split(cfg, 20, 0)) == 5  # a quarter of a small pool
    assert len(alef.gate_split(cfg, 3, 0)) == 0  # too small to hold any back
    assert len(alef.gate_split(dataclasses.replace(cfg, gate=False), 48, 0)) == 0


@pytest.mark.parametrize("strategy", alef.STRATEGIES)
def test_the_gate_judges_on_its_held_back_set_which_no_strategy_labels(base, monkeypatch,
                                                                        strategy):
    cfg = alef.ALEFConfig(scenario="capacity-drop", budget=4, windows=2, steps=1,
                          gate_set=2, **{**SMALL, "pool": 8})
    seen = []

    def judge(model, pool, before, labelled, objective, judged=None):
        seen.append((np.asarray(labelled), judged))
        return False
    monkeypatch.setattr(alef, "gate_keeps", judge)
    cache = alef.ExpertCache(cfg.objective, cfg.expert, cfg.seed)
    alef.run_strategy(base, alef.timeline(cfg), cfg, strategy, cache)
    assert len(seen) == 2
    for w, (labelled, judged) in enumerate(seen):
        assert np.array_equal(judged, alef.gate_split(cfg, 8, w))
        assert len(judged) == 2 and not set(labelled) & set(judged)
        # 2 labels a window; `all` labels every instance not held back
        assert len(labelled) == (6 if strategy == "all" else 2)


def test_gate_keeps_only_an_update_that_lowers_the_pool_cost(base):
    pool = scenario_instances("server-loss", 2, 6, n_ues=10)
    values, _, _ = alef.deploy(base, pool, "energy")
    labelled = np.array([0, 1])
    assert not alef.gate_keeps(base, pool, values, labelled, "energy")  # no change
    assert alef.gate_keeps(base, pool, values * 1.01, labelled, "energy")  # 1% better


def test_the_gate_rejects_a_gain_inside_its_standard_error(base):
    """Better on average over the judged instances, but by less than the standard error of
    the mean ratio: noise, not kept; the same gain on every instance is kept."""
    pool = scenario_instances("server-loss", 2, 6, n_ues=10)
    values, _, _ = alef.deploy(base, pool, "energy")
    labelled = np.array([0, 1])
    mixed = values * np.array([1, 1, 1.5, 0.9, 1.5, 0.9])  # ratios 0.67, 1.11: mean 0.89
    assert np.mean(values[2:] / mixed[2:]) < 1  # the mean alone would keep it
    assert not alef.gate_keeps(base, pool, mixed, labelled, "energy")
    assert alef.gate_keeps(base, pool, values * 1.005, labelled, "energy")


def test_gate_keeps_an_update_that_decides_what_the_deployed_decoder_could_not(base):
    """A pool instance the deployed decoder dead-ended on (nan) and the update decides
    counts for the update, even where the deployed decoder decided none of them; one it
    decided and the update does not counts against."""
    pool = scenario_instances("server-loss", 2, 6, n_ues=10)
    values, _, _ = alef.deploy(base, pool, "energy")
    assert np.isfinite(values).all()
    labelled = np.array([0, 1])
    dead = values.copy()
    dead[2] = np.nan
    assert alef.gate_keeps(base, pool, dead, labelled, "energy")  # one more decided
    dead[2:] = np.nan
    assert alef.gate_keeps(base, pool, dead, labelled, "energy")  # none decided before
    worse = values * 0.99
    worse[2] = np.nan
    assert not alef.gate_keeps(base, pool, worse, labelled, "energy")  # gains, but dearer


@pytest.mark.parametrize("recipe, objective, reorder, efficiency", [
    ("strong", "energy", True, True), ("gentle", "energy", True, False),
    ("strong", "latency", True, False), ("strong", "energy", False, False)])
def test_strong_energy_updates_train_in_the_efficiency_order(base, recipe, objective, reorder,
                                                             efficiency):
    cfg = alef.ALEFConfig(scenario="density", recipe=recipe, objective=objective,
                          reorder=reorder)
    wcfg = alef.window_config(cfg, 0.0)
    want = "efficiency" if efficiency else base.cfg.energy_order
    assert alef.update_order(base, cfg, wcfg) == want


@pytest.mark.parametrize("reorder, kept", [(True, True), (False, True), (True, False)])
def test_alef_decodes_in_the_order_its_kept_update_trained_in(base, monkeypatch, reorder,
                                                              kept):
    assert base.cfg.energy_order == "regret"  # the shipped lambo-s
    cfg = alef.ALEFConfig(scenario="capacity-drop", budget=4, windows=2, steps=2,
                          strong_steps=2, recipe="strong", reorder=reorder, **SMALL)
    trained_in = []
    monkeypatch.setattr(alef, "update", lambda model, *a: trained_in.append(
        model.cfg.energy_order) or [])
    monkeypatch.setattr(alef, "gate_keeps", lambda *a, **k: kept)
    cache = alef.ExpertCache(cfg.objective, cfg.expert, cfg.seed)
    tuned, record = alef.run_strategy(base, alef.timeline(cfg), cfg, "max-entropy", cache)
    order = "efficiency" if reorder else "regret"
    assert trained_in == [order, order]
    # a rejected update goes back to the deployed decoder and its order
    want = order if kept else "regret"
    assert tuned.cfg.energy_order == record["energy_order"] == want
    assert base.cfg.energy_order == "regret"  # the pre-trained model is untouched


def test_label_excess_prices_the_models_decisions_against_the_labels():
    inst = scenario_instances("density", 0, 1, n_ues=6)[0]

    def label(value):
        return alef.Label(inst, np.zeros(6, int), np.zeros(6), value, "optimal", 0.0)

    deployed = np.array([1.1, 2.0, np.inf])
    assert alef.label_excess(deployed, []) == 0.0
    assert alef.label_excess(deployed, [(0, label(1.0))]) == pytest.approx(0.1)
    # a decode that ran out of options counts as twice the label's cost
    assert alef.label_excess(deployed, [(1, label(2.0)), (2, label(1.0))]) == pytest.approx(0.5)


@pytest.mark.parametrize("recipe, excess, strong", [
    ("gentle", 0.5, False), ("strong", 0.0, True), ("auto", 0.01, False), ("auto", 0.03, True)])
def test_window_config_picks_the_recipe(recipe, excess, strong):
    cfg = alef.ALEFConfig(scenario="density", recipe=recipe, steps=7, strong_steps=33)
    got = alef.window_config(cfg, excess)
    if strong:
        assert (got.align, got.prefix, got.steps) == (False, False, 33)
    else:
        assert got is cfg


def test_auto_recipe_goes_strong_when_the_labels_beat_the_model(base, monkeypatch):
    """The record says which recipe each window used and why: with a threshold of -1 every
    window is strong (its labels beat the model by more than -100%), with an infinite one
    none is."""
    for above, recipe in ((-1.0, "strong"), (float("inf"), "gentle")):
        cfg = alef.ALEFConfig(scenario="capacity-drop", budget=4, windows=2, steps=1,
                              strong_steps=2, strong_above=above, **SMALL)
        cache = alef.ExpertCache(cfg.objective, cfg.expert, cfg.seed)
        seen: list[int] = []
        monkeypatch.setattr(alef, "update", lambda m, o, new, old, wcfg, rng, seen=seen:
                            seen.append(wcfg.steps) or [])
        _, record = alef.run_strategy(base, alef.timeline(cfg), cfg, "max-entropy", cache)
        windows = [p for p in record["points"] if "recipe" in p]
        assert [p["recipe"] for p in windows] == [recipe, recipe]
        assert all(np.isfinite(p["label_excess"]) for p in windows)
        assert seen == ([2, 2] if recipe == "strong" else [1, 1])


def test_align_label_keeps_the_value_and_moves_towards_the_model():
    """Constructed: with identical UEs every permutation of an optimum is an optimum, so a
    model decision that permutes the expert's is reachable exactly; on an ordinary instance
    the aligned label stays within the tolerance and agrees at least as often."""
    inst = scenario_instances("capacity-drop", 4, 1, n_ues=8)[0]
    same = inst.replace(cycles=np.full(8, inst.cycles[0]), data_bits=np.full(8, inst.data_bits[0]),
                        rate_bps=np.repeat(inst.rate_bps[:1], 8, axis=0))
    expert = mecopt.solve(same, "latency", "highs").assignment
    model = np.roll(expert, 3)
    assert not np.array_equal(model, expert)
    assert np.array_equal(alef.align_label(same, "latency", expert, model, tol=1e-9), model)
    sol = mecopt.solve(inst, "latency", "highs")
    expert, model = np.array(sol.assignment), np.roll(sol.assignment, 1)
    label = alef.align_label(inst, "latency", expert, model, tol=3e-3)
    ev = mecopt.evaluate(inst, label)
    assert ev.feasible and ev.value("latency") <= sol.objective_value * (1 + 3e-3)
    assert (label == model).sum() >= (expert == model).sum()


# ----------------------------------------------------------------------------- CLI
@pytest.fixture()
def runner():
    return CliRunner()


def _error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()[-1]


@pytest.mark.parametrize("args, field", [
    (["--scenario", "tsunami"], "scenario"),
    (["--scenario", "density", "--expert", "gurobi"], "expert"),
    (["--scenario", "density", "--budget", "0"], "budget"),
    (["--scenario", "density", "--strong-above", "-1"], "strong_above"),
    (["--scenario", "density", "--gate-set", "-1"], "gate_set"),
])
def test_bad_input_is_a_one_line_error(runner, tmp_path, args, field):
    result = runner.invoke(cli, ["finetune", *args, "-o", str(tmp_path / "x.pt")])
    line = _error_line(result)
    assert line.startswith(f"Error: {field}:"), line
    assert not (tmp_path / "x.pt").exists()


def test_unknown_recipe_is_a_one_line_error(runner, tmp_path):
    line = _error_line(runner.invoke(cli, ["finetune", "--scenario", "density", "--recipe",
                                           "bold", "-o", str(tmp_path / "x.pt")]))
    assert "--recipe" in line and "'bold'" in line
    with pytest.raises(InputError, match="^recipe: unknown 'bold'"):
        alef.ALEFConfig(scenario="density", recipe="bold").check()


def test_checkpoint_of_another_preset_is_a_one_line_error(runner, tmp_path):
    small = LamboConfig(d_model=16, n_heads=2, d_ff=32, n_encoder_layers=1, d_set=16,
                        d_head=16)
    for preset, field in (("lambo-s", "config"), ("lambo-m", "preset")):
        path = tmp_path / f"{preset}.pt"
        save_checkpoint(path, Lambo(small), preset=preset, command="test", step=0, metrics={})
        result = runner.invoke(cli, ["finetune", "--checkpoint", str(path), "--scenario",
                                     "density", "-o", str(tmp_path / "x.pt")])
        line = _error_line(result)
        assert line.startswith(f"Error: checkpoint {path}: {field}:"), line


def test_finetune_command_writes_checkpoint_report_and_plot(runner, tmp_path):
    out = tmp_path / "tuned.pt"
    result = runner.invoke(cli, [
        "finetune", "--scenario", "server-loss", "--objective", "energy", "--n-ues", "12",
        "--budget", "3", "--windows", "2", "--pool", "4", "--heldout", "2", "--steps", "2",
        "--seed", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "[max-entropy] window 2" in result.output  # progress (stderr, mixed in here)
    model, info = load_model(out)
    assert info["preset"] == "lambo-s" and info["metrics"]["alef_strategy"] == "max-entropy"
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["format"] == "mecopt-alef-report"
    assert set(report["gap"]) == {"none", "max-entropy", "random", "expert"}
    assert all(len(v) == 4 for v in report["gap"].values())  # before, 2 windows, after
    assert report["gap"]["expert"] == [0.0] * 4  # the expert is highs: the optimum
    assert {k: len(v) for k, v in report["no_decision"].items()} == \
        {k: len(v) for k, v in report["gap"].items()}
    assert report["runs"]["max-entropy"]["labels"] == 3
    # the checkpoint decodes energy in the order ALEF chose
    assert model.cfg.energy_order == report["runs"]["max-entropy"]["energy_order"]
    # before the drift nothing is fine-tuned yet: every model curve agrees
    assert len({report["gap"][k][0] for k in ("none", "max-entropy", "random")}) == 1
    assert out.with_suffix(".png").stat().st_size > 1000
    # the saved model decides instances like any LAMBO checkpoint
    inst = scenario_instances("server-loss", 1, 1, n_ues=12)[0]
    sol = mecopt.solve(inst, "energy", "lambo", checkpoint=str(out))
    assert sol.feasible


# ----------------------------------------------------------------------------- own snapshots
# 2 windows of 4 pool + 2 held-out snapshots, then 2 held-out after ALEF: 14 snapshots.
OWN = ["--objective", "energy", "--budget", "3", "--windows", "2", "--pool", "4",
       "--heldout", "2", "--steps", "2", "--seed", "1"]


def snapshots(count: int = 14) -> list[mecopt.Instance]:
    """Time-ordered snapshots of mixed sizes: 8, 10 or 12 UEs on 3 or 4 servers."""
    return [mecopt.generate("paper", (8, 10, 12)[k % 3], (3, 4)[k % 2], seed=700 + k,
                            name=f"snap-{k:02d}") for k in range(count)]


def bad_shape(inst: mecopt.Instance) -> dict:
    """The instance's JSON with one UE's rate row missing."""
    data = inst.to_dict()
    data["rate_bps"] = data["rate_bps"][:-1]
    return data


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory):
    """14 valid snapshot files, a malformed one and a bad-shaped one among them."""
    folder = tmp_path_factory.mktemp("snapshots")
    for k, inst in enumerate(snapshots()):
        inst.save(folder / f"t{k:02d}.json")
    (folder / "t03-cut.json").write_text('{"format": "mecopt-instance", "ues": {')
    (folder / "t07-shape.json").write_text(json.dumps(bad_shape(snapshots(1)[0])))
    return folder


def test_own_snapshots_are_read_in_order_and_cut_into_windows(snapshot_dir):
    skipped = []
    snaps = alef.read_snapshots(snapshot_dir, skipped.append)
    assert [x.name for x in snaps] == [f"snap-{k:02d}" for k in range(14)]  # file-name order
    assert len(skipped) == 2
    assert skipped[0].startswith(f"skipped {snapshot_dir / 't03-cut.json'}: malformed JSON")
    assert skipped[1] == (f"skipped {snapshot_dir / 't07-shape.json'}: rate_bps: expected "
                          "shape [8, 3] (N UEs x M servers), got [7, 3]")
    cfg = alef.ALEFConfig(instances=str(snapshot_dir), budget=3, windows=2, pool=4, heldout=2)
    windows = alef.timeline(cfg, snaps)
    assert [w.label for w in windows] == ["window 1", "window 2", "after ALEF"]
    assert [(len(w.pool), len(w.heldout)) for w in windows] == [(4, 2), (4, 2), (0, 2)]
    assert [w.steps for w in windows] == [(0, 5), (6, 11), (12, 13)]
    assert [x.name for x in windows[0].heldout] == ["snap-01", "snap-04"]  # evenly spaced
    assert [x.name for x in windows[-1].heldout] == ["snap-12", "snap-13"]
    assert len({(x.n_ues, x.n_servers) for x in windows[0].pool}) > 1  # mixed sizes
    with pytest.raises(InputError, match=r"^instances: .* has 14 valid snapshots, but "
                                         r"--windows 3 x \(--pool 4 \+ --heldout 2\) \+ 2 "
                                         r"after ALEF need 20$"):
        alef.timeline(dataclasses.replace(cfg, windows=3), snaps)


def test_own_snapshots_from_jsonl_skip_bad_lines_and_get_unique_names(tmp_path):
    insts = [x.replace(name="snapshot") for x in snapshots(3)]  # the same name three times
    nan = insts[1].to_dict()
    nan["ues"]["cycles"][0] = float("nan")  # json writes NaN, which Instance rejects
    lines = [json.dumps(insts[0].to_dict()), "{not json", "", json.dumps(nan),
             json.dumps(insts[1].to_dict()), json.dumps(insts[2].to_dict())]
    path = tmp_path / "snaps.jsonl"
    path.write_text("\n".join(lines) + "\n")
    skipped = []
    snaps = alef.read_snapshots(path, skipped.append)
    assert [x.name for x in snaps] == ["snapshot@1", "snapshot@2", "snapshot@3"]
    assert [x.n_ues for x in snaps] == [8, 10, 12]
    assert skipped[0].startswith(f"skipped {path} line 2: malformed JSON at column 2")
    assert skipped[1] == (f"skipped {path} line 4: ues.cycles[0] (UE 0): not a finite number "
                          "(nan)")
    assert len(skipped) == 2


def test_finetune_on_own_snapshots_tunes_only_the_decoder(runner, snapshot_dir, tmp_path):
    out = tmp_path / "own.pt"
    result = runner.invoke(cli, ["finetune", "--instances", str(snapshot_dir), *OWN,
                                 "--strategies", "max-entropy", "--no-gate", "-o", str(out)])
    assert result.exit_code == 0, result.output
    err = result.stderr.splitlines()
    assert err[0].startswith(f"skipped {snapshot_dir / 't03-cut.json'}: malformed JSON")
    assert err[1].startswith(f"skipped {snapshot_dir / 't07-shape.json'}: rate_bps:")
    # 8-12 UEs: fewer than lambo-s trained on, so it starts from lambo-w, as `lambo` would.
    assert err[2].startswith("14 of 14 snapshots lie outside lambo-s's training envelope "
                             "(first: UE feature log N = ")
    assert err[2].endswith("starting from lambo-w, as the lambo method decides them; "
                           "--checkpoint fixes the model")
    base, _ = load_model(shipped_checkpoint("lambo-w.pt"))
    assert "held-out gap in window 1" in result.stdout and "before fine-tuning" in result.stdout
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["scenario"] is None and report["drift_step"] is None
    assert (report["instances"], report["snapshots"]) == (str(snapshot_dir), 14)
    assert report["checkpoint"] == str(shipped_checkpoint("lambo-w.pt"))
    assert [w["label"] for w in report["windows"]] == ["window 1", "window 2", "after ALEF"]
    assert all(len(v) == 3 for v in report["gap"].values())
    summary = report["summary"]
    for key in ("first_window", "no_finetune_final", "max-entropy_final", "expert_final"):
        assert summary[key] is not None and summary[key] >= 0, key
    assert summary["max-entropy_change"] == pytest.approx(
        summary["max-entropy_final"] - summary["no_finetune_final"])
    assert report["runs"]["max-entropy"]["labels"] == 3
    assert out.with_suffix(".png").stat().st_size > 1000
    tuned, info = load_model(out)
    assert info["metrics"]["alef_config"]["instances"] == str(snapshot_dir)
    assert_only_decoder_changed(base.state_dict(), tuned.state_dict())


def test_finetune_starts_where_lambo_would_decide_the_snapshots():
    from mecopt.cli.finetune_command import _auto_start

    notes: list[str] = []
    default = shipped_checkpoint("lambo-s.pt")
    paper = library("paper")[:4]
    assert _auto_start(paper, default, notes.append) == default and not notes
    # Two of four outside is not more than half: lambo-s stays.
    assert _auto_start(paper[:2] + library("tight")[:2], default, notes.append) == default
    assert _auto_start(paper[:1] + library("tight")[:3], default, notes.append) == \
        shipped_checkpoint("lambo-w.pt")
    assert notes[0].startswith("3 of 4 snapshots lie outside lambo-s's training envelope")


def test_finetune_on_a_jsonl_file(runner, tmp_path):
    path = tmp_path / "snaps.jsonl"
    path.write_text("".join(json.dumps(x.to_dict()) + "\n" for x in snapshots())
                    + "[1, 2]\n")
    out = tmp_path / "own.pt"
    result = runner.invoke(cli, ["finetune", "--instances", str(path), *OWN, "--steps", "1",
                                 "--strategies", "random", "--quiet", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr == (f"skipped {path} line 15: instance: expected a JSON object at "
                             "the top level\n")
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["runs"]["random"]["labels"] == 3 and len(report["gap"]["random"]) == 3


@pytest.mark.parametrize("args, message", [
    ([], "give exactly one of --scenario and --instances"),
    (["--scenario", "density", "--instances", "DIR"],
     "give exactly one of --scenario and --instances"),
    (["--instances", "DIR", "--n-ues", "10"],
     "n_ues: only with --scenario (your snapshots have their own sizes)"),
    (["--instances", "DIR", "--windows", "3", "--pool", "4", "--heldout", "2"],
     "instances: DIR has 14 valid snapshots, but --windows 3 x (--pool 4 + --heldout 2) + 2 "
     "after ALEF need 20"),
    (["--instances", "EMPTY"], "EMPTY: no valid instance (1 skipped)"),
])
def test_own_snapshot_errors_are_one_line(runner, snapshot_dir, tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.json").write_text("[]")
    where = {"DIR": str(snapshot_dir), "EMPTY": str(empty)}
    args = [where.get(a, a) for a in args]
    for name, folder in where.items():
        message = message.replace(name, folder)
    result = runner.invoke(cli, ["finetune", *args, "-o", str(tmp_path / "x.pt")])
    assert _error_line(result) == f"Error: {message}"
    assert not (tmp_path / "x.pt").exists()


def test_a_held_out_instance_without_a_decision_is_counted_not_hidden(monkeypatch):
    """The held-out gap is a mean over the instances the model decided; one it could not
    decide is counted beside it, and a window where it decided none prints no number."""
    window = alef.Window(label="window 1", pool=[], heldout=["a", "b"], steps=(0, 1))

    class Optima:
        objective = "energy"

        def optimum(self, _):
            return 2.0

    def deploy(values):
        return lambda model, insts, objective: (np.array(values), np.zeros(2), [None] * 2)

    monkeypatch.setattr(alef, "deploy", deploy([np.nan, 2.1]))
    point = alef.heldout_gap(None, window, Optima())
    assert point == {"gap": pytest.approx(5.0), "no_decision": 1, "instances": 2}
    assert alef.gap_text(point) == "  5.00% (1 of 2 without a decision)"
    monkeypatch.setattr(alef, "deploy", deploy([np.nan, np.nan]))
    assert alef.gap_text(alef.heldout_gap(None, window, Optima())) == \
        "      - (2 of 2 without a decision)"
    monkeypatch.setattr(alef, "deploy", deploy([2.0, 2.2]))
    assert alef.gap_text(alef.heldout_gap(None, window, Optima())) == "  5.00%"
