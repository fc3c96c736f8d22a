"""Lexical search: a parsed `Query` → SQL over the FTS5 index and the typed recipe columns.

Ranking is bm25 with per-column weights, bounded so that a very common word stays fast at a million prompts:
the index yields matches newest-first and bm25 is computed for at most `window` of them (20,000 by default).
When fewer match, the ranking is exact; when more match, the best of the newest `window` matches are returned and
the result says so (`truncated`). docs/search.md explains the trade-off and benchmarks/ measures it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from promptlib.errors import QueryError
from promptlib.limits import MAX_ID
from promptlib.recipe import canonical_sampler, canonical_schedule
from promptlib.search.dsl import Clause, Filter, Query, Range, fts_match, fts_negative
from promptlib.store import seed_column
from promptlib.store.schema_extras import FTS_TABLE
from promptlib.store.tags import normalize_tag

DEFAULT_WINDOW = 20_000
# bm25 weights in FTS column order: title, prompt, negative_prompt, tag_text, notes. A word in the negative prompt
# is something the prompt avoids, so it counts for little.
BM25_WEIGHTS = (4.0, 1.0, 0.2, 2.0, 0.5)
SORTS = ("score", "new", "old", "rating", "title")

_NUMERIC_COLUMNS = {
    "steps": "r.steps",
    "cfg": "r.cfg_scale",
    "seed": "r.seed",
    "width": "r.width",
    "height": "r.height",
    "clip_skip": "r.clip_skip",
    "rating": "p.rating",
    "id": "{id}",
}
_SORT_SQL = {
    "new": "p.id DESC",
    "old": "p.id ASC",
    "rating": "coalesce(p.rating, -1) DESC, p.id DESC",
    "title": "p.title = '' ASC, p.title COLLATE NOCASE ASC, p.id ASC",  # untitled last
}


@dataclass(frozen=True)
class LexicalResult:
    hits: list[tuple[int, float]]  # (prompt id, score — higher is better; 0.0 without text terms)
    truncated: bool  # True when more matches existed than the ranking window covered


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _bindable(number: float) -> float:
    return float(number) if abs(number) > MAX_ID else number  # SQLite's integers stop at MAX_ID


def _range_sql(column: str, rng: Range, params: list[Any]) -> str:
    parts: list[str] = []
    if rng.low is not None:
        parts.append(f"{column} {'>' if rng.low_exclusive else '>='} ?")
        params.append(_bindable(rng.low))
    if rng.high is not None:
        parts.append(f"{column} {'<' if rng.high_exclusive else '<='} ?")
        params.append(_bindable(rng.high))
    return " AND ".join(parts) or "1"


# A tag on fewer prompts than this is matched by listing its prompts; a commoner one by a per-row lookup.
RARE_TAG = 2_000


def _tag_sql(conn: sqlite3.Connection, value: str, *, negated: bool, listing: bool) -> str:
    tag = normalize_tag(value)
    if tag.endswith("*"):
        pattern = tag[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        ids = [r[0] for r in conn.execute("SELECT id FROM tags WHERE name LIKE ? ESCAPE '\\'", (pattern,))]
    else:
        ids = [r[0] for r in conn.execute("SELECT id FROM tags WHERE name = ?", (tag,))]
    if not ids:
        return "0"
    listed = ",".join(str(int(i)) for i in ids)
    if listing and not negated:  # a count visits every match anyway: list the tag's prompts
        return f"{{id}} IN (SELECT prompt_id FROM prompt_tags WHERE tag_id IN ({listed}))"
    if not negated:
        marks = ",".join("?" * len(ids))
        row = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM prompt_tags WHERE tag_id IN ({marks}) LIMIT {RARE_TAG})", ids
        ).fetchone()
        if row[0] < RARE_TAG:
            return f"{{id}} IN (SELECT prompt_id FROM prompt_tags WHERE tag_id IN ({listed}))"
    return f"EXISTS (SELECT 1 FROM prompt_tags WHERE prompt_id = {{id}} AND tag_id IN ({listed}))"


def _filter_sql(
    conn: sqlite3.Connection, flt: Filter, params: list[Any], *, negated: bool, listing: bool = False
) -> str:
    name, value = flt.name, flt.value
    if isinstance(value, Range) and name == "seed":  # seeds past SQLite's integers are stored negative
        sql, values = seed_column.range_sql(
            "r.seed", value.low, value.high, low_open=value.low_exclusive, high_open=value.high_exclusive
        )
        params.extend(values)
        return sql
    if isinstance(value, Range):
        return _range_sql(_NUMERIC_COLUMNS[name], value, params)
    if name == "size":
        assert isinstance(value, tuple)
        params.extend(value)
        return "(r.width = ? AND r.height = ?)"
    if name == "fav":  # a literal, so the partial index on favourite = 1 applies
        return "p.favourite = 1" if value else "p.favourite = 0"
    if name == "has":
        return {
            "image": "EXISTS (SELECT 1 FROM renders x WHERE x.prompt_id = {id})",
            "negative": "p.negative_prompt != ''",
            "notes": "p.notes != ''",
            "title": "p.title != ''",
            "rating": "p.rating IS NOT NULL",
            "lora": "json_array_length(r.loras) > 0",
            "params": "(r.sampler IS NOT NULL OR r.steps IS NOT NULL OR r.model IS NOT NULL)",
        }[str(value)]
    assert isinstance(value, str)
    if name == "tag":
        return _tag_sql(conn, value, negated=negated, listing=listing)
    if name == "pack":
        params.append(value)
        return "p.pack_id IN (SELECT id FROM packs WHERE name = ? COLLATE NOCASE)"
    if name == "collection":
        params.append(value)
        return (
            "{id} IN (SELECT ci.prompt_id FROM collection_items ci JOIN collections c ON c.id = ci.collection_id"
            " WHERE c.name = ? COLLATE NOCASE)"
        )
    if name == "model":
        params.extend([_like(value), value.lower()])
        return "(r.model LIKE ? ESCAPE '\\' OR lower(r.model_hash) = ?)"
    if name == "vae":
        params.append(_like(value))
        return "r.vae LIKE ? ESCAPE '\\'"
    if name == "lora":
        params.append(_like(value))
        return "EXISTS (SELECT 1 FROM json_each(r.loras) j WHERE json_extract(j.value, '$.name') LIKE ? ESCAPE '\\')"
    if name == "sampler":
        sampler, schedule = canonical_sampler(value)
        params.append(sampler)
        cond = "r.sampler = ? COLLATE NOCASE"
        if schedule:
            params.append(schedule)
            cond += " AND r.schedule = ?"
        return f"({cond})"
    if name == "schedule":
        params.append(canonical_schedule(value))
        return "r.schedule = ?"
    raise QueryError(f"field '{name}:' cannot be used as a filter")


def filters_sql(conn: sqlite3.Connection, clauses: list[Clause], params: list[Any], *, listing: bool = False) -> str:
    """The WHERE conditions for the filter clauses of a query.

    Aliases: p = prompts, r = recipes; ``{id}`` stands for the prompt id of the driving table.
    """
    parts: list[str] = []
    for clause in clauses:
        assert isinstance(clause.node, Filter)
        cond = _filter_sql(conn, clause.node, params, negated=clause.negated, listing=listing)
        # coalesce: a negated filter keeps rows where the field is unset (NULL), as a user expects.
        parts.append(f"NOT coalesce(({cond}), 0)" if clause.negated else f"({cond})")
    return " AND ".join(parts)


def search(
    conn: sqlite3.Connection,
    query: Query,
    *,
    limit: int = 20,
    offset: int = 0,
    sort: str = "score",
    window: int = DEFAULT_WINDOW,
) -> LexicalResult:
    """Run a parsed query; returns prompt ids with scores, best first. Raises QueryError for bad input."""
    if sort not in SORTS:
        raise QueryError(f"unknown sort {sort!r} (one of: {', '.join(SORTS)})")
    if limit < 0 or offset < 0:
        raise QueryError("limit and offset must not be negative")
    limit, offset = min(limit, MAX_ID), min(offset, MAX_ID)  # SQLite's integers stop there: more means "all"
    params: list[Any] = []
    where = filters_sql(conn, query.filters, params)
    match = fts_match(query)
    try:
        if match is None:
            return _filtered(conn, query, where, params, limit=limit, offset=offset, sort=sort)
        return _ranked(conn, match, where, params, limit=limit, offset=offset, sort=sort, window=window)
    except sqlite3.OperationalError as exc:  # FTS5 syntax is escaped, so this is a bug or a corrupt index
        raise QueryError(f"search failed: {exc}") from exc


def _filtered(
    conn: sqlite3.Connection,
    query: Query,
    where: str,
    params: list[Any],
    *,
    limit: int,
    offset: int,
    sort: str,
) -> LexicalResult:
    conditions = [where.replace("{id}", "p.id")] if where else []
    negative = fts_negative(query)
    if negative:
        conditions.append(f"p.id NOT IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)")
        params.append(negative)
    sql = (
        "SELECT p.id FROM prompts p LEFT JOIN recipes r ON r.prompt_id = p.id"
        + (" WHERE " + " AND ".join(conditions) if conditions else "")
        + f" ORDER BY {_SORT_SQL.get(sort, _SORT_SQL['new'])} LIMIT ? OFFSET ?"
    )
    rows = conn.execute(sql, [*params, limit, offset]).fetchall()
    return LexicalResult([(row[0], 0.0) for row in rows], truncated=False)


def _ranked(
    conn: sqlite3.Connection,
    match: str,
    where: str,
    params: list[Any],
    *,
    limit: int,
    offset: int,
    sort: str,
    window: int,
) -> LexicalResult:
    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    where = where.replace("{id}", f"{FTS_TABLE}.rowid")
    joins = ""
    if "p." in where:
        joins += f" JOIN prompts p ON p.id = {FTS_TABLE}.rowid"
    if "r." in where:
        joins += f" LEFT JOIN recipes r ON r.prompt_id = {FTS_TABLE}.rowid"
    # The newest `window` matches, scored by bm25 inside SQLite.
    base = f"FROM {FTS_TABLE}{joins} WHERE {FTS_TABLE} MATCH ?" + (f" AND {where}" if where else "")
    inner = f"SELECT {FTS_TABLE}.rowid AS id, bm25({FTS_TABLE}, {weights}) AS score {base}"
    inner += f" ORDER BY {FTS_TABLE}.rowid DESC LIMIT ?"
    if sort in ("score", "new", "old"):
        order = {"score": "score, id DESC", "new": "id DESC", "old": "id ASC"}[sort]
        rows = conn.execute(
            f"SELECT id, score, count(*) OVER (), min(id) OVER () FROM ({inner}) ORDER BY {order} LIMIT ? OFFSET ?",
            [match, *params, window, limit, offset],
        ).fetchall()
        truncated = False
        if rows and rows[0][2] >= window:  # the window is full: is there an older match it left out?
            probe = f"SELECT 1 {base} AND {FTS_TABLE}.rowid < ? LIMIT 1"
            truncated = conn.execute(probe, [match, *params, rows[0][3]]).fetchone() is not None
        return LexicalResult([(row[0], -float(row[1])) for row in rows], truncated=truncated)
    all_rows = conn.execute(inner, [match, *params, window + 1]).fetchall()
    truncated = len(all_rows) > window
    scores = dict(all_rows[:window])
    ordered = _order_ids(conn, list(scores), sort)[offset : offset + limit]
    return LexicalResult([(i, -float(scores[i])) for i in ordered], truncated=truncated)


def _order_ids(conn: sqlite3.Connection, ids: list[int], sort: str) -> list[int]:
    if not ids:
        return []
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _ids(id INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM _ids")
    conn.executemany("INSERT INTO _ids(id) VALUES (?)", [(i,) for i in ids])
    order = [
        row[0] for row in conn.execute(f"SELECT p.id FROM prompts p JOIN _ids USING(id) ORDER BY {_SORT_SQL[sort]}")
    ]
    conn.execute("DELETE FROM _ids")
    return order


def count(conn: sqlite3.Connection, query: Query, *, limit: int | None = None) -> int:
    """How many prompts match a parsed query, up to `limit` when given (no ranking: cheaper than a search)."""
    params: list[Any] = []
    where = filters_sql(conn, query.filters, params, listing=True) if query.filters else ""
    match = fts_match(query)
    if match is not None:  # drive from the index, so a limit stops the scan early
        where = where.replace("{id}", f"{FTS_TABLE}.rowid")
        joins = f" JOIN prompts p ON p.id = {FTS_TABLE}.rowid" if "p." in where else ""
        joins += f" LEFT JOIN recipes r ON r.prompt_id = {FTS_TABLE}.rowid" if "r." in where else ""
        sql = f"SELECT 1 FROM {FTS_TABLE}{joins} WHERE {FTS_TABLE} MATCH ?" + (f" AND {where}" if where else "")
        params.insert(0, match)
    else:
        conditions = [where.replace("{id}", "p.id")] if where else []
        negative = fts_negative(query)
        if negative:
            conditions.append(f"p.id NOT IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)")
            params.append(negative)
        sql = "SELECT 1 FROM prompts p" + (" LEFT JOIN recipes r ON r.prompt_id = p.id" if "r." in where else "")
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    try:
        return int(conn.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0])
    except sqlite3.OperationalError as exc:
        raise QueryError(f"search failed: {exc}") from exc
