"""Read queries: prompt ids → fully hydrated `Entry` values, in a handful of set-based SQL statements."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from promptlib.entries import Entry, RenderInfo, StyleInfo
from promptlib.limits import MAX_ID
from promptlib.recipe import PARAM_FIELDS
from promptlib.store import seed_column

_CHUNK = 500
_RECIPE_COLUMNS = [f for f in PARAM_FIELDS if f != "loras"]


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def load_entries(conn: sqlite3.Connection, ids: Sequence[int], *, with_renders: bool = True) -> list[Entry]:
    """Entries for `ids`, in the same order; ids that do not exist are left out."""
    ids = [i for i in ids if -MAX_ID - 1 <= i <= MAX_ID]  # an id past SQLite's integers exists nowhere (nor binds)
    if not ids:
        return []
    recipe_cols = ", ".join(f"r.{c}" for c in _RECIPE_COLUMNS)
    base: dict[int, tuple[Any, ...]] = {}
    tags: dict[int, list[str]] = defaultdict(list)
    renders: dict[int, list[RenderInfo]] = defaultdict(list)
    collections: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(list(ids)):
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT p.id, p.title, p.prompt, p.negative_prompt, p.notes, p.rating, p.favourite, p.source,"
            " p.created_at, p.updated_at, k.name, r.prompt_id, r.loras, r.extra, "
            f"{recipe_cols} FROM prompts p LEFT JOIN recipes r ON r.prompt_id = p.id"
            f" LEFT JOIN packs k ON k.id = p.pack_id WHERE p.id IN ({marks})",
            chunk,
        )
        for row in rows:
            base[row[0]] = row
        for pid, name in conn.execute(
            "SELECT pt.prompt_id, t.name FROM prompt_tags pt JOIN tags t ON t.id = pt.tag_id"
            f" WHERE pt.prompt_id IN ({marks}) ORDER BY t.name",
            chunk,
        ):
            tags[pid].append(name)
        for pid, name in conn.execute(
            "SELECT ci.prompt_id, c.name FROM collection_items ci JOIN collections c ON c.id = ci.collection_id"
            f" WHERE ci.prompt_id IN ({marks}) ORDER BY c.name",
            chunk,
        ):
            collections[pid].append(name)
        if with_renders:
            for render in load_renders(conn, chunk):
                renders[render.prompt_id].append(render)
    out: list[Entry] = []
    for pid in ids:
        row = base.get(pid)
        if row is None:
            continue
        params: dict[str, Any] = dict(zip(_RECIPE_COLUMNS, row[14:], strict=True))
        params["seed"] = seed_column.from_sql(params["seed"])
        params["loras"] = _json(row[12], [])
        params["extra"] = _json(row[13], {})
        out.append(
            Entry(
                id=row[0],
                title=row[1],
                prompt=row[2],
                negative_prompt=row[3],
                notes=row[4],
                rating=row[5],
                favourite=bool(row[6]),
                source=_json(row[7], {}),
                created_at=row[8],
                updated_at=row[9],
                pack=row[10],
                params=params,
                tags=tuple(tags.get(pid, ())),
                renders=tuple(renders.get(pid, ())),
                collections=tuple(collections.get(pid, ())),
            )
        )
    return out


_RENDER_SELECT = (
    "SELECT id, prompt_id, image_sha256, image_path, linked, width, height, file_size, format, kind, recipe,"
    " environment, timings, created_at FROM renders"
)


def _render(row: tuple[Any, ...]) -> RenderInfo:
    return RenderInfo(
        id=row[0],
        prompt_id=row[1],
        image_sha256=row[2],
        image_path=row[3],
        linked=bool(row[4]),
        width=row[5],
        height=row[6],
        file_size=row[7],
        format=row[8],
        kind=row[9],
        recipe=_json(row[10], {}),
        environment=_json(row[11], {}),
        timings=_json(row[12], {}),
        created_at=row[13],
    )


def load_renders(conn: sqlite3.Connection, prompt_ids: Sequence[int]) -> list[RenderInfo]:
    marks = ",".join("?" * len(prompt_ids))
    rows = conn.execute(f"{_RENDER_SELECT} WHERE prompt_id IN ({marks}) ORDER BY id", list(prompt_ids))
    return [_render(row) for row in rows]


def load_render(conn: sqlite3.Connection, render_id: int) -> RenderInfo | None:
    row = conn.execute(f"{_RENDER_SELECT} WHERE id = ?", (render_id,)).fetchone()
    return _render(row) if row else None


def load_styles(conn: sqlite3.Connection, *, name: str | None = None) -> list[StyleInfo]:
    sql = (
        "SELECT s.id, s.name, s.prompt, s.negative_prompt, s.notes, s.tags, k.name FROM styles s"
        " LEFT JOIN packs k ON k.id = s.pack_id"
    )
    params: list[Any] = []
    if name is not None:
        sql += " WHERE s.name = ? COLLATE NOCASE"
        params.append(name)
    rows = conn.execute(sql + " ORDER BY s.name COLLATE NOCASE", params)
    return [
        StyleInfo(
            id=r[0],
            name=r[1],
            prompt=r[2],
            negative_prompt=r[3],
            notes=r[4],
            tags=tuple(_json(r[5], [])),
            pack=r[6],
        )
        for r in rows
    ]


def stats(conn: sqlite3.Connection) -> dict[str, int]:
    """Counts of everything in the library."""

    def count(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0])

    return {
        "prompts": count("SELECT count(*) FROM prompts"),
        "styles": count("SELECT count(*) FROM styles"),
        "renders": count("SELECT count(*) FROM renders"),
        "images": count("SELECT count(DISTINCT image_sha256) FROM renders"),
        "packs": count("SELECT count(*) FROM packs"),
        "tags": count("SELECT count(*) FROM tags"),
        "collections": count("SELECT count(*) FROM collections"),
        "favourites": count("SELECT count(*) FROM prompts WHERE favourite = 1"),
        "rated": count("SELECT count(*) FROM prompts WHERE rating IS NOT NULL"),
    }


def top_counts(conn: sqlite3.Connection, what: str, *, limit: int = 10) -> list[tuple[str, int]]:
    """The most used tags, packs, samplers or models, with counts."""
    sql = {
        "tags": "SELECT t.name, count(*) c FROM prompt_tags pt JOIN tags t ON t.id = pt.tag_id GROUP BY t.id",
        "packs": "SELECT k.name, count(*) c FROM prompts p JOIN packs k ON k.id = p.pack_id GROUP BY k.id",
        "samplers": "SELECT sampler, count(*) c FROM recipes WHERE sampler IS NOT NULL GROUP BY sampler",
        "models": "SELECT model, count(*) c FROM recipes WHERE model IS NOT NULL GROUP BY model",
    }[what]
    return [(str(r[0]), int(r[1])) for r in conn.execute(f"{sql} ORDER BY c DESC, 1 LIMIT ?", (limit,))]
