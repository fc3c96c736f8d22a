"""The `Recipe` value object and the canonical sampler / schedule vocabulary.

A recipe is everything a render needs: the prompt pair plus generation parameters. Metadata readers, packs, the
store and the renderer all speak in recipes. Samplers use A1111's display names (``"DPM++ 2M"``) and the noise
schedule is a separate field (``"karras"``), so ComfyUI's ``dpmpp_2m`` + ``karras``, A1111's legacy
``"DPM++ 2M Karras"`` and InvokeAI's ``dpmpp_2m_k`` all become the same pair.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Field names shared by the store's typed recipe columns, `show --json`'s `params` and pack entries.
PARAM_FIELDS: tuple[str, ...] = (
    "model",
    "model_hash",
    "vae",
    "sampler",
    "schedule",
    "steps",
    "cfg_scale",
    "seed",
    "width",
    "height",
    "clip_skip",
    "loras",
)


class LoraRef(BaseModel):
    """A LoRA applied to a render: its name (file stem), weight and, when known, its hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    weight: float = 1.0
    hash: str | None = None


class GenerationParams(BaseModel):
    """The typed generation parameters: one definition for recipes, pack entries and the store's columns."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    model_hash: str | None = None
    vae: str | None = None
    sampler: Annotated[str, StringConstraints(strip_whitespace=True)] | None = None
    schedule: str | None = None
    steps: int | None = Field(default=None, ge=1, le=10_000)
    cfg_scale: float | None = Field(default=None, ge=0.0, le=100.0, allow_inf_nan=False)
    seed: int | None = Field(default=None, ge=0, le=2**64 - 1)
    width: int | None = Field(default=None, ge=8, le=16_384)
    height: int | None = Field(default=None, ge=8, le=16_384)
    clip_skip: int | None = Field(default=None, ge=1, le=24)
    loras: tuple[LoraRef, ...] = ()
    # Everything else the source recorded (denoising strength, hires fix, refiner, ...), JSON-safe.
    extra: dict[str, Any] = Field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """The typed generation parameters, keyed by `PARAM_FIELDS` (LoRAs as plain dicts)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in PARAM_FIELDS}
        out["loras"] = [lora.model_dump() for lora in self.loras]
        return out

    def canonical(self) -> GenerationParams:
        """Self with the sampler and schedule in canonical spelling (a copy only when they change)."""
        if not (self.sampler or self.schedule):
            return self if self.sampler is None else self.model_copy(update={"sampler": None})
        sampler, schedule = canonical_sampler(self.sampler, self.schedule)
        if (sampler, schedule) == (self.sampler, self.schedule):
            return self
        return self.model_copy(update={"sampler": sampler, "schedule": schedule})


