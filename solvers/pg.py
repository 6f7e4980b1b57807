"""`pg`: per-instance policy gradient (REINFORCE) over a factorized categorical policy.

The policy is one logit per UE and option, theta (N, M+1), with the options that cannot
meet a UE's deadline masked out; UEs choose independently. Each iteration draws `samples`
assignments (Gumbel-max with a seeded torch.Generator), repairs and evaluates them exactly
with the shared repair (mecopt.repair: water-filled, `evaluate_batch`), and takes one Adam
step on

    loss = -mean_k (R_k - b_k) log pi(a_k) - entropy_weight * H(pi),

where a_k is the decoded assignment (the decision that was actually evaluated), R_k its
reward (minus the objective value over that of the start solution, so the step size does
not depend on units), and b_k the leave-one-out baseline (the mean reward of the other
samples). A row the repair cannot fix is rewarded like the worst feasible row of its
batch, less 10%. The start logits lean towards the best greedy solution
(over the construction orders of `mecopt.construct.start_orders`, and a relaxation's
rounding, `lp_start`, mecopt.polish.relaxation_start: the LP relaxation's for energy, the
Lagrangian dual's for latency), polished by `descend`
(`start_bias` nats), which is also the first incumbent. At the end the best distinct
solutions seen (mecopt.elite) are each polished again by `descend`, and the best result is
returned. Both polishing steps stay inside the time limit.
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.construct import greedy_assignment, start_orders, unpackable
from mecopt.descend import descend
from mecopt.elite import Elite
from mecopt.instance import Instance
from mecopt.learned.threads import torch_threads
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

# Distinct best solutions kept for the final descent (measured on instances/hetero latency,
# seed 0: see the `pg` rows of docs/results.md).
ELITE = 8


class PGMethod(Method):
    name = "pg"
    description = "per-instance policy gradient (REINFORCE, torch) with the shared repair"
    options = {
        "iterations": Option(int, 200, "policy-gradient steps", low=0),
        "samples": Option(int, 32, "assignments sampled per step (the baseline needs two)",
                          low=2),
        "lr": Option(float, 0.1, "Adam learning rate on the logits", low=0, low_inclusive=False),
        "entropy_weight": Option(float, 0.01, "weight of the entropy bonus", low=0),
        "start_bias": Option(float, 2.0, "initial logit advantage of the start solution [nats]",
                             low=0),
        "polish": Option(bool, True, "local descent on the start solution and on the eight "
                                     "best distinct solutions at the end"),
        "lp_start": LP_START_OPTION,
        "lns": LNS_OPTION,
    }
    default_time_limit = 30.0

    def _solve(self, instance, objective, *, time_limit, seed):
        # One thread: the tensors here are tiny ((samples, N, M+1) at most); on the 2-core
        # development machine under load, torch's default two threads made one solve about 4x
        # slower (spin-waiting on busy cores), measured in docs/heuristics.md.
        # The clock starts before torch loads (seconds on a first call): the limit is the
        # caller's wall time.
        deadline = time.perf_counter() + time_limit if time_limit is not None else None
        with torch_threads(1):
            return self._search(instance, objective, deadline=deadline, seed=seed)

    def _search(self, instance: Instance, objective: Objective, *, deadline: float | None,
                seed: int) -> Outcome:
        cfg = self.config
        ok = instance.option_ok
        import torch  # here, so that listing and other methods never pay for it

        gen = torch.Generator().manual_seed(seed)

        best_a, best_v, rounded = _start(instance, objective, cfg["polish"], deadline,
                                         cfg["lp_start"])
        if best_a is None and (why := unpackable(instance, objective)) is not None:
            # Every sample's repair would get stuck as the starts did: the steps would search
            # in vain until the time limit.
            return Outcome(None, status=Status.NO_SOLUTION, message=f"no feasible start: {why}")
        elite = Elite()
        if best_a is not None:
            elite.offer(best_a, best_v)
        scale = best_v if np.isfinite(best_v) and best_v > 0 else None

        mask = torch.from_numpy(ok.copy())  # (N, M+1)
        theta = torch.zeros(ok.shape, dtype=torch.float64)
        if best_a is not None:
            theta[np.arange(instance.n_ues), best_a] = cfg["start_bias"]
        theta.requires_grad_(True)
        iterations = cfg["iterations"]
        if deadline is not None and time.perf_counter() >= deadline:
            iterations = 0  # the starts took the time (a first Adam loads for seconds)
        optimizer = torch.optim.Adam([theta], lr=cfg["lr"]) if iterations else None
        S = cfg["samples"]
        steps = 0
        last_mean = np.nan  # mean feasible value of the latest batch (a diagnostic)
        step_s = 0.0  # the last step's time: a step that cannot end by the deadline is not begun
        for _ in range(iterations):
            began = time.perf_counter()
            if deadline is not None and began + step_s >= deadline:
                break
            logp_all = torch.log_softmax(theta.masked_fill(~mask, -torch.inf), dim=1)  # (N, M+1)
            with torch.no_grad():
                u = torch.rand((S, *ok.shape), generator=gen, dtype=torch.float64)
                gumbel = -torch.log(-torch.log(u.clamp_min(1e-300)))
                draws = (logp_all + gumbel).argmax(dim=2)  # (S, N)
            dec = repair(instance, objective, draws.numpy())
            elite.offer_batch(dec.assignment, dec.value)
            best_a, best_v = elite.best()
            if dec.feasible.any():
                last_mean = float(dec.value[dec.feasible].mean())
            if scale is None and np.isfinite(best_v) and best_v > 0:
                scale = best_v
            reward = _rewards(dec.value, scale)  # (S,)
            if reward is None:  # nothing feasible yet and no scale: only the entropy moves
                advantage = torch.zeros(S, dtype=torch.float64)
            else:
                r = torch.as_tensor(reward)
                advantage = r - (r.sum() - r) / (S - 1)  # leave-one-out baseline
                # Unit scale, so the entropy weight means the same on every instance.
                advantage = advantage / (advantage.std() + 1e-12)
            taken = torch.as_tensor(dec.assignment)  # (S, N): the decisions evaluated
            logp = logp_all.gather(1, taken.T).sum(dim=0)  # (S,)
            p = logp_all.exp()
            entropy = -(p * logp_all.masked_fill(~mask, 0.0)).sum()
            loss = -(advantage * logp).mean() - cfg["entropy_weight"] * entropy
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            step_s = time.perf_counter() - began

        if best_a is None:
            timed_out = deadline is not None and time.perf_counter() >= deadline
            return Outcome(None, status=Status.TIMEOUT if timed_out else Status.NO_SOLUTION,
                           message=f"no feasible assignment found in {steps} steps of "
                                   f"{S} samples")
        found = best_v
        if cfg["polish"]:
            best_a, best_v = elite.descend(instance, objective, deadline)
        best_a, lns = finish_with_lns(instance, objective, best_a, seconds=cfg["lns"],
                                      deadline=deadline, seed=seed, polished_rounding=rounded)
        return Outcome(best_a, **lns_verdict(lns),
                       extra={"iterations": steps, "value_before_polish": found,
                              "last_batch_mean": last_mean, **lns})


def _start(instance: Instance, objective: Objective, polish: bool, deadline: float | None,
           lp_start: bool = False) -> tuple[np.ndarray | None, float, np.ndarray | None]:
    """The best greedy solution over `start_orders` and, with `lp_start`, a relaxation's
    rounding (mecopt.polish.relaxation_start), each polished if asked: (assignment, value,
    the energy rounding when it was polished, for LNS), or (None, inf, None)."""
    built = []
    for order in start_orders(instance, objective):
        if built and deadline is not None and time.perf_counter() >= deadline:
            break  # one start answers; more would only run past the limit (2,000 UEs)
        a, _ = greedy_assignment(instance, objective, order=order)
        if a is None:
            continue
        dec = repair(instance, objective, a[None])
        if dec.feasible[0]:
            built.append((dec.assignment[0], float(dec.value[0])))
    best_a, best_v, polished = None, np.inf, None
    # The rounding is made and polished first: where capacity binds it is the best start,
    # and at 1,000+ UEs the descents of poor greedy starts can take the whole time limit.
    if lp_start and built:
        rounded = relaxation_start(instance, objective, built[0][0], deadline, polish=polish)
        if rounded is not None:
            # LNS takes the polished energy rounding instead of descending it again.
            energy = objective is Objective.ENERGY
            polished = rounded[0] if polish and energy else None
            best_a, best_v = rounded
    for a, value in built:
        if polish:
            a, value = descend(instance, objective, a, deadline=deadline)
        if value < best_v:
            best_a, best_v = a, value
    return best_a, best_v, polished


def _rewards(values: np.ndarray, scale: float | None) -> np.ndarray | None:
    """Rewards -value/scale; infeasible rows get the worst feasible reward less 10%."""
    feasible = np.isfinite(values)
    if scale is None or not feasible.any():
        return None
    r = np.where(feasible, -values / scale, 0.0)
    worst = r[feasible].min()
    return np.where(feasible, r, worst - 0.1 * abs(worst))
