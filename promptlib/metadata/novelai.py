"""NovelAI: ``Description`` (prompt), ``Software`` = ``NovelAI``, ``Source`` (model + hash) and ``Comment`` JSON.

``Comment`` holds ``prompt`` (newer files), ``uc`` (negative), ``steps``, ``scale``, ``seed``, ``sampler``,
``noise_schedule``, ``width``/``height`` and NovelAI's own knobs (``sm``, ``strength``, ``v4_prompt`` ...).
The stealth variant hides the same keys as one JSON object in the alpha channel (see chunks.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from promptlib.errors import FormatError
from promptlib.metadata._util import RecipeBuilder, load_json, looks_like_json_object, to_text
from promptlib.metadata.chunks import ImageChunks
from promptlib.recipe import Recipe

GENERATOR = "novelai"
CHUNK_KEYS = ("Title", "Description", "Software", "Source", "Generation time", "Comment")
_SOURCE_RE = re.compile(r"(.*\S)\s+([0-9A-Fa-f]{8})")
_TYPED = {"seed": "seed", "steps": "steps", "scale": "cfg_scale", "width": "width", "height": "height"}


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
    prompt = to_text(comment.get("prompt")) or _caption(comment.get("v4_prompt")) or to_text(fields.get("Description"))
    builder.prompt = prompt or ""
    builder.negative_prompt = to_text(comment.get("uc")) or _caption(comment.get("v4_negative_prompt")) or ""
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
    return builder.build()


def _caption(value: Any) -> str | None:
    """The base caption of a V4 ``{"caption": {"base_caption": ...}}`` prompt object."""
    caption = value.get("caption") if isinstance(value, dict) else None
    return to_text(caption.get("base_caption")) if isinstance(caption, dict) else None


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
