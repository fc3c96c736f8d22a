"""Helpers shared by the foreign-format modules: bounded decoding, the safe JSON loader, sniffing and validation.

Everything here treats its input as hostile: sizes are checked before any work, JSON nesting is bounded without
recursion, and a bad row or item becomes a one-line warning (a `FormatError` message) instead of an exception.
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticError

from promptlib.errors import FormatError, UnsafeInputError
from promptlib.limits import MAX_JSON_BYTES, MAX_JSON_DEPTH, MAX_TITLE_CHARS
from promptlib.packs.schema import PackEntry, PackStyle
from promptlib.recipe import GenerationParams

if TYPE_CHECKING:
    from promptlib.recipe import Recipe

MAX_INPUT_BYTES = MAX_JSON_BYTES  # one foreign file, whatever its format
MAX_ROWS = 250_000  # rows, lines or items in one file: ~0.5 GB of validated models at most
MAX_WARNINGS = 1_000  # listed problems per file; the rest are counted
SNIFF_BYTES = 256 * 1024  # detectors look at this much of the start of a file

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL_OK = frozenset("\t\n\r\x0b\x0c")


def warning(text: str, *, source: str, where: str = "") -> str:
    """A one-line `FormatError` message ``"<source>: <where>: <text>"`` for a warnings list."""
    return str(FormatError(f"{source}: {where}: {text}" if where else f"{source}: {text}"))


def label(value: str, limit: int = 40) -> str:
    """A short, quoted, single-line rendering of untrusted text for a message."""
    return repr(value[:limit] + "…" if len(value) > limit else value)


def type_name(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def pydantic_message(exc: PydanticError) -> str:
    """The first pydantic error as ``"field: message"`` (+ how many more), without echoing the input."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    more = exc.error_count() - 1
    return f"{where}: {first['msg']}" + (f" (+{more} more)" if more else "")


def check_size(data: bytes | str, *, source: str) -> None:
    """Raise UnsafeInputError when `data` is over `MAX_INPUT_BYTES` (checked before any parsing)."""
    if len(data) > MAX_INPUT_BYTES:
        raise UnsafeInputError(f"{source}: {len(data):,} bytes is over the {MAX_INPUT_BYTES:,}-byte limit for one file")


def check_rows(count: int, *, source: str) -> None:
    """Raise UnsafeInputError when a file holds more than `MAX_ROWS` rows, lines or items."""
    if count > MAX_ROWS:
        raise UnsafeInputError(f"{source}: more than {MAX_ROWS:,} rows in one file; split it")


def cap_warnings(warnings: list[str], *, source: str) -> list[str]:
    """`warnings`, the first `MAX_WARNINGS` of them plus a count of the rest when there are more."""
    if len(warnings) <= MAX_WARNINGS:
        return warnings
    rest = len(warnings) - MAX_WARNINGS
    return [*warnings[:MAX_WARNINGS], warning(f"{rest:,} more problems not listed", source=source)]


def _split_bom(data: bytes) -> tuple[bytes, str | None]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :], encoding
    return data, None


def _bad_byte(data: bytes, exc: UnicodeDecodeError) -> str:
    """Where decoding failed, as an offset into `data` itself (BOM included)."""
    offset = len(data) - len(exc.object) + exc.start
    return f"byte 0x{data[offset]:02x} at offset {offset}" if offset < len(data) else "cut off at the end"


def decode_text(data: bytes, *, source: str, warnings: list[str]) -> str:
    """Decode a text file: UTF-8 (BOM optional) or UTF-16/32 with a BOM, else Windows-1252, else Latin-1.

    Never raises for bad bytes: a fallback decoding and stripped NUL characters are reported in `warnings`.
    Raises UnsafeInputError when the input is over the size limit.
    """
    check_size(data, source=source)
    body, encoding = _split_bom(data)
    try:
        text = body.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        try:
            text, used = body.decode("cp1252"), "Windows-1252"
        except UnicodeDecodeError:
            text, used = body.decode("latin-1"), "Latin-1"
        bad = _bad_byte(data, exc)
        warnings.append(warning(f"not valid {(encoding or 'utf-8').upper()} ({bad}); read as {used}", source=source))
    if "\x00" in text:
        warnings.append(warning(f"removed {text.count(chr(0)):,} NUL characters", source=source))
        text = text.replace("\x00", "")
    return text


