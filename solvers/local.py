"""`local`: every task runs on its own UE (the paper's Local contender)."""

from __future__ import annotations

import numpy as np

from mecopt.method import Method, Outcome
from mecopt.status import Status


class LocalMethod(Method):
    name = "local"
    description = "every UE computes locally (the paper's Local baseline)"

    def _solve(self, instance, objective, *, time_limit, seed):
        late = np.flatnonzero(~instance.local_ok)
        if len(late):
            return Outcome(np.zeros(instance.n_ues, dtype=int), status=Status.NO_SOLUTION,
                           message=f"local: {len(late)} UEs cannot meet their deadline "
                                   f"locally (first: UE {late[0]})")
        return Outcome(np.zeros(instance.n_ues, dtype=int))
