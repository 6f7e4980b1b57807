"""mecopt.elite: the best distinct assignments, and a final descent never worse than the best."""

from __future__ import annotations

import numpy as np

from mecopt.elite import Elite
from mecopt.evaluation import evaluate_batch
from mecopt.repair import repair

from conftest import library


def test_keeps_the_best_distinct_feasible():
    elite = Elite(size=2)
    a, b, c = np.array([0, 1]), np.array([1, 1]), np.array([2, 0])
    elite.offer(a, 3.0)
    elite.offer(a, 1.0)  # already kept: its first value stays
    elite.offer(b, np.inf)  # infeasible: never kept
    elite.offer(b, 2.0)
    elite.offer(c, 5.0)  # worse than both kept: dropped
    assert [(list(x), v) for x, v in elite.members()] == [([1, 1], 2.0), ([0, 1], 3.0)]
    elite.offer_batch(np.array([c, [0, 0]]), np.array([0.5, np.inf]))
    assert [v for _, v in elite.members()] == [0.5, 2.0]
    assert Elite().best() == (None, np.inf)


def test_descend_is_never_worse_than_the_best_member():
    inst = next(i for i in library("hetero") if i.n_ues >= 40)
    rng = np.random.default_rng(0)
    for objective in ("latency", "energy"):
        dec = repair(inst, objective, rng.integers(0, inst.n_servers + 1, size=(16, inst.n_ues)))
        elite = Elite(size=4)
        elite.offer_batch(dec.assignment, dec.value)
        best_a, best_v = elite.best()
        a, v = elite.descend(inst, objective)
        check = evaluate_batch(inst, a[None])
        assert check.feasible[0] and float(check.value(objective)[0]) == v
        assert v <= best_v
