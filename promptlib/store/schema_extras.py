"""Schema the models cannot express: the FTS5 index over prompts and the triggers that keep it in step.

The migrations create these with raw SQL; `is_fts_object` lets Alembic's comparison skip them.
"""

from __future__ import annotations

FTS_TABLE = "prompts_fts"

# External-content FTS5: the text lives once, in `prompts`; the index follows through triggers.
# Column order matters: the DSL's column filters and bm25 weights refer to it.
FTS_COLUMNS = ("title", "prompt", "negative_prompt", "tag_text", "notes")

CREATE_FTS = f"""
CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(
    {", ".join(FTS_COLUMNS)},
    content='prompts', content_rowid='id',
    tokenize="unicode61 remove_diacritics 2",
    prefix='2 3'
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

DROP_ALL = (
    "DROP TRIGGER IF EXISTS prompts_fts_ai",
    "DROP TRIGGER IF EXISTS prompts_fts_ad",
    "DROP TRIGGER IF EXISTS prompts_fts_au",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)


def is_fts_object(name: str) -> bool:
    """True for the FTS5 table and its shadow tables (``prompts_fts_data``, ``_idx``, ``_docsize``, ...)."""
    return name == FTS_TABLE or name.startswith(FTS_TABLE + "_")
