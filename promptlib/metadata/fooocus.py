"""Fooocus: the ``parameters`` JSON (``fooocus_scheme`` = ``fooocus``) and its A1111-style scheme.

PNGs carry ``parameters`` + ``fooocus_scheme``; JPEG/WEBP carry the same text in EXIF UserComment with the
scheme in MakerNote. ``prompt``/``negative_prompt`` are what the user typed; the style-expanded prompts that
were actually rendered stay in ``extra["full_prompt"]``/``extra["full_negative_prompt"]``.
"""

from __future__ import annotations

import re
from typing import Any

from promptlib.errors import FormatError
from promptlib.metadata import a1111
from promptlib.metadata._util import (
    RecipeBuilder,
    as_list,
    load_json,
    looks_like_json_object,
    model_stem,
    parse_size,
    to_float,
    to_text,
)
from promptlib.metadata.chunks import ImageChunks
from promptlib.recipe import LoraRef, Recipe, canonical_sampler

GENERATOR = "fooocus"
_FOOOCUS_KEYS = frozenset({"full_prompt", "full_negative_prompt", "prompt_expansion", "performance", "base_model"})
_VERSION_RE = re.compile(r"(?:^|, )Version: \"?Fooocus", re.MULTILINE)
_LORA_COMBINED_RE = re.compile(r"lora_combined_\d+")
_MAX_NAME_CHARS = 200  # as RecipeBuilder.sampler: longer "names" stay in extra


def is_fooocus_json(data: Any) -> bool:
    """Whether a decoded ``parameters`` JSON object is Fooocus's scheme."""
    if not isinstance(data, dict):
        return False
    version = data.get("version")
    return (
        data.get("metadata_scheme") == "fooocus"
        or (isinstance(version, str) and version.startswith("Fooocus"))
        or len(_FOOOCUS_KEYS & data.keys()) >= 2
    )


def parse_fooocus(text: str) -> Recipe:
    """Parse Fooocus's JSON scheme; raises FormatError if `text` is not a JSON object."""
    data = load_json(text, what="Fooocus parameters")
    if not isinstance(data, dict):
        raise FormatError("Fooocus parameters are not a JSON object")
    builder = RecipeBuilder(GENERATOR, text)
    builder.prompt = (to_text(data.get("prompt")) or "").strip()
    builder.negative_prompt = (to_text(data.get("negative_prompt")) or "").strip()
    builder.set("seed", data.get("seed"), key="seed")
    builder.set("steps", data.get("steps"), key="steps")
    builder.set("cfg_scale", data.get("guidance_scale"), key="guidance_scale")
    builder.set("clip_skip", data.get("clip_skip"), key="clip_skip")
    builder.sampler(data.get("sampler"), data.get("scheduler"), key="sampler")
    size = parse_size(data.get("resolution"))
    if size is not None:
        builder.set("width", size[0], key="resolution")
        builder.set("height", size[1], key="resolution")
    builder.set_model(data.get("base_model"), key="base_model")
    builder.set("model_hash", data.get("base_model_hash"), key="base_model_hash")
    vae = to_text(data.get("vae"))
    if vae is not None and not vae.lower().startswith("default"):
        builder.set("vae", vae, key="vae")
    for entry in as_list(data.get("loras")):
        if isinstance(entry, list) and entry:
            builder.lora(entry[0], entry[1] if len(entry) > 1 else 1.0, hash=entry[2] if len(entry) > 2 else None)
    consumed = {"prompt", "negative_prompt", "seed", "steps", "guidance_scale", "clip_skip", "sampler", "scheduler"}
    consumed |= {"base_model", "base_model_hash", "vae", "loras"}
    if size is not None:
        consumed.add("resolution")
    for key, value in data.items():
        if _LORA_COMBINED_RE.fullmatch(key) and isinstance(value, str):
            name, _, weight = value.rpartition(" : ")
            builder.lora(name, weight)
        elif key not in consumed:
            builder.add_extra(key, value)
    return builder.build()


