"""Plain value objects the `Library` returns: entries, renders, styles, search hits, import reports.

They are dataclasses built from SQL rows (no ORM), so reading the library stays fast and import-light, and
`to_json()` gives the stable shapes the CLI's ``--json`` prints (docs/JSON.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptlib.recipe import PARAM_FIELDS


def iso_time(value: str | None) -> str | None:
    """SQLite's stored UTC text → ISO 8601 with a Z."""
    if not value:
        return None
    return value.replace(" ", "T").split(".")[0] + "Z"


@dataclass(frozen=True)
class RenderInfo:
    id: int
    prompt_id: int
    image_sha256: str
    image_path: str
    linked: bool
    width: int
    height: int
    file_size: int
    format: str
    kind: str
    recipe: dict[str, Any]
    environment: dict[str, Any]
    timings: dict[str, Any]
    created_at: str | None

    def to_json(self, *, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """The render as every command prints it. With `root` (the library folder, as the CLI passes it)
        ``image_path`` is absolute; without it, as stored: relative to the library unless ``linked``."""
        return {
            "id": self.id,
            "prompt_id": self.prompt_id,
            "image_sha256": self.image_sha256,
            "image_path": self.image_path if root is None or self.linked else str(Path(root) / self.image_path),
            "linked": self.linked,
            "width": self.width,
            "height": self.height,
            "file_size": self.file_size,
            "format": self.format,
            "kind": self.kind,
            "recipe": self.recipe,
            "environment": self.environment,
            "timings": self.timings,
            "created_at": iso_time(self.created_at),
        }


@dataclass(frozen=True)
class Entry:
    """A prompt with everything attached to it."""

    id: int
    title: str
    prompt: str
    negative_prompt: str
    notes: str
    rating: int | None
    favourite: bool
    tags: tuple[str, ...]
    params: dict[str, Any]
    source: dict[str, Any]
    pack: str | None
    created_at: str | None
    updated_at: str | None
    renders: tuple[RenderInfo, ...] = ()
    collections: tuple[str, ...] = ()

    def to_json(self, *, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """The entry as the CLI prints it; `root` as for `RenderInfo.to_json`."""
        return {
            "id": self.id,
            "title": self.title,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "notes": self.notes,
            "tags": list(self.tags),
            "rating": self.rating,
            "favourite": self.favourite,
            "params": {name: self.params.get(name) for name in PARAM_FIELDS} | {"extra": self.params.get("extra", {})},
            "source": {"pack": self.pack, **self.source},
            "collections": list(self.collections),
            "renders": [r.to_json(root=root) for r in self.renders],
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
        }


@dataclass(frozen=True)
class SearchHit:
    """An entry a search found: its score, each source's score, and the render whose image matched (None when
    only the words matched)."""

    entry: Entry
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    render_id: int | None = None

    def to_json(self, *, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """The entry's JSON with ``score``, ``scores`` and ``render_id``, whichever mode ranked it."""
        return self.entry.to_json(root=root) | {"score": self.score, "scores": self.scores, "render_id": self.render_id}


@dataclass(frozen=True)
class StyleInfo:
    id: int
    name: str
    prompt: str
    negative_prompt: str
    notes: str
    tags: tuple[str, ...]
    pack: str | None

    def apply(self, prompt: str, negative_prompt: str = "") -> tuple[str, str]:
        """Put `prompt` into the template (A1111 rules: replace ``{prompt}``, else append after a comma)."""
        return _merge(self.prompt, prompt), _merge(self.negative_prompt, negative_prompt)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "notes": self.notes,
            "tags": list(self.tags),
            "pack": self.pack,
        }


def _merge(template: str, text: str) -> str:
    if "{prompt}" in template:
        return template.replace("{prompt}", text)
    if not template:
        return text
    if not text:
        return template
    return f"{text}, {template}"


@dataclass
class ImportReport:
    """What an import did: counts, and one line per problem (the rest of the work is still done)."""

    added: int = 0
    skipped: int = 0  # already in the library
    styles_added: int = 0
    styles_skipped: int = 0
    images_added: int = 0
    errors: list[str] = field(default_factory=list)
    pack: str | None = None
    format: str | None = None
    ids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Under the names ``promptlib import --json`` gives the same counts (`ImportSummary`)."""
        return {
            "pack": self.pack,
            "format": self.format,
            "imported": self.added,
            "duplicates": self.skipped,
            "styles_imported": self.styles_added,
            "styles_duplicates": self.styles_skipped,
            "images_imported": self.images_added,
            "warnings": self.errors,
        }
