"""Probing untrusted image bytes safely: format allow-list, size and pixel limits, no full decode."""

from __future__ import annotations

import io
from dataclasses import dataclass

from promptlib.errors import UnsafeInputError, ValidationError
from promptlib.limits import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS

FORMATS = {
    "PNG": "png",
    "JPEG": "jpg",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tiff",
    "AVIF": "avif",
}


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: PNG, JPEG, WEBP, ...
    width: int
    height: int

    @property
    def extension(self) -> str:
        return FORMATS[self.format]


def probe_image(data: bytes, *, name: str = "image") -> ImageInfo:
    """Format and size of an image from its header; raises ValidationError / UnsafeInputError for bad input."""
    if len(data) > MAX_IMAGE_BYTES:
        raise UnsafeInputError(f"{name} is {len(data):,} bytes; the limit is {MAX_IMAGE_BYTES:,}")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
            width, height = image.size
            fmt = image.format or ""
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ValidationError(f"{name} is not a readable image ({type(exc).__name__})") from exc
    except Image.DecompressionBombError as exc:
        raise UnsafeInputError(f"{name}: {exc}") from exc
    if fmt not in FORMATS:
        raise ValidationError(f"{name}: image format {fmt or 'unknown'} is not allowed")
    if width * height > MAX_IMAGE_PIXELS or width <= 0 or height <= 0:
        raise UnsafeInputError(f"{name} claims {width}x{height} pixels; the limit is {MAX_IMAGE_PIXELS:,}")
    return ImageInfo(fmt, width, height)
