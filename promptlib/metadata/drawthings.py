"""Draw Things: XMP whose ``exif:UserComment`` holds a JSON object (``dc:description`` holds A1111-like text).

JSON keys: ``c`` (prompt), ``uc`` (negative), ``seed``, ``steps``, ``scale``, ``sampler`` (``"DPM++ 2M Karras"``),
``size`` (``"512x768"``), ``model`` (a file name), ``strength``, ``lora`` (``[{file, weight}]``) and ``v2`` (the
full configuration: ``clipSkip``, ``loras``, ...).
"""

from __future__ import annotations

from typing import Any

from promptlib.errors import FormatError
from promptlib.metadata import a1111
from promptlib.metadata._util import RecipeBuilder, load_json, looks_like_json_object, parse_size, to_text
from promptlib.metadata.chunks import ImageChunks, xmp_value
from promptlib.recipe import Recipe

GENERATOR = "drawthings"
_TYPED = {"seed": "seed", "steps": "steps", "scale": "cfg_scale", "width": "width", "height": "height"}


def parse_drawthings(text: str) -> Recipe:
    """Parse Draw Things metadata: its XMP packet or the UserComment JSON itself.

    XMP without a JSON UserComment falls back to the A1111-style ``dc:description``. Raises FormatError when
    neither is usable.
    """
    if not isinstance(text, str) or not text.strip():
        raise FormatError("Draw Things metadata is empty")
    payload = text
    if not looks_like_json_object(text):
        payload = xmp_value(text, "exif:UserComment") or ""
        if not looks_like_json_object(payload):
            description = xmp_value(text, "dc:description")
            if description and description.strip():
                return a1111.parse_infotext(description, generator=GENERATOR)
            raise FormatError("Draw Things XMP has no JSON UserComment or description")
    data = load_json(payload, what="Draw Things UserComment")
    if not isinstance(data, dict):
        raise FormatError("Draw Things UserComment is not a JSON object")
    return _from_json(data, raw=payload)


def _from_json(data: dict[str, Any], *, raw: str) -> Recipe:
    builder = RecipeBuilder(GENERATOR, raw)
    builder.prompt = (to_text(data.get("c")) or "").strip()
    builder.negative_prompt = (to_text(data.get("uc")) or "").strip()
    for key, field in _TYPED.items():
        builder.set(field, data.get(key), key=key)
    size = parse_size(data.get("size"))
    if size is not None:
        builder.set("width", size[0], key="size")
        builder.set("height", size[1], key="size")
    builder.sampler(data.get("sampler"), key="sampler")
    builder.set_model(data.get("model"))
    config = data.get("v2") if isinstance(data.get("v2"), dict) else {}
    assert isinstance(config, dict)
    builder.set("clip_skip", config.get("clipSkip"), key="clipSkip")
    loras = data.get("lora") if isinstance(data.get("lora"), list) else config.get("loras")
    for entry in loras if isinstance(loras, list) else []:
        if isinstance(entry, dict):
            builder.lora(entry.get("file") or entry.get("model"), entry.get("weight", 1.0))
    consumed = {*_TYPED, "c", "uc", "sampler", "model", "lora"}
    if size is not None:
        consumed.add("size")
    for key, value in data.items():
        if key not in consumed:
            builder.add_extra(key, value)
    return builder.build()


def read(chunks: ImageChunks) -> list[Recipe]:
    """Recipes from Draw Things XMP (or a UserComment JSON with its keys), else []."""
    xmp = chunks.xmp
    if xmp and ("Draw Things" in xmp or _json_with_keys(xmp_value(xmp, "exif:UserComment"))):
        return [parse_drawthings(xmp)]
    comment = chunks.exif.get("UserComment")
    if _json_with_keys(comment):
        assert comment is not None
        return [parse_drawthings(comment)]
    return []


def _json_with_keys(text: str | None) -> bool:
    """Whether `text` is a JSON object with Draw Things' short keys (``c`` plus ``scale`` or ``sampler``)."""
    if not looks_like_json_object(text):
        return False
    assert text is not None
    try:
        data = load_json(text, what="UserComment")
    except FormatError:
        return False
    return isinstance(data, dict) and "c" in data and ("scale" in data or "sampler" in data)
