"""Easy Diffusion: one PNG text chunk per request field (``prompt``, ``seed``, ``num_inference_steps``, ...).

PNGs hold ``str(value)`` of each field (so ``None``, ``True`` and Python list literals appear as text);
JPEG/WEBP hold the same fields as JSON in EXIF UserComment. Its "txt" and "json" metadata formats (the "txt" one
is the default) save the same fields beside the image instead: ``Label: value`` lines with the labels below
(`parse_easydiffusion_text`), or a JSON object with the request keys.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any

from promptlib.errors import FormatError
from promptlib.limits import MAX_METADATA_CHARS
from promptlib.metadata._util import RecipeBuilder, load_json, looks_like_json_object, to_text
from promptlib.metadata.chunks import ImageChunks
from promptlib.recipe import Recipe

GENERATOR = "easydiffusion"
# The request keys Easy Diffusion saves, with the labels its "txt" metadata uses.
LABELS = {
    "prompt": "Prompt",
    "negative_prompt": "Negative Prompt",
    "seed": "Seed",
    "use_stable_diffusion_model": "Stable Diffusion model",
    "clip_skip": "Clip Skip",
    "use_controlnet_model": "ControlNet model",
    "control_filter_to_apply": "ControlNet Filter",
    "use_vae_model": "VAE model",
    "sampler_name": "Sampler",
    "width": "Width",
    "height": "Height",
    "num_inference_steps": "Steps",
    "guidance_scale": "Guidance Scale",
    "prompt_strength": "Prompt Strength",
    "use_lora_model": "LoRA model",
    "lora_alpha": "LoRA Strength",
    "use_hypernetwork_model": "Hypernetwork model",
    "hypernetwork_strength": "Hypernetwork Strength",
    "use_embeddings_model": "Embedding models",
    "tiling": "Seamless Tiling",
    "use_face_correction": "Use Face Correction",
    "use_upscale": "Use Upscaling",
    "upscale_amount": "Upscale By",
    "latent_upscaler_steps": "Latent Upscaler Steps",
}
_BY_LABEL = {label.lower(): key for key, label in LABELS.items()}
_MARKERS = ("num_inference_steps", "use_stable_diffusion_model", "guidance_scale", "sampler_name")
_MAX_LITERAL_CHARS = 10_000  # Python list literals of model names; anything longer is not one


def is_easydiffusion(fields: Mapping[str, Any]) -> bool:
    """Whether a key/value mapping (PNG chunks or decoded JSON) is Easy Diffusion's."""
    keys = {_BY_LABEL.get(str(key).lower(), str(key)) for key in fields}
    return "prompt" in keys and sum(marker in keys for marker in _MARKERS) >= 2


def parse_easydiffusion(data: Mapping[str, Any] | str, *, raw: str | None = None) -> Recipe:
    """Parse Easy Diffusion fields (a mapping, or their JSON text); raises FormatError if they are not its format."""
    if isinstance(data, str):
        raw = data if raw is None else raw
        data = load_json(data, what="Easy Diffusion metadata")
    if not isinstance(data, Mapping) or not is_easydiffusion(data):
        raise FormatError("not Easy Diffusion metadata (no prompt and sampling fields)")
    fields = {_BY_LABEL.get(str(key).lower(), str(key)): _value(value) for key, value in data.items()}
    builder = RecipeBuilder(GENERATOR, raw if raw is not None else json.dumps(dict(data), ensure_ascii=False))
    builder.prompt = (to_text(fields.get("prompt")) or "").strip()
    builder.negative_prompt = (to_text(fields.get("negative_prompt")) or "").strip()
    builder.set("seed", fields.get("seed"), key="seed")
    builder.set("steps", fields.get("num_inference_steps"), key="num_inference_steps")
    builder.set("cfg_scale", fields.get("guidance_scale"), key="guidance_scale")
    builder.set("width", fields.get("width"), key="width")
    builder.set("height", fields.get("height"), key="height")
    builder.set_model(fields.get("use_stable_diffusion_model"), key="use_stable_diffusion_model")
    builder.set("vae", fields.get("use_vae_model"), key="use_vae_model")
    builder.sampler(fields.get("sampler_name"), key="sampler_name")
    clip_skip = fields.get("clip_skip")
    if clip_skip is True:
        builder.set("clip_skip", 2, key="clip_skip")  # Easy Diffusion's checkbox skips the last CLIP layer
    elif clip_skip is not False:
        builder.set("clip_skip", clip_skip, key="clip_skip")
    names = fields.get("use_lora_model")
    weights = fields.get("lora_alpha")
    if isinstance(names, str) and "lora model" in {str(key).lower() for key in data}:
        # the "txt" format joins lists with ", " (save_utils.format_value)
        names = [name.strip() for name in names.split(", ")]
        weights = [w.strip() for w in weights.split(", ")] if isinstance(weights, str) else weights
    if isinstance(names, str):
        names, weights = [names], [weights]
    if isinstance(names, list):
        weights = weights if isinstance(weights, list) else [weights] * len(names)
        for index, name in enumerate(names):
            builder.lora(name, weights[index] if index < len(weights) else 1.0)
    consumed = {"prompt", "negative_prompt", "seed", "num_inference_steps", "guidance_scale", "width", "height"}
    consumed |= {"use_stable_diffusion_model", "use_vae_model", "sampler_name", "clip_skip"}
    consumed |= {"use_lora_model", "lora_alpha"}
    for key, value in fields.items():
        if key not in consumed and value is not None:
            builder.add_extra(key, value)
    return builder.build()


def parse_easydiffusion_text(text: str) -> Recipe:
    """Parse the "txt" metadata Easy Diffusion saves beside an image: ``Label: value`` lines, a line that starts with
    no known label continuing the value before it (a prompt with line breaks). Raises FormatError if `text` is not
    that format."""
    if len(text) > MAX_METADATA_CHARS:
        raise FormatError(f"Easy Diffusion metadata is longer than {MAX_METADATA_CHARS:,} characters")
    fields: dict[str, str] = {}
    current: str | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        label, sep, value = line.partition(":")
        label = label.strip()
        if sep and label.lower() in _BY_LABEL and label not in fields:
            current, fields[label] = label, value.strip()
        elif current is not None:
            fields[current] += "\n" + line
    return parse_easydiffusion({label: value.strip() for label, value in fields.items()}, raw=text)


def _value(value: Any) -> Any:
    """PNG chunks hold ``str(value)``: turn ``None``/``True``/``False`` and list literals back into values."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[text]
    if text.startswith("[") and text.endswith("]") and len(text) <= _MAX_LITERAL_CHARS:
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return value
        if isinstance(parsed, list) and all(isinstance(item, str | int | float) for item in parsed):
            return parsed
    return value


def read(chunks: ImageChunks) -> list[Recipe]:
    """Recipes from Easy Diffusion PNG chunks or EXIF UserComment JSON, else []."""
    if is_easydiffusion(chunks.text):
        return [parse_easydiffusion(dict(chunks.text))]
    comment = chunks.exif.get("UserComment")
    if looks_like_json_object(comment):
        assert comment is not None
        try:
            data = load_json(comment, what="EXIF UserComment")
        except FormatError:
            return []
        if isinstance(data, dict) and is_easydiffusion(data):
            return [parse_easydiffusion(data, raw=comment)]
    return []
