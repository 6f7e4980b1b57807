"""ACL pre-training: a real learning signal, the CLI, checkpoints, and DDP with gloo."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mecopt.cli.main import cli
from mecopt.errors import InputError
from mecopt.generators import generate
from mecopt.learned.checkpoint import load_model, read_checkpoint, save_checkpoint
from mecopt.learned.model import PRESETS, Lambo
from mecopt.learned.rollout import costs, rollout
from mecopt.learned.strategies import Sampling
from mecopt.learned.train import (
    INFEASIBLE_COST,
    ACLLoss,
    TrainConfig,
    draw_instances,
    log_columns,
    make_rows,
    normalized,
    own_picks,
    train,
)

torch.set_num_threads(1)


def expected_cost(model: Lambo, batch, ref, samples: int = 32) -> float:
    """Mean normalized cost of the policy's samples (a fixed sampling seed)."""
    gen = torch.Generator().manual_seed(123)
    with torch.no_grad():
        out = rollout(model, batch, Sampling(generator=gen), samples=samples)
    value, _ = costs(batch, out)
    return float(normalized(value, ref, samples).mean())


def test_normalized_costs_divide_by_greedy_and_price_rows_without_any_feasible_cost():
    value = np.array([2.0, 3.0, 4.0, np.inf, np.inf, np.inf])
    ref = np.array([2.0, np.inf])  # the second row: greedy and every sample infeasible
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning leaks into the training log
        out = normalized(value, ref, samples=3)
    assert np.allclose(out[:3], [1.0, 1.5, 2.0])
    assert np.all(out[3:] == INFEASIBLE_COST)


@pytest.mark.parametrize("baseline, advantage",
                         [("critic", "batch"), ("shared", "batch"), ("shared", "row")])
