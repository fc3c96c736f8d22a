"""NovelAI: ``Description`` (prompt), ``Software`` = ``NovelAI``, ``Source`` (model + hash) and ``Comment`` JSON.

``Comment`` holds ``prompt`` (newer files), ``uc`` (negative), ``steps``, ``scale``, ``seed``, ``sampler``,
``noise_schedule``, ``width``/``height`` and NovelAI's own knobs (``sm``, ``strength``, ...).
The stealth variant hides the same keys as one JSON object in the alpha channel (see chunks.py).

V4 / V4.5 models add ``v4_prompt`` and ``v4_negative_prompt``: ``{"caption": {"base_caption", "char_captions":
[{"char_caption", "centers": [{"x", "y"}]}]}, "use_coords", "use_order"}``, one caption per character beside the
base caption. Characters are imported so that search finds them and nothing is lost:

- the recipe's prompt is the base prompt followed by each character's caption, joined by `CHARACTER_SEPARATOR`
  (``"2girls, park | girl, red hair | girl, blue hair"``: the ``|`` convention of tools that write a
  multi-character NovelAI prompt as one line); the negative prompt likewise holds the base and the characters'
  negative captions. A caption already one of the base prompt's ``|`` segments is not appended twice;
- ``extra["characters"]`` lists them (at most `MAX_CHARACTERS`), paired by position as NovelAI pairs them:
  ``{"prompt", "negative_prompt", "centers": [{"x", "y"}]}`` (empty strings where a caption is missing);
- ``v4_prompt`` / ``v4_negative_prompt`` stay in `extra` verbatim (``use_coords``, ``use_order``, ``legacy_uc``).

NovelAI's request form of the same characters, ``characterPrompts: [{"prompt", "uc", "center": {"x", "y"},
"enabled"}]`` (the V4 captions are made from its enabled entries), is read the same way, disabled entries left
out, for each side (prompt, negative) where the V4 captions hold no character, so none is counted twice; it too
stays in `extra` verbatim.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from promptlib.errors import FormatError
from promptlib.metadata._util import (
    RecipeBuilder,
    as_list,
    load_json,
    looks_like_json_object,
    to_float,
    to_text,
)
from promptlib.metadata.chunks import ImageChunks
from promptlib.recipe import Recipe

GENERATOR = "novelai"
CHUNK_KEYS = ("Title", "Description", "Software", "Source", "Generation time", "Comment")
_SOURCE_RE = re.compile(r"(.*\S)\s+([0-9A-Fa-f]{8})")
_TYPED = {"seed": "seed", "steps": "steps", "scale": "cfg_scale", "width": "width", "height": "height"}
CHARACTER_SEPARATOR = " | "
CHARACTERS_KEY = "characters"
# NovelAI allows 6 characters with one center each; more is hostile input, read only this far.
MAX_CHARACTERS = 64
Character = tuple[str, list[dict[str, float]]]  # a character's caption ("" when missing) and its centers


def parse_novelai(text: str) -> Recipe:
    """Parse NovelAI metadata given as the ``Comment`` JSON or as a JSON object of all its chunks (stealth).

    Raises FormatError if `text` is not a JSON object or its Comment is not one.
    """
    data = load_json(text, what="NovelAI metadata")
    if not isinstance(data, dict):
        raise FormatError("NovelAI metadata is not a JSON object")
    fields = data if "Comment" in data else {"Comment": data}
    return parse_fields(fields, raw=text)


def parse_fields(fields: Mapping[str, Any], *, raw: str) -> Recipe:
    """Parse NovelAI's chunks (``Comment`` required, as JSON text or object); raises FormatError."""
    comment = fields.get("Comment")
    if isinstance(comment, str):
        comment = load_json(comment, what="NovelAI Comment")
    if not isinstance(comment, dict):
        raise FormatError("NovelAI Comment is not a JSON object")
    builder = RecipeBuilder(GENERATOR, raw)
    base, characters = _v4_captions(comment.get("v4_prompt"))
    negative_base, negative_characters = _v4_captions(comment.get("v4_negative_prompt"))
    requested, requested_negative = _character_prompts(comment.get("characterPrompts"))
    characters = characters or requested
    negative_characters = negative_characters or requested_negative
    prompt = to_text(comment.get("prompt")) or base or to_text(fields.get("Description")) or ""
    negative = to_text(comment.get("uc")) or negative_base or ""
    builder.prompt = _with_characters(prompt, [caption for caption, _ in characters])
    builder.negative_prompt = _with_characters(negative, [caption for caption, _ in negative_characters])
    for key, field in _TYPED.items():
        builder.set(field, comment.get(key), key=key)
    builder.sampler(comment.get("sampler"), comment.get("noise_schedule"), key="sampler")
    source = to_text(fields.get("Source"))
    if source is not None:
        match = _SOURCE_RE.fullmatch(source)
        builder.set("model", match.group(1) if match else source, key="Source")
        if match:
            builder.set("model_hash", match.group(2), key="Source")
    consumed = {*_TYPED, "prompt", "uc", "sampler", "noise_schedule"}
    for key, value in comment.items():
        if key not in consumed:
            builder.add_extra(key, value)
    for key in ("Software", "Title", "Generation time"):
        if fields.get(key) is not None:
            builder.add_extra(key, fields[key])
    if characters or negative_characters:
        builder.add_extra(CHARACTERS_KEY, _paired(characters, negative_characters))
    return builder.build()


