"""Fooocus ``sdxl_styles/*.json`` and twri's sdxl_prompt_styler JSON, read and written.

Both are a JSON list of ``{"name", "prompt", "negative_prompt"}``; ``{prompt}`` in the prompt marks where the
user's prompt goes. Fooocus treats a missing ``prompt`` or ``negative_prompt`` as empty (its "Fooocus Negative"
style has no prompt), so missing keys are allowed; unknown keys are ignored. A single object is read as a list of
one. Duplicate names are kept with a " (2)" suffix.
"""

from __future__ import annotations

import json

from promptlib.packs.formats._common import (
    StyleCollector,
    cap_warnings,
    json_objects,
    sniff_json,
    sniff_text,
)
from promptlib.packs.schema import PackFile

_NOT_OURS = ("preset_data", "positive_prompt")  # InvokeAI's keys


def detect(data: bytes) -> bool:
    """True for a JSON list whose first item is a style object with ``name`` and ``prompt``/``negative_prompt``
    (and no InvokeAI keys), or an empty JSON list."""
    text = sniff_text(data)
    found = sniff_json(text) if text is not None else None
    if found is None or found.kind != "array":
        return False
    first = found.first
    if first is None:
        return True
    return (
        isinstance(first, dict)
        and isinstance(first.get("name"), str)
        and ("prompt" in first or "negative_prompt" in first)
        and not any(key in first for key in _NOT_OURS)
    )


def read_with_warnings(data: bytes, *, source: str) -> tuple[PackFile, list[str]]:
    """Read a style list into `PackFile.styles`, with one warning per skipped or renamed item.

    Raises UnsafeInputError when `data` is over the size or row limit; FormatError when it is not safe, valid JSON
    or not a list (or single object) of styles. Bad items never raise: they are skipped with a warning.
    """
    warnings: list[str] = []
    collector = StyleCollector(source=source, warnings=warnings)
    for where, item in json_objects(data, source=source, what="style", warnings=warnings):
        collector.add(
            where=where,
            name=item.get("name"),
            prompt=item.get("prompt"),
            negative_prompt=item.get("negative_prompt"),
        )
    return PackFile(styles=collector.styles), cap_warnings(warnings, source=source)


def read(data: bytes, *, source: str) -> PackFile:
    """`read_with_warnings` without the warnings; raises what it raises."""
    return read_with_warnings(data, source=source)[0]


def write(pack: PackFile) -> bytes:
    """The styles of `pack` as a Fooocus style list (UTF-8 JSON, all three keys on every item). Never raises."""
    styles = [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt} for s in pack.styles]
    return (json.dumps(styles, ensure_ascii=False, indent=4) + "\n").encode("utf-8")
