"""Tags: normalisation, and the one place that changes a prompt's tags (keeping ``prompts.tag_text`` in step)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from functools import lru_cache

from promptlib.errors import ValidationError
from promptlib.limits import MAX_TAG_CHARS, MAX_TAGS_PER_ENTRY

_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@lru_cache(maxsize=65_536)  # imports repeat the same few thousand tags
def normalize_tag(name: str) -> str:
    """Lowercase, trimmed, single spaces, no control characters."""
    return _SPACES.sub(" ", _CONTROL.sub("", name)).strip().lower()


def clean_tags(names: Iterable[str]) -> list[str]:
    """Normalised, de-duplicated tags in first-seen order; raises ValidationError for bad ones."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in names:
        tag = normalize_tag(raw)
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS:
            raise ValidationError(f"tag {tag[:30]!r}… is longer than {MAX_TAG_CHARS} characters")
        if tag not in seen:
            seen.add(tag)
            out.append(tag)
    if len(out) > MAX_TAGS_PER_ENTRY:
        raise ValidationError(f"{len(out)} tags on one entry; the limit is {MAX_TAGS_PER_ENTRY}")
    return out


@lru_cache(maxsize=65_536)  # an import repeats the same tag lists: clean each list once
def clean_tag_tuple(names: tuple[str, ...]) -> tuple[str, ...]:
    """`clean_tags` for a tuple of names, cached; raises ValidationError for bad ones."""
    return tuple(clean_tags(names))


def tag_ids(conn: sqlite3.Connection, names: Iterable[str], cache: dict[str, int] | None = None) -> dict[str, int]:
    """Ids for tag names, creating missing tags (call inside a write transaction)."""
    cache = {} if cache is None else cache
    missing = [n for n in dict.fromkeys(names) if n not in cache]
    if missing:
        conn.executemany("INSERT OR IGNORE INTO tags(name) VALUES (?)", [(n,) for n in missing])
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cache.update(conn.execute(f"SELECT name, id FROM tags WHERE name IN ({marks})", chunk).fetchall())
    return cache


def tag_text(names: Iterable[str]) -> str:
    return ", ".join(names)


def get_tags(conn: sqlite3.Connection, prompt_id: int) -> list[str]:
    rows = conn.execute(
        "SELECT t.name FROM prompt_tags pt JOIN tags t ON t.id = pt.tag_id WHERE pt.prompt_id = ? ORDER BY t.name",
        (prompt_id,),
    )
    return [row[0] for row in rows]


def set_tags(conn: sqlite3.Connection, prompt_id: int, names: Iterable[str]) -> list[str]:
    """Replace a prompt's tags (inside a write transaction); returns the stored, normalised list."""
    tags = clean_tags(names)
    ids = tag_ids(conn, tags)
    old = [row[0] for row in conn.execute("SELECT tag_id FROM prompt_tags WHERE prompt_id = ?", (prompt_id,))]
    conn.execute("DELETE FROM prompt_tags WHERE prompt_id = ?", (prompt_id,))
    conn.executemany(
        "INSERT OR IGNORE INTO prompt_tags(prompt_id, tag_id) VALUES (?, ?)",
        [(prompt_id, ids[t]) for t in tags],
    )
    stored = sorted(tags)
    conn.execute("UPDATE prompts SET tag_text = ? WHERE id = ?", (tag_text(stored), prompt_id))
    drop_unused_tags(conn, old)
    return stored


def drop_unused_tags(conn: sqlite3.Connection, candidates: Iterable[int]) -> None:
    """Delete those of `candidates` that no prompt carries any more."""
    conn.executemany(
        "DELETE FROM tags WHERE id = ? AND NOT EXISTS (SELECT 1 FROM prompt_tags WHERE tag_id = ?)",
        [(i, i) for i in set(candidates)],
    )
