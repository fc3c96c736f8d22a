"""Helpers shared by the metadata readers: bounded JSON, lenient number coercion, JSON-safe extras, recipe assembly."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from promptlib.errors import FormatError
from promptlib.limits import MAX_JSON_DEPTH, MAX_METADATA_CHARS
from promptlib.recipe import LoraRef, Recipe, canonical_sampler

# Longer "numbers" are not numbers; also keeps int() away from its digit limit.
_MAX_NUMBER_CHARS = 64
# Sampler names longer than this are not names; they would only bloat canonical_sampler's cache.
_MAX_NAME_CHARS = 200
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SIZE_RE = re.compile(r"\s*(\d{1,6})\s*[x×X*,]\s*(\d{1,6})\s*")
_MODEL_EXT_RE = re.compile(r"\.(?:safetensors|ckpt|pt|pth|bin|gguf|sft|onnx|th)$", re.IGNORECASE)


def load_json(text: str, *, what: str) -> Any:
    """Parse untrusted JSON text; raises FormatError if it is too long, malformed or nested too deeply."""
    if len(text) > MAX_METADATA_CHARS:
        raise FormatError(f"{what} is longer than {MAX_METADATA_CHARS:,} characters")
    try:
        # NaN/Infinity are not JSON; read them as null rather than letting non-finite floats in.
        value = json.loads(text, parse_constant=lambda _name: None)
    except (ValueError, RecursionError) as exc:
        raise FormatError(f"{what} is not valid JSON ({type(exc).__name__})") from exc
    if nesting_exceeds(value, MAX_JSON_DEPTH):
        raise FormatError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def nesting_exceeds(value: Any, limit: int) -> bool:
    """True if lists/dicts in `value` nest deeper than `limit` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def looks_like_json_object(text: str | None) -> bool:
    """Cheap check whether a text chunk holds a JSON object rather than free text."""
    return text is not None and text.lstrip().startswith("{")


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty list (untrusted JSON puts anything anywhere)."""
    return value if isinstance(value, list) else []


def to_int(value: Any) -> int | None:
    """An int from an int, an integral float or a numeric string; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_NUMBER_CHARS:
            return None
        if _INT_RE.fullmatch(text):
            return int(text)
        number = to_float(text)
        if number is not None and number.is_integer() and abs(number) < 2**53:
            return int(number)
    return None


def to_float(value: Any) -> float | None:
    """A finite float from a number or a numeric string; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_NUMBER_CHARS or not _FLOAT_RE.fullmatch(text):
            return None
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def to_text(value: Any) -> str | None:
    """A stripped non-empty string from a string or a number; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        return text or None
    return None


