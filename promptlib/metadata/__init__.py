"""Generation metadata in images: which tool wrote an image and the recipes it records.

`read_image` reads the file's metadata carriers safely (see `chunks`) and tries each generator's reader in an
order decided by content, never by file extension: explicit markers (InvokeAI chunks, SwarmUI/Fooocus JSON,
NovelAI) first, then A1111 infotext, ComfyUI graphs, Easy Diffusion fields and Draw Things XMP.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from promptlib.errors import FormatError
from promptlib.metadata.chunks import ImageChunks, read_chunks
from promptlib.recipe import Recipe

# Detection order: readers that key on their own markers come before the shared "parameters"/"prompt" chunks.
READERS: tuple[str, ...] = (
    "promptlib_chunk",
    "invokeai",
    "swarmui",
    "fooocus",
    "novelai",
    "a1111",
    "comfyui",
    "easydiffusion",
    "drawthings",
)


@dataclass(frozen=True)
class ImageMetadata:
    """An image's metadata carriers, the recipes found in them and the generator that wrote them."""

    chunks: ImageChunks
    recipes: list[Recipe]
    generator: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def format(self) -> str:
        """The image format (``"PNG"``, ``"JPEG"``, ``"WEBP"``, ...)."""
        return self.chunks.format

    @property
    def width(self) -> int:
        """The image width in pixels, from its header."""
        return self.chunks.width

    @property
    def height(self) -> int:
        """The image height in pixels, from its header."""
        return self.chunks.height


def read_image(
    source: str | os.PathLike[str] | bytes, *, name: str | None = None, stealth: bool = True
) -> ImageMetadata:
    """Read an image (path or bytes) and the generation recipes it carries.

    Images without generation metadata give an empty `recipes` list. Raises FormatError for unreadable,
    truncated or non-image input and for metadata that claims a format but cannot be read; UnsafeInputError
    for input over the limits in `promptlib.limits`. Messages name the file (`name`, else the path).
    """
    return read_metadata(read_chunks(source, name=name, stealth=stealth))


def read_metadata(chunks: ImageChunks) -> ImageMetadata:
    """Run the readers over already-read chunks; the first one that finds recipes wins.

    A reader that recognises its format but fails is noted in `warnings`; if no reader succeeds, its
    FormatError is raised with the file name.
    """
    notes = list(chunks.warnings)
    error: FormatError | None = None
    for name in READERS:
        try:
            recipes = reader(name)(chunks)
        except FormatError as exc:
            error = error or exc
            notes.append(f"{name}: {exc}")
            continue
        if recipes:
            return ImageMetadata(chunks, recipes, recipes[0].generator, tuple(notes))
    if error is not None:
        raise FormatError(f"{chunks.name}: {error}") from error
    return ImageMetadata(chunks, [], None, tuple(notes))


def reader(name: str) -> Callable[[ImageChunks], list[Recipe]]:
    """The ``read(chunks)`` function of one generator module, imported on first use."""
    module = importlib.import_module(f"{__name__}.{name}")
    read: Callable[[ImageChunks], list[Recipe]] = module.read
    return read


__all__ = ["READERS", "ImageChunks", "ImageMetadata", "read_chunks", "read_image", "read_metadata", "reader"]
