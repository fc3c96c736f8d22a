"""Writing render rows: the one INSERT every path (renders, imported images, pack images) goes through."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from promptlib.recipe import Recipe
from promptlib.store.db import sql_datetime


@dataclass(frozen=True)
class NewRender:
    """A render row to insert; the image file must already be stored (files first, then rows)."""

    prompt_id: int
    image_sha256: str
    image_path: str
    width: int
    height: int
    file_size: int
    format: str
    kind: str = "render"
    linked: bool = False
    recipe: Recipe | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)


def insert_render(conn: sqlite3.Connection, render: NewRender, *, skip_existing: bool = False) -> int | None:
    """Insert a render inside the caller's write transaction; returns its id, or None when `skip_existing` and the
    entry already has this image."""
    columns: tuple[Any, ...] = (
        render.prompt_id,
        render.image_sha256,
        render.image_path,
        int(render.linked),
        render.width,
        render.height,
        render.file_size,
        render.format,
        render.kind,
        render.recipe.model_dump_json() if render.recipe is not None else "{}",
        json.dumps(render.environment),
        json.dumps(render.timings),
        sql_datetime(datetime.now(UTC)),
    )
    sql = (
        "INSERT INTO renders(prompt_id, image_sha256, image_path, linked, width, height, file_size, format, kind,"
        " recipe, environment, timings, created_at) SELECT ?,?,?,?,?,?,?,?,?,?,?,?,?"
    )
    if skip_existing:
        sql += " WHERE NOT EXISTS (SELECT 1 FROM renders WHERE prompt_id = ? AND image_sha256 = ?)"
        columns += (render.prompt_id, render.image_sha256)
    cur = conn.execute(sql, columns)
    return int(cur.lastrowid) if cur.rowcount and cur.lastrowid else None
