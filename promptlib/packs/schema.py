"""The native pack format, version 1 — the schema is these pydantic models.

A pack is a folder (or a ``.zip`` of one) holding ``pack.json``, the manifest, plus any entry files it lists in
``files``. Entries and styles may also sit inline in the manifest. ``promptlib pack schema`` prints the JSON Schema;
docs/pack-format.md describes it for people.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from promptlib.limits import MAX_PROMPT_CHARS, MAX_TAG_CHARS, MAX_TAGS_PER_ENTRY, MAX_TITLE_CHARS
from promptlib.recipe import GenerationParams

SCHEMA_ID = "promptlib-pack/1"
MANIFEST_NAME = "pack.json"


# A tag: 1-100 characters with something other than spaces (checked in pydantic-core, no Python per tag).
Tag = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_CHARS, pattern=r"\S")]
CollectionName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE_CHARS, pattern=r"\S")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PackParams(GenerationParams):
    """Recommended generation parameters; the fields are the recipe's (`promptlib.recipe.GenerationParams`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PackImage(_Strict):
    """An image shipped inside the pack, addressed by its path in the pack and checked against its sha256."""

    path: str = Field(max_length=1_000)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    width: int | None = None
    height: int | None = None
    params: PackParams | None = None


class PackEntry(_Strict):
    """One prompt with its negative prompt, tags and recommended parameters."""

    title: str | None = Field(default=None, max_length=MAX_TITLE_CHARS)
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    negative_prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS_PER_ENTRY)
    params: PackParams = Field(default_factory=PackParams)
    notes: str = ""
    rating: int | None = Field(default=None, ge=0, le=5)
    favourite: bool = False
    images: list[PackImage] = Field(default_factory=list)
    collections: list[CollectionName] = Field(default_factory=list, max_length=MAX_TAGS_PER_ENTRY)


class PackStyle(_Strict):
    """A style template: `prompt` holds ``{prompt}`` where the user's prompt goes (appended when absent)."""

    name: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    negative_prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS_PER_ENTRY)
    notes: str = ""


class PackFile(_Strict):
    """An entry file listed by the manifest."""

    entries: list[PackEntry] = Field(default_factory=list)
    styles: list[PackStyle] = Field(default_factory=list)


class PackManifest(_Strict):
    """``pack.json``: who made the pack, under which licence, and where its entries are."""

    schema_id: Literal["promptlib-pack/1"] = Field(default="promptlib-pack/1", alias="schema")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f/\\]+$")
    version: str = Field(default="1.0.0", max_length=50)
    author: str | None = Field(default=None, max_length=500)
    license: str | None = Field(default=None, max_length=200)
    description: str = Field(default="", max_length=10_000)
    homepage: str | None = Field(default=None, max_length=2_000)
    created: datetime | None = None
    files: list[str] = Field(default_factory=list)
    entries: list[PackEntry] = Field(default_factory=list)
    styles: list[PackStyle] = Field(default_factory=list)
