"""The latency-energy Pareto front: NSGA-II (pymoo) or exact (epsilon constraint with HiGHS).

Both objectives are minimized: the mean latency [s] and the total UE energy [J] of a
water-filled assignment. `nsga2_front` runs pymoo's NSGA-II on the integer coding that the
`de` method uses, repairing every offspring with the shared repair (mecopt.repair) and
keeping an archive of every feasible point it evaluates; the front is the non-dominated
part of that archive. `exact_front` solves "minimize latency subject to energy <= epsilon"
with the exact solver over a sweep of epsilon from the energy optimum to the energy of the
latency optimum; each point is optimal for its epsilon when the solver proves it.

The hypervolume is pymoo's HV indicator against a reference point that depends on the
instance only (`reference_point`), so fronts of different methods on one instance compare.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mecopt.construct import greedy_assignment
from mecopt.descend import descend
from mecopt.errors import InputError, refuse_existing
from mecopt.evaluation import evaluate_batch
from mecopt.instance import Instance
from mecopt.method import checked_seed, checked_time_limit
from mecopt.objective import Objective
from mecopt.repair import repair
from mecopt.status import Status
from mecopt.units import alone_costs

METHODS = ("nsga2", "highs")


@dataclass
class Front:
    """Non-dominated (mean latency, total energy) points with their assignments."""

    instance: str
    method: str
    points: np.ndarray  # (K, 2): mean latency [s], total energy [J]; sorted by energy
    assignments: np.ndarray  # (K, N)
    status: list[Status]  # per point: OPTIMAL when proven for its epsilon, else FEASIBLE
    reference: np.ndarray  # (2,) the hypervolume reference point
    wall_time_s: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def hypervolume(self) -> float:
        return hypervolume(self.points, self.reference)

    def __len__(self) -> int:
        return len(self.points)


def nondominated(points: np.ndarray, rtol: float = 0.0) -> np.ndarray:
    """(K,) mask of the points no other point dominates (<= in both, < in one), duplicates
    kept once. With rtol > 0 a point must be worse by more than rtol to count as dominated.
    """
    p = np.asarray(points, dtype=float)
    if not len(p):
        return np.zeros(0, dtype=bool)
    slack = rtol * np.abs(p)  # (K, 2)
    le = np.all(p[:, None, :] <= p[None, :, :] + slack[None, :, :], axis=2)  # a_i <= a_j
    lt = np.any(p[:, None, :] < p[None, :, :] - slack[None, :, :], axis=2)
    dominated = (le & lt).any(axis=0)
    # Of equal points keep the first.
    same = np.all(p[:, None, :] == p[None, :, :], axis=2)
    first = np.argmax(same, axis=0) == np.arange(len(p))
    return ~dominated & first


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The area dominated by `points` and bounded by `reference` (pymoo's HV indicator);
    points outside the reference box add nothing."""
    from pymoo.indicators.hv import HV

    p = np.asarray(points, dtype=float)
    if not len(p):
        return 0.0
    return float(HV(ref_point=np.asarray(reference, dtype=float))(p))


def reference_point(instance: Instance) -> np.ndarray:
    """The hypervolume reference point: 1.1 times the worse (latency, energy) of the two
    greedy solutions (minimum latency, minimum energy), or, if greedy fails, the box every
    feasible decision lies in (mean deadline, sum of each UE's costliest usable option)."""
    found = [greedy_assignment(instance, obj)[0] for obj in Objective]
    found = [a for a in found if a is not None]
    if found:
        batch = evaluate_batch(instance, np.array(found))
        if batch.feasible.all():
            return 1.1 * np.array([batch.mean_latency_s.max(), batch.total_energy_j.max()])
    energy = alone_costs(instance, Objective.ENERGY)
    worst = np.where(instance.option_ok, energy, 0.0).max(axis=1)
    return np.array([float(instance.deadline_s.mean()), float(worst.sum())])


