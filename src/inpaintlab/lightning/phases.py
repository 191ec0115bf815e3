"""One phase schedule for every paper whose training procedure changes over time.

GLCIC Sec. 3.3 (completion network alone for T_C iterations, then the discriminator alone for T_D, then both),
BTGMI Alg. 1 (the head, then one grown block after another, with adversarial annealing inside each) and
Partial Convolutions Sec. 4.2 (fine-tuning at a lower learning rate with the encoder's BatchNorm frozen) are
all a list of ``Phase`` entries on ``InpaintingModule(phases=...)``. The phase is a function of
``trainer.global_step``, so a resumed run continues in the right phase with nothing extra saved.

Steps are optimizer iterations as the papers count them: generator steps, and discriminator steps in a phase
that trains only the discriminator (GLCIC's T_D), so ``trainer.max_steps`` is the sum of the phase lengths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inpaintlab.errors import ConfigError


@dataclass(frozen=True)
class Phase:
    """One stretch of training. ``steps=None`` lasts until ``trainer.max_steps`` (only the last phase may)."""

    name: str
    steps: int | None = None
    generator: bool = True  # generator steps
    discriminator: bool = True  # critic steps (when the module has a critic)
    adversarial: bool = True  # adversarial term in the generator's loss
    lr_g: float | None = None  # generator learning rate from the phase's first step
    lr_d: float | None = None
    freeze_bn: tuple[str, ...] = ()  # generator sub-module prefixes whose BatchNorm is frozen ("" = all)
    settings: Mapping[str, Any] = field(default_factory=dict)  # method-specific, e.g. BTGMI's {"blocks": 2}

    def __post_init__(self) -> None:
        if self.steps is not None and int(self.steps) < 1:
            raise ConfigError(f"phase {self.name!r}: steps must be >= 1 or null (until max_steps), got {self.steps}")
        if not (self.generator or self.discriminator):
            raise ConfigError(f"phase {self.name!r} trains neither the generator nor the discriminator")
        object.__setattr__(self, "freeze_bn", tuple(self.freeze_bn))
        object.__setattr__(self, "settings", dict(self.settings))


DEFAULT_PHASE = Phase("train")


def scaled_steps(fraction: float, budget: int, minimum: int = 1) -> int:
    """A stretch of ``fraction`` of a schedule in a run of ``budget`` steps: ``round(fraction·budget)`` whole steps,
    at least ``minimum`` (the rule of ``inpaintlab-compare``'s ``${compare_steps:f}`` and of the rehearsal's
    phase lengths, which keep a paper's phase boundaries in proportion)."""
    return max(int(minimum), round(float(fraction) * int(budget)))


class PhaseSchedule:
    """Phases in order; ``at(step)`` is the phase a given global step falls in."""

    def __init__(self, phases: Sequence[Phase | Mapping[str, Any]]) -> None:
        if not phases:
            raise ConfigError("a phase schedule needs at least one phase")
        self.phases = tuple(p if isinstance(p, Phase) else Phase(**dict(p)) for p in phases)
        for p in self.phases[:-1]:
            if p.steps is None:
                raise ConfigError(f"phase {p.name!r} has steps=null but is not the last phase")
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ConfigError(f"phase names must be unique, got {names}")
        self.starts: list[int] = []
        start = 0
        for p in self.phases:
            self.starts.append(start)
            start += int(p.steps or 0)

    @property
    def total_steps(self) -> int | None:
        """Steps of all phases together; None when the last one runs until ``max_steps``."""
        last = self.phases[-1]
        return None if last.steps is None else self.starts[-1] + int(last.steps)

    def at(self, step: int) -> tuple[int, Phase, int]:
        """(index, phase, steps already taken in it) at ``step``; past the end, the last phase continues."""
        index = 0
        for i, start in enumerate(self.starts):
            if step >= start:
                index = i
        return index, self.phases[index], step - self.starts[index]

    def __len__(self) -> int:
        return len(self.phases)

    def __repr__(self) -> str:
        return "PhaseSchedule(" + ", ".join(f"{p.name}:{p.steps}" for p in self.phases) + ")"
