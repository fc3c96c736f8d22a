"""Completing render recipes: what a render of an entry uses, field by field.

Each field comes from the request (CLI flags, `Library.render` arguments, a grid axis), else the entry's own
parameters, else config.toml's ``[render]`` table, else promptlib's defaults (Euler, 25 steps, CFG 7.5, the
model's native size, a random seed). `finish_recipe` then records what the renderer will actually use: the dtype
and attention backend, and the scheduler class with its overrides, so a rerun never depends on defaults that
may change.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from promptlib.errors import Switch, ValidationError
from promptlib.recipe import LoraRef, Recipe, canonical_sampler
from promptlib.render import schedulers

if TYPE_CHECKING:
    import torch

    from promptlib.entries import Entry
    from promptlib.library import Library
    from promptlib.render.renderer import RenderOptions

RANDOM_PREFIX = "random:"
DEFAULT_SAMPLER = "Euler"
DEFAULT_STEPS = 25
DEFAULT_CFG = 7.5
_MODEL = Switch("model=… (or 'model' in overrides)", "--model")  # how a render names its model
# Recipe fields an override may set (plus "dtype", "negative_prompt", "prompt").
OVERRIDE_FIELDS = frozenset(
    {
        "model",
        "vae",
        "loras",
        "sampler",
        "schedule",
        "steps",
        "cfg_scale",
        "seed",
        "width",
        "height",
        "clip_skip",
        "dtype",
        "prompt",
        "negative_prompt",
    }
)


@dataclass(frozen=True)
class ModelFacts:
    """What recipe completion needs before loading: the architecture and its native resolution."""

    ref: str
    arch: str
    resolution: int


def parse_random(ref: str) -> tuple[str, str, int]:
    body = ref[len(RANDOM_PREFIX) :].strip().lower()
    body, _, seed_text = body.partition("@")
    arch, _, size = body.partition("-")
    size = size or "full"
    from promptlib.render.presets import ARCHITECTURES, SIZES

    if arch not in ARCHITECTURES or size not in SIZES or (seed_text and not seed_text.isdigit()):
        raise ValidationError(
            f"model {ref!r}: expected random:ARCH[-tiny][@SEED] with ARCH one of {', '.join(ARCHITECTURES)}"
        )
    return arch, size, int(seed_text or 0)


def _render_defaults(lib: Library) -> dict[str, Any]:
    raw = lib.config.raw.get("render", {})
    return raw if isinstance(raw, dict) else {}


def _seed_value(value: Any) -> int | None:
    """An explicit seed, None for "take the entry's", or a fresh random one for "random" / -1."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() in ("random", "-1", ""):
            return secrets.randbelow(2**32)
        try:
            value = int(value)
        except ValueError:
            raise ValidationError(f"seed {value!r} is not a whole number or 'random'") from None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"seed {value!r} is not a whole number or 'random'")
    if value == -1:
        return secrets.randbelow(2**32)
    if not 0 <= value < 2**64:
        raise ValidationError(f"seed {value} is outside 0 to 2^64-1")
    return value


def _loras(value: Any) -> tuple[tuple[str, float], ...]:
    out = []
    for item in value or ():
        if isinstance(item, LoraRef):
            out.append((item.name, item.weight))
        elif isinstance(item, Mapping):
            out.append((str(item["name"]), float(item.get("weight", 1.0))))
        elif isinstance(item, tuple | list) and len(item) == 2:
            out.append((str(item[0]), float(item[1])))
        elif isinstance(item, str):
            name, _, weight = item.rpartition(":") if ":" in item.split("/")[-1] else (item, "", "1")
            try:
                out.append((name or item, float(weight or 1)))
            except ValueError:
                raise ValidationError(f"LoRA {item!r} is not NAME or NAME:WEIGHT") from None
        else:
            raise ValidationError(f"LoRA {item!r} is not NAME or NAME:WEIGHT")
    return tuple(out)


def _with_prompt_tags(loras: tuple[tuple[str, float], ...], prompt: str) -> tuple[tuple[str, float], ...]:
    """A1111 loads the LoRAs a prompt tags (``<lora:name:0.8>``): those not listed already join the list."""
    from promptlib.metadata.a1111 import lora_tags

    listed = {name for name, _ in loras}
    return loras + tuple((name, weight) for name, weight in lora_tags(prompt) if name not in listed)


