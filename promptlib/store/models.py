"""SQLModel tables: the schema of ``library.db``.

These models are the single definition of the schema: Alembic migrations are checked against them (a test proves
there is no autogenerate diff) and single-entry writes go through them. Hot read paths (search, list, show) use
plain SQL over the same tables, so a CLI search never pays SQLAlchemy's import cost.

Tables whose ids users see — in CLI output and --json, the FAISS index, exported packs, undo snapshots — are
AUTOINCREMENT: plain SQLite hands the largest id out again once its row is deleted, so `rm 42` then `add` would make
a new entry 42. (Migration 0004 rebuilt them so; `tags` keeps plain rowids, its ids never leave the database.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, LargeBinary, MetaData, String, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from promptlib.store import seed_column

# Alembic's batch mode needs named constraints to alter them on SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _fk(target: str, *, ondelete: str, nullable: bool = True, index: bool = True) -> Any:
    return Field(
        default=None,
        sa_column=Column(Integer, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index),
    )


class Pack(SQLModel, table=True):
    """A named, versioned collection of prompts and styles that came from one place."""

    __tablename__ = "packs"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused: see the module docstring

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    version: str = ""
    author: str | None = None
    license: str | None = None
    description: str = ""
    homepage: str | None = None
    source: str | None = None
    created: datetime | None = None
    imported_at: datetime = Field(default_factory=utcnow)


class Prompt(SQLModel, table=True):
    """A prompt entry: the text a user keeps, with its negative prompt, notes, rating and favourite flag."""

    __tablename__ = "prompts"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR (rating BETWEEN 0 AND 5)", name="rating_range"),
        # Partial indexes: few entries are rated or favourites, and imports should not pay for the rest.
        Index("ix_prompts_rating", "rating", sqlite_where=text("rating IS NOT NULL")),
        Index("ix_prompts_favourite", "favourite", sqlite_where=text("favourite = 1")),
        {"sqlite_autoincrement": True},  # ids are never reused: see the module docstring
    )

    id: int | None = Field(default=None, primary_key=True)
    title: str = ""
    prompt: str
    negative_prompt: str = ""
    notes: str = ""
    rating: int | None = None
    favourite: bool = False
    pack_id: int | None = _fk("packs.id", ondelete="SET NULL")
    # Where the entry came from: {"format": "a1111-styles", "path": "...", "generator": "comfyui", ...}
    source: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Tag names joined by ", ", kept in step by the store so FTS5 can index tags with the text.
    tag_text: str = ""
    # sha256 of prompt + negative + params: importing the same entry twice adds nothing.
    fingerprint: str = Field(default="", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SeedInteger(TypeDecorator[int]):
    """The seed column's INTEGER, with seeds past SQLite's integers stored negative (`promptlib.store.seed_column`)."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Any) -> int | None:
        return seed_column.to_sql(value)

    def process_result_value(self, value: int | None, dialect: Any) -> int | None:
        return seed_column.from_sql(value)


class RecipeRow(SQLModel, table=True):
    """The recommended generation parameters of a prompt: typed columns for what everyone filters on."""

    __tablename__ = "recipes"

    prompt_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True),
    )
    # Only the seed is indexed: model and sampler filters are substring / case-insensitive matches and steps has a
    # handful of values, so an index would not be used but would slow every import.
    model: str | None = None
    model_hash: str | None = None
    vae: str | None = None
    sampler: str | None = None
    schedule: str | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    seed: int | None = Field(default=None, index=True, sa_type=SeedInteger)
    width: int | None = None
    height: int | None = None
    clip_skip: int | None = None
    loras: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Style(SQLModel, table=True):
    """A style template: ``{prompt}`` in `prompt` marks where the user's prompt goes."""

    __tablename__ = "styles"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused: see the module docstring

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    prompt: str = ""
    negative_prompt: str = ""
    notes: str = ""
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    pack_id: int | None = _fk("packs.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Render(SQLModel, table=True):
    """An image of a prompt — rendered here or imported — with the exact recipe and where it was made."""

    __tablename__ = "renders"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused: see the module docstring

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int | None = _fk("prompts.id", ondelete="CASCADE", nullable=False)
    image_sha256: str = Field(index=True)
    # Relative to the library folder for stored images; absolute when imported with --link.
    image_path: str
    linked: bool = False
    width: int
    height: int
    file_size: int
    format: str = "PNG"
    kind: str = "render"  # "render" (made here) or "import"
    recipe: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    environment: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    timings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    # A grid cell: the grid it belongs to and its position on the axes ([x, y, z] indexes).
    grid_id: int | None = _fk("grids.id", ondelete="SET NULL")
    grid_cell: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class Grid(SQLModel, table=True):
    """An X/Y/Z comparison grid over recipe fields of one entry: its axes, and the composed, labelled image."""

    __tablename__ = "grids"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused: see the module docstring

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int | None = _fk("prompts.id", ondelete="CASCADE", nullable=False)
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    image_sha256: str | None = None
    image_path: str | None = None
    width: int = 0
    height: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class RenderEmbedding(SQLModel, table=True):
    """An image embedding of a render under one model: float32, L2-normalised, little-endian bytes.

    The FAISS index is rebuilt from these rows; `library_meta['generation:render_embeddings']` counts changes."""

    __tablename__ = "render_embeddings"

    render_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("renders.id", ondelete="CASCADE"), primary_key=True),
    )
    model: str = Field(sa_column=Column(String, primary_key=True))
    dim: int
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class PromptEmbedding(SQLModel, table=True):
    """A text embedding of a prompt under one model (same encoding as RenderEmbedding)."""

    __tablename__ = "prompt_embeddings"

    prompt_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True),
    )
    model: str = Field(sa_column=Column(String, primary_key=True))
    dim: int
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Tag(SQLModel, table=True):
    """A tag name, stored lowercased with single spaces."""

    __tablename__ = "tags"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)


class PromptTag(SQLModel, table=True):
    """Which prompt carries which tag."""

    __tablename__ = "prompt_tags"
    __table_args__ = {"sqlite_with_rowid": False}

    prompt_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True),
    )
    tag_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
    )


class Collection(SQLModel, table=True):
    """A user's named, ordered selection of prompts."""

    __tablename__ = "collections"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused: see the module docstring

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    description: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class CollectionItem(SQLModel, table=True):
    """A prompt's place in a collection."""

    __tablename__ = "collection_items"

    collection_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True),
    )
    prompt_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True, index=True),
    )
    position: int = 0
    added_at: datetime = Field(default_factory=utcnow)


class LibraryMeta(SQLModel, table=True):
    """Facts about the library itself: its id (so a FAISS index or backup can tell whose it is), creation time."""

    __tablename__ = "library_meta"

    key: str = Field(primary_key=True)
    value: str
