"""Shared helpers for the metadata tests: the real sample folder, and builders for synthetic image files."""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "metadata" / "sd-parsers"


@pytest.fixture
def samples() -> Path:
    """The sd-parsers sample folder; tests using it skip when it is not checked out next to the repo."""
    if not SAMPLES.is_dir():
        pytest.skip(f"sample images not found at {SAMPLES}")
    return SAMPLES


def chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def text_chunk(key: str, value: str) -> bytes:
    return chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))


def ztxt_chunk(key: str, value: str) -> bytes:
    return chunk(b"zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(value.encode("latin-1")))


def itxt_chunk(key: str, value: str, *, compressed: bool = False) -> bytes:
    data = zlib.compress(value.encode()) if compressed else value.encode()
    return chunk(b"iTXt", key.encode("latin-1") + b"\0" + bytes([int(compressed), 0]) + b"en\0\0" + data)


def build_png(
    width: int = 1,
    height: int = 1,
    *,
    before: tuple[bytes, ...] = (),
    after: tuple[bytes, ...] = (),
    color_type: int = 2,
    pixels: bytes | None = None,
    end: bool = True,
    filters: bool = False,
) -> bytes:
    """A PNG built chunk by chunk: 8-bit `color_type`, `before`/`after` chunks around IDAT.

    `pixels` are raw rows without filter bytes; by default all zero (not computed for huge sizes: the IDAT is
    then a tiny stand-in, which is fine because metadata reading never decodes it).
    """
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    if pixels is None and width * height <= 4096 * 4096:
        pixels = bytes(width * height * channels)
    if pixels is not None:
        stride = width * channels
        rows = [pixels[row * stride : (row + 1) * stride] for row in range(height)]
        raw = b"".join(_filtered(rows, channels) if filters else (b"\0" + row for row in rows))
    else:
        raw = b"\0" * 16
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + b"".join(before)
    data += chunk(b"IDAT", zlib.compress(raw)) + b"".join(after)
    return data + (chunk(b"IEND", b"") if end else b"")


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filtered(rows: list[bytes], bpp: int) -> list[bytes]:
    """Rows encoded with PNG filter types 0-4 in turn (row i uses type i % 5)."""
    out = []
    previous = bytes(len(rows[0])) if rows else b""
    for index, row in enumerate(rows):
        kind = index % 5
        line = bytearray([kind])
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            predictor = [0, a, b, (a + b) // 2, _paeth(a, b, c)][kind]
            line.append((x - predictor) & 0xFF)
        out.append(bytes(line))
        previous = row
    return out


def stealth_pixels(text: str, width: int, height: int, *, compressed: bool, rgb: bool = False) -> bytes:
    """Raw RGBA (or RGB) rows hiding `text` in LSBs the way the stealth-pnginfo extension writes them."""
    mode = "rgb" if rgb else "png"
    signature = f"stealth_{mode}{'comp' if compressed else 'info'}".encode()
    payload = gzip.compress(text.encode()) if compressed else text.encode()
    bits = "".join(f"{byte:08b}" for byte in signature)
    bits += f"{len(payload) * 8:032b}" + "".join(f"{byte:08b}" for byte in payload)
    channels = 3 if rgb else 4
    capacity = width * height * (3 if rgb else 1)
    assert len(bits) <= capacity, "image too small for the payload"
    pixels = bytearray([200] * (width * height * channels))
    if not rgb:
        for index in range(width * height):
            pixels[index * 4 + 3] = 254  # alpha LSB 0 unless written below
    for index, bit in enumerate(bits):
        if rgb:
            pixel, channel = divmod(index, 3)
        else:
            pixel, channel = index, 3
        x, y = divmod(pixel, height)  # column-major, as the extension walks x then y
        offset = (y * width + x) * channels + channel
        pixels[offset] = (pixels[offset] & 0xFE) | int(bit)
    return bytes(pixels)


def jpeg_with_exif(exif_setter: dict[int, object], *, ifd0: dict[int, object] | None = None) -> bytes:
    """A 1x1 JPEG whose Exif IFD holds `exif_setter` tags (and IFD0 holds `ifd0`)."""
    from PIL import Image

    image = Image.new("RGB", (1, 1))
    exif = Image.Exif()
    for tag, value in (ifd0 or {}).items():
        exif[tag] = value
    sub = exif.get_ifd(0x8769)
    for tag, value in exif_setter.items():
        sub[tag] = value
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def webp(
    pixels: bytes, width: int, height: int, *, mode: str = "RGBA", lossless: bool = True, exif: bytes | None = None
) -> bytes:
    """A still WebP of raw `mode` pixels: lossless (VP8L) or lossy (VP8, plus ALPH for RGBA) at quality 100."""
    from PIL import Image

    image = Image.frombytes(mode, (width, height), pixels)
    out = io.BytesIO()
    extra = {"exif": exif} if exif is not None else {}
    image.save(out, "WEBP", lossless=lossless, quality=100, exact=True, **extra)
    return out.getvalue()


class ImageFactory:
    """The builders above, handed to tests as one session fixture (tests do not import conftest)."""

    chunk = staticmethod(chunk)
    text_chunk = staticmethod(text_chunk)
    ztxt_chunk = staticmethod(ztxt_chunk)
    itxt_chunk = staticmethod(itxt_chunk)
    build_png = staticmethod(build_png)
    stealth_pixels = staticmethod(stealth_pixels)
    jpeg_with_exif = staticmethod(jpeg_with_exif)
    webp = staticmethod(webp)

    @staticmethod
    def png_with_text(**chunks: str) -> bytes:
        """A 1x1 PNG with one tEXt (or iTXt for non-latin-1 text) chunk per keyword argument."""
        items = []
        for key, value in chunks.items():
            try:
                value.encode("latin-1")
                items.append(text_chunk(key, value))
            except UnicodeEncodeError:
                items.append(itxt_chunk(key, value))
        return build_png(before=tuple(items))


@pytest.fixture(scope="session")
def img() -> ImageFactory:
    return ImageFactory()
