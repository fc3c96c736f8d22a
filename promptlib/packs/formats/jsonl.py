"""JSON Lines: one prompt per line, each a `PackEntry`-shaped object.

Lines are split on ``\\n`` only (JSON text may hold a raw U+2028), a trailing ``\\r`` is ignored and blank lines
skipped. Accepted spellings: ``title`` or ``name``; ``prompt`` or ``positive_prompt``; ``negative_prompt`` or
``negative``; ``tags`` as a list or a comma-separated string; ``favourite`` or ``favorite``; generation parameters
nested under ``params`` or flattened at the top level (``sampler_name`` / ``scheduler`` / ``cfg`` also understood,
sampler names normalised). Other keys go to ``params.extra``. ``images`` are ignored: a loose JSONL file has no
place for image files. A bad line is reported with its number and skipped.
"""

from __future__ import annotations

import json
from typing import Any

from promptlib.errors import FormatError
from promptlib.packs.formats._common import (
    cap_warnings,
    check_rows,
    check_size,
    decode_json_text,
    load_json,
    make_entry,
    sniff_text,
    type_name,
    warning,
)
from promptlib.packs.schema import PackEntry, PackFile, PackParams
from promptlib.recipe import canonical_sampler

_PARAM_NAMES = frozenset(PackParams.model_fields) - {"extra"}
_PARAM_ALIASES = {"sampler_name": "sampler", "scheduler": "schedule", "cfg": "cfg_scale"}
_ENTRY_KEYS = {
    "title": "title",
    "name": "title",
    "prompt": "prompt",
    "positive_prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "negative": "negative_prompt",
    "tags": "tags",
    "notes": "notes",
    "rating": "rating",
    "favourite": "favourite",
    "favorite": "favourite",
}
_PROMPT_KEYS = ("prompt", "positive_prompt")


def detect(data: bytes) -> bool:
    """True when the first non-blank line is a whole JSON object with a ``prompt`` (a one-object file counts)."""
    text = sniff_text(data)
    if text is None:
        return False
    first = next((line for line in text.split("\n") if line.strip()), "")
    try:
        value = json.loads(first)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and any(isinstance(value.get(key), str) for key in _PROMPT_KEYS)


def _tags(value: object) -> object:
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return list(dict.fromkeys(tag.strip() for tag in value if tag.strip()))
    return value  # let validation name the problem


def _params(item: dict[str, Any], *, where: str) -> dict[str, Any]:
    nested = item.get("params", {})
    if not isinstance(nested, dict):
        raise FormatError(f"{where}: params must be an object, not {type_name(nested)}")
    params: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    # Nested values win over flattened ones: they are the native spelling.
    for key, value in [*((k, v) for k, v in item.items() if k not in _ENTRY_KEYS and k != "params"), *nested.items()]:
        if key == "images":
            continue
        name = _PARAM_ALIASES.get(key, key)
        if name in _PARAM_NAMES:
            params[name] = value
        elif key == "extra" and isinstance(value, dict):
            extra.update(value)
        else:
            extra[key] = value
    sampler, schedule = params.get("sampler"), params.get("schedule")
    if isinstance(sampler, str | None) and isinstance(schedule, str | None) and (sampler or schedule):
        params["sampler"], params["schedule"] = canonical_sampler(sampler, schedule)
    if extra:
        params["extra"] = extra
    return params


def _entry_fields(item: dict[str, Any], *, where: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, name in _ENTRY_KEYS.items():  # the first spelling listed wins
        if key in item and name not in fields:
            fields[name] = item[key]
    if "tags" in fields:
        fields["tags"] = _tags(fields["tags"])
    if fields.get("negative_prompt") is None:
        fields.pop("negative_prompt", None)
    fields["params"] = _params(item, where=where)
    return fields


def read_with_warnings(data: bytes, *, source: str) -> tuple[PackFile, list[str]]:
    """Read JSON Lines into `PackFile.entries`, with one warning per skipped line.

    Raises UnsafeInputError when `data` is over the size or row limit and FormatError when it is not UTF-8 text. A line
    that is not safe JSON, not an object or not a valid entry is skipped with a warning naming its line number.
    """
    check_size(data, source=source)
    text = decode_json_text(data, source=source).removeprefix("\ufeff")
    warnings: list[str] = []
    entries: list[PackEntry] = []
    lines = [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
    check_rows(len(lines), source=source)
    for number, line in lines:
        where = f"line {number}"
        try:
            item = load_json(line, source=f"{source}: {where}")
            if not isinstance(item, dict):
                raise FormatError(f"{source}: {where}: expected an object, found {type_name(item)}")
            fields = _entry_fields(item, where=f"{source}: {where}")
        except FormatError as exc:
            warnings.append(f"{exc}; skipped")
            continue
        if "images" in item:
            warnings.append(
                warning("images ignored: a JSON Lines file cannot carry image files", source=source, where=where)
            )
        entry = make_entry(fields, where=where, source=source, warnings=warnings)
        if entry is not None:
            entries.append(entry)
    return PackFile(entries=entries), cap_warnings(warnings, source=source)


def read(data: bytes, *, source: str) -> PackFile:
    """`read_with_warnings` without the warnings; raises what it raises."""
    return read_with_warnings(data, source=source)[0]


def write(pack: PackFile) -> bytes:
    """The entries of `pack` as JSON Lines (UTF-8, LF, defaults left out, no images). Never raises."""
    lines = [
        json.dumps(entry.model_dump(mode="json", exclude_defaults=True, exclude={"images"}), ensure_ascii=False)
        for entry in pack.entries
    ]
    return "".join(line + "\n" for line in lines).encode("utf-8")
