"""Schema the models cannot express: the FTS5 index over prompts and the triggers that keep it in step.

The migrations create these with raw SQL; `is_fts_object` lets Alembic's comparison skip them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

FTS_TABLE = "prompts_fts"

# External-content FTS5: the text lives once, in `prompts`; the index follows through triggers.
# Column order matters: the DSL's column filters and bm25 weights refer to it.
FTS_COLUMNS = ("title", "prompt", "negative_prompt", "tag_text", "notes")

CREATE_FTS = f"""
CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(
    {", ".join(FTS_COLUMNS)},
    content='prompts', content_rowid='id',
    tokenize="unicode61 remove_diacritics 2"
)
"""

_COLS = ", ".join(FTS_COLUMNS)
_NEW = ", ".join(f"new.{c}" for c in FTS_COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in FTS_COLUMNS)

CREATE_TRIGGERS = (
    f"""CREATE TRIGGER prompts_fts_ai AFTER INSERT ON prompts BEGIN
        INSERT INTO {FTS_TABLE}(rowid, {_COLS}) VALUES (new.id, {_NEW});
    END""",
    f"""CREATE TRIGGER prompts_fts_ad AFTER DELETE ON prompts BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD});
    END""",
    f"""CREATE TRIGGER prompts_fts_au AFTER UPDATE OF {_COLS} ON prompts BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD});
        INSERT INTO {FTS_TABLE}(rowid, {_COLS}) VALUES (new.id, {_NEW});
    END""",
)

TRIGGER_NAMES = ("prompts_fts_ai", "prompts_fts_ad", "prompts_fts_au")

DROP_ALL = (
    "DROP TRIGGER IF EXISTS prompts_fts_ai",
    "DROP TRIGGER IF EXISTS prompts_fts_ad",
    "DROP TRIGGER IF EXISTS prompts_fts_au",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)


@contextmanager
def deferred_fts(conn: sqlite3.Connection) -> Iterator[None]:
    """Inside a write transaction: index rows inserted in the block with one INSERT … SELECT at the end.

    Per-row triggers cost ~3x more than indexing the new rows in one statement. The triggers are dropped and
    re-created inside the caller's transaction, so other connections never see them missing and a rollback
    restores them.
    """
    first_new = int(conn.execute("SELECT coalesce(max(id), 0) FROM prompts").fetchone()[0]) + 1
    for name in TRIGGER_NAMES:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    yield
    conn.execute(f"INSERT INTO {FTS_TABLE}(rowid, {_COLS}) SELECT id, {_COLS} FROM prompts WHERE id >= ?", (first_new,))
    for statement in CREATE_TRIGGERS:
        conn.execute(statement)


def is_fts_object(name: str) -> bool:
    """True for the FTS5 table and its shadow tables (``prompts_fts_data``, ``_idx``, ``_docsize``, ...)."""
    return name == FTS_TABLE or name.startswith(FTS_TABLE + "_")


# Change counters for the embedding tables, so a saved FAISS index can tell it is stale (its manifest records the
# counter it was built at). Cascading deletes fire these triggers too.
EMBEDDING_TABLES = ("render_embeddings", "prompt_embeddings")


def generation_key(table: str) -> str:
    return f"generation:{table}"


def _bump(table: str) -> str:
    return (
        f"INSERT INTO library_meta(key, value) VALUES ('{generation_key(table)}', '1') "
        f"ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
    )


CREATE_EMBEDDING_TRIGGERS = tuple(
    f"CREATE TRIGGER {table}_gen_{suffix} AFTER {event} ON {table} BEGIN {_bump(table)}; END"
    for table in EMBEDDING_TABLES
    for suffix, event in (("ai", "INSERT"), ("ad", "DELETE"), ("au", "UPDATE"))
)
EMBEDDING_TRIGGER_NAMES = tuple(f"{table}_gen_{suffix}" for table in EMBEDDING_TABLES for suffix in ("ai", "ad", "au"))