class Recipe(GenerationParams):
    """A complete, serialisable description of one generation: the prompt pair plus its parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = ""
    negative_prompt: str = ""
    # The generator that wrote it ("a1111", "comfyui", ...) and its raw metadata text, kept verbatim.
    generator: str | None = None
    raw: str | None = None


# --- samplers ------------------------------------------------------------------------------------------------

# Canonical sampler display names (A1111 >= 1.9, where the schedule is a separate setting).
SAMPLERS: tuple[str, ...] = (
    "Euler",
    "Euler a",
    "LMS",
    "Heun",
    "DPM2",
    "DPM2 a",
    "DPM++ 2S a",
    "DPM++ 2M",
    "DPM++ SDE",
    "DPM++ 2M SDE",
    "DPM++ 2M SDE Heun",
    "DPM++ 3M",
    "DPM++ 3M SDE",
    "DPM fast",
    "DPM adaptive",
    "Restart",
    "DDIM",
    "DDIM CFG++",
    "DDPM",
    "PLMS",
    "PNDM",
    "UniPC",
    "DEIS",
    "LCM",
    "TCD",
    "IPNDM",
    "Euler CFG++",
    "Euler a CFG++",
    "DPM++ 2M CFG++",
    "Heun++",
)

# Canonical schedule names (lowercase, ComfyUI's spelling where one exists).
SCHEDULES: tuple[str, ...] = (
    "automatic",
    "uniform",
    "normal",
    "simple",
    "karras",
    "exponential",
    "polyexponential",
    "sgm_uniform",
    "kl_optimal",
    "align_your_steps",
    "ddim_uniform",
    "beta",
    "linear_quadratic",
)


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


_SCHEDULE_ALIASES: dict[str, str] = {_key(s): s for s in SCHEDULES} | {
    "auto": "automatic",
    "sgm uniform": "sgm_uniform",
    "kl optimal": "kl_optimal",
    "align your steps": "align_your_steps",
    "ays": "align_your_steps",
    "ddim uniform": "ddim_uniform",
    "linear quadratic": "linear_quadratic",
    "ddim": "ddim_uniform",  # A1111's "DDIM" schedule type
}

# Sampler aliases from A1111 (display + internal names), ComfyUI, InvokeAI, diffusers and Fooocus.
_SAMPLER_ALIASES: dict[str, str] = {_key(s): s for s in SAMPLERS} | {
    # ComfyUI / k-diffusion function names
    "euler ancestral": "Euler a",
    "k euler": "Euler",
    "k euler a": "Euler a",
    "k euler ancestral": "Euler a",
    "euler a": "Euler a",
    "k lms": "LMS",
    "lms": "LMS",
    "k heun": "Heun",
    "heunpp2": "Heun++",
    "dpm 2": "DPM2",
    "k dpm 2": "DPM2",
    "dpm 2 ancestral": "DPM2 a",
    "k dpm 2 a": "DPM2 a",
    "k dpm 2 ancestral": "DPM2 a",
    "dpm2 ancestral": "DPM2 a",
    "dpmpp 2s ancestral": "DPM++ 2S a",
    "dpmpp 2s a": "DPM++ 2S a",
    "k dpmpp 2s a": "DPM++ 2S a",
    "k dpmpp 2s ancestral": "DPM++ 2S a",
    "dpmpp sde": "DPM++ SDE",
    "dpmpp sde gpu": "DPM++ SDE",
    "k dpmpp sde": "DPM++ SDE",
    "dpmpp 2m": "DPM++ 2M",
    "k dpmpp 2m": "DPM++ 2M",
    "dpmpp 2m sde": "DPM++ 2M SDE",
    "dpmpp 2m sde gpu": "DPM++ 2M SDE",
    "k dpmpp 2m sde": "DPM++ 2M SDE",
    "dpmpp 2m sde heun": "DPM++ 2M SDE Heun",
    "dpmpp 2m sde heun gpu": "DPM++ 2M SDE Heun",
    "dpmpp 3m": "DPM++ 3M",  # InvokeAI's dpmpp_3m (DPMSolverMultistep, order 3)
    "dpmpp 3m sde": "DPM++ 3M SDE",
    "dpmpp 3m sde gpu": "DPM++ 3M SDE",
    "dpm fast": "DPM fast",
    "dpm adaptive": "DPM adaptive",
    "ddim": "DDIM",
    "ddim cfgpp": "DDIM CFG++",
    "ddpm": "DDPM",
    "plms": "PLMS",
    "pndm": "PNDM",
    "uni pc": "UniPC",
    "unipc": "UniPC",
    "uni pc bh2": "UniPC",
    "deis": "DEIS",
    "lcm": "LCM",
    "tcd": "TCD",
    "ipndm": "IPNDM",
    "euler cfg pp": "Euler CFG++",
    "euler ancestral cfg pp": "Euler a CFG++",
    "dpmpp 2m cfg pp": "DPM++ 2M CFG++",
    "restart": "Restart",
    # diffusers scheduler class names
    "eulerdiscretescheduler": "Euler",
    "eulerancestraldiscretescheduler": "Euler a",
    "lmsdiscretescheduler": "LMS",
    "heundiscretescheduler": "Heun",
    "kdpm2discretescheduler": "DPM2",
    "kdpm2ancestraldiscretescheduler": "DPM2 a",
    "dpmsolvermultistepscheduler": "DPM++ 2M",
    "dpmsolversinglestepscheduler": "DPM++ 2S a",
    "dpmsolversdescheduler": "DPM++ SDE",
    "ddimscheduler": "DDIM",
    "ddpmscheduler": "DDPM",
    "pndmscheduler": "PNDM",
    "unipcmultistepscheduler": "UniPC",
    "deismultistepscheduler": "DEIS",
    "lcmscheduler": "LCM",
    "tcdscheduler": "TCD",
    "ipndmscheduler": "IPNDM",
    # InvokeAI 2.x (k_dpmpp_2*) and 3.x+ (kdpm_2*, dpmpp_2s) scheduler names
    "k dpmpp 2": "DPM++ 2M",
    "k dpmpp 2 a": "DPM++ 2S a",
    "kdpm 2": "DPM2",
    "kdpm 2 a": "DPM2 a",
    "dpmpp 2s": "DPM++ 2S a",
    "k dpm fast": "DPM fast",
    "k dpm adaptive": "DPM adaptive",
    # NovelAI
    "ddim v3": "DDIM",
    # Easy Diffusion's UniPC variants
    "unipc snr": "UniPC",
    "unipc snr 2": "UniPC",
    "unipc tu": "UniPC",
    "unipc tu 2": "UniPC",
    "unipc tq": "UniPC",
}

# Suffixes that older tools fold into the sampler name; longest first so "sde karras" beats "karras".
_FOLDED_SCHEDULES: tuple[tuple[str, str], ...] = (
    (" sgm uniform", "sgm_uniform"),
    (" karras", "karras"),
    (" exponential", "exponential"),
    (" polyexponential", "polyexponential"),
    (" simple", "simple"),
    (" normal", "normal"),
    (" beta", "beta"),
    (" uniform", "uniform"),
    (" align your steps", "align_your_steps"),
    (" ays", "align_your_steps"),  # Draw Things: "DPM++ 2M AYS"
    (" trailing", "trailing"),  # Draw Things: "Euler A Trailing"
    (" k", "karras"),  # InvokeAI: dpmpp_2m_k
)


def canonical_schedule(name: str | None) -> str | None:
    """Map a schedule name from any tool to promptlib's canonical spelling, or keep it (lowercased) if unknown."""
    if name is None or not name.strip():
        return None
    key = _key(name)
    return _SCHEDULE_ALIASES.get(key, key.replace(" ", "_"))


