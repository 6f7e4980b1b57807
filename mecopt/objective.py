"""The two objectives of the paper and the text prompts that select them."""

from __future__ import annotations

import enum
import re

from mecopt.errors import InputError


class Objective(str, enum.Enum):
    """What a solver minimizes: mean latency [s] or total UE energy [J]."""

    LATENCY = "latency"
    ENERGY = "energy"

    @property
    def prompt(self) -> str:
        """The paper's text prompt for this objective."""
        return "Minimum latency" if self is Objective.LATENCY else "Minimum energy"

    @classmethod
    def parse(cls, text: str | Objective) -> Objective:
        """Parse "latency", "energy" or a prompt such as "Minimum latency" (case-insensitive)."""
        if isinstance(text, Objective):
            return text
        if not isinstance(text, str):
            raise InputError(f"objective: expected text, got {type(text).__name__}")
        words = re.findall(r"[a-z]+", text.lower())
        key = " ".join(w for w in words if w not in _FILLER)
        for objective, keys in _ACCEPTED.items():
            if key in keys:
                return objective
        raise InputError(
            f"objective: unknown {text!r}; accepted: latency, energy, 'Minimum latency', "
            "'Minimum energy' (also 'min delay', 'minimize energy consumption', ...)"
        )


# Words that carry no meaning for the choice ("Minimize the total energy consumption").
_FILLER = {"the", "a", "of", "total", "mean", "average", "overall", "system", "task", "tasks",
           "to", "please", "objective", "prompt", "goal", "with", "lowest", "least"}
_MIN = ("", "min ", "minimum ", "minimize ", "minimise ", "minimal ", "minimizing ", "minimising ",
        "low ", "lower ", "reduce ")
_ACCEPTED = {
    Objective.LATENCY: {m + w for m in _MIN for w in ("latency", "delay", "time", "completion time",
                                                      "latency time", "response time")},
    Objective.ENERGY: {m + w for m in _MIN for w in ("energy", "energy consumption", "power",
                                                     "power consumption", "energy cost")},
}
_ACCEPTED = {k: {s.strip() for s in v} for k, v in _ACCEPTED.items()}
