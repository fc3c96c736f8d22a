"""Fooocus: the ``parameters`` JSON (``fooocus_scheme`` = ``fooocus``), its A1111-style scheme, and ``log.html``.

PNGs carry ``parameters`` + ``fooocus_scheme``; JPEG/WEBP carry the same text in EXIF UserComment with the
scheme in MakerNote. ``prompt``/``negative_prompt`` are what the user typed; the style-expanded prompts that
were actually rendered stay in ``extra["full_prompt"]``/``extra["full_negative_prompt"]``.

Fooocus saves parameters into its images only when asked ("Save Metadata to Images" is off by default), but it
always keeps a ``log.html`` beside each day's images: one block per image, its parameters as a table and, since
late 2023, as URL-quoted JSON in a "Copy to Clipboard" button (the keys of the JSON scheme; older logs used the
table's labels). `parse_log` reads those, by image file name.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from html.parser import HTMLParser
from pathlib import PurePath
from typing import Any

from promptlib.errors import FormatError
from promptlib.limits import MAX_METADATA_CHARS
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
MAX_LOG_IMAGES = 100_000  # images read from one log.html (a day of generating); the rest are left out
# log.html's table labels (logs before the JSON button) as the JSON scheme's keys; "LoRA 1": "name : weight"
_LOG_LABELS = {
    "prompt": "prompt",
    "negative prompt": "negative_prompt",
    "fooocus v2 expansion": "prompt_expansion",
    "styles": "styles",
    "performance": "performance",
    "steps": "steps",
    "resolution": "resolution",
    "guidance scale": "guidance_scale",
    "sharpness": "sharpness",
    "adm guidance": "adm_guidance",
    "base model": "base_model",
    "refiner model": "refiner_model",
    "refiner switch": "refiner_switch",
    "clip skip": "clip_skip",
    "sampler": "sampler",
    "scheduler": "scheduler",
    "vae": "vae",
    "seed": "seed",
    "version": "version",
    "metadata scheme": "metadata_scheme",
}
_LOG_LORA_RE = re.compile(r"lora (\d+)", re.IGNORECASE)


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


def parse_log(text: str) -> dict[str, Recipe]:
    """The recipes of a Fooocus ``log.html``, keyed by image file name (as the log names it, without a folder).
    Images whose block holds no usable parameters are left out. Never raises: the caller bounds the file's size,
    the reader the number of blocks and the text kept per cell."""
    reader = _LogReader()
    reader.feed(text)
    reader.close()
    recipes: dict[str, Recipe] = {}
    for block in reader.blocks:
        name = PurePath(block.image.replace("\\", "/")).name if block.image else ""
        fields = block.fields()
        if not name or fields is None:
            continue
        try:
            recipes[name] = parse_fooocus(json.dumps(fields))
        except (FormatError, ValueError):  # ValueError: a value JSON cannot hold
            continue
    return recipes


class _LogBlock:
    """One image's block of a log.html: its file name, table rows and clipboard JSON."""

    def __init__(self) -> None:
        self.image: str | None = None
        self.rows: list[tuple[str, str]] = []
        self.clipboard: str | None = None

    def fields(self) -> dict[str, Any] | None:
        """The parameters under the JSON scheme's keys: the clipboard JSON, else the table; None when neither."""
        data: Any = None
        if self.clipboard is not None:
            try:
                data = load_json(urllib.parse.unquote(self.clipboard), what="log.html parameters")
            except FormatError:
                data = None
        if not isinstance(data, dict):
            data = dict(self.rows) if self.rows else None
        if not isinstance(data, dict) or not data:
            return None
        out: dict[str, Any] = {}
        for key, value in data.items():
            label = str(key).strip()
            lora = _LOG_LORA_RE.fullmatch(label)
            name = f"lora_combined_{lora.group(1)}" if lora else _LOG_LABELS.get(label.lower(), label)
            out.setdefault(name, value)
        return out


class _LogReader(HTMLParser):
    """Collects log.html's image blocks (``div.image-container``): the first ``img`` source, the label/value rows of
    its metadata table and the argument of its ``to_clipboard('…')`` button. Linear in the text; bounded blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[_LogBlock] = []
        self._cell: str | None = None  # "label" or "value" while inside such a cell
        self._text: list[str] = []
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        classes = attributes.get("class", "").split()
        if tag == "div" and "image-container" in classes:
            if len(self.blocks) < MAX_LOG_IMAGES:
                self.blocks.append(_LogBlock())
            self._cell = None
            return
        if not self.blocks:
            return
        block = self.blocks[-1]
        if tag == "img" and block.image is None and attributes.get("src"):
            block.image = attributes["src"]
        elif tag == "button" and "to_clipboard(" in attributes.get("onclick", ""):
            argument = attributes["onclick"].partition("to_clipboard(")[2].strip().rstrip(")").strip()
            if len(argument) >= 2 and argument[0] == argument[-1] and argument[0] in "'\"":
                block.clipboard = argument[1:-1]
        elif tag == "td" and ({"label", "key"} & set(classes) or "value" in classes):
            self._cell, self._text = ("value" if "value" in classes else "label"), []
        elif tag == "br" and self._cell == "value":
            self._text.append("\n")

    def handle_data(self, data: str) -> None:
        if self._cell is not None and sum(map(len, self._text)) < MAX_METADATA_CHARS:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "br" and self._cell == "value":  # newer logs write a value's line breaks as " </br> "
            self._text.append("\n")
        if tag != "td" or self._cell is None or not self.blocks:
            return
        text = "".join(self._text).strip()  # character references already decoded (convert_charrefs)
        if self._cell == "label":
            self._label = text
        elif self._label:
            value = "\n".join(line.strip() for line in text.split("\n"))
            self.blocks[-1].rows.append((self._label, value))
            self._label = None
        self._cell = None


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