@lru_cache(maxsize=4096)
def canonical_sampler(name: str | None, schedule: str | None = None) -> tuple[str | None, str | None]:
    """Return the canonical ``(sampler, schedule)`` pair for a sampler name written by any tool.

    An explicit `schedule` wins over one folded into the name (``"DPM++ 2M Karras"``). Unknown names are kept
    verbatim so nothing a user wrote is lost.
    """
    sched = canonical_schedule(schedule)
    if sched == "automatic":
        sched = None
    if name is None or not name.strip():
        return None, sched
    key = _key(name)
    if key in _SAMPLER_ALIASES:
        return _SAMPLER_ALIASES[key], sched
    for suffix, folded in _FOLDED_SCHEDULES:
        if key.endswith(suffix):
            base = key[: -len(suffix)]
            if base in _SAMPLER_ALIASES:
                return _SAMPLER_ALIASES[base], sched or folded
    return name.strip(), sched


# --- parameters from plain dicts ------------------------------------------------------------------------------


def params_from_dict(params: Mapping[str, Any]) -> GenerationParams:
    """Generation parameters from a plain dict: recipe field names, unknown keys into `extra`, sampler names from
    any tool canonicalised, then pydantic validation. The reference path; raises pydantic's ValidationError."""
    known = {k: v for k, v in params.items() if k in PARAM_FIELDS}
    extra = dict(params.get("extra") or {})
    extra.update((k, v) for k, v in params.items() if k not in known and k != "extra")
    sampler, schedule = known.get("sampler"), known.get("schedule")
    # (isinstance with a `str | None` union costs ~1.5 µs: too much per row of a bulk import)
    if (
        (sampler or schedule)
        and (sampler is None or type(sampler) is str)
        and (schedule is None or type(schedule) is str)
    ):
        known["sampler"], known["schedule"] = canonical_sampler(sampler, schedule)
    return GenerationParams(extra=extra, **known)


# The scalar fields the fast path checks itself, by kind; `loras` (empty only) and `extra` are handled apart.
_FAST_KINDS: dict[str, type] = {
    "model": str,
    "model_hash": str,
    "vae": str,
    "sampler": str,
    "schedule": str,
    "steps": int,
    "cfg_scale": float,
    "seed": int,
    "width": int,
    "height": int,
    "clip_skip": int,
}


