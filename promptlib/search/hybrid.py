"""Hybrid search: merging the lexical (bm25) and vector rankings, and restricting both by the query's filters.

Fusion is reciprocal rank fusion (Cormack et al., 2009): an entry at rank r (from 1) in a list earns 1 / (k + r)
from it, k = 60, and the entry's fused score is the sum over the lists it is in. Ranks, not raw scores, are
combined, because bm25 and cosine similarity live on unrelated scales; an entry found by both lists beats one
found by only one at a similar rank. docs/search.md has the formula and examples.

Filters (``tag:``, ``model:``, ``steps:`` ...) and negated words restrict the vector side exactly as they restrict
the lexical side: the allowed entries are computed with the same SQL (`lexical.filters_sql`) and handed to the
vector index as an allow-list of ids.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from promptlib.entries import SearchHit
from promptlib.search.dsl import AnyOf, Query, Term, fts_negative
from promptlib.search.lexical import filters_sql
from promptlib.store.schema_extras import FTS_TABLE

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    IdArray = npt.NDArray[np.int64]

RRF_K = 60
MODES = ("auto", "lexical", "semantic", "hybrid")


@dataclass(frozen=True)
class Fused:
    """One entry of a fused ranking, with what each source said about it (None: not in that list)."""

    prompt_id: int
    fused: float
    lexical: float | None = None
    semantic: float | None = None
    render_id: int | None = None  # the render whose image matched, for image searches


@dataclass(frozen=True)
class HybridHit(SearchHit):
    """A hit of a semantic or hybrid search: `scores` holds ``lexical``, ``semantic`` and ``fused``, `render_id` the
    image that matched. Its JSON has the shape of a lexical hit's (whose ``render_id`` is null)."""


def fuse(
    lexical: Sequence[tuple[int, float]],
    semantic: Sequence[tuple[int, float, int | None]],
    *,
    k: int = RRF_K,
) -> list[Fused]:
    """Reciprocal rank fusion of a lexical list [(prompt id, bm25 score)] and a vector list [(prompt id, cosine,
    render id)], each best first. Ties go to the entry with the better single rank, then to one the words matched
    (what the user typed beats what only looks alike), then the lower id."""
    scores: dict[int, float] = {}
    best_rank: dict[int, int] = {}
    lex: dict[int, float] = {}
    sem: dict[int, tuple[float, int | None]] = {}
    for rank, (pid, score) in enumerate(lexical, start=1):
        if pid in lex:
            continue
        lex[pid] = score
        scores[pid] = scores.get(pid, 0.0) + 1.0 / (k + rank)
        best_rank[pid] = min(best_rank.get(pid, rank), rank)
    for rank, (pid, score, render_id) in enumerate(semantic, start=1):
        if pid in sem:
            continue
        sem[pid] = (score, render_id)
        scores[pid] = scores.get(pid, 0.0) + 1.0 / (k + rank)
        best_rank[pid] = min(best_rank.get(pid, rank), rank)
    order = sorted(scores, key=lambda pid: (-scores[pid], best_rank[pid], pid not in lex, pid))
    return [
        Fused(
            pid,
            round(scores[pid], 6),
            lex.get(pid),
            sem[pid][0] if pid in sem else None,
            sem[pid][1] if pid in sem else None,
        )
        for pid in order
    ]


def only_semantic(semantic: Sequence[tuple[int, float, int | None]]) -> list[Fused]:
    """A vector list as a ranking of its own (semantic mode): the fused score is the cosine similarity."""
    seen: set[int] = set()
    out: list[Fused] = []
    for pid, score, render_id in semantic:
        if pid not in seen:
            seen.add(pid)
            out.append(Fused(pid, round(score, 6), None, score, render_id))
    return out


def query_text(query: Query) -> str:
    """The words a text encoder should see: the positive words and phrases, in order (negations and filters are
    restrictions, not meaning)."""
    words: list[str] = []
    for clause in query.positive_text:
        node = clause.node
        if isinstance(node, Term):
            words.append(node.text)
        elif isinstance(node, AnyOf):
            words.append(" or ".join(t.text for t in node.terms))
    return " ".join(words)


def restricts(query: Query) -> bool:
    """Whether the query has filters or negated words that must restrict the vector side."""
    return bool(query.filters) or fts_negative(query) is not None


def allowed_sql(conn: sqlite3.Connection, query: Query, *, kind: str) -> tuple[str, list[Any]] | None:
    """SQL selecting the ids the vector side may return (render ids for ``image``, prompt ids for ``prompt``) under
    the query's filters and negated words; None when nothing is restricted."""
    if not restricts(query):
        return None
    params: list[Any] = []
    conditions: list[str] = []
    where = filters_sql(conn, query.filters, params, listing=True) if query.filters else ""
    if where:
        conditions.append(where.replace("{id}", "p.id"))
    negative = fts_negative(query)
    if negative:
        conditions.append(f"p.id NOT IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)")
        params.append(negative)
    recipes = " LEFT JOIN recipes r ON r.prompt_id = p.id" if "r." in where else ""
    prompts = f"SELECT p.id FROM prompts p{recipes} WHERE " + " AND ".join(conditions)
    if kind == "prompt":
        return prompts, params
    return f"SELECT x.id FROM renders x WHERE x.prompt_id IN ({prompts})", params


def allowed_ids(conn: sqlite3.Connection, query: Query, *, kind: str) -> IdArray | None:
    """The allow-list for `VectorIndex.search` (sorted int64), or None when the query restricts nothing."""
    import numpy as np

    found = allowed_sql(conn, query, kind=kind)
    if found is None:
        return None
    sql, params = found
    ids = np.fromiter((row[0] for row in conn.execute(sql, params)), dtype=np.int64)
    ids.sort()
    return ids


def renders_to_prompts(
    conn: sqlite3.Connection, hits: Sequence[tuple[int, float]]
) -> list[tuple[int, float, int | None]]:
    """Render hits [(render id, score)], best first → entry hits [(prompt id, score, render id)], keeping each
    entry's best render (a renders deleted meanwhile is dropped)."""
    if not hits:
        return []
    owner: dict[int, int] = {}
    ids = [rid for rid, _ in hits]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        owner.update(conn.execute(f"SELECT id, prompt_id FROM renders WHERE id IN ({marks})", chunk).fetchall())
    out: list[tuple[int, float, int | None]] = []
    seen: set[int] = set()
    for rid, score in hits:
        pid = owner.get(rid)
        if pid is not None and pid not in seen:
            seen.add(pid)
            out.append((pid, score, rid))
    return out


_SORT_SQL = {
    "new": "p.id DESC",
    "old": "p.id ASC",
    "rating": "coalesce(p.rating, -1) DESC, p.id DESC",
    "title": "p.title = '' ASC, p.title COLLATE NOCASE ASC, p.id ASC",
}


def reorder(conn: sqlite3.Connection, ranking: list[Fused], sort: str) -> list[Fused]:
    """A fused ranking (a few hundred entries at most) in another order: new, old, rating, title; "score" keeps
    it."""
    if sort not in _SORT_SQL or not ranking:
        return ranking
    by_id = {f.prompt_id: f for f in ranking}
    marks = ",".join("?" * len(by_id))
    rows = conn.execute(f"SELECT p.id FROM prompts p WHERE p.id IN ({marks}) ORDER BY {_SORT_SQL[sort]}", list(by_id))
    return [by_id[r[0]] for r in rows]
