"""`random`: the paper's Random contender.

Each UE picks local or one server uniformly at random among the options that can meet its
deadline on their own; a batch of `tries` draws is evaluated at once and the first feasible
one (capacities respected after water-filling) is returned, else "no_solution" (or
"infeasible" when mecopt.certificate proves it).
"""

from __future__ import annotations

import numpy as np

from mecopt.evaluation import evaluate_batch
from mecopt.method import Method, Option, Outcome
from mecopt.status import Status


class RandomMethod(Method):
    name = "random"
    description = "each UE local or a random server (the paper's Random baseline), seeded"
    options = {"tries": Option(int, 100, "random draws before giving up", low=1)}

    def _solve(self, instance, objective, *, time_limit, seed):
        rng = np.random.default_rng(seed)
        ok = instance.option_ok
        if not ok.any(axis=1).all():
            i = int(np.flatnonzero(~ok.any(axis=1))[0])
            return Outcome(None, status=Status.NO_SOLUTION, message=f"UE {i} has no option "
                           "that meets its deadline")
        # Uniform among each UE's usable options: rank random keys, masked ones last.
        keys = rng.random((self.config["tries"], *ok.shape))
        keys = np.where(ok[None], keys, -1.0)
        draws = keys.argmax(axis=2)  # (tries, N)
        batch = evaluate_batch(instance, draws)
        hit = np.flatnonzero(batch.feasible)
        if not len(hit):
            return Outcome(None, status=Status.NO_SOLUTION,
                           message=f"random: none of {self.config['tries']} random draws fits the "
                                   "server capacities")
        return Outcome(draws[hit[0]], extra={"draws": int(hit[0]) + 1})
