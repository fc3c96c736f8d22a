"""A1111 generation parameters saved as text ("infotext"): the .txt the web UI writes beside an image when "Create
a text file next to every image with generation parameters" is on, what it copies to the clipboard, and what model
sites list under an image.

A file holds one such text or several in a row. Each ends with its parameter line, which A1111 always starts with
the step count (``Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, ...``), followed by the
``Template:`` lines sd-dynamic-prompts adds when it saves its templates (up to the next blank line); the prompt is
what comes before, up to a ``Negative prompt:`` line. Each text becomes one entry titled after the file, read by
the parser of an image's ``parameters`` chunk (`promptlib.metadata.a1111.parse_infotext`).

Read only: promptlib writes infotext into the images it renders (`promptlib.metadata.writer`), and an entry
without a step count would have no line to end its text.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from promptlib.errors import FormatError
from promptlib.packs.formats._common import (
    cap_warnings,
    check_rows,
    decode_text,
    looks_binary,
    recipe_entry,
    sniff_text,
    warning,
)
from promptlib.packs.schema import PackEntry, PackFile

_PARAMETER_LINE = re.compile(r"Steps: *\d+ *(,|$)")
_TEMPLATE_PREFIXES = ("Template: ", "Negative Template: ")


def _is_parameter_line(line: str) -> bool:
    return _PARAMETER_LINE.match(line.strip()) is not None


def detect(data: bytes) -> bool:
    """True for text with a line that starts like A1111's parameter line (``Steps: 20, ...``) after a prompt."""
    text = sniff_text(data)
    if text is None or looks_binary(text) or text.lstrip()[:1] in ("{", "["):
        return False
    lines = text.splitlines()
    return any(_is_parameter_line(line) and any(ln.strip() for ln in lines[:n]) for n, line in enumerate(lines))


def _blocks(text: str) -> list[tuple[int, str]]:
    """The infotexts of a file as ``(first line number, text)``, split after each parameter line (and its
    templates); text after the last one is a last block (a prompt without parameters, as A1111 would read it)."""
    blocks: list[tuple[int, str]] = []
    lines = text.splitlines()
    start = n = 0
    while n < len(lines):
        if _is_parameter_line(lines[n]):
            n += 1
            if n < len(lines) and lines[n].startswith(_TEMPLATE_PREFIXES):
                while n < len(lines) and lines[n].strip():
                    n += 1
            blocks.append((start + 1, "\n".join(lines[start:n])))
            start = n
        else:
            n += 1
    blocks.append((start + 1, "\n".join(lines[start:])))
    return [(first, block) for first, block in blocks if block.strip()]


def read_with_warnings(data: bytes, *, source: str) -> tuple[PackFile, list[str]]:
    """Read each infotext into `PackFile.entries`, with one warning per text that cannot be an entry.

    Raises UnsafeInputError when `data` is over the size or row limit and FormatError when it holds no infotext.
    """
    from promptlib.metadata.a1111 import parse_infotext

    warnings: list[str] = []
    text = decode_text(data, source=source, warnings=warnings).removeprefix("\ufeff")
    blocks = _blocks(text)
    check_rows(len(blocks), source=source)
    title = PurePath(source).stem
    entries: list[PackEntry] = []
    for first, block in blocks:
        where = f"line {first}"
        try:
            recipe = parse_infotext(block)
        except FormatError as exc:
            warnings.append(warning(f"{exc}; skipped", source=source, where=where))
            continue
        entry = recipe_entry(recipe, title=title, where=where, source=source, warnings=warnings)
        if entry is not None:
            entries.append(entry)
    if not entries and not warnings:
        raise FormatError(f"{source}: no A1111 generation parameters in this text")
    return PackFile(entries=entries), cap_warnings(warnings, source=source)


def read(data: bytes, *, source: str) -> PackFile:
    """`read_with_warnings` without the warnings; raises what it raises."""
    return read_with_warnings(data, source=source)[0]
