"""The scheduler registry: A1111 sampler names → a diffusers scheduler class plus `from_config` overrides.

A recipe names its sampler the A1111 way (``"DPM++ 2M"``) with the noise schedule in its own field (``"karras"``);
legacy names with the schedule folded in (``"DPM++ 2M Karras"``) resolve to the same pair. A scheduler is always
built from the model's *original* scheduler config (`make_scheduler`), so switching samplers never leaks one
sampler's overrides into the next. The class name and overrides actually used are stored with each render.

Nothing here imports diffusers at module level: the table (`promptlib schedulers`) prints without torch.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from promptlib.errors import ValidationError
from promptlib.recipe import canonical_sampler

# Schedules (recipe.schedule, canonical spelling) → the diffusers config keys that implement them. "normal",
# "uniform" and "automatic" keep the model's own spacing.
SCHEDULE_OVERRIDES: dict[str, dict[str, Any]] = {
    "karras": {"use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True},
    "beta": {"use_beta_sigmas": True},
    "sgm_uniform": {"timestep_spacing": "trailing"},
    "simple": {"timestep_spacing": "trailing"},
    "normal": {},
    "uniform": {},
}

# The config keys each diffusers class accepts among those the schedules set (checked against diffusers by a test).
_SIGMA_KEYS = frozenset({"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "timestep_spacing"})
_SPACING_ONLY = frozenset({"timestep_spacing"})
CLASS_ACCEPTS: dict[str, frozenset[str]] = {
    "EulerDiscreteScheduler": _SIGMA_KEYS,
    "EulerAncestralDiscreteScheduler": _SPACING_ONLY,
    "LMSDiscreteScheduler": _SIGMA_KEYS,
    "HeunDiscreteScheduler": _SIGMA_KEYS,
    "KDPM2DiscreteScheduler": _SIGMA_KEYS,
    "KDPM2AncestralDiscreteScheduler": _SIGMA_KEYS,
    "DPMSolverSinglestepScheduler": _SIGMA_KEYS - {"timestep_spacing"},
    "DPMSolverMultistepScheduler": _SIGMA_KEYS,
    "DPMSolverSDEScheduler": _SIGMA_KEYS,
    "DDIMScheduler": _SPACING_ONLY,
    "DDPMScheduler": _SPACING_ONLY,
    "PNDMScheduler": _SPACING_ONLY,
    "UniPCMultistepScheduler": _SIGMA_KEYS,
    "DEISMultistepScheduler": _SIGMA_KEYS,
    "LCMScheduler": _SPACING_ONLY,
    "TCDScheduler": _SPACING_ONLY,
}


@dataclass(frozen=True)
class SchedulerSpec:
    """One sampler (optionally with a schedule): the diffusers class, its overrides and how to use it."""

    name: str  # A1111 display name: "DPM++ 2M Karras"
    sampler: str  # canonical sampler: "DPM++ 2M"
    schedule: str | None  # canonical schedule: "karras"
    cls: str  # diffusers class name
    overrides: Mapping[str, Any] = field(default_factory=dict)
    steps: tuple[int, int] = (20, 30)  # recommended range
    calls_per_step: int = 1  # UNet evaluations per step (2 for second-order samplers)
    stochastic: bool = False  # draws fresh noise each step (from the per-image generators)
    requires: tuple[str, ...] = ()  # extra Python packages diffusers needs for this class
    note: str = ""

    def unet_calls(self, steps: int) -> int:
        """UNet evaluations for `steps` steps (each on a batch of 2×images with CFG): what diffusers' timesteps give."""
        if self.calls_per_step == 2:
            return 2 * steps - 1  # second-order: the last step is a single Euler step
        if self.cls == "PNDMScheduler":
            return steps + 1  # PLMS repeats one timestep to warm its multistep history
        return steps

    def missing(self) -> list[str]:
        """The packages this scheduler needs that are not installed."""
        return [name for name in self.requires if importlib.util.find_spec(name) is None]

    @property
    def available(self) -> bool:
        return not self.missing()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sampler": self.sampler,
            "schedule": self.schedule,
            "class": self.cls,
            "overrides": dict(self.overrides),
            "steps": list(self.steps),
            "unet_calls_per_step": self.calls_per_step,
            "stochastic": self.stochastic,
            "requires": list(self.requires),
            "available": self.available,
            "note": self.note,
        }


