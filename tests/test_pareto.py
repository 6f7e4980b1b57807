"""The latency-energy front: non-dominated, feasible, exact where HiGHS proves it; the CLI."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
from click.testing import CliRunner

import mecopt
from mecopt.cli.main import cli
from mecopt.evaluation import evaluate_batch
from mecopt.pareto import exact_front, hypervolume, nondominated, nsga2_front, write_front

from conftest import INSTANCES, library

FRONT_INSTANCES = ("tiny-001", "tiny-003", "tiny-004", "tiny-009")  # M >= 2: real trade-offs


def _tiny(name):
    return next(i for i in library("tiny") if i.name == name)


def true_front(inst) -> np.ndarray:
    """Every feasible (latency, energy) point by enumeration, non-dominated part."""
    every = np.array(list(itertools.product(range(inst.n_servers + 1), repeat=inst.n_ues)))
    b = evaluate_batch(inst, every)
    pts = np.stack([b.mean_latency_s, b.total_energy_j], axis=1)[b.feasible]
    return pts[nondominated(pts)]


def _on_front(points, front, rtol=1e-9):
    """(K,) True where a point is not dominated by any point of `front` beyond rtol."""
    return np.array([not np.any(np.all(front <= p * (1 - rtol), axis=1)
                                | (np.all(front <= p * (1 + rtol), axis=1)
                                   & np.any(front < p * (1 - rtol), axis=1))) for p in points])


def _mutually_nondominated(points):
    return nondominated(points).all()


def test_nondominated_and_hypervolume_on_hand_data():
    pts = np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0], [1.0, 2.0], [3.0, 0.5]])
    assert nondominated(pts).tolist() == [True, True, False, False, True]
    # Union of [1,3]x[2,3] and [2,3]x[1,3]: 2 + 2 - 1.
    assert hypervolume(pts[:2], np.array([3.0, 3.0])) == pytest.approx(3.0)
    assert hypervolume(np.zeros((0, 2)), np.array([1.0, 1.0])) == 0.0


@pytest.mark.parametrize("name", FRONT_INSTANCES)
def test_nsga2_front_is_feasible_nondominated_and_on_the_true_front(name):
    inst = _tiny(name)
    front = nsga2_front(inst, pop_size=30, generations=40, seed=0)
    assert len(front) >= 2
    assert _mutually_nondominated(front.points)
    batch = evaluate_batch(inst, front.assignments)
    assert batch.feasible.all()
    np.testing.assert_allclose(batch.mean_latency_s, front.points[:, 0], rtol=1e-12)
    np.testing.assert_allclose(batch.total_energy_j, front.points[:, 1], rtol=1e-12)
    truth = true_front(inst)
    # Measured over seeds 0-7: every point lies on the enumerated front; the front is
    # complete on tiny-001 (but one seed), tiny-003 and tiny-009, and misses one of tiny-004's
    # 10 points on 7 of 8 seeds (before greedy's gain ejections changed the starts, 0-2 on 5
    # of 8); with 20 generations of 20 it missed a point or two.
    assert _on_front(front.points, truth).all()
    assert len(front) >= len(truth) - 1


def test_nsga2_front_is_seeded():
    inst = library("hetero")[11]
    a = nsga2_front(inst, pop_size=16, generations=5, seed=0)
    b = nsga2_front(inst, pop_size=16, generations=5, seed=0)
    np.testing.assert_array_equal(a.points, b.points)


def test_nsga2_on_an_infeasible_instance_gives_an_empty_front():
    front = nsga2_front(_tiny("tiny-008"), pop_size=8, generations=3, seed=0)
    assert len(front) == 0 and front.hypervolume == 0.0


highs_missing = not mecopt.availability().get("highs", (False,))[0]


@pytest.mark.skipif(highs_missing, reason="the exact solver `highs` is not available")
@pytest.mark.parametrize("name", ("tiny-003", "tiny-009"))
def test_exact_front_contains_the_optima_and_lies_on_the_true_front(name, tiny_optima):
    inst = _tiny(name)
    front = exact_front(inst, points=5)
    assert _mutually_nondominated(front.points)
    assert evaluate_batch(inst, front.assignments).feasible.all()
    lat_opt = tiny_optima[(name, "latency")][1]
    en_opt = tiny_optima[(name, "energy")][1]
    assert front.points[:, 0].min() == pytest.approx(lat_opt, rel=1e-6)
    assert front.points[:, 1].min() == pytest.approx(en_opt, rel=1e-6)
    assert _on_front(front.points, true_front(inst), rtol=1e-6).all()
    assert "optimal" in front.status


def test_write_front_csv_png_and_no_silent_overwrite(tmp_path):
    inst = _tiny("tiny-003")
    front = nsga2_front(inst, pop_size=12, generations=5, seed=0)
    csv_path, png_path = write_front(front, tmp_path / "out")
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == len(front)
    assert float(rows[0]["mean_latency_s"]) == pytest.approx(front.points[0, 0])
    assert [int(x) for x in rows[0]["assignment"].split()] == front.assignments[0].tolist()
    assert png_path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(mecopt.InputError, match="exists"):
        write_front(front, tmp_path / "out")
    write_front(front, tmp_path / "out", force=True)


@pytest.mark.parametrize("name,stem", [("../up", "_._up"), ("net.v2", "net.v2")])
def test_a_front_is_written_inside_its_folder_under_its_whole_name(tmp_path, name, stem):
    # "../up" wrote beside the folder, and "net.v2" became net.csv (Path.with_suffix).
    front = nsga2_front(_tiny("tiny-003").replace(name=name), pop_size=12, generations=2,
                        seed=0)
    csv_path, png_path = write_front(front, tmp_path / "out")
    assert csv_path == tmp_path / "out" / f"{stem}-nsga2-front.csv" and csv_path.exists()
    assert png_path == tmp_path / "out" / f"{stem}-nsga2-front.png" and png_path.exists()


def test_cli_pareto(tmp_path):
    runner = CliRunner()
    path = str(INSTANCES / "tiny" / "tiny-003.json")
    out = str(tmp_path / "front")
    args = ["pareto", path, "--pop-size", "12", "--generations", "5", "-o", out]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Pareto points by nsga2" in result.output
    assert "hypervolume" in result.output and "reference point" in result.output
    assert (tmp_path / "front" / "tiny-003-nsga2-front.csv").exists()
    again = runner.invoke(cli, args)
    assert again.exit_code == 2 and "--force" in again.output
    assert runner.invoke(cli, args + ["--force"]).exit_code == 0
    bad = runner.invoke(cli, ["pareto", path, "--method", "simplex"])
    assert bad.exit_code == 2
    bad = runner.invoke(cli, ["pareto", path, "--time-limit", "-1", "-o", out])
    assert bad.exit_code == 2 and "--time-limit" in bad.output