def json_safe(value: Any, _depth: int = 0) -> Any:
    """A copy of `value` made of JSON types only (non-finite floats and unknown objects become strings)."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if _depth >= MAX_JSON_DEPTH:
        return None
    if isinstance(value, Mapping):
        return {str(key): json_safe(item, _depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item, _depth + 1) for item in value]
    return str(value)


def parse_size(value: Any) -> tuple[int, int] | None:
    """``"512x768"`` (also ``512 x 768``, ``(512, 768)``) as a (width, height) pair, else None."""
    if isinstance(value, list | tuple) and len(value) == 2:
        width, height = to_int(value[0]), to_int(value[1])
        return (width, height) if width is not None and height is not None else None
    if not isinstance(value, str) or len(value) > 64:
        return None
    match = _SIZE_RE.fullmatch(value.strip().strip("()[]"))
    return (int(match.group(1)), int(match.group(2))) if match else None


def model_stem(name: str) -> str:
    """A model or LoRA file name without folders and weight-file extension (``"sdxl/juggernaut.safetensors"``)."""
    base = re.split(r"[\\/]", name.strip())[-1]
    return _MODEL_EXT_RE.sub("", base) or base


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "model": to_text,
    "model_hash": to_text,
    "vae": to_text,
    "steps": to_int,
    "cfg_scale": to_float,
    "seed": to_int,
    "width": to_int,
    "height": to_int,
    "clip_skip": to_int,
}


class RecipeBuilder:
    """Collects what a reader found and builds a valid `Recipe`.

    Typed values that cannot be converted or that `Recipe` rejects (``Steps: 0``, ``Seed: -1``) are kept in
    `extra` under the key the source used, so nothing the source recorded is lost.
    """

    def __init__(self, generator: str, raw: str) -> None:
        self.generator = generator
        self.raw = raw
        self.prompt = ""
        self.negative_prompt = ""
        self.extra: dict[str, Any] = {}
        self._fields: dict[str, Any] = {}
        self._keys: dict[str, str] = {}
        self._loras: dict[str, LoraRef] = {}

    def has(self, field: str) -> bool:
        """Whether a typed field is already set."""
        return field in self._fields

    def set(self, field: str, value: Any, *, key: str | None = None) -> None:
        """Set a typed field (see `PARAM_FIELDS`) from a loosely typed value; bad values go to `extra[key]`."""
        if value is None or value == "":
            return
        converted = _CONVERTERS[field](value)
        if converted is None:
            self.extra[key or field] = json_safe(value)
            return
        self._fields[field] = converted
        self._keys[field] = key or field

    def set_model(self, value: Any, *, key: str = "model") -> None:
        """Set the model from a name or a file path; a path's folders/extension go to ``extra["model_path"]``."""
        name = to_text(value)
        if name is None:
            return
        stem = model_stem(name)
        if stem != name:
            self.extra["model_path"] = name
        self.set("model", stem, key=key)

    def sampler(self, name: Any, schedule: Any = None, *, key: str = "sampler") -> None:
        """Set sampler + schedule through `canonical_sampler`; oversized or non-text names go to `extra`."""
        sampler_name = to_text(name)
        schedule_name = to_text(schedule)
        if sampler_name is not None and len(sampler_name) > _MAX_NAME_CHARS:
            self.extra[key] = sampler_name[:_MAX_NAME_CHARS]
            sampler_name = None
        if schedule_name is not None and len(schedule_name) > _MAX_NAME_CHARS:
            self.extra[f"{key}_schedule"] = schedule_name[:_MAX_NAME_CHARS]
            schedule_name = None
        if sampler_name is None and schedule_name is None:
            return
        canonical, sched = canonical_sampler(sampler_name, schedule_name)
        if canonical is not None:
            self._fields["sampler"] = canonical
        if sched is not None:
            self._fields["schedule"] = sched

    def add_extra(self, key: str, value: Any) -> None:
        """Keep a value the recipe has no field for (made JSON-safe); None is skipped."""
        if value is not None:
            self.extra[key] = json_safe(value)

    def lora(self, name: Any, weight: Any = 1.0, *, hash: Any = None) -> None:
        """Record a LoRA by file stem; the first weight for a name wins, a later hash fills a missing one."""
        text = to_text(name)
        if text is None or text.lower() == "none":
            return
        stem = model_stem(text)[:_MAX_NAME_CHARS]
        if not stem:
            return
        strength = to_float(weight)
        digest = to_text(hash)
        current = self._loras.get(stem)
        if current is None:
            self._loras[stem] = LoraRef(name=stem, weight=1.0 if strength is None else strength, hash=digest)
        elif current.hash is None and digest is not None:
            self._loras[stem] = current.model_copy(update={"hash": digest})

    def lora_hash(self, name: str, digest: Any) -> bool:
        """Attach a hash to an already recorded LoRA; False if no LoRA of that name was recorded."""
        stem = model_stem(name)
        current = self._loras.get(stem)
        text = to_text(digest)
        if current is None or text is None:
            return False
        if current.hash is None:
            self._loras[stem] = current.model_copy(update={"hash": text})
        return True

    def build(self) -> Recipe:
        """The finished `Recipe`; raises FormatError only if it cannot be built at all."""
        fields = dict(self._fields)
        while True:
            try:
                return Recipe(
                    prompt=self.prompt,
                    negative_prompt=self.negative_prompt,
                    loras=tuple(self._loras.values()),
                    extra=self.extra,
                    generator=self.generator,
                    raw=self.raw,
                    **fields,
                )
            except PydanticValidationError as exc:
                bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"] and err["loc"][0] in fields}
                if not bad:
                    raise FormatError(f"{self.generator} metadata gives no valid recipe") from exc
                for field in bad:
                    self.extra.setdefault(self._keys.get(field, field), json_safe(fields.pop(field)))
