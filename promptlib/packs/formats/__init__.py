"""Foreign style and prompt files: one module per format, a registry, content sniffing and a safe JSON loader.

Every format module has the same four functions:

- ``detect(data: bytes) -> bool`` — does the content look like this format (never the file name)?
- ``read_with_warnings(data, *, source) -> tuple[PackFile, list[str]]`` — parse; bad rows become one-line
  warnings (``FormatError`` messages naming `source` and the line/row/item) and are skipped;
- ``read(data, *, source) -> PackFile`` — the same without the warnings;
- ``write(pack: PackFile) -> bytes`` — the file that format's tool reads back.

Style formats (A1111 styles.csv, Fooocus, InvokeAI) fill `PackFile.styles`; prompt formats (prompts_from_file,
JSON Lines) fill `PackFile.entries`. Two more are read, never written (they have no ``write``): the files
generators save their parameters in (A1111 infotext .txt, ComfyUI workflow and API-format .json), one entry per
image recipe they hold. Readers raise UnsafeInputError for input over `MAX_JSON_BYTES` or over `MAX_ROWS` rows,
and FormatError when the file as a whole is unusable.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Protocol

from promptlib.errors import FormatError
from promptlib.packs.formats import (
    a1111_infotext,
    a1111_styles,
    comfyui_graph,
    fooocus_styles,
    invokeai_presets,
    jsonl,
    prompts_from_file,
)
from promptlib.packs.formats._common import MAX_INPUT_BYTES, check_size, load_json
from promptlib.packs.schema import PackFile

__all__ = [
    "FORMATS",
    "MAX_INPUT_BYTES",
    "READERS",
    "FormatModule",
    "FormatReader",
    "detect_format",
    "load_json",
    "read_any",
]


class FormatReader(Protocol):
    """What every format module provides."""

    def detect(self, data: bytes) -> bool: ...

    def read(self, data: bytes, *, source: str) -> PackFile: ...

    def read_with_warnings(self, data: bytes, *, source: str) -> tuple[PackFile, list[str]]: ...


class FormatModule(FormatReader, Protocol):
    """A format promptlib also writes (``promptlib export --format``)."""

    def write(self, pack: PackFile) -> bytes: ...


# The formats read and written, in detection order: the most specific content signature first, the catch-all
# plain-text format last.
FORMATS: dict[str, FormatModule] = {
    "invokeai_presets": invokeai_presets,
    "fooocus_styles": fooocus_styles,
    "jsonl": jsonl,
    "a1111_styles": a1111_styles,
    "prompts_from_file": prompts_from_file,
}
# Every format read, in detection order: the generators' files go before the plain-text catch-all.
READERS: dict[str, FormatReader] = {
    "invokeai_presets": invokeai_presets,
    "fooocus_styles": fooocus_styles,
    "jsonl": jsonl,
    "comfyui_graph": comfyui_graph,
    "a1111_styles": a1111_styles,
    "a1111_infotext": a1111_infotext,
    "prompts_from_file": prompts_from_file,
}

# File-name suffixes, consulted only to choose between formats whose detectors all matched the content.
_SUFFIXES: dict[str, frozenset[str]] = {
    ".csv": frozenset({"a1111_styles"}),
    ".json": frozenset({"fooocus_styles", "invokeai_presets", "comfyui_graph"}),
    ".jsonl": frozenset({"jsonl"}),
    ".ndjson": frozenset({"jsonl"}),
    ".txt": frozenset({"a1111_infotext", "prompts_from_file"}),
}


def detect_format(data: bytes, *, filename: str | None = None) -> str | None:
    """The name (a key of `READERS`) of the format `data` is in, or None when no detector matches.

    The content decides: detectors run in `READERS` order and only the start of the data is examined. When several
    match, `filename`'s suffix breaks the tie; otherwise the first match wins. Never raises.
    """
    matches = [name for name, module in READERS.items() if module.detect(data)]
    if len(matches) > 1 and filename:
        hinted = _SUFFIXES.get(PurePath(filename).suffix.lower(), frozenset())
        for name in matches:
            if name in hinted:
                return name
    return matches[0] if matches else None


def read_any(
    data: bytes, *, source: str, fmt: str | None = None, filename: str | None = None
) -> tuple[str, PackFile, list[str]]:
    """Read `data` in format `fmt` (detected when None) and return ``(format name, pack file, warnings)``.

    Raises UnsafeInputError when `data` is over the size limit (before any sniffing) and FormatError for an
    unknown `fmt`, an unrecognised format, or what the format's reader raises.
    """
    check_size(data, source=source)
    if fmt is None:
        fmt = detect_format(data, filename=filename)
        if fmt is None and data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{"):
            load_json(data, source=source)  # JSON no format claims: say what is wrong with it, if anything
        if fmt is None:
            raise FormatError(f"{source}: not a format promptlib can import (known: {', '.join(READERS)})")
    module = READERS.get(fmt.replace("-", "_"))  # a1111-styles, as `export --format` spells it, works too
    if module is None:
        raise FormatError(f"unknown format {fmt!r} (known: {', '.join(READERS)})")
    pack, warnings = module.read_with_warnings(data, source=source)
    return fmt, pack, warnings
