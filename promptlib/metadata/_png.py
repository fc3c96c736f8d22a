"""Decode just the first pixels of a PNG: enough to look for a stealth-pnginfo signature without a full decode."""

from __future__ import annotations

import zlib
from typing import IO

_BLOCK = 1 << 16


def first_pixels(
    stream: IO[bytes], idat: list[tuple[int, int]], *, width: int, height: int, channels: int, count: int
) -> bytes | None:
    """The first `count` pixels in column-major order (x outer, y inner) of an 8-bit non-interlaced PNG.

    Only the rows that hold them are inflated and only their leading bytes unfiltered. `idat` lists the
    (offset, length) of the IDAT chunks. Returns None on corrupt data.
    """
    rows = min(height, count)
    columns = -(-count // rows)
    if columns > width:
        return None
    stride = width * channels
    needed = rows * (stride + 1)
    raw = _inflate_prefix(stream, idat, needed=needed)
    if raw is None:
        return None
    prefix = columns * channels
    previous = bytearray(prefix)
    lines: list[bytearray] = []
    for row in range(rows):
        start = row * (stride + 1)
        current = _unfilter(raw[start], raw[start + 1 : start + 1 + prefix], previous=previous, bpp=channels)
        if current is None:
            return None
        lines.append(current)
        previous = current
    out = bytearray()
    for x in range(columns):
        for line in lines:
            out += line[x * channels : (x + 1) * channels]
    return bytes(out[: count * channels])


def _inflate_prefix(stream: IO[bytes], idat: list[tuple[int, int]], *, needed: int) -> bytes | None:
    inflater = zlib.decompressobj()
    out = bytearray()
    try:
        for offset, length in idat:
            stream.seek(offset)
            left = length
            while left > 0 and len(out) < needed:
                block = stream.read(min(left, _BLOCK))
                if not block:
                    return None
                left -= len(block)
                out += inflater.decompress(block, needed - len(out))
            if len(out) >= needed:
                return bytes(out)
    except zlib.error:
        return None
    return None


def _unfilter(kind: int, line: bytes, *, previous: bytearray, bpp: int) -> bytearray | None:
    """Undo one row's PNG filter for its leading bytes (each depends only on bytes to its left and above)."""
    current = bytearray(len(line))
    for index, value in enumerate(line):
        left = current[index - bpp] if index >= bpp else 0
        up = previous[index]
        if kind == 0:
            result = value
        elif kind == 1:
            result = value + left
        elif kind == 2:
            result = value + up
        elif kind == 3:
            result = value + (left + up) // 2
        elif kind == 4:
            corner = previous[index - bpp] if index >= bpp else 0
            result = value + _paeth(left, up, corner=corner)
        else:
            return None
        current[index] = result & 0xFF
    return current


def _paeth(left: int, up: int, *, corner: int) -> int:
    estimate = left + up - corner
    to_left, to_up, to_corner = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
    if to_left <= to_up and to_left <= to_corner:
        return left
    return up if to_up <= to_corner else corner