def decode_json_text(data: bytes, *, source: str) -> str:
    """Decode JSON bytes strictly: UTF-8 (BOM optional) or UTF-16/32 with a BOM; raises FormatError otherwise."""
    body, encoding = _split_bom(data)
    try:
        return body.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{source}: not valid {(encoding or 'utf-8').upper()} text ({_bad_byte(data, exc)})") from exc


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not allowed (only finite numbers)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def check_depth(value: object, *, source: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise FormatError when lists/objects nest deeper than `limit`; an iterative walk, so no recursion limit."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Any
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise FormatError(f"{source}: JSON nested more than {limit} levels deep")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def load_json(data: bytes | str, *, source: str) -> Any:
    """Parse untrusted JSON safely and return the value.

    Raises UnsafeInputError when over `MAX_JSON_BYTES`; FormatError (one line, naming `source` and the position)
    for invalid UTF-8, invalid JSON, NaN/Infinity or out-of-range numbers, and nesting deeper than
    `MAX_JSON_DEPTH`. Duplicate keys are tolerated: the last one wins.
    """
    check_size(data, source=source)
    text = data if isinstance(data, str) else decode_json_text(data, source=source)
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        what = exc.msg.removesuffix(" at")  # "Invalid control character at"
        raise FormatError(f"{source}: not valid JSON: {what} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise FormatError(f"{source}: JSON nested more than {MAX_JSON_DEPTH} levels deep") from exc
    except ValueError as exc:  # NaN / Infinity / 1e999 / an integer with thousands of digits
        raise FormatError(f"{source}: not valid JSON: {exc}") from exc
    check_depth(value, source=source)
    return value


# --- sniffing ------------------------------------------------------------------------------------------------


def sniff_text(data: bytes) -> str | None:
    """The start of `data` decoded leniently for a detector, or None when it is empty or blank."""
    head, encoding = _split_bom(data[:SNIFF_BYTES])
    text = head.decode(encoding or "utf-8", errors="replace")
    if text.count("\ufffd") > len(text) // 20:
        text = head.decode("latin-1")
    return text.lstrip("\ufeff") if text.strip() else None


def looks_binary(text: str) -> bool:
    """True when sniffed text has NULs or more than 5% other control characters: an image, not a prompt list."""
    controls = sum(1 for ch in text if ch < " " and ch not in _CONTROL_OK)
    return "\x00" in text or controls > len(text) // 20


@dataclass(frozen=True)
class JsonSniff:
    """What a detector learns from the start of a JSON document without parsing all of it."""

    kind: str  # "array" or "object"
    first: object  # the object itself, or an array's first element (None for an empty array)
    whole: bool  # True when the object is the whole document (nothing but whitespace after it)


def sniff_json(text: str) -> JsonSniff | None:
    """Decode just the first value (or an array's first element) of `text`; None when it is not JSON."""
    body = text.lstrip()
    if not body or body[0] not in "[{":
        return None
    decoder = json.JSONDecoder()
    try:
        if body[0] == "{":
            value, end = decoder.raw_decode(body)
            return JsonSniff("object", value, not body[end:].strip())
        start = len(body) - len(body[1:].lstrip())
        if body.startswith("]", start):
            return JsonSniff("array", None, True)
        value, _ = decoder.raw_decode(body, start)
        return JsonSniff("array", value, False)
    except RecursionError:  # JSON, only nested too deep to look at: still not plain text
        return JsonSniff("object" if body[0] == "{" else "array", None, False)
    except ValueError:
        return None


# --- building validated rows ---------------------------------------------------------------------------------


def strip_nul(value: str, *, key: str, where: str, source: str, warnings: list[str]) -> str:
    """`value` without NUL characters (reported once per field)."""
    if "\x00" not in value:
        return value
    warnings.append(warning(f"removed NUL characters from {key}", source=source, where=where))
    return value.replace("\x00", "")


@dataclass
class StyleCollector:
    """Validates style rows one at a time: bad rows become warnings, duplicate names get a " (2)" suffix."""

    source: str
    warnings: list[str]
    styles: list[PackStyle] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _next_number: dict[str, int] = field(default_factory=dict)

    def add(self, *, where: str, name: object, prompt: object, negative_prompt: object) -> None:
        """Validate one style and keep it, or record why it was skipped."""
        fields: dict[str, str] = {}
        for key, value in (("name", name), ("prompt", prompt), ("negative_prompt", negative_prompt)):
            if value is None:
                value = ""
            if not isinstance(value, str):
                self.warnings.append(
                    warning(f"{key} must be text, not {type_name(value)}; skipped", source=self.source, where=where)
                )
                return
            fields[key] = strip_nul(value, key=key, where=where, source=self.source, warnings=self.warnings)
        if not fields["name"].strip():
            self.warnings.append(warning("style has no name; skipped", source=self.source, where=where))
            return
        try:
            style = PackStyle.model_validate(fields)
        except PydanticError as exc:
            self.warnings.append(warning(f"{pydantic_message(exc)}; skipped", source=self.source, where=where))
            return
        unique = self._unique(style.name)
        if unique != style.name:
            self.warnings.append(
                warning(
                    f"duplicate style name {label(style.name)} kept as {label(unique)}", source=self.source, where=where
                )
            )
            style = style.model_copy(update={"name": unique})
        self.styles.append(style)

    def _unique(self, name: str) -> str:
        key = name.strip().casefold()
        number = self._next_number.get(key, 1)  # so a thousand "x" rows are not quadratic
        candidate = name
        while candidate.strip().casefold() in self._seen:
            number += 1
            suffix = f" ({number})"
            candidate = name.rstrip()[: MAX_TITLE_CHARS - len(suffix)] + suffix
        self._next_number[key] = number
        self._seen.add(candidate.strip().casefold())
        return candidate


def make_entry(fields: dict[str, Any], *, where: str, source: str, warnings: list[str]) -> PackEntry | None:
    """Validate one entry (NUL characters stripped from its text); None, with a warning, when it is invalid."""
    for key in ("title", "prompt", "negative_prompt", "notes"):
        if isinstance(fields.get(key), str):
            fields[key] = strip_nul(fields[key], key=key, where=where, source=source, warnings=warnings)
    if isinstance(fields.get("tags"), list):
        fields["tags"] = [t.replace("\x00", "") if isinstance(t, str) else t for t in fields["tags"]]
    try:
        return PackEntry.model_validate(fields)
    except PydanticError as exc:
        warnings.append(warning(f"{pydantic_message(exc)}; skipped", source=source, where=where))
        return None


def recipe_entry(
    recipe: Recipe, *, title: str | None, where: str, source: str, warnings: list[str]
) -> PackEntry | None:
    """A pack entry from a recipe read out of a generator's file (its prompt pair and typed parameters); None, with
    a warning, when it is not a valid entry (no prompt, say)."""
    params = recipe.model_dump(include=set(GenerationParams.model_fields), exclude_defaults=True)
    fields = {"prompt": recipe.prompt, "negative_prompt": recipe.negative_prompt, "params": params}
    if title:
        fields["title"] = title[:MAX_TITLE_CHARS]
    return make_entry(fields, where=where, source=source, warnings=warnings)


def json_objects(data: bytes, *, source: str, what: str, warnings: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects of a JSON list (or a single object) of styles, as ``(where, object)``; other items are skipped
    with a warning. Raises UnsafeInputError over the size or row limit and FormatError when the document is not
    safe JSON or not a list of objects."""
    value = load_json(data, source=source)
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise FormatError(f"{source}: expected a JSON list of {what}s, found {type_name(value)}")
    check_rows(len(items), source=source)
    for number, item in enumerate(items, start=1):
        where = f"item {number}"
        if isinstance(item, dict):
            yield where, item
        else:
            warnings.append(
                warning(f"expected a {what} object, found {type_name(item)}; skipped", source=source, where=where)
            )