def _base(
    name: str,
    cls: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    steps: tuple[int, int],
    calls: int = 1,
    stochastic: bool = False,
    requires: tuple[str, ...] = (),
    note: str = "",
) -> SchedulerSpec:
    return SchedulerSpec(
        name=name,
        sampler=name,
        schedule=None,
        cls=cls,
        overrides=dict(overrides or {}),
        steps=steps,
        calls_per_step=calls,
        stochastic=stochastic,
        requires=requires,
        note=note,
    )


# Base samplers (schedule left to the model's config), in A1111's menu order.
BASE: dict[str, SchedulerSpec] = {
    spec.sampler: spec
    for spec in (
        _base("Euler", "EulerDiscreteScheduler", steps=(20, 40)),
        _base("Euler a", "EulerAncestralDiscreteScheduler", steps=(20, 40), stochastic=True),
        _base("LMS", "LMSDiscreteScheduler", steps=(30, 50), requires=("scipy",)),
        _base("Heun", "HeunDiscreteScheduler", steps=(10, 30), calls=2),
        _base("DPM2", "KDPM2DiscreteScheduler", steps=(15, 30), calls=2),
        _base("DPM2 a", "KDPM2AncestralDiscreteScheduler", steps=(15, 30), calls=2, stochastic=True),
        _base(
            "DPM++ 2S a",
            "DPMSolverSinglestepScheduler",
            steps=(15, 30),
            note="diffusers' single-step DPM++ 2S: close to, not the same as, A1111's ancestral sampler",
        ),
        _base("DPM++ 2M", "DPMSolverMultistepScheduler", steps=(20, 30)),
        _base(
            "DPM++ SDE",
            "DPMSolverSDEScheduler",
            steps=(10, 20),
            calls=2,
            stochastic=True,
            requires=("torchsde",),
            note="Brownian-tree noise: batch members are not independent of batch size",
        ),
        _base(
            "DPM++ 2M SDE",
            "DPMSolverMultistepScheduler",
            {"algorithm_type": "sde-dpmsolver++"},
            steps=(20, 30),
            stochastic=True,
        ),
        _base("DPM++ 3M", "DPMSolverMultistepScheduler", {"solver_order": 3}, steps=(20, 30)),
        _base(
            "DPM++ 3M SDE",
            "DPMSolverMultistepScheduler",
            {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
            steps=(25, 50),
            stochastic=True,
        ),
        _base("DDIM", "DDIMScheduler", steps=(20, 50)),
        _base("DDPM", "DDPMScheduler", steps=(100, 1000), stochastic=True),
        _base("PLMS", "PNDMScheduler", {"skip_prk_steps": True}, steps=(30, 50)),
        _base("PNDM", "PNDMScheduler", {"skip_prk_steps": True}, steps=(30, 50)),
        _base("UniPC", "UniPCMultistepScheduler", steps=(10, 20)),
        _base("DEIS", "DEISMultistepScheduler", steps=(15, 25)),
        _base(
            "LCM",
            "LCMScheduler",
            steps=(4, 8),
            stochastic=True,
            note="for LCM-distilled models or the LCM LoRA; CFG 1-2",
        ),
        _base(
            "TCD",
            "TCDScheduler",
            steps=(4, 8),
            stochastic=True,
            note="for TCD-distilled models or the TCD LoRA; CFG 1-2",
        ),
    )
}

# The legacy A1111 names with the schedule folded in, listed in the table like A1111's old menu.
KARRAS_NAMES: tuple[str, ...] = (
    "LMS",
    "DPM2",
    "DPM2 a",
    "DPM++ 2S a",
    "DPM++ 2M",
    "DPM++ SDE",
    "DPM++ 2M SDE",
    "DPM++ 3M",
    "DPM++ 3M SDE",
    "Euler",
    "Heun",
    "UniPC",
    "DEIS",
)


def _with_schedule(spec: SchedulerSpec, schedule: str) -> SchedulerSpec:
    overrides = SCHEDULE_OVERRIDES.get(schedule)
    if overrides is None:
        known = ", ".join(sorted(SCHEDULE_OVERRIDES))
        raise ValidationError(f"schedule {schedule!r} is not supported by the renderer (known: {known})")
    accepted = CLASS_ACCEPTS.get(spec.cls, frozenset())
    if not set(overrides) <= accepted:
        raise ValidationError(f"sampler {spec.sampler!r} ({spec.cls}) does not support the {schedule!r} schedule")
    label = schedule.replace("_", " ").title() if schedule not in ("sgm_uniform",) else "SGM Uniform"
    return SchedulerSpec(
        name=f"{spec.sampler} {label}" if overrides else spec.sampler,
        sampler=spec.sampler,
        schedule=schedule,
        cls=spec.cls,
        overrides={**spec.overrides, **overrides},
        steps=spec.steps,
        calls_per_step=spec.calls_per_step,
        stochastic=spec.stochastic,
        requires=spec.requires,
        note=spec.note,
    )


def registry() -> list[SchedulerSpec]:
    """Every named entry of the table: the base samplers, then the Karras variants."""
    out = list(BASE.values())
    out += [_with_schedule(BASE[name], "karras") for name in KARRAS_NAMES]
    return out


def resolve(sampler: str | None, schedule: str | None = None) -> SchedulerSpec:
    """The spec for a recipe's sampler and schedule, in any tool's spelling (``"DPM++ 2M Karras"``,
    ``("dpmpp_2m", "karras")``). Raises ValidationError for an unknown sampler or an unsupported schedule."""
    name, sched = canonical_sampler(sampler or "Euler", schedule)
    assert name is not None
    spec = BASE.get(name)
    if spec is None:
        import difflib

        names = [s.name for s in registry()]
        close = difflib.get_close_matches(str(sampler), names, n=1, cutoff=0.75)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValidationError(f"sampler {name!r} is not available in the renderer ({hint}known: {', '.join(BASE)})")
    if sched in (None, "automatic"):
        return spec
    return _with_schedule(spec, sched)


@contextmanager
def quiet_diffusers() -> Iterator[None]:
    """diffusers logs a warning for every config key a scheduler class ignores; they are expected here."""
    from diffusers.utils import logging as dlogging

    level = dlogging.get_verbosity()
    dlogging.set_verbosity_error()
    try:
        yield
    finally:
        dlogging.set_verbosity(level)


def make_scheduler(spec: SchedulerSpec, base_config: Mapping[str, Any], **extra: Any) -> Any:
    """A fresh diffusers scheduler: ``spec.cls.from_config(base_config, **spec.overrides, **extra)``.

    `base_config` must be the model's original scheduler config. Raises ValidationError when diffusers lacks the
    class or it needs a package that is not installed."""
    missing = spec.missing()
    if missing:
        raise ValidationError(f"sampler {spec.name!r} needs {', '.join(missing)}: pip install {' '.join(missing)}")
    import diffusers

    try:
        cls = getattr(diffusers, spec.cls)
    except (AttributeError, ImportError) as exc:
        raise ValidationError(f"sampler {spec.name!r}: this diffusers has no {spec.cls}") from exc
    with quiet_diffusers():
        return cls.from_config(dict(base_config), **{**spec.overrides, **extra})


def table_rows() -> list[dict[str, Any]]:
    """The registry as JSON-ready rows (what `promptlib schedulers --json` prints)."""
    return [spec.to_json() for spec in registry()]