def entry_fields(entry: Entry, overrides: Mapping[str, Any], lib: Library) -> dict[str, Any]:
    """The recipe fields for rendering `entry`: overrides, then the entry's parameters, then the config's
    ``[render]`` defaults. The result still lacks what needs the model (size defaults, hashes)."""
    unknown = set(overrides) - OVERRIDE_FIELDS
    if unknown:
        raise ValidationError(f"unknown render option {sorted(unknown)[0]!r}")
    params, defaults = entry.params, _render_defaults(lib)

    def pick(name: str, default: Any = None) -> Any:
        if overrides.get(name) is not None:
            return overrides[name]
        if params.get(name) not in (None, [], {}):
            return params[name]
        return defaults.get(name, default)

    fields: dict[str, Any] = {
        "prompt": overrides.get("prompt") if overrides.get("prompt") is not None else entry.prompt,
        "negative_prompt": (
            overrides["negative_prompt"] if overrides.get("negative_prompt") is not None else entry.negative_prompt
        ),
        "model": pick("model"),
        "vae": pick("vae"),
        "loras": _loras(pick("loras", ())),
        "steps": pick("steps", DEFAULT_STEPS),
        "cfg_scale": pick("cfg_scale", DEFAULT_CFG),
        "width": pick("width"),
        "height": pick("height"),
        "clip_skip": pick("clip_skip"),
        "dtype": overrides.get("dtype") or params.get("extra", {}).get("dtype") or defaults.get("dtype"),
    }
    fields["loras"] = _with_prompt_tags(fields["loras"], fields["prompt"])
    if overrides.get("sampler") is not None:  # a new sampler brings its own schedule (or the one given with it)
        fields["sampler"], fields["schedule"] = canonical_sampler(overrides["sampler"], overrides.get("schedule"))
    else:
        fields["sampler"], fields["schedule"] = canonical_sampler(
            pick("sampler", DEFAULT_SAMPLER), overrides.get("schedule") or params.get("schedule")
        )
    seed = _seed_value(overrides.get("seed"))
    fields["seed"] = seed if seed is not None else params.get("seed")
    if fields["seed"] is None:
        fields["seed"] = secrets.randbelow(2**32)
    if not fields["model"]:
        raise _MODEL.error(
            ValidationError,
            lambda how: f"entry {entry.id} names no model: pass {how}, or set model under [render] in config.toml",
        )
    return fields


def finish_recipe(
    fields: Mapping[str, Any], facts: ModelFacts, *, device: torch.device, options: RenderOptions
) -> Recipe:
    """A complete recipe from `fields`: native size for missing width/height, the dtype and attention backend
    actually used, and the scheduler class and overrides. Raises ValidationError for an unusable value."""
    from promptlib.render.renderer import resolve_attention, resolve_dtype

    spec = schedulers.resolve(fields.get("sampler"), fields.get("schedule"))
    stored = fields.get("scheduler_config")
    scheduler = stored if isinstance(stored, dict) else {"class": spec.cls, "overrides": dict(spec.overrides)}
    dtype = resolve_dtype(fields.get("dtype") or options.dtype, device)
    extra: dict[str, Any] = {
        "dtype": dtype,
        "attention": resolve_attention(options.attention, device),
        "scheduler": scheduler,
    }
    if facts.ref.startswith(RANDOM_PREFIX):
        extra["random_weights"] = True
    width, height = fields.get("width") or facts.resolution, fields.get("height") or facts.resolution
    try:
        return Recipe(
            prompt=str(fields.get("prompt") or ""),
            negative_prompt=str(fields.get("negative_prompt") or ""),
            model=facts.ref,
            vae=fields.get("vae"),
            loras=tuple(LoraRef(name=n, weight=w) for n, w in fields.get("loras", ())),
            sampler=spec.sampler,
            schedule=spec.schedule,
            steps=int(fields["steps"]),
            cfg_scale=float(fields["cfg_scale"]),
            seed=int(fields["seed"]),
            width=int(width),
            height=int(height),
            clip_skip=int(fields["clip_skip"]) if fields.get("clip_skip") is not None else None,
            generator="promptlib",
            extra=extra,
        )
    except (TypeError, ValueError) as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else None
        where = ".".join(map(str, first["loc"])) + ": " + first["msg"] if first else str(exc)
        raise ValidationError(f"render recipe: {where}") from exc


def parse_size(size: str | tuple[int, int]) -> tuple[int, int]:
    """``"512x768"`` (or ``×``) or a (width, height) pair → (width, height); ValidationError unless both are whole
    numbers of at least 8 pixels."""
    if isinstance(size, str):
        try:
            width, height = (int(p) for p in size.lower().replace("×", "x").split("x"))
        except ValueError:
            raise ValidationError(f"size {size!r} is not WIDTHxHEIGHT, e.g. 512x768") from None
    else:
        width, height = int(size[0]), int(size[1])
    if width < 8 or height < 8:
        raise ValidationError(f"size {width}x{height}: width and height must be at least 8 pixels, e.g. 512x768")
    return width, height


def recipe_fields(recipe: Recipe) -> dict[str, Any]:
    """A stored recipe back to the fields `finish_recipe` takes (for reruns and grids)."""
    return {
        "prompt": recipe.prompt,
        "negative_prompt": recipe.negative_prompt,
        "model": recipe.model,
        "vae": recipe.vae,
        "loras": tuple((lora.name, lora.weight) for lora in recipe.loras),
        "sampler": recipe.sampler,
        "schedule": recipe.schedule,
        "steps": recipe.steps,
        "cfg_scale": recipe.cfg_scale,
        "seed": recipe.seed,
        "width": recipe.width,
        "height": recipe.height,
        "clip_skip": recipe.clip_skip,
        "dtype": recipe.extra.get("dtype"),
        "scheduler_config": recipe.extra.get("scheduler"),
    }