def _bounds(name: str) -> tuple[Any, Any]:
    """(lower, upper) for a field, read from the model's own ``Field(ge=..., le=...)``."""
    lower = upper = None
    for rule in GenerationParams.model_fields[name].metadata:
        lower = getattr(rule, "ge", lower)
        upper = getattr(rule, "le", upper)
    return lower, upper


_FAST_STR = frozenset(name for name, kind in _FAST_KINDS.items() if kind is str)
_FAST_INT = {name: _bounds(name) for name, kind in _FAST_KINDS.items() if kind is int}
_FAST_FLOAT = {name: _bounds(name) for name, kind in _FAST_KINDS.items() if kind is float}
# Field values before any input, in the model's field order (the order pydantic gives `__dict__`).
_FAST_DEFAULTS: dict[str, Any] = dict.fromkeys(GenerationParams.model_fields) | {"loras": ()}
_object_setattr = object.__setattr__


# What the fast path hands on: the field values (all of them, in field order) and the set of fields given.
CheckedParams = tuple[dict[str, Any], set[str]]


def fast_params_from_dict(params: dict[str, Any]) -> GenerationParams | None:
    """`params_from_dict` for the plain inputs it can check cheaply (exact str / int / float / None values, no
    LoRAs, str keys), ~4x faster; None for anything else, which the caller sends down the reference path.

    What it returns equals what `params_from_dict` returns for the same input (values, their types and the set
    of fields given); it never rejects an input, so every error comes from the reference path, word for word.
    """
    checked = check_params_dict(params)
    return None if checked is None else params_from_checked(checked)


def check_params_dict(params: dict[str, Any]) -> CheckedParams | None:
    """The checks of `fast_params_from_dict` without building the model (a bulk import may never need it)."""
    values = _FAST_DEFAULTS.copy()
    unknown: list[tuple[str, Any]] | None = None
    for key, value in params.items():
        if type(key) is not str:
            return None
        if key in _FAST_INT:
            if value is not None:
                lower, upper = _FAST_INT[key]
                if type(value) is not int or not lower <= value <= upper:
                    return None
                values[key] = value
        elif key in _FAST_STR:
            if value is not None:
                if type(value) is not str:
                    return None
                values[key] = value
        elif key in _FAST_FLOAT:
            if value is not None:
                lower, upper = _FAST_FLOAT[key]
                if type(value) is float:
                    if not lower <= value <= upper:  # NaN fails too
                        return None
                elif type(value) is int and lower <= value <= upper:
                    value = float(value)
                else:
                    return None
                values[key] = value
        elif key == "loras":
            if (type(value) is not list and type(value) is not tuple) or value:
                return None
        elif key != "extra":
            if unknown is None:
                unknown = []
            unknown.append((key, value))
    extra_in = params.get("extra")
    if extra_in:
        if type(extra_in) is not dict:
            return None
        extra = extra_in.copy()
        for key in extra:
            if type(key) is not str:
                return None
    else:
        extra = {}
    if unknown is not None:
        extra.update(unknown)
    values["extra"] = extra
    fields_set = {*params, "extra"}  # the fields given: every key but the unknown ones
    if unknown is not None:
        fields_set.difference_update([key for key, _ in unknown])
    sampler, schedule = values["sampler"], values["schedule"]
    if sampler or schedule:
        # canonical names come back stripped, so pydantic's strip_whitespace has nothing left to do
        values["sampler"], values["schedule"] = canonical_sampler(sampler, schedule)
        fields_set.add("sampler")
        fields_set.add("schedule")
    return values, fields_set


def params_from_checked(checked: CheckedParams) -> GenerationParams:
    """The model for values `check_params_dict` passed: what `BaseModel.model_construct` does, minus its
    per-field Python loop."""
    values, fields_set = checked
    model = GenerationParams.__new__(GenerationParams)
    _object_setattr(model, "__dict__", values.copy())  # (copies: the model is mutable, `checked` may be reused)
    _object_setattr(model, "__pydantic_fields_set__", fields_set.copy())
    _object_setattr(model, "__pydantic_extra__", None)
    _object_setattr(model, "__pydantic_private__", None)
    return model
