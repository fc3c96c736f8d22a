"""AUTOMATIC1111's ``styles.csv`` (also Forge, SD.Next and InvokeAI's CSV export), read and written.

The file A1111 writes: a UTF-8 BOM, the header ``name,prompt,negative_prompt``, one style per record, CRLF line
ends, fields quoted only when needed. A1111 reads it with ``csv.DictReader(skipinitialspace=True)``, skips rows
whose name starts with ``#`` (dividers), and accepts the pre-2023 ``name,text`` header. ``{prompt}`` in the prompt
marks where the user's prompt goes, which is what promptlib's styles mean too, so it is kept as is.

Quirks handled on reading: BOM or none, CRLF/LF/CR, quoted multi-line fields, blank lines (also before the
header), short rows (missing fields are empty), unknown extra columns (ignored), header names in any case or with
spaces, ``text`` / ``positive_prompt`` for the prompt column, duplicate names (kept, suffixed " (2)"), and files
that are not UTF-8 (read as Windows-1252 with a warning).
"""

from __future__ import annotations

import codecs
import csv
import io

from promptlib.errors import FormatError
from promptlib.packs.formats._common import (
    StyleCollector,
    cap_warnings,
    check_rows,
    decode_text,
    label,
    sniff_text,
    warning,
)
from promptlib.packs.schema import PackFile

HEADER = ("name", "prompt", "negative_prompt")
_PROMPT_COLUMNS = ("prompt", "text", "positive_prompt")  # A1111, A1111 before 2023, InvokeAI's import
_NEGATIVE_COLUMNS = ("negative_prompt", "negative")
_NEEDS_QUOTES = frozenset(',"\r\n')


def _header_columns(row: list[str]) -> list[str]:
    return [cell.strip().lstrip("\ufeff").strip().lower() for cell in row]


def _columns(header: list[str]) -> tuple[int, int, int | None] | None:
    """Indexes of the name, prompt and negative prompt columns, or None when this is not a styles header."""
    if "name" not in header:
        return None
    prompt = next((header.index(c) for c in _PROMPT_COLUMNS if c in header), None)
    if prompt is None:
        return None
    negative = next((header.index(c) for c in _NEGATIVE_COLUMNS if c in header), None)
    return header.index("name"), prompt, negative


def detect(data: bytes) -> bool:
    """True when the first non-blank line of `data` is a styles.csv header (``name`` plus a prompt column)."""
    text = sniff_text(data)
    if text is None:
        return False
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        row = next(csv.reader([first], skipinitialspace=True), [])
    except csv.Error:
        return False
    return len(row) >= 2 and _columns(_header_columns(row)) is not None


def read_with_warnings(data: bytes, *, source: str) -> tuple[PackFile, list[str]]:
    """Read a styles.csv into `PackFile.styles`, with one warning per skipped or renamed row.

    Raises UnsafeInputError when `data` is over the size or row limit and FormatError when there is no header with a
    ``name`` and a ``prompt`` (or ``text``) column. Bad rows never raise: they are skipped with a warning.
    """
    warnings: list[str] = []
    text = decode_text(data, source=source, warnings=warnings)
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    collector = StyleCollector(source=source, warnings=warnings)
    columns: tuple[int, int, int | None] | None = None
    previous_line = rows = last_row = 0
    while True:
        start = previous_line + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            previous_line = reader.line_num
            warnings.append(warning(f"unreadable CSV ({exc}); skipped", source=source, where=f"line {start}"))
            continue
        previous_line = reader.line_num
        last_row = start
        if not any(cell.strip() for cell in row):
            continue  # a blank line, or a row of empty fields
        if columns is None:
            columns = _columns(_header_columns(row))
            if columns is None:
                found = ",".join(label(cell, 20) for cell in row[:6])
                raise FormatError(
                    f"{source}: line {start}: not an A1111 styles.csv header: need 'name' and 'prompt' columns,"
                    f" found {found}"
                )
            continue
        rows += 1
        check_rows(rows, source=source)
        name_at, prompt_at, negative_at = columns
        name = row[name_at] if name_at < len(row) else ""
        if name.startswith("#"):
            continue  # A1111 skips these: they divide the list in its UI
        collector.add(
            where=f"line {start}",
            name=name,
            prompt=row[prompt_at] if prompt_at < len(row) else "",
            negative_prompt=row[negative_at] if negative_at is not None and negative_at < len(row) else "",
        )
    if columns is None:
        raise FormatError(
            f"{source}: empty file: an A1111 styles.csv starts with the header name,prompt,negative_prompt"
        )
    if text.count('"') % 2:  # read like A1111 does, but say so: the last quoted field ran to the end of the file
        warnings.append(
            warning(
                "a quote is never closed: its field runs to the end of the file",
                source=source,
                where=f"line {last_row}",
            )
        )
    return PackFile(styles=collector.styles), cap_warnings(warnings, source=source)


def read(data: bytes, *, source: str) -> PackFile:
    """`read_with_warnings` without the warnings; raises what it raises."""
    return read_with_warnings(data, source=source)[0]


def _field(value: str) -> str:
    # Python's QUOTE_MINIMAL rule, plus a leading space: A1111 reads with skipinitialspace=True, which would
    # otherwise drop it.
    if value.startswith(" ") or not _NEEDS_QUOTES.isdisjoint(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def write(pack: PackFile) -> bytes:
    """The styles of `pack` as A1111 writes styles.csv: UTF-8 with BOM, header, CRLF records, minimal quoting.

    Entries are not written (the format only holds styles). Names starting with ``#`` are written but A1111 treats
    them as dividers. Never raises.
    """
    lines = [",".join(HEADER)]
    lines.extend(",".join(_field(v) for v in (s.name, s.prompt, s.negative_prompt)) for s in pack.styles)
    return codecs.BOM_UTF8 + ("\r\n".join(lines) + "\r\n").encode("utf-8")