def test_a_few_acl_steps_reduce_the_cost_on_a_fixed_set(baseline, advantage):
    torch.manual_seed(0)
    model = Lambo(PRESETS["lambo-s"])
    insts = [generate("hetero", 10, 3, seed=500_000 + k) for k in range(4)]
    batch, ref, _ = make_rows(insts, None, "cpu")
    cfg = TrainConfig(steps=1, samples=8, baseline=baseline, advantage=advantage)
    loss_fn = ACLLoss(model, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    before = expected_cost(model, batch, ref)
    for _ in range(10):
        loss, _ = loss_fn(batch, ref, None, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = expected_cost(model, batch, ref)
    assert after < before - 0.05, (before, after)  # measured: 1.47 -> 1.08 / 1.04


def test_train_command_writes_checkpoint_log_and_curve(tmp_path):
    out = tmp_path / "run" / "tiny.pt"
    res = CliRunner().invoke(cli, ["train", "--preset", "lambo-s", "--seed", "3", "--steps", "4",
                                   "--batch", "2", "--samples", "4", "--imitation", "0.5",
                                   "--quiet", "-o", str(out)])
    assert res.exit_code == 0, res.output
    ckpt = torch.load(out, weights_only=True)
    assert set(ckpt) >= {"state_dict", "config", "command", "step", "metrics"}
    assert ckpt["command"].startswith("mecopt train") and "--steps 4" in ckpt["command"]
    assert ckpt["config"] == PRESETS["lambo-s"].to_dict()
    assert "val_ratio" in ckpt["metrics"]
    assert out.with_suffix(".png").stat().st_size > 1000
    lines = out.with_suffix(".csv").read_text().splitlines()
    assert lines[0].startswith("step,minutes,cpu_minutes,phase") and len(lines) == 5
    assert lines[0].endswith(",val_ratio,val_paper,val_hetero")
    last = dict(zip(lines[0].split(","), lines[-1].split(","), strict=True))
    assert float(last["val_paper"]) > 0 and float(last["val_hetero"]) > 0
    assert {line.split(",")[3] for line in lines[1:]} == {"imitation", "acl"}


def test_train_records_the_energy_order_it_trained_with(tmp_path):
    out = tmp_path / "eff.pt"
    res = CliRunner().invoke(cli, ["train", "--steps", "1", "--batch", "1", "--samples", "2",
                                   "--imitation", "0", "--energy-order", "efficiency",
                                   "--quiet", "-o", str(out)])
    assert res.exit_code == 0, res.output
    model, _ = load_model(out)
    assert model.cfg.energy_order == "efficiency"
    res = CliRunner().invoke(cli, ["train", "--steps", "1", "--energy-order", "cost",
                                   "-o", str(out)])
    assert res.exit_code == 2 and "'cost' is not one of 'regret', 'efficiency'" in res.output


def test_log_has_a_validation_column_per_training_family():
    cfg = TrainConfig(steps=1, families=("paper", "world", "paper", "hetero"))
    assert log_columns(cfg)[-4:] == ("val_ratio", "val_paper", "val_world", "val_hetero")


def test_train_rejects_bad_budgets():
    with pytest.raises(InputError, match="exactly one of --steps and --minutes"):
        TrainConfig(steps=None, minutes=None).check()
    with pytest.raises(InputError, match="preset"):
        TrainConfig(preset="lambo-xl", steps=1).check()
    with pytest.raises(InputError, match="advantage"):
        TrainConfig(steps=1, advantage="global").check()
    res = CliRunner().invoke(cli, ["train", "--steps", "1", "--max-ues", "10", "-o", "x.pt"])
    assert res.exit_code == 2 and "max_ues: must be >= 20" in res.output
    res = CliRunner().invoke(cli, ["train", "--steps", "1", "--minutes", "1", "-o", "x.pt"])
    assert res.exit_code == 2 and "exactly one of" in res.output
    res = CliRunner().invoke(cli, ["train", "--steps", "1", "--families", "paper,moon",
                                   "-o", "x.pt"])
    assert res.exit_code == 2 and "Error: families: expected a list of paper, hetero and world" \
        in res.output


def test_weighted_families_draw_in_turn_and_validate_each_family_once():
    from mecopt.learned.train import validation_set

    cfg = TrainConfig(steps=3, families=("paper", "paper", "hetero"), batch_instances=2)
    drawn = [draw_instances(cfg, step, 0, 1)[0].meta["family"] for step in range(6)]
    assert drawn == ["paper", "paper", "hetero"] * 2
    valid = validation_set(cfg)
    assert len(valid) == 2 * cfg.n_valid
    assert [i.meta["family"] for i in valid].count("paper") == cfg.n_valid


def test_checkpoint_round_trip_and_mismatch_errors(tmp_path):
    torch.manual_seed(0)
    model = Lambo(PRESETS["lambo-s"]).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, preset="lambo-s", command="test", step=7,
                    metrics={"val_ratio": 0.99})
    loaded, info = load_model(path)
    assert info["step"] == 7 and info["metrics"]["val_ratio"] == 0.99
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k

    ckpt = read_checkpoint(path)
    ckpt["config"]["n_experts"] = 4  # a field this code does not know
    torch.save(ckpt, tmp_path / "extra.pt")
    with pytest.raises(InputError, match=r"config does not match this code \(unknown field "
                                         r"'n_experts'\)") as err:
        load_model(tmp_path / "extra.pt")
    assert "\n" not in str(err.value)

    ckpt = read_checkpoint(path)
    ckpt["config"]["d_model"] = 32  # weights of another size
    torch.save(ckpt, tmp_path / "size.pt")
    with pytest.raises(InputError, match="weights do not match the config") as err:
        load_model(tmp_path / "size.pt")
    assert "\n" not in str(err.value)

    ckpt = read_checkpoint(path)
    del ckpt["config"]["energy_order"]  # written before the field existed
    torch.save(ckpt, tmp_path / "older.pt")
    assert load_model(tmp_path / "older.pt")[0].cfg.energy_order == "regret"
    ckpt["config"]["energy_order"] = "random"
    torch.save(ckpt, tmp_path / "order.pt")
    with pytest.raises(InputError, match="energy_order: expected regret or efficiency, got "
                                         "'random'"):
        load_model(tmp_path / "order.pt")

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read"):
        load_model(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="no such file"):
        load_model(tmp_path / "missing.pt")


def _ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    import torch.distributed as dist

    cfg = TrainConfig(steps=2, batch_instances=1, samples=2, imitation=0.5, validate_every=2,
                      n_valid=1, quiet=True, output=os.path.join(out_dir, "ddp.pt"))
    torch.manual_seed(0)
    result = train(cfg)  # makes the process group, as under torchrun, and closes it
    assert not dist.is_initialized(), "train() leaves the group it made open"
    flat = torch.cat([p.detach().flatten() for p in result["model"].parameters()])
    np.save(os.path.join(out_dir, f"rank{rank}.npy"), flat.numpy())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two spawned processes importing torch: 15 s; .ci/run runs it
def test_ddp_two_cpu_processes_with_gloo(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    # DDP keeps the replicas identical although each rank saw different instances
    assert np.array_equal(np.load(tmp_path / "rank0.npy"), np.load(tmp_path / "rank1.npy"))
    assert read_checkpoint(tmp_path / "ddp.pt")["step"] == 2


def test_max_ues_sets_the_largest_hetero_draw():
    cfg = TrainConfig(steps=1, families=("hetero",), max_ues=160)
    sizes = [i.n_ues for step in range(12) for i in draw_instances(cfg, step, 0, 1)]
    assert max(sizes) <= 160 and max(sizes) > 100 and min(sizes) >= 20


# ----------------------------------------------------------------------------- own instances
def own_folder(folder) -> list:
    """Four small instances of mixed sizes as files, a malformed file and a negative size."""
    insts = [generate("hetero", 10 + 2 * k, 2 + k % 2, seed=600 + k, name=f"own-{k}")
             for k in range(4)]
    folder.mkdir()
    for inst in insts:
        inst.save(folder / f"{inst.name}.json")
    (folder / "own-bad.json").write_text("{")
    negative = insts[0].to_dict()
    negative["ues"]["data_bits"][2] = -1.0
    (folder / "own-negative.json").write_text(json.dumps(negative))
    return insts


def test_own_instances_take_their_share_of_each_batch_reproducibly():
    own = [generate("paper", 6, 2, seed=650 + k, name=f"own-{k}") for k in range(5)]
    cfg = TrainConfig(steps=1, batch_instances=4, instances="x", instances_weight=0.5,
                      families=("paper",))
    for step in range(3):
        batch = draw_instances(cfg, step, 0, 1, own)
        assert len(batch) == 4 and sum(x.name.startswith("own-") for x in batch) == 2
        again = draw_instances(cfg, step, 0, 1, own)
        assert [x.name for x in batch] == [x.name for x in again]
        # the generated part is what a run without --instances draws first
        alone = draw_instances(cfg, step, 0, 1)
        assert [x.name for x in batch[:2]] == [x.name for x in alone[:2]]
    # a share below one instance per batch is met on average (0.3 x 2 = 0.6 per batch)
    small = TrainConfig(steps=1, batch_instances=2, instances="x", instances_weight=0.3)
    mean = np.mean([len(own_picks(small, 5, step, 0)) for step in range(400)])
    assert 0.5 < mean < 0.7
    with pytest.raises(InputError, match=r"^instances_weight: must be in \(0, 1\], got 0"):
        dataclasses.replace(cfg, instances_weight=0.0).check()


def test_train_on_own_instances_records_them_and_skips_bad_files(tmp_path):
    folder = tmp_path / "own"
    own_folder(folder)
    out = tmp_path / "own.pt"
    res = CliRunner().invoke(cli, ["train", "--steps", "2", "--batch", "2", "--samples", "2",
                                   "--imitation", "0", "--instances", str(folder),
                                   "--instances-weight", "0.5", "--quiet", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines() == [
        f"skipped {folder / 'own-bad.json'}: malformed JSON at line 1: Expecting property "
        "name enclosed in double quotes",
        f"skipped {folder / 'own-negative.json'}: ues.data_bits[2] (UE 2): must be positive, "
        "got -1"]
    ckpt = read_checkpoint(out)
    recorded = ckpt["metrics"]["train_config"]
    assert (recorded["instances"], recorded["instances_weight"]) == (str(folder), 0.5)
    assert (recorded["instances_read"], recorded["instances_skipped"]) == (4, 2)
    assert f"--instances {folder}" in ckpt["command"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.json").write_text("{")
    res = CliRunner().invoke(cli, ["train", "--steps", "1", "--instances", str(empty),
                                   "-o", str(tmp_path / "x.pt")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.output.strip().splitlines()[-1] == f"Error: {empty}: no valid instance (1 " \
                                                  "skipped)"
