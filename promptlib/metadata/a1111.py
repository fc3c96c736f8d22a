"""AUTOMATIC1111 infotext (the ``parameters`` chunk / EXIF UserComment): reader and writer.

Grammar: prompt lines, an optional ``Negative prompt:`` block, then one line of ``key: value`` pairs joined by
``", "``. A value is bare (up to the next comma), a JSON string in double quotes (A1111 quotes values holding
``,``, ``:`` or newlines) or, as A1111 writes ``Hashes``, bare JSON. The last line counts as the parameter line
only when it holds at least three pairs (A1111's rule) or starts with ``Steps:``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NamedTuple

from promptlib.errors import FormatError
from promptlib.limits import MAX_JSON_DEPTH, MAX_METADATA_CHARS
from promptlib.metadata._util import RecipeBuilder, looks_like_json_object, nesting_exceeds, parse_size, to_float
from promptlib.metadata.chunks import ImageChunks, xmp_value
from promptlib.recipe import Recipe

GENERATOR = "a1111"
NEGATIVE_PREFIX = "Negative prompt:"
_KEY_RE = re.compile(r"\w[\w \-/]+")
_QUOTED_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_TAG_RE = re.compile(r"<(lora|lyco|locon|loha|lokr):([^:<>]+)((?::[^:<>]*)*)>", re.IGNORECASE)
_INT_TEXT_RE = re.compile(r"-?(?:0|[1-9]\d{0,4000})")
_FLOAT_TEXT_RE = re.compile(r"-?(?:0|[1-9]\d{0,30})\.\d{1,30}(?:e[+-]\d{1,3})?|-?[1-9](?:\.\d{1,30})?e[+-]\d{1,3}")
_DECODER = json.JSONDecoder()
# Keys of typed fields, matched case-insensitively (Fooocus and older forks vary the case).
_FIELD_KEYS = {
    "steps": "steps",
    "cfg scale": "cfg_scale",
    "seed": "seed",
    "model hash": "model_hash",
    "model": "model",
    "vae": "vae",
    "clip skip": "clip_skip",
}
_SCHEDULE_LABELS = {
    "uniform": "Uniform",
    "karras": "Karras",
    "exponential": "Exponential",
    "polyexponential": "Polyexponential",
    "sgm_uniform": "SGM Uniform",
    "kl_optimal": "KL Optimal",
    "align_your_steps": "Align Your Steps",
    "simple": "Simple",
    "normal": "Normal",
    "ddim_uniform": "DDIM",
    "beta": "Beta",
}


# --- reading -----------------------------------------------------------------------------------------------


def parse_infotext(text: str, *, generator: str = GENERATOR) -> Recipe:
    """Parse an A1111 infotext into a `Recipe` (``raw`` keeps `text` verbatim).

    Raises FormatError for empty text or text over MAX_METADATA_CHARS. Anything else parses: a text without a
    parameter line is a prompt (and negative prompt) only.
    """
    if not isinstance(text, str) or not text.strip():
        raise FormatError("infotext is empty")
    if len(text) > MAX_METADATA_CHARS:
        raise FormatError(f"infotext is longer than {MAX_METADATA_CHARS:,} characters")
    lines = text.replace("\r\n", "\n").strip().split("\n")
    lines, templates = _split_templates(lines)
    params: list[Param] = []
    if is_param_line(lines[-1]):
        params = parse_param_line(lines.pop())
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    for line in lines:
        if not negative_lines and line.lstrip().startswith(NEGATIVE_PREFIX):
            negative_lines.append(line.lstrip()[len(NEGATIVE_PREFIX) :])
        elif negative_lines:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    builder = RecipeBuilder(generator, text)
    builder.prompt = "\n".join(prompt_lines).strip()
    builder.negative_prompt = "\n".join(negative_lines).strip()
    for tag in lora_tags(builder.prompt):
        builder.lora(*tag)
    _apply_params(builder, params)
    for key, value in templates.items():
        builder.add_extra(key, value)
    return builder.build()


_TEMPLATE_PREFIXES = ("Template: ", "Negative Template: ")


def _split_templates(lines: list[str]) -> tuple[list[str], dict[str, str]]:
    """The lines without the ``Template:`` / ``Negative Template:`` blocks that sd-dynamic-prompts appends after
    the parameter line ("Save template to metadata"; each may span lines), and those blocks by name."""
    for index in range(len(lines) - 1, 0, -1):
        previous = lines[index - 1]
        if (
            lines[index].startswith(_TEMPLATE_PREFIXES)
            and not previous.startswith(_TEMPLATE_PREFIXES)  # a template that reads like parameters is not them
            and is_param_line(previous)
        ):
            break
    else:
        return lines, {}
    templates: dict[str, list[str]] = {}
    current: list[str] = []
    for line in lines[index:]:
        prefix = next((p for p in _TEMPLATE_PREFIXES if line.startswith(p)), None)
        if prefix is not None and prefix.rstrip(": ") not in templates:
            current = templates[prefix.rstrip(": ")] = [line[len(prefix) :]]
        else:
            current.append(line)
    return lines[:index], {key: "\n".join(value).strip() for key, value in templates.items()}


def is_param_line(line: str) -> bool:
    """A1111's rule: the last line holds parameters if it has >= 3 ``key: value`` pairs (or starts ``Steps:``)."""
    if line.lstrip().startswith("Steps:"):
        return True
    return sum(1 for param in parse_param_line(line) if param.kind != "flag") >= 3


