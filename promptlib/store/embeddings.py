"""Stored embeddings: reading and writing the float32 vectors of renders and prompts under one model.

Vectors are L2-normalised float32, little-endian, one row per (owner, model) in ``render_embeddings`` /
``prompt_embeddings``. The FAISS index is rebuilt from these rows, never the other way round; each table's change
counter (`library_meta['generation:<table>']`, kept by triggers) tells a saved index whether it is stale.

numpy is imported inside the functions (ARCHITECTURE rule 4).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from promptlib.errors import REEMBED, ValidationError
from promptlib.store.schema_extras import generation_key

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    IdArray = npt.NDArray[np.int64]

KINDS = ("image", "prompt")
TABLES = {"image": "render_embeddings", "prompt": "prompt_embeddings"}
OWNERS = {"image": "render_id", "prompt": "prompt_id"}
_WATERMARK = "embedded-until:prompt_embeddings:"  # + model: prompts.updated_at of the last embedding pass
_CHUNK = 500


def _table(kind: str) -> tuple[str, str]:
    if kind not in TABLES:
        raise ValidationError(f"unknown embedding kind {kind!r} (one of: {', '.join(KINDS)})")
    return TABLES[kind], OWNERS[kind]


def generation(conn: sqlite3.Connection, kind: str) -> int:
    """The change counter of `kind`'s embedding table (0 before the first change)."""
    table, _ = _table(kind)
    row = conn.execute("SELECT value FROM library_meta WHERE key = ?", (generation_key(table),)).fetchone()
    return int(row[0]) if row else 0


def _rewrite_key(kind: str) -> str:
    return f"embeddings:rewrites:{_table(kind)[0]}"


def version(conn: sqlite3.Connection, kind: str) -> tuple[int, int]:
    """(change counter, rewrite counter) of `kind`'s vectors. The change counter moves with every insert, update or
    delete (triggers, cascades included); the rewrite counter only when vectors already stored are replaced or a
    model's vectors are deleted wholesale. While the rewrite counter stands still, an index can be brought up to
    date by ids alone (drop the ids no longer stored, add the new ones) instead of being rebuilt."""
    row = conn.execute("SELECT value FROM library_meta WHERE key = ?", (_rewrite_key(kind),)).fetchone()
    return generation(conn, kind), int(row[0]) if row else 0


def _bump_rewrites(conn: sqlite3.Connection, kind: str) -> None:
    conn.execute(
        "INSERT INTO library_meta(key, value) VALUES (?, '1')"
        " ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        (_rewrite_key(kind),),
    )


