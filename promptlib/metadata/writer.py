"""Writing generation metadata into PNGs promptlib produces.

Each render carries two text chunks: ``parameters`` with A1111 infotext (so A1111's PNG Info, Civitai and the
common parsers read it) and ``promptlib`` with the full recipe as JSON (lossless, read back first by promptlib).
The chunks are spliced in after IHDR: the pixel data is not re-encoded.
"""

from __future__ import annotations

import json
import struct
import zlib

from promptlib.errors import FormatError
from promptlib.metadata.a1111 import format_infotext
from promptlib.recipe import Recipe

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RECIPE_CHUNK_KEY = "promptlib"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _itxt(key: str, text: str) -> bytes:
    # iTXt: keyword, NUL, compression flag 0, method 0, empty language tag NUL, empty translated keyword NUL, UTF-8.
    return _chunk(b"iTXt", key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))


def _text_chunks(png: bytes) -> set[str]:
    keys: set[str] = set()
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        if kind in (b"tEXt", b"iTXt", b"zTXt"):
            keys.add(png[pos + 8 : pos + 8 + min(length, 80)].split(b"\x00", 1)[0].decode("latin-1"))
        if kind == b"IEND":
            break
        pos += 12 + length
    return keys


def embed_recipe(png: bytes, recipe: Recipe) -> bytes:
    """`png` with ``parameters`` (A1111 infotext) and ``promptlib`` (recipe JSON) text chunks added.

    Raises FormatError when `png` is not a PNG or already carries either chunk.
    """
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise FormatError("not a PNG: cannot embed generation metadata")
    present = _text_chunks(png) & {"parameters", RECIPE_CHUNK_KEY}
    if present:
        raise FormatError(f"the PNG already has a {sorted(present)[0]!r} chunk")
    ihdr_end = len(PNG_SIGNATURE) + 12 + struct.unpack(">I", png[8:12])[0]
    payload = json.dumps(recipe.model_dump(mode="json", exclude={"raw"}), ensure_ascii=False, sort_keys=True)
    chunks = _itxt("parameters", format_infotext(recipe)) + _itxt(RECIPE_CHUNK_KEY, payload)
    return png[:ihdr_end] + chunks + png[ihdr_end:]


def read_embedded_recipe(text: str) -> Recipe:
    """The recipe from a ``promptlib`` chunk's text; raises FormatError when it is not one."""
    from pydantic import ValidationError

    try:
        return Recipe.model_validate_json(text)
    except ValidationError as exc:
        raise FormatError(f"promptlib recipe chunk is invalid: {exc.errors()[0]['msg']}") from exc