class Param(NamedTuple):
    """One ``key: value`` item of a parameter line. `kind`: bare, quoted (JSON-decoded), json or flag."""

    key: str
    value: Any
    kind: str


def parse_param_line(line: str) -> list[Param]:
    """Split a parameter line into `Param` items.

    Bare values stay text; quoted values are JSON-decoded; ``Hashes``-style bare JSON objects/arrays become
    dicts/lists; a segment without a colon is a flag (A1111 writes ``key`` alone when key == value). Runs in
    linear time on hostile input.
    """
    items: list[Param] = []
    pos, end = 0, len(line)
    next_colon = -1  # the first ":" at or after pos (end: none), searched again only once passed: linear time
    while pos < end:
        while pos < end and line[pos] in " ,":
            pos += 1
        if pos >= end:
            break
        if next_colon < pos:
            found = line.find(":", pos)
            next_colon = end if found < 0 else found
        colon = next_colon if next_colon < end else -1
        comma = line.find(",", pos)
        if colon < 0 or 0 <= comma < colon:
            stop = end if comma < 0 else comma
            segment = line[pos:stop].strip()
            if _KEY_RE.fullmatch(segment):
                items.append(Param(segment, segment, "flag"))
            pos = stop + 1
            continue
        key = line[pos:colon].strip()
        value, kind, pos = _read_value(line, colon + 1)
        if len(key) <= 100 and _KEY_RE.fullmatch(key):
            items.append(Param(key, value, kind))
    return items


def _skip_spaces(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] == " ":
        pos += 1
    return pos


def _read_value(line: str, start: int) -> tuple[Any, str, int]:
    """One value starting at `start`: (value, kind, position after its trailing comma)."""
    start = _skip_spaces(line, start)
    first = line[start : start + 1]
    if first == '"':
        match = _QUOTED_RE.match(line, start)
        if match:
            after = _skip_spaces(line, match.end())
            if after >= len(line) or line[after] == ",":
                try:
                    return json.loads(match.group()), "quoted", after + 1
                except ValueError:
                    pass
    elif first in ("{", "["):
        try:
            value, stop = _DECODER.raw_decode(line, start)
        except (ValueError, RecursionError):
            value, stop = None, -1
        if stop > 0 and not nesting_exceeds(value, MAX_JSON_DEPTH):
            after = _skip_spaces(line, stop)
            if after >= len(line) or line[after] == ",":
                return value, "json", after + 1
    comma = line.find(",", start)
    stop = len(line) if comma < 0 else comma
    return line[start:stop].strip(), "bare", stop + 1


def lora_tags(prompt: str) -> list[tuple[str, float]]:
    """``<lora:name:weight>`` / ``<lora:name>`` / ``<lyco:name:te=..>`` tags of a prompt as (name, weight)."""
    found: list[tuple[str, float]] = []
    for match in _TAG_RE.finditer(prompt):
        name = match.group(2).strip()
        weight = 1.0
        for arg in match.group(3).split(":")[1:]:
            label, eq, number = arg.partition("=")
            candidate = to_float(number if eq else label)
            if candidate is not None and (not eq or label.strip().lower() in ("te", "unet", "w", "weight")):
                weight = candidate
                break
        if name:
            found.append((name, weight))
    return found


def _apply_params(builder: RecipeBuilder, params: list[Param]) -> None:
    sampler: Any = None
    schedule: Any = None
    lora_hashes: str | None = None
    hashes: dict[str, Any] = {}
    for key, plain, kind in params:
        lower = key.lower()
        field = _FIELD_KEYS.get(lower)
        if kind == "flag":
            builder.add_extra(key, key)
        elif field is not None and not builder.has(field):
            builder.set(field, plain, key=key)
        elif lower == "sampler" and sampler is None:
            sampler = plain
        elif lower == "schedule type" and schedule is None:
            schedule = plain
        elif lower == "size" and not builder.has("width") and parse_size(plain) is not None:
            width, height = parse_size(plain) or (0, 0)
            builder.set("width", width, key=key)
            builder.set("height", height, key=key)
        elif lower == "lora hashes" and isinstance(plain, str):
            lora_hashes = plain
        else:
            if lower == "hashes" and isinstance(plain, dict):
                hashes = plain
            builder.add_extra(key, _bare_scalar(plain) if kind == "bare" else plain)
    builder.sampler(sampler, schedule, key="Sampler")
    if lora_hashes is not None:
        unmatched = [
            entry
            for entry in lora_hashes.split(",")
            if entry.strip() and not builder.lora_hash(entry.rpartition(":")[0].strip(), entry.rpartition(":")[2])
        ]
        if unmatched:
            builder.add_extra("Lora hashes", ",".join(unmatched).strip())
    for key, digest in hashes.items():
        if key.startswith("lora:"):
            builder.lora_hash(key[5:], digest)
    if not builder.has("model_hash") and hashes.get("model"):
        builder.set("model_hash", hashes["model"], key="Model hash")
    if not builder.has("model"):  # Civitai's generator names the checkpoint only among its resources
        builder.set("model", _civitai_checkpoint(builder.extra.get("Civitai resources")), key="Civitai resources")


