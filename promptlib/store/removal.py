"""Undoable removal: what deleting entries takes out of the library, captured so it can be put back exactly.

`snapshot` reads, inside the deleting transaction, every row that goes with the entries — the entries themselves,
their tags and collection memberships (by name, since those rows may be gone later), grids, renders and stored
embeddings — and `restore_rows` writes them back with their original ids. Image files that the removal deletes are
kept as bytes up to `MAX_KEPT_BYTES` in all; past that the removal is not undoable with its images.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from promptlib.errors import ValidationError
from promptlib.store.tags import tag_ids

MAX_KEPT_BYTES = 256 * 2**20  # image bytes an undoable removal keeps in memory

# (table, the column that ties a row to the removed entries, how to select it), in insertion order for a restore
_TABLES: tuple[tuple[str, str], ...] = (
    ("prompts", "id IN ({marks})"),
    ("grids", "prompt_id IN ({marks})"),
    ("renders", "prompt_id IN ({marks})"),
    ("render_embeddings", "render_id IN (SELECT id FROM renders WHERE prompt_id IN ({marks}))"),
    ("prompt_embeddings", "prompt_id IN ({marks})"),
)


@dataclass(frozen=True)
class Removed:
    """Entries `Library.remove_undoable` deleted, with everything needed to put them back as they were."""

    ids: tuple[int, ...]
    rows: dict[str, list[dict[str, Any]]]
    tags: list[tuple[int, str]]  # (entry id, tag name)
    collections: list[tuple[str, str, int, int, str]]  # (name, description, entry id, position, added at)
    files: dict[str, bytes] = field(default_factory=dict)  # image path -> bytes, for the files that were deleted
    images_kept: bool = True  # False when the deleted files were too large to keep: a restore has no renders

    @property
    def count(self) -> int:
        return len(self.rows.get("prompts", []))


def snapshot(conn: sqlite3.Connection, ids: Sequence[int]) -> Removed:
    """The rows that go with entries `ids` (call inside the transaction that deletes them, before the delete)."""
    marks = ",".join("?" * len(ids))
    rows: dict[str, list[dict[str, Any]]] = {}
    for table, where in _TABLES:
        cursor = conn.execute(f"SELECT * FROM {table} WHERE {where.format(marks=marks)}", list(ids))
        names = [d[0] for d in cursor.description]
        rows[table] = [dict(zip(names, row, strict=True)) for row in cursor]
    tags = conn.execute(
        f"SELECT pt.prompt_id, t.name FROM prompt_tags pt JOIN tags t ON t.id = pt.tag_id"
        f" WHERE pt.prompt_id IN ({marks})",
        list(ids),
    ).fetchall()
    collections = conn.execute(
        f"SELECT c.name, c.description, ci.prompt_id, ci.position, ci.added_at FROM collection_items ci"
        f" JOIN collections c ON c.id = ci.collection_id WHERE ci.prompt_id IN ({marks})",
        list(ids),
    ).fetchall()
    return Removed(tuple(ids), rows, [tuple(t) for t in tags], [tuple(c) for c in collections])


def check_restorable(conn: sqlite3.Connection, removed: Removed) -> None:
    """Raise ValidationError when `removed` cannot go back as it was: one of its ids has been given to something
    else since, or its images were too large to keep."""
    if not removed.images_kept and removed.rows.get("renders"):
        raise ValidationError("the removed entries' images were too large to keep: they cannot be restored")
    for table in ("prompts", "grids", "renders"):
        wanted = [row["id"] for row in removed.rows.get(table, [])]
        if wanted:
            marks = ",".join("?" * len(wanted))
            taken = conn.execute(f"SELECT id FROM {table} WHERE id IN ({marks}) LIMIT 1", wanted).fetchone()
            if taken:
                raise ValidationError(f"cannot restore: {table} id {taken[0]} has been used again since")


def restore_rows(conn: sqlite3.Connection, removed: Removed) -> None:
    """Write `removed` back with its original ids (inside a write transaction); see `check_restorable`."""
    check_restorable(conn, removed)
    packs = {row[0] for row in conn.execute("SELECT id FROM packs")}
    for table, _where in _TABLES:
        for row in removed.rows.get(table, []):
            if table == "prompts" and row.get("pack_id") not in packs:
                row = {**row, "pack_id": None}  # its pack was deleted meanwhile
            columns = ", ".join(row)
            conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    ids = tag_ids(conn, [name for _, name in removed.tags])
    conn.executemany(
        "INSERT OR IGNORE INTO prompt_tags(prompt_id, tag_id) VALUES (?, ?)",
        [(pid, ids[name]) for pid, name in removed.tags],
    )
    for name, description, pid, position, added_at in removed.collections:
        conn.execute(
            "INSERT OR IGNORE INTO collections(name, description, created_at) VALUES (?, ?, ?)",
            (name, description, added_at),
        )
        conn.execute(
            "INSERT OR IGNORE INTO collection_items(collection_id, prompt_id, position, added_at)"
            " SELECT id, ?, ?, ? FROM collections WHERE name = ?",
            (pid, position, added_at, name),
        )