def _v4_captions(value: Any) -> tuple[str | None, list[Character]]:
    """The base caption and the characters of a V4 ``{"caption": {"base_caption", "char_captions"}}`` object."""
    caption = value.get("caption") if isinstance(value, dict) else None
    if not isinstance(caption, dict):
        return None, []
    characters: list[Character] = []
    for item in as_list(caption.get("char_captions"))[:MAX_CHARACTERS]:
        if isinstance(item, dict):
            characters.append((to_text(item.get("char_caption")) or "", _centers(as_list(item.get("centers")))))
    return to_text(caption.get("base_caption")), characters


def _character_prompts(value: Any) -> tuple[list[Character], list[Character]]:
    """The enabled characters of a request's ``characterPrompts``: their prompts and their negatives (``uc``)."""
    positive: list[Character] = []
    negative: list[Character] = []
    for item in as_list(value)[:MAX_CHARACTERS]:
        if not isinstance(item, dict) or _disabled(item.get("enabled")):
            continue
        centers = _centers([item.get("center")])
        positive.append((to_text(item.get("prompt")) or "", centers))
        negative.append((to_text(item.get("uc")) or "", centers))
    return positive, negative


def _disabled(value: Any) -> bool:
    """Whether an ``enabled`` flag says no: false, 0 or a "false"-like string (missing means enabled)."""
    if isinstance(value, str):
        return value.strip().lower() in ("false", "0", "no", "off")
    return value is False or (isinstance(value, int | float) and value == 0)


def _centers(items: list[Any]) -> list[dict[str, float]]:
    """The ``{"x", "y"}`` points among `items` (at most MAX_CHARACTERS looked at), others skipped."""
    centers = []
    for center in items[:MAX_CHARACTERS]:
        x = to_float(center.get("x")) if isinstance(center, dict) else None
        y = to_float(center.get("y")) if isinstance(center, dict) else None
        if x is not None and y is not None:
            centers.append({"x": x, "y": y})
    return centers


def _with_characters(base: str, captions: list[str]) -> str:
    """`base` followed by the character captions it does not already hold as ``|`` segments."""
    segments = {segment.strip() for segment in base.split("|")}
    parts = [base] if base else []
    parts += [caption for caption in captions if caption and caption not in segments]
    return CHARACTER_SEPARATOR.join(parts)


def _paired(positive: list[Character], negative: list[Character]) -> list[dict[str, Any]]:
    """One entry per character: NovelAI pairs the n-th positive and the n-th negative caption."""
    out: list[dict[str, Any]] = []
    for index in range(max(len(positive), len(negative))):
        prompt, centers = positive[index] if index < len(positive) else ("", [])
        negative_prompt, negative_centers = negative[index] if index < len(negative) else ("", [])
        out.append({"prompt": prompt, "negative_prompt": negative_prompt, "centers": centers or negative_centers})
    return out


def _is_novelai_comment(text: str | None) -> bool:
    if not looks_like_json_object(text):
        return False
    assert text is not None
    try:
        data = load_json(text, what="Comment")
    except FormatError:
        return False
    return isinstance(data, dict) and "uc" in data and ("sampler" in data or "scale" in data)


def read(chunks: ImageChunks) -> list[Recipe]:
    """Recipes from an image's NovelAI chunks or NovelAI stealth JSON, else []."""
    software = chunks.text.get("Software", "")
    comment = chunks.text.get("Comment")
    if comment is not None and (software.strip().startswith("NovelAI") or _is_novelai_comment(comment)):
        fields = {key: chunks.text[key] for key in CHUNK_KEYS if key in chunks.text}
        return [parse_fields(fields, raw=json.dumps(fields, ensure_ascii=False))]
    hidden = chunks.stealth
    if looks_like_json_object(hidden):
        assert hidden is not None
        try:
            data = load_json(hidden, what="stealth pnginfo")
        except FormatError:
            return []
        if isinstance(data, dict) and "Comment" in data:
            return [parse_fields(data, raw=hidden)]
    return []