def _civitai_checkpoint(resources: Any) -> Any:
    """The ``modelName`` of the checkpoint in a ``Civitai resources`` list, else None."""
    for entry in resources if isinstance(resources, list) else []:
        if isinstance(entry, dict) and entry.get("type") == "checkpoint":
            return entry.get("modelName")
    return None


def _bare_scalar(value: Any) -> Any:
    """Bare extras in canonical JSON number/bool spelling become numbers/bools; the writer quotes look-alikes."""
    if not isinstance(value, str):
        return value
    if value in ("true", "false"):
        return value == "true"
    if _INT_TEXT_RE.fullmatch(value):
        return int(value)
    if _FLOAT_TEXT_RE.fullmatch(value):
        number = float(value)
        if math.isfinite(number) and repr(number) == value:
            return number
    return value


def _looks_like_infotext(text: str) -> bool:
    lines = text.strip().split("\n")
    return is_param_line(lines[-1]) or any(line.startswith(NEGATIVE_PREFIX) for line in lines)


def read(chunks: ImageChunks) -> list[Recipe]:
    """Recipes from an image's A1111 infotext (``parameters``, EXIF UserComment or stealth text), else []."""
    from_xmp = xmp_value(chunks.xmp, "exif:UserComment") if chunks.xmp else None  # photo editors move it there
    for text in (chunks.text.get("parameters"), chunks.stealth):
        if text and text.strip() and not looks_like_json_object(text):
            return [parse_infotext(text)]
    # A UserComment is anyone's: a camera's or a photo editor's caption is no prompt. A1111 always writes its
    # parameters line (or at least a negative prompt) there.
    for text in (chunks.exif.get("UserComment"), from_xmp):
        if text and text.strip() and not looks_like_json_object(text) and _looks_like_infotext(text):
            return [parse_infotext(text)]
    comment = chunks.text.get("comment")
    if comment and is_param_line(comment.strip().split("\n")[-1]):
        return [parse_infotext(comment)]
    return []


# --- writing -----------------------------------------------------------------------------------------------


def format_infotext(recipe: Recipe) -> str:
    """Write a recipe as A1111 infotext, the inverse of `parse_infotext`.

    LoRAs not already tagged in the prompt are appended as ``<lora:name:weight>`` tags; their hashes go to
    ``Lora hashes``. Extras whose key cannot be written in the grammar, or repeats a key already written, are
    skipped; a width without a height (or the reverse) is not written.
    """
    tagged = {name for name, _weight in lora_tags(recipe.prompt)}
    missing = [f"<lora:{lora.name}:{_number(lora.weight)}>" for lora in recipe.loras if lora.name not in tagged]
    prompt = " ".join(part for part in (recipe.prompt, *missing) if part)
    lines = [prompt]
    if recipe.negative_prompt:
        lines.append(f"{NEGATIVE_PREFIX} {recipe.negative_prompt}")
    pairs: list[tuple[str, Any]] = [
        ("Steps", recipe.steps),
        ("Sampler", recipe.sampler),
        ("Schedule type", _SCHEDULE_LABELS.get(recipe.schedule or "", recipe.schedule)),
        ("CFG scale", recipe.cfg_scale),
        ("Seed", recipe.seed),
        ("Size", f"{recipe.width}x{recipe.height}" if recipe.width and recipe.height else None),
        ("Model hash", recipe.model_hash),
        ("Model", recipe.model),
        ("VAE", recipe.vae),
        ("Clip skip", recipe.clip_skip),
    ]
    lora_hashes = [f"{lora.name}: {lora.hash}" for lora in recipe.loras if lora.hash]
    leftover = recipe.extra.get("Lora hashes")
    if isinstance(leftover, str) and leftover.strip():
        lora_hashes.append(leftover.strip())
    pairs.append(("Lora hashes", ", ".join(lora_hashes) or None))
    items = [f"{key}: {_quote(value)}" for key, value in pairs if value is not None]
    written = {key.lower() for key, value in pairs if value is not None}
    for key, value in recipe.extra.items():
        clean = re.sub(r"[^\w \-/]", "_", key).strip()
        if value is None or not _KEY_RE.fullmatch(clean) or clean.lower() in written:
            continue
        written.add(clean.lower())
        # A1111 writes a bare key when key == value; only for extras, where it cannot shadow a typed field.
        items.append(clean if value == clean else f"{clean}: {_quote(value)}")
    params = ", ".join(items)
    if params:
        lines.append(params)
    return "\n".join(lines)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _quote(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else json.dumps(str(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    if (
        not text
        or text != text.strip()
        or any(ch in text for ch in ',:"')
        or any(ord(ch) < 0x20 for ch in text)
        or text[0] in "{["
        or _bare_scalar(text) is not text
    ):
        return json.dumps(text, ensure_ascii=False)
    return text
