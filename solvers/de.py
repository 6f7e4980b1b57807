"""`de`: differential evolution (pymoo) over the assignment, the paper's DE contender.

Coding. With `coding="integer"` (the default) a solution is a real vector x in [0, M+1)^N
and UE i takes option floor(x_i). With `coding="keys"` it is a random-key matrix in
[0, 1]^(N x (M+1)) whose row-wise argmax over the deadline-meeting options is the
proposal. Either way every trial vector goes through the shared repair (mecopt.repair),
which repairs it to a feasible assignment where it can and evaluates the whole population
at once, water-filled. The repaired assignment is written back into the population
(Lamarckian repair), so DE recombines feasible solutions; a row the repair cannot fix
is kept with a constraint violation (the number of UEs it could not place), which pymoo's
DE ranks behind every feasible row. `docs/heuristics.md` has the measured comparison of the
two codings.

Start and finish. The initial population holds the greedy solutions of this objective
(in each of the distinct construction orders of `mecopt.construct.start_orders`:
constructive starts that often lie in different basins) and of the other objective, and a
relaxation's rounding (`lp_start`, mecopt.polish.relaxation_start: the LP relaxation's for
energy, the Lagrangian dual's for latency), each polished by `descend` (best-improvement
move and swap search), plus random proposals. At
the end the best distinct solutions seen (mecopt.elite) are polished again by `descend`,
and the best result is returned. Both polishing steps stay inside the time limit.
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.construct import greedy_assignment, start_orders, unpackable
from mecopt.descend import descend
from mecopt.elite import Elite
from mecopt.instance import Instance
from mecopt.method import Method, Option, Outcome
from mecopt.objective import Objective
from mecopt.polish import (
    LNS_OPTION,
    LP_START_OPTION,
    finish_with_lns,
    lns_verdict,
    relaxation_start,
)
from mecopt.repair import repair
from mecopt.status import Status

CODINGS = ("integer", "keys")
# pymoo's DE/<rand|best>/1/<bin|exp>: base vector, one difference, crossover
VARIANTS = tuple(f"DE/{base}/1/{cross}" for base in ("rand", "best") for cross in ("bin", "exp"))


class DEMethod(Method):
    name = "de"
    description = "differential evolution (pymoo) with the shared repair decoder, seeded"
    options = {
        "pop_size": Option(int, 40, "population size", low=4),
        "generations": Option(int, 150, "generations after the initial population", low=0),
        "coding": Option(str, "integer", "integer: x_i in [0, M+1) floored; keys: random keys",
                         choices=CODINGS),
        "variant": Option(str, "DE/best/1/bin", "pymoo DE variant", choices=VARIANTS),
        "cr": Option(float, 0.3, "crossover rate (pymoo's CR)", low=0, high=1),
        "polish": Option(bool, True, "local descent on the greedy seeds and on the eight best "
                                     "distinct solutions at the end"),
        "lp_start": LP_START_OPTION,
        "lns": LNS_OPTION,
    }
    default_time_limit = 30.0

    def _solve(self, instance, objective, *, time_limit, seed):
        # pymoo loads when DE runs, not when `mecopt methods` lists the method.
        from pymoo.algorithms.soo.nonconvex.de import DE
        from pymoo.core.evaluator import Evaluator
        from pymoo.core.population import Population
        from pymoo.core.problem import Problem
        from pymoo.problems.static import StaticProblem
        from pymoo.termination.max_gen import MaximumGenerationTermination

        cfg = self.config
        start = time.perf_counter()
        deadline = start + time_limit if time_limit is not None else None
        # (An instance the certificate's cheap proofs settle never gets here: Method.solve.)
        coding = _Coding(instance, cfg["coding"])
        rng = np.random.default_rng(seed)
        best = Elite()

        seeds, rounded = _seeds(instance, objective, cfg["polish"], deadline, cfg["lp_start"])
        if not seeds and (why := unpackable(instance, objective)) is not None:
            # Every repair would get stuck as the starts did: generations would search in
            # vain until the time limit.
            return Outcome(None, status=Status.NO_SOLUTION, message=f"no feasible start: {why}")
        for a in seeds:
            best.offer(*_value_of(instance, objective, a))
        pop_size = cfg["pop_size"]
        X0 = coding.random(rng, pop_size)
        for k, a in enumerate(seeds[:pop_size]):
            X0[k] = coding.encode(a, X0[k])

        problem = Problem(n_var=coding.n_var, n_obj=1, n_ieq_constr=1, xl=0.0, xu=coding.upper)
        algorithm = DE(pop_size=pop_size, sampling=Population.new(X=X0), variant=cfg["variant"],
                       CR=cfg["cr"], seed=seed)
        # +1: pymoo counts the initial population as generation 1.
        algorithm.setup(problem, termination=MaximumGenerationTermination(cfg["generations"] + 1))
        generations = 0
        last_mean = np.nan  # mean feasible value of the latest population (a diagnostic)
        while algorithm.has_next():
            if deadline is not None and time.perf_counter() >= deadline:
                break
            pop = algorithm.ask()
            X = pop.get("X")
            dec = repair(instance, objective, coding.proposals(X))
            pop.set("X", coding.write_back(X, dec.assignment))  # Lamarckian repair
            # Infeasible rows keep a finite value (as if f = f_min) and rank by violation.
            F = np.where(dec.feasible, dec.value, dec.evaluation.value(objective))
            F = np.where(np.isfinite(F), F, 1e30)
            Evaluator().eval(StaticProblem(problem, F=F[:, None],
                                           G=dec.unplaced[:, None].astype(float)), pop)
            algorithm.tell(infills=pop)
            best.offer_batch(dec.assignment, dec.value)
            if dec.feasible.any():
                last_mean = float(dec.value[dec.feasible].mean())
            generations += 1

        # pymoo's result has X None when no feasible point was found; the seeds count too.
        res_x = algorithm.result().X if generations else None
        if res_x is None and best.best()[0] is None:
            why = ("no feasible assignment found" if generations else
                   "time limit reached before the first population was evaluated")
            status = Status.TIMEOUT if deadline is not None \
                and time.perf_counter() >= deadline else Status.NO_SOLUTION
            return Outcome(None, status=status, message=f"{why} ({generations} generations)")
        a, value = best.best()
        found = value
        if cfg["polish"]:
            a, value = best.descend(instance, objective, deadline)
        a, lns = finish_with_lns(instance, objective, a, seconds=cfg["lns"], deadline=deadline,
                                 seed=seed, polished_rounding=rounded)
        return Outcome(a, **lns_verdict(lns),
                       extra={"generations": max(generations - 1, 0), "value_before_polish": found,
                              "last_population_mean": last_mean, **lns})


def _value_of(instance: Instance, objective: Objective, a: np.ndarray) -> tuple[np.ndarray,
                                                                                float]:
    dec = repair(instance, objective, a[None])
    return dec.assignment[0], float(dec.value[0])


def _seeds(instance: Instance, objective: Objective, polish: bool, deadline: float | None,
           lp_start: bool = False) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Greedy solutions for this objective (in each of `start_orders`) and the other one,
    and with `lp_start` a relaxation's rounding first (mecopt.polish.relaxation_start),
    polished if asked; and the energy rounding when it was polished (for LNS, which would
    descend it again)."""
    other = Objective.ENERGY if objective is Objective.LATENCY else Objective.LATENCY
    built = []
    for obj, order in [*((objective, o) for o in start_orders(instance, objective)),
                       (other, None)]:
        if built and deadline is not None and time.perf_counter() >= deadline:
            break  # one start answers; more would only run past the limit (2,000 UEs)
        a, _ = greedy_assignment(instance, obj, order=order)
        if a is not None:
            built.append(a)
    out, polished = [], None
    # The rounding is made and polished first: where capacity binds it is the best start,
    # and at 1,000+ UEs the descents of poor greedy starts can take the whole time limit.
    if lp_start and built:
        rounded = relaxation_start(instance, objective, built[0], deadline, polish=polish)
        if rounded is not None:
            out.append(rounded[0])
            # LNS takes the polished energy rounding instead of descending it again.
            energy = objective is Objective.ENERGY
            polished = rounded[0] if polish and energy else None
    for a in built:
        if polish:
            # Polish for *this* objective: the other greedy is a different basin, not a target.
            a, _ = descend(instance, objective, a, deadline=deadline)
        out.append(a)
    return out, polished


