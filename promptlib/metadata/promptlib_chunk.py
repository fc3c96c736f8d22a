"""promptlib's own ``promptlib`` chunk (written by `metadata.writer`): the exact recipe, read before the infotext."""

from __future__ import annotations

from promptlib.metadata.chunks import ImageChunks
from promptlib.metadata.writer import RECIPE_CHUNK_KEY, read_embedded_recipe
from promptlib.recipe import Recipe


def read(chunks: ImageChunks) -> list[Recipe]:
    """The embedded recipe, or nothing; raises FormatError when the chunk is there but invalid."""
    text = chunks.text.get(RECIPE_CHUNK_KEY)
    if text is None:
        return []
    recipe = read_embedded_recipe(text)
    return [recipe.model_copy(update={"generator": "promptlib", "raw": chunks.text.get("parameters", text)})]