def _front(instance: Instance, method: str, points: np.ndarray, assignments: np.ndarray,
           status: list[str], wall: float, extra: dict | None = None) -> Front:
    """The non-dominated, deduplicated part, sorted by energy."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    keep = np.flatnonzero(nondominated(points))
    order = keep[np.argsort(points[keep, 1], kind="stable")]
    assignments = np.asarray(assignments, dtype=int).reshape(len(points), instance.n_ues)
    return Front(instance.name, method, points[order], assignments[order],
                 [status[k] for k in order], reference_point(instance), wall, extra or {})


def nsga2_front(instance: Instance, *, pop_size: int = 100, generations: int = 200,
                seed: int = 0, time_limit: float | None = None) -> Front:
    """The front found by pymoo's NSGA-II with the shared repair (see the module doc).

    The start population holds both greedy solutions, each polished by `descend` for both
    objectives; the rest is random. Half of each offspring population is repaired with
    latency marginal costs, the other half with energy ones.
    """
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.evaluator import Evaluator
    from pymoo.core.population import Population
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.problems.static import StaticProblem
    from pymoo.termination.max_gen import MaximumGenerationTermination

    if pop_size < 4:
        raise InputError(f"pop_size: must be >= 4, got {pop_size}")
    if generations < 0:
        raise InputError(f"generations: must be >= 0, got {generations}")
    start = time.perf_counter()
    deadline = start + time_limit if time_limit is not None else None
    N, M = instance.n_ues, instance.n_servers
    rng = np.random.default_rng(seed)
    archive_a: list[np.ndarray] = []
    archive_f: list[np.ndarray] = []

    seeds = _polished_seeds(instance, deadline)
    keys = rng.random((pop_size, N, M + 1))
    X0 = np.where(instance.option_ok[None], keys, -1.0).argmax(axis=2).astype(float)
    for k, a in enumerate(seeds[:pop_size]):
        X0[k] = a
    problem = Problem(n_var=N, n_obj=2, n_ieq_constr=1, xl=0.0, xu=float(M), vtype=int)
    algorithm = NSGA2(pop_size=pop_size, sampling=Population.new(X=X0),
                      crossover=SBX(prob=0.9, eta=3.0, vtype=float, repair=RoundingRepair()),
                      mutation=PM(eta=3.0, vtype=float, repair=RoundingRepair()),
                      eliminate_duplicates=True, seed=seed)
    algorithm.setup(problem, termination=MaximumGenerationTermination(generations + 1))
    while algorithm.has_next():
        if deadline is not None and time.perf_counter() >= deadline:
            break
        pop = algorithm.ask()
        a = np.clip(np.rint(pop.get("X")), 0, M).astype(int)
        half = len(a) // 2
        parts = [repair(instance, Objective.LATENCY, a[:half]),
                 repair(instance, Objective.ENERGY, a[half:])]
        dec_a = np.concatenate([d.assignment for d in parts])
        feas = np.concatenate([d.feasible for d in parts])
        F = np.concatenate([np.stack([d.evaluation.mean_latency_s,
                                      d.evaluation.total_energy_j], axis=1) for d in parts])
        G = np.concatenate([d.unplaced for d in parts]).astype(float)
        pop.set("X", dec_a.astype(float))  # Lamarckian repair
        F = np.where(np.isfinite(F), F, 1e30)
        Evaluator().eval(StaticProblem(problem, F=F, G=G[:, None]), pop)
        algorithm.tell(infills=pop)
        archive_a.append(dec_a[feas])
        archive_f.append(F[feas])
        # Keep the archive small: only its non-dominated part matters.
        allf, alla = np.concatenate(archive_f), np.concatenate(archive_a)
        keep = nondominated(allf)
        archive_f, archive_a = [allf[keep]], [alla[keep]]
    if seeds:
        batch = evaluate_batch(instance, np.array(seeds))
        archive_a.append(np.array(seeds)[batch.feasible])
        archive_f.append(np.stack([batch.mean_latency_s, batch.total_energy_j],
                                  axis=1)[batch.feasible])
    allf = np.concatenate(archive_f) if archive_f else np.zeros((0, 2))
    alla = np.concatenate(archive_a) if archive_a else np.zeros((0, N), dtype=int)
    return _front(instance, "nsga2", allf, alla, [Status.FEASIBLE] * len(allf),
                  time.perf_counter() - start, {"generations": max(algorithm.n_gen - 1, 0)
                                                if algorithm.n_gen else 0})


def _polished_seeds(instance: Instance, deadline: float | None) -> list[np.ndarray]:
    """Greedy for each objective, polished by `descend` for each objective (up to 4)."""
    out = []
    for start_obj in Objective:
        a, _ = greedy_assignment(instance, start_obj)
        if a is None:
            continue
        for obj in Objective:
            out.append(descend(instance, obj, a, deadline=deadline)[0])
    return out


def exact_front(instance: Instance, *, points: int = 11, time_limit: float | None = None,
                solver: str = "highs") -> Front:
    """The epsilon-constraint front: minimize latency s.t. energy <= eps for `points` values
    of eps evenly spaced from the energy optimum to the energy of the latency optimum.

    `time_limit` applies to each solve. A point is "optimal" when the solver proved it,
    "feasible" otherwise. Raises InputError when the instance has no feasible assignment.
    """
    from mecopt.api import solve

    if points < 2:
        raise InputError(f"points: must be >= 2, got {points}")
    start = time.perf_counter()
    energy_opt = solve(instance, Objective.ENERGY, solver, time_limit=time_limit)
    if not energy_opt.feasible:
        raise InputError(f"{instance.name}: no feasible assignment for the front "
                         f"({energy_opt.status}: {energy_opt.message})")
    latency_opt = solve(instance, Objective.LATENCY, solver, time_limit=time_limit)
    e_low = energy_opt.objective_value
    e_high = float(np.sum(latency_opt.energy_j)) if latency_opt.feasible else e_low
    # A hair above each epsilon so that the energy optimum itself stays feasible.
    eps = np.linspace(e_low, max(e_high, e_low), points) * (1 + 1e-9)
    found_f, found_a, status = [], [], []
    solves = 2
    for e in np.unique(eps):
        sol = solve(instance, Objective.LATENCY, solver, time_limit=time_limit, max_energy=e)
        solves += 1
        if sol.feasible:
            found_f.append([sol.objective_value, float(np.sum(sol.energy_j))])
            found_a.append(sol.assignment)
            status.append(Status.OPTIMAL if sol.status == Status.OPTIMAL else Status.FEASIBLE)
    # The single-objective optima go last: where an epsilon solve found the same point, its
    # status (optimal for the pair) is the one kept.
    for sol in (energy_opt, latency_opt):
        if sol.feasible:
            found_f.append([float(np.mean(sol.latency_s)), float(np.sum(sol.energy_j))])
            found_a.append(sol.assignment)
            status.append(Status.FEASIBLE)
    return _front(instance, solver, np.array(found_f), np.array(found_a), status,
                  time.perf_counter() - start,
                  {"solves": solves, "energy_optimum": e_low,
                   "latency_optimum": latency_opt.objective_value})


def compute_front(instance: Instance, method: str = "nsga2", *, seed: int = 0,
                  time_limit: float | None = None, points: int = 11, pop_size: int = 100,
                  generations: int = 200) -> Front:
    """The front by `method` ("nsga2" or "highs"); see nsga2_front and exact_front."""
    seed, time_limit = checked_seed(seed), checked_time_limit(time_limit)
    if method == "nsga2":
        return nsga2_front(instance, pop_size=pop_size, generations=generations, seed=seed,
                           time_limit=time_limit)
    if method == "highs":
        return exact_front(instance, points=points, time_limit=time_limit)
    raise InputError(f"method: unknown {method!r}; valid: {', '.join(METHODS)}")


def output_paths(instance: str, method: str, directory: str | Path) -> tuple[Path, Path]:
    """Where `write_front` puts the CSV and the PNG of a front: in `directory` whatever the
    instance's name (mecopt.batch.file_name: "../x" wrote outside it, and with_suffix cut
    a name with a dot, "net.v2", to "net.csv")."""
    from mecopt.batch import file_name

    stem = f"{file_name(instance)}-{method}-front"
    return Path(directory) / f"{stem}.csv", Path(directory) / f"{stem}.png"


def check_writable(instance: str, method: str, directory: str | Path, force: bool) -> None:
    """Raise InputError if the output files exist and `force` is not set."""
    refuse_existing(output_paths(instance, method, directory), force)


def write_front(front: Front, directory: str | Path, *, force: bool = False) -> tuple[Path,
                                                                                     Path]:
    """Write the CSV of the points and a PNG plot into `directory` (created if needed).

    Refuses (InputError) to replace existing files unless `force`.
    """
    check_writable(front.instance, front.method, directory, force)
    csv_path, png_path = output_paths(front.instance, front.method, directory)
    try:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with csv_path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["mean_latency_s", "total_energy_j", "status", "assignment"])
            for (lat, en), st, a in zip(front.points, front.status, front.assignments,
                                        strict=True):
                writer.writerow([f"{lat:.12g}", f"{en:.12g}", st, " ".join(map(str, a))])
        _plot(front, png_path)
    except OSError as exc:
        raise InputError(f"{directory}: cannot write ({exc.strerror})") from None
    return csv_path, png_path


def _plot(front: Front, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    if len(front):
        ax.step(front.points[:, 1], front.points[:, 0], where="post", color="0.7", lw=1)
        ax.plot(front.points[:, 1], front.points[:, 0], "o", ms=4,
                label=f"{front.method} ({len(front)} points)")
    ax.plot(*front.reference[::-1], "x", color="crimson", label="HV reference point")
    ax.set_xlabel("total energy [J]")
    ax.set_ylabel("mean latency [s]")
    ax.set_title(f"{front.instance}: latency-energy front, HV = {front.hypervolume:.4g}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