class _Coding:
    """Maps between DE's real vectors and assignments (see the module docstring)."""

    def __init__(self, instance: Instance, kind: str) -> None:
        self.instance, self.kind = instance, kind
        N, M = instance.n_ues, instance.n_servers
        self.n_var = N if kind == "integer" else N * (M + 1)
        # floor(x) must stay <= M, so the integer coding's upper bound sits just below M+1.
        self.upper = (M + 1) * (1 - 1e-9) if kind == "integer" else 1.0

    def random(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n random vectors whose proposals are uniform over each UE's usable options."""
        keys = rng.random((n, *self.instance.option_ok.shape))
        if self.kind == "keys":
            return keys.reshape(n, -1)
        options = np.where(self.instance.option_ok[None], keys, -1.0).argmax(axis=2)
        return options + rng.random(options.shape) * (1 - 1e-9)

    def proposals(self, X: np.ndarray) -> np.ndarray:
        """Assignments (P, N) for the integer coding, scores (P, N, M+1) for keys."""
        if self.kind == "integer":
            return np.clip(np.floor(X), 0, self.instance.n_servers).astype(int)
        return X.reshape(len(X), self.instance.n_ues, self.instance.n_servers + 1)

    def encode(self, a: np.ndarray, x: np.ndarray) -> np.ndarray:
        """A vector that decodes to assignment a (x supplies the random parts)."""
        return self.write_back(x[None], a[None])[0]

    def write_back(self, X: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Vectors like X that propose exactly the assignments a."""
        if self.kind == "integer":
            frac = X - np.floor(X)  # keep the position inside the cell: no loss of diversity
            return a + np.clip(frac, 0.0, 1 - 1e-9)
        P, N = a.shape
        keys = X.reshape(P, N, -1).copy()
        masked = np.where(self.instance.option_ok[None], keys, -np.inf)
        top = masked.argmax(axis=2)  # the option the keys propose now
        p, i = np.meshgrid(np.arange(P), np.arange(N), indexing="ij")
        # Swap the key of the proposed option with that of the chosen one: same key values.
        top_key, chosen_key = keys[p, i, top], keys[p, i, a]
        keys[p, i, top], keys[p, i, a] = chosen_key, top_key
        return keys.reshape(P, -1)