def encode(vector: FloatArray) -> bytes:
    """One vector as the stored bytes (float32 little-endian)."""
    import numpy as np

    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def decode(blobs: Sequence[bytes], dim: int) -> FloatArray:
    """Stored bytes → an (n, dim) float32 matrix; raises ValidationError for a blob of the wrong length."""
    import numpy as np

    width = 4 * dim
    if any(len(b) != width for b in blobs):
        raise REEMBED.error(
            ValidationError, lambda how: f"a stored embedding is not {dim} float32 values: rebuild with {how}"
        )
    if not blobs:
        return np.empty((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dim).astype(np.float32, copy=False)


def dim_mismatch(kind: str, model: str, *, stored: int, dim: int) -> ValidationError:
    """The error for stored `kind` vectors of `model` that are `stored`-d where the model makes `dim`-d ones."""
    return REEMBED.error(
        ValidationError,
        lambda how: (
            f"stored {kind} embeddings of {model} are {stored}-d but the model makes {dim}-d vectors:"
            f" rebuild with {how}"
        ),
    )


def store(
    conn: sqlite3.Connection, kind: str, model: str, ids: Sequence[int], vectors: FloatArray
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Insert or replace the vectors of `ids` under `model`, inside the caller's write transaction.

    Returns the `version` before and after, so a caller holding an index that was exact at "before" knows it is
    exact at "after" once it has added the same vectors (nobody else can write inside the transaction).
    """
    table, owner = _table(kind)
    if len(ids) != len(vectors):
        raise ValidationError(f"{len(ids)} ids for {len(vectors)} vectors")
    before = version(conn, kind)
    wanted = [int(i) for i in ids]
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT 1 FROM {table} WHERE model = ? AND {owner} IN ({marks}) LIMIT 1"
        if conn.execute(sql, [model, *chunk]).fetchone() is not None:
            _bump_rewrites(conn, kind)  # a stored vector changes: ids alone can no longer tell what changed
            break
    dim = int(vectors.shape[1]) if len(vectors) else 0
    conn.executemany(
        f"INSERT OR REPLACE INTO {table}({owner}, model, dim, vector) VALUES (?, ?, ?, ?)",
        [(i, model, dim, encode(v)) for i, v in zip(wanted, vectors, strict=True)],
    )
    return before, version(conn, kind)


def stored_ids(conn: sqlite3.Connection, kind: str, model: str) -> IdArray:
    """The owner ids with a stored vector under `model`, sorted."""
    import numpy as np

    table, owner = _table(kind)
    rows = conn.execute(f"SELECT {owner} FROM {table} WHERE model = ? ORDER BY {owner}", (model,))
    return np.fromiter((r[0] for r in rows), dtype=np.int64)


def load(conn: sqlite3.Connection, kind: str, model: str, *, dim: int) -> tuple[IdArray, FloatArray]:
    """Every stored vector of `kind` under `model`: (ids sorted, vectors). Raises ValidationError when a stored
    vector has another dimension than `dim` (the model changed under the same name)."""
    import numpy as np

    table, owner = _table(kind)
    rows = conn.execute(f"SELECT {owner}, dim, vector FROM {table} WHERE model = ? ORDER BY {owner}", (model,))
    ids: list[int] = []
    blobs: list[bytes] = []
    for owner_id, row_dim, blob in rows:
        if row_dim != dim:
            raise dim_mismatch(kind, model, stored=row_dim, dim=dim)
        ids.append(owner_id)
        blobs.append(blob)
    return np.asarray(ids, dtype=np.int64), decode(blobs, dim)


def load_some(
    conn: sqlite3.Connection, kind: str, model: str, ids: Sequence[int], *, dim: int
) -> tuple[IdArray, FloatArray]:
    """The stored vectors of these owners under `model` (missing ones left out), in id order."""
    import numpy as np

    table, owner = _table(kind)
    found: dict[int, bytes] = {}
    wanted = list(dict.fromkeys(int(i) for i in ids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for owner_id, row_dim, blob in conn.execute(
            f"SELECT {owner}, dim, vector FROM {table} WHERE model = ? AND {owner} IN ({marks})", [model, *chunk]
        ):
            if row_dim == dim:
                found[owner_id] = blob
    order = sorted(found)
    return np.asarray(order, dtype=np.int64), decode([found[i] for i in order], dim)


def count(conn: sqlite3.Connection, kind: str, model: str) -> int:
    table, _ = _table(kind)
    return int(conn.execute(f"SELECT count(*) FROM {table} WHERE model = ?", (model,)).fetchone()[0])


def models(conn: sqlite3.Connection) -> list[tuple[str, str, int, int]]:
    """(kind, model, dim, count) for every model with stored vectors."""
    out: list[tuple[str, str, int, int]] = []
    for kind in KINDS:
        table, _ = _table(kind)
        for model, dim, n in conn.execute(f"SELECT model, dim, count(*) FROM {table} GROUP BY model, dim"):
            out.append((kind, str(model), int(dim), int(n)))
    return out


def delete_model(conn: sqlite3.Connection, kind: str, model: str) -> int:
    """Delete every stored vector of `kind` under `model`; returns how many."""
    table, _ = _table(kind)
    _bump_rewrites(conn, kind)
    return int(conn.execute(f"DELETE FROM {table} WHERE model = ?", (model,)).rowcount)


# --- what still needs embedding ----------------------------------------------------------------------------------


def _select_by_id(
    conn: sqlite3.Connection, sql: str, params: Sequence[object], *, id_column: str, ids: Iterable[int] | None
) -> list[Any]:
    """The rows of `sql` (a SELECT ending in its WHERE condition) in `id_column` order: all of them, or only those
    whose `id_column` is in `ids`, asked for in chunks that stay under SQLite's limit on bound values."""
    if ids is None:
        return conn.execute(f"{sql} ORDER BY {id_column}", params).fetchall()
    wanted = sorted({int(i) for i in ids})
    rows: list[Any] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows += conn.execute(f"{sql} AND {id_column} IN ({marks}) ORDER BY {id_column}", [*params, *chunk]).fetchall()
    return rows


@dataclass(frozen=True)
class PendingRender:
    render_id: int
    sha256: str
    image_path: str  # relative to the library, or absolute when `linked`
    linked: bool


def renders_without(conn: sqlite3.Connection, model: str, *, ids: Iterable[int] | None = None) -> list[PendingRender]:
    """Renders (all, or those in `ids`) that have no embedding under `model`, oldest first."""
    sql = (
        "SELECT r.id, r.image_sha256, r.image_path, r.linked FROM renders r WHERE NOT EXISTS"
        " (SELECT 1 FROM render_embeddings e WHERE e.render_id = r.id AND e.model = ?)"
    )
    rows = _select_by_id(conn, sql, [model], id_column="r.id", ids=ids)
    return [PendingRender(int(r[0]), str(r[1]), str(r[2]), bool(r[3])) for r in rows]


def vectors_by_sha(conn: sqlite3.Connection, model: str, shas: Sequence[str], *, dim: int) -> dict[str, FloatArray]:
    """Already stored vectors of images with these contents (another render of the same file): no need to embed
    the same bytes twice."""
    out: dict[str, FloatArray] = {}
    wanted = list(dict.fromkeys(shas))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for sha, row_dim, blob in conn.execute(
            "SELECT r.image_sha256, e.dim, e.vector FROM render_embeddings e JOIN renders r ON r.id = e.render_id"
            f" WHERE e.model = ? AND r.image_sha256 IN ({marks})",
            [model, *chunk],
        ):
            if row_dim == dim and sha not in out:
                out[sha] = decode([blob], dim)[0]
    return out


def prompts_to_embed(
    conn: sqlite3.Connection, model: str, *, ids: Iterable[int] | None = None
) -> tuple[list[tuple[int, str]], str | None]:
    """Prompts without an embedding under `model`, plus those edited since the last pass (their text may have
    changed): [(prompt id, prompt text)], and the watermark to record with `set_watermark` once they are stored."""
    mark_row = conn.execute("SELECT value FROM library_meta WHERE key = ?", (_WATERMARK + model,)).fetchone()
    since = str(mark_row[0]) if mark_row else None
    newest = conn.execute("SELECT max(updated_at) FROM prompts").fetchone()[0]
    sql = (
        "SELECT p.id, p.prompt FROM prompts p WHERE (NOT EXISTS (SELECT 1 FROM prompt_embeddings e"
        " WHERE e.prompt_id = p.id AND e.model = ?)"
    )
    params: list[object] = [model]
    if since is not None:
        sql += " OR p.updated_at > ?"
        params.append(since)
    sql += ")"
    rows = _select_by_id(conn, sql, params, id_column="p.id", ids=ids)
    return [(int(r[0]), str(r[1])) for r in rows], (str(newest) if newest is not None else None)


def set_watermark(conn: sqlite3.Connection, model: str, value: str | None) -> None:
    if value is None:
        return
    conn.execute(
        "INSERT INTO library_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        " WHERE excluded.value > library_meta.value",
        (_WATERMARK + model, value),
    )


def clear_watermark(conn: sqlite3.Connection, model: str) -> None:
    conn.execute("DELETE FROM library_meta WHERE key = ?", (_WATERMARK + model,))


def meta_get(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM library_meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def meta_set(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    if value is None:
        conn.execute("DELETE FROM library_meta WHERE key = ?", (key,))
    else:
        conn.execute(
            "INSERT INTO library_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
