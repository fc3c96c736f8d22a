"""InvokeAI style presets (prompt templates) as JSON, read and written.

InvokeAI keeps a preset as ``{"name", "type": "user"|"default", "preset_data": {"positive_prompt",
"negative_prompt"}}`` (its shipped ``default_style_presets.json`` is a list of these; API listings add ``id``,
``image``, ``user_id`` ...). Its import endpoint instead takes a flat list of ``{"name", "prompt" or
"positive_prompt", "negative_prompt"}``. Both shapes are read, as a list or a single object; ``preset_data`` may
also be a JSON string, as InvokeAI's database stores it. ``{prompt}`` marks where the user's prompt goes, as in
promptlib. `write` emits the nested shape; `write_import` the flat one InvokeAI's "Import" button accepts (InvokeAI's
CSV import is the A1111 styles.csv layout, but without a BOM).
"""

from __future__ import annotations

import json

from promptlib.errors import FormatError
from promptlib.packs.formats._common import (
    StyleCollector,
    cap_warnings,
    json_objects,
    load_json,
    sniff_json,
    sniff_text,
    type_name,
    warning,
)
from promptlib.packs.schema import PackFile


def _is_preset(value: object) -> bool:
    return isinstance(value, dict) and (
        isinstance(value.get("preset_data"), dict | str) or ("name" in value and "positive_prompt" in value)
    )


def detect(data: bytes) -> bool:
    """True for one preset object, or a JSON list whose first item is one: it has ``preset_data`` (or ``name``
    with a flat ``positive_prompt``)."""
    text = sniff_text(data)
    found = sniff_json(text) if text is not None else None
    if found is None or (found.kind == "object" and not found.whole):
        return False  # JSON Lines starts with an object too, but more follow it
    return _is_preset(found.first)


def _prompts(item: dict[str, object], *, where: str, source: str, warnings: list[str]) -> tuple[object, object] | None:
    data = item.get("preset_data")
    if data is None:
        return item.get("positive_prompt", item.get("prompt")), item.get("negative_prompt")
    if isinstance(data, str):
        try:
            data = load_json(data, source=f"{source}: {where}: preset_data")
        except FormatError as exc:
            warnings.append(f"{exc}; skipped")
            return None
    if not isinstance(data, dict):
        warnings.append(
            warning(f"preset_data must be an object, not {type_name(data)}; skipped", source=source, where=where)
        )
        return None
    return data.get("positive_prompt", data.get("prompt")), data.get("negative_prompt")


def read_with_warnings(data: bytes, *, source: str) -> tuple[PackFile, list[str]]:
    """Read InvokeAI presets into `PackFile.styles`, with one warning per skipped or renamed preset.

    Raises UnsafeInputError when `data` is over the size or row limit; FormatError when it is not safe, valid JSON
    or neither a list nor a single preset object. Bad presets never raise: they are skipped with a warning.
    """
    warnings: list[str] = []
    collector = StyleCollector(source=source, warnings=warnings)
    for where, item in json_objects(data, source=source, what="style preset", warnings=warnings):
        prompts = _prompts(item, where=where, source=source, warnings=warnings)
        if prompts is not None:
            collector.add(where=where, name=item.get("name"), prompt=prompts[0], negative_prompt=prompts[1])
    return PackFile(styles=collector.styles), cap_warnings(warnings, source=source)


def read(data: bytes, *, source: str) -> PackFile:
    """`read_with_warnings` without the warnings; raises what it raises."""
    return read_with_warnings(data, source=source)[0]


def write(pack: PackFile) -> bytes:
    """The styles of `pack` as a list of InvokeAI presets (``type`` "user", nested ``preset_data``). Never raises."""
    presets = [
        {
            "name": s.name,
            "type": "user",
            "preset_data": {"positive_prompt": s.prompt, "negative_prompt": s.negative_prompt},
        }
        for s in pack.styles
    ]
    return (json.dumps(presets, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_import(pack: PackFile) -> bytes:
    """The styles of `pack` in the flat shape InvokeAI's preset import accepts. Never raises."""
    rows = [{"name": s.name, "positive_prompt": s.prompt, "negative_prompt": s.negative_prompt} for s in pack.styles]
    return (json.dumps(rows, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
