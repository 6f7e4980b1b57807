"""Named, seeded dynamic scenarios for ALEF (SPEC section 2, "Dynamic environments").

Each scenario is a recipe for a `mecopt.generators.ScenarioStream`: a family, a size, a time
step and at most one `Drift` event. Iterating the stream yields one instance per step; the
same (scenario, seed) always yields the same instances.

Every scenario starts from the paper's case study (4 servers, 50 UEs, 50 m square) so the
expert's labels are comparable across scenarios, except `mobility`, which uses the hetero
channel (Rayleigh fading redrawn every step) with the same 4 x 50 size, because the paper's
free-space channel has no fading to redraw. The drift happens at step DRIFT_STEP (= 100) in
every scenario; steps before it are the "before the drift" distribution.

| name          | family | drift at step 100                                   |
|---------------|--------|-----------------------------------------------------|
| mobility      | hetero | none: UEs keep moving (<= 1.2 m/s), fading redrawn;  |
|               |        | dt = 5 s, so positions decorrelate within a window   |
| capacity-drop | paper  | server 4 (the largest, 50 GHz) keeps half its capacity |
| task-growth   | paper  | task sizes (cycles and bits) grow by half (x 1.5)    |
| density       | paper  | the number of UEs grows by half (50 -> 75)           |
| server-loss   | paper  | server 4 (the largest) disappears (4 -> 3 servers)   |

`mobility` is the control: its distribution does not change at step 100 (uniform positions
are stationary under the reflecting random walk), so any gap change there is noise, and
ALEF can only specialize the model to one fixed server layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from mecopt.errors import InputError
from mecopt.generators import Drift, ScenarioStream
from mecopt.instance import Instance

DRIFT_STEP = 100  # every scenario changes (if it does) at this step


@dataclass(frozen=True)
class Scenario:
    """A named recipe for a scenario stream."""

    name: str
    description: str
    family: str = "paper"
    n_ues: int = 50
    n_servers: int = 4
    dt: float = 1.0  # seconds per step
    drift: Drift | None = None

    @property
    def drift_step(self) -> int:
        """The step at which the distribution changes (DRIFT_STEP also for `mobility`, where
        it only splits "before" from "after")."""
        return self.drift.step if self.drift is not None else DRIFT_STEP

    def stream(self, seed: int = 0, n_ues: int | None = None) -> ScenarioStream:
        """The seeded stream; `n_ues` overrides the size (small instances for tests)."""
        if not isinstance(seed, int) or seed < 0:
            raise InputError(f"seed: must be a non-negative integer, got {seed!r}")
        drifts = (self.drift,) if self.drift is not None else ()
        return ScenarioStream(self.family, seed=seed, n_ues=n_ues or self.n_ues,
                              n_servers=self.n_servers, dt=self.dt, drifts=drifts,
                              name=f"{self.name}-s{seed}")


SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (
        Scenario("mobility", "UEs move at up to 1.2 m/s, Rayleigh fading redrawn every step "
                             "(no distribution change; the control)",
                 family="hetero", dt=5.0),
        Scenario("capacity-drop", "server 4 (the largest) loses half its capacity",
                 drift=Drift(DRIFT_STEP, "capacity-drop", factor=0.5, server=4)),
        Scenario("task-growth", "task sizes (cycles and bits) grow by half",
                 drift=Drift(DRIFT_STEP, "task-growth", factor=1.5)),
        Scenario("density", "the number of UEs grows by half",
                 drift=Drift(DRIFT_STEP, "density", factor=1.5)),
        Scenario("server-loss", "server 4 (the largest) disappears",
                 drift=Drift(DRIFT_STEP, "server-loss", server=4)),
    )
}


def get_scenario(name: str) -> Scenario:
    """The scenario of that name; InputError naming the field otherwise."""
    if name not in SCENARIOS:
        raise InputError(f"scenario: unknown {name!r}; valid: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]


def scenario_instances(name: str, seed: int, steps: int, n_ues: int | None = None
                       ) -> list[Instance]:
    """The first `steps` instances of a scenario (step k is element k)."""
    return get_scenario(name).stream(seed, n_ues).take(steps)


__all__ = ["DRIFT_STEP", "SCENARIOS", "Scenario", "get_scenario", "scenario_instances"]
