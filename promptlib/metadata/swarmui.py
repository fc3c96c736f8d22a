"""SwarmUI: a JSON ``parameters`` chunk (or EXIF UserComment) with ``sui_image_params``.

``sui_image_params`` holds ``prompt``, ``negativeprompt``, ``model``, ``seed``, ``steps``, ``cfgscale``,
``width``/``height``, ``sampler``/``scheduler``, ``vae``, ``loras`` + ``loraweights`` and ``clipstopatlayer``;
``sui_models`` (when present) lists the files used with their hashes.
"""

from __future__ import annotations

from typing import Any

from promptlib.errors import FormatError
from promptlib.metadata._util import RecipeBuilder, load_json, model_stem, to_int, to_text
from promptlib.metadata.chunks import ImageChunks
from promptlib.recipe import Recipe

GENERATOR = "swarmui"
_MARKER = "sui_image_params"


def parse_swarmui(text: str) -> Recipe:
    """Parse SwarmUI's JSON metadata; raises FormatError if it is not JSON or lacks ``sui_image_params``."""
    data = load_json(text, what="SwarmUI parameters")
    params = data.get(_MARKER) if isinstance(data, dict) else None
    if not isinstance(params, dict):
        raise FormatError("SwarmUI parameters have no sui_image_params object")
    builder = RecipeBuilder(GENERATOR, text)
    builder.prompt = (to_text(params.get("prompt")) or "").strip()
    builder.negative_prompt = (to_text(params.get("negativeprompt")) or "").strip()
    builder.set_model(params.get("model"))
    for key, field in (("seed", "seed"), ("steps", "steps"), ("cfgscale", "cfg_scale")):
        builder.set(field, params.get(key), key=key)
    builder.set("width", params.get("width"), key="width")
    builder.set("height", params.get("height"), key="height")
    builder.sampler(params.get("sampler"), params.get("scheduler"), key="sampler")
    vae = to_text(params.get("vae"))
    if vae is not None and vae.lower() not in ("none", "automatic"):
        builder.set("vae", vae, key="vae")
    layer = to_int(params.get("clipstopatlayer"))
    if layer is not None and layer < 0:
        builder.set("clip_skip", -layer, key="clipstopatlayer")  # "stop at layer -2" is A1111's clip skip 2
    # "List-values will either be JSON lists, or comma separated list strings" (SwarmUI's Image Metadata Format)
    names, weights = _listed(params.get("loras")), _listed(params.get("loraweights"))
    if names:
        for index, name in enumerate(names):
            builder.lora(name, weights[index] if index < len(weights) else 1.0)
    _hashes(data.get("sui_models"), builder)
    consumed = {"prompt", "negativeprompt", "model", "seed", "steps", "cfgscale", "width", "height"}
    consumed |= {"sampler", "scheduler", "vae", "loras", "loraweights", "clipstopatlayer"}
    for key, value in params.items():
        if key not in consumed:
            builder.add_extra(key, value)
    if vae is not None and not builder.has("vae"):
        builder.add_extra("vae", vae)
    for key in ("sui_extra_data", "sui_models"):
        if key in data:
            builder.add_extra(key, data[key])
    return builder.build()


def _hashes(models: Any, builder: RecipeBuilder) -> None:
    """Model and LoRA hashes from ``sui_models``: ``[{"name", "param", "hash"}]``."""
    for entry in models if isinstance(models, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        if entry.get("param") == "model" and not builder.has("model_hash"):
            builder.set("model_hash", entry.get("hash"), key="sui_models")
        elif entry.get("param") == "loras":
            builder.lora_hash(model_stem(entry["name"]), entry.get("hash"))


def read(chunks: ImageChunks) -> list[Recipe]:
    """Recipes from SwarmUI metadata in ``parameters`` or EXIF UserComment, else []."""
    for text in (chunks.text.get("parameters"), chunks.exif.get("UserComment")):
        if text and _MARKER in text and text.lstrip().startswith("{"):
            return [parse_swarmui(text)]
    return []


def _listed(value: Any) -> list[Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [value]  # one LoRA's weight written as a bare number
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value if isinstance(value, list) else []
