"""Ids users see are never reused: packs, prompts, styles, collections, grids and renders get AUTOINCREMENT.

Without it SQLite hands the largest id out again once its row is deleted: `rm 42` then `add` made a new entry 42,
and every note, script, FAISS index, embedding and exported pack that named 42 pointed at something else.

SQLite cannot add AUTOINCREMENT to a table, so each one is rebuilt the way SQLite documents it: create the new
table, copy every row with one INSERT … SELECT (ids kept), drop the old table, rename the new one into its place,
then re-create the old table's indexes and triggers from their own SQL (the FTS sync triggers die with `prompts`;
the FTS index itself keeps its content, since the rowids do not change). Foreign keys must not be enforced meanwhile
(dropping `prompts` would cascade-delete every render, tag and recipe): promptlib's runner turns them off before
the transaction; this script refuses to run otherwise, and fails (rolling everything back) if the rebuild leaves a
reference broken that was not broken before.

sqlite_sequence is seeded with each table's largest id, so ids only go up from here. An id deleted *before* this
upgrade while it was the largest cannot be known and may be given out once more. (`tags` keeps plain rowids: tag
ids are internal, and undo snapshots hold tag names.)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT = AutoString
_TIME = UTCDateTime


# Frozen copies of the tables as of this revision. Names go through op.f: the naming convention would otherwise
# name the CHECK constraint after the temporary table.
def _packs() -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _TEXT(), nullable=False),
        sa.Column("version", _TEXT(), nullable=False),
        sa.Column("author", _TEXT(), nullable=True),
        sa.Column("license", _TEXT(), nullable=True),
        sa.Column("description", _TEXT(), nullable=False),
        sa.Column("homepage", _TEXT(), nullable=True),
        sa.Column("source", _TEXT(), nullable=True),
        sa.Column("created", _TIME(), nullable=True),
        sa.Column("imported_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packs")),
        sa.UniqueConstraint("name", name=op.f("uq_packs_name")),
    ]


def _prompts() -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", _TEXT(), nullable=False),
        sa.Column("prompt", _TEXT(), nullable=False),
        sa.Column("negative_prompt", _TEXT(), nullable=False),
        sa.Column("notes", _TEXT(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("favourite", sa.Boolean(), nullable=False),
        sa.Column("pack_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("tag_text", _TEXT(), nullable=False),
        sa.Column("fingerprint", _TEXT(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("updated_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.CheckConstraint("rating IS NULL OR (rating BETWEEN 0 AND 5)", name=op.f("ck_prompts_rating_range")),
        sa.ForeignKeyConstraint(["pack_id"], ["packs.id"], name=op.f("fk_prompts_pack_id_packs"), ondelete="SET NULL"),
    ]


def _styles() -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _TEXT(), nullable=False),
        sa.Column("prompt", _TEXT(), nullable=False),
        sa.Column("negative_prompt", _TEXT(), nullable=False),
        sa.Column("notes", _TEXT(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("pack_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("updated_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_styles")),
        sa.ForeignKeyConstraint(["pack_id"], ["packs.id"], name=op.f("fk_styles_pack_id_packs"), ondelete="SET NULL"),
        sa.UniqueConstraint("name", name=op.f("uq_styles_name")),
    ]


def _collections() -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _TEXT(), nullable=False),
        sa.Column("description", _TEXT(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint("name", name=op.f("uq_collections_name")),
    ]


def _grids() -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("image_sha256", _TEXT(), nullable=True),
        sa.Column("image_path", _TEXT(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_grids_prompt_id_prompts"), ondelete="CASCADE"
        ),
    ]


def _renders() -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("image_sha256", _TEXT(), nullable=False),
        sa.Column("image_path", _TEXT(), nullable=False),
        sa.Column("linked", sa.Boolean(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("format", _TEXT(), nullable=False),
        sa.Column("kind", _TEXT(), nullable=False),
        sa.Column("recipe", sa.JSON(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("grid_cell", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renders")),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_renders_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], name=op.f("fk_renders_grid_id_grids"), ondelete="SET NULL"),
    ]


_TABLES: dict[str, Callable[[], list[Any]]] = {
    "packs": _packs,
    "prompts": _prompts,
    "styles": _styles,
    "collections": _collections,
    "grids": _grids,
    "renders": _renders,
}


def _rebuild(table: str, *, autoincrement: bool) -> None:
    """Re-create `table` with or without AUTOINCREMENT, keeping its rows (ids included), indexes and triggers."""
    conn = op.get_bind()
    definition = _TABLES[table]()
    columns = [item.name for item in definition if isinstance(item, sa.Column)]
    present = [row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table})")]
    if sorted(present) != sorted(columns):
        raise RuntimeError(f"table {table} has columns {present}, not the {columns} this migration rebuilds")
    # Indexes and triggers of the old table go with it: keep their SQL to re-create them as they were.
    dependents = [
        row[0]
        for row in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL"
            " ORDER BY rowid",
            (table,),
        )
    ]
    new = f"_stable_ids_{table}"
    op.create_table(new, *definition, sqlite_autoincrement=autoincrement)
    names = ", ".join(columns)
    op.execute(f"INSERT INTO {new} ({names}) SELECT {names} FROM {table}")
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {new} RENAME TO {table}")
    for sql in dependents:
        op.execute(sql)
    if autoincrement:  # the copy set it already; said outright so that ids never go below today's largest
        op.execute(f"DELETE FROM sqlite_sequence WHERE name = '{table}'")
        op.execute(f"INSERT INTO sqlite_sequence(name, seq) SELECT '{table}', coalesce(max(id), 0) FROM {table}")


def _rebuild_all(*, autoincrement: bool) -> None:
    conn = op.get_bind()
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "rebuilding tables needs foreign keys off (dropping the old tables would cascade-delete their rows);"
            " migrate through promptlib (`promptlib db upgrade`), which turns them off"
        )
    broken_before = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    for table in _TABLES:
        _rebuild(table, autoincrement=autoincrement)
    broken_after = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if sorted(broken_after) != sorted(broken_before):
        raise RuntimeError(f"rebuilding the tables broke references: {broken_after[:5]}")


def upgrade() -> None:
    _rebuild_all(autoincrement=True)


def downgrade() -> None:
    # The tables lose AUTOINCREMENT (and SQLite drops their sqlite_sequence rows with them): ids may be reused again.
    _rebuild_all(autoincrement=False)