def parse_a1111_scheme(text: str) -> Recipe:
    """Parse Fooocus's A1111-style infotext; LoRAs come from ``Lora weights``/``Lora hashes``. Raises FormatError."""
    recipe = a1111.parse_infotext(text, generator=GENERATOR)
    extra = dict(recipe.extra)
    weights = _name_values(extra.get("Lora weights"))
    hashes = _name_values(extra.get("Lora hashes"))
    update: dict[str, Any] = {"extra": extra}
    if recipe.vae is not None and recipe.vae.lower().startswith("default"):
        update["vae"] = None  # "Default (model)": the checkpoint's own VAE
    scheduler = to_text(extra.get("Scheduler"))
    if scheduler is not None and len(scheduler) <= _MAX_NAME_CHARS and recipe.sampler is not None:
        # Fooocus folds only "karras" into the sampler name; every other scheduler is in this field alone
        extra.pop("Scheduler")
        update["sampler"], update["schedule"] = canonical_sampler(recipe.sampler, scheduler)
    # As in the JSON scheme: the prompt is what the user typed ("Raw prompt"); the prompt lines of this scheme hold
    # the style-expanded prompt that was rendered, kept as full_prompt (Fooocus's own reader does the same).
    for raw_key, field, full_key in (
        ("Raw prompt", "prompt", "full_prompt"),
        ("Raw negative prompt", "negative_prompt", "full_negative_prompt"),
    ):
        if raw_key in extra:  # empty too: the user typed nothing and styles made the whole prompt
            raw = to_text(extra.pop(raw_key)) or ""
            extra[full_key] = getattr(recipe, field)
            update[field] = raw
    if not weights:
        return recipe.model_copy(update=update)
    extra.pop("Lora weights")
    extra.pop("Lora hashes", None)
    loras = list(recipe.loras)
    known = {lora.name for lora in loras}
    for name, weight in weights.items():
        stem = model_stem(name)
        if stem and stem not in known:
            known.add(stem)
            strength = to_float(weight)
            digest = to_text(hashes.get(name))
            loras.append(LoraRef(name=stem, weight=1.0 if strength is None else strength, hash=digest))
    return recipe.model_copy(update={**update, "loras": tuple(loras)})


def _name_values(value: Any) -> dict[str, str]:
    """``"a: 0.5, b: 0.8"`` as a dict (names may hold colons: the last one separates)."""
    if not isinstance(value, str):
        return {}
    out: dict[str, str] = {}
    for entry in value.split(", "):
        name, sep, item = entry.rpartition(":")
        if sep and name.strip():
            out[name.strip()] = item.strip()
    return out


def _sources(chunks: ImageChunks) -> list[tuple[str, str | None]]:
    """(parameters text, scheme) pairs: PNG chunks first, then EXIF UserComment + MakerNote."""
    found: list[tuple[str, str | None]] = []
    if chunks.text.get("parameters"):
        found.append((chunks.text["parameters"], chunks.text.get("fooocus_scheme")))
    comment = chunks.exif.get("UserComment")
    if comment:
        found.append((comment, chunks.exif.get("MakerNote")))
    return found


def read(chunks: ImageChunks) -> list[Recipe]:
    """Recipes from an image's Fooocus metadata, else [] (an A1111 or SwarmUI ``parameters`` is not claimed)."""
    for text, scheme in _sources(chunks):
        scheme = (scheme or "").strip().lower()
        if looks_like_json_object(text):
            if scheme == "fooocus":
                return [parse_fooocus(text)]
            try:
                data = load_json(text, what="parameters")
            except FormatError:
                continue
            if is_fooocus_json(data):
                return [parse_fooocus(text)]
        elif scheme == "a1111" or _VERSION_RE.search(text):
            return [parse_a1111_scheme(text)]
    return []
