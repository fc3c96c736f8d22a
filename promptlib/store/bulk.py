"""Inserting many entries fast: one transaction, ``executemany`` for every table, ids assigned up front.

This is the product's only insert path for prompts — `Library.add` uses it with one entry, imports with a
million — so fingerprints, tags and the FTS index (through triggers) are handled the same way everywhere.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from promptlib.recipe import GenerationParams
from promptlib.store.db import sql_datetime
from promptlib.store.schema_extras import deferred_fts
from promptlib.store.tags import tag_ids, tag_text

Progress = Callable[[int], None]


@dataclass(frozen=True)
class NewEntry:
    """A prompt to insert, already validated."""

    prompt: str
    negative_prompt: str = ""
    title: str = ""
    notes: str = ""
    tags: tuple[str, ...] = ()  # normalised (see store.tags.clean_tags)
    params: GenerationParams | None = None
    rating: int | None = None
    favourite: bool = False
    source: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """sha256 over the text and the typed parameters: equal entries from any source get equal prints."""
        digest = hashlib.sha256()
        digest.update(self.prompt.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
        digest.update(self.negative_prompt.encode("utf-8", "surrogatepass"))
        if self.params is not None:
            r = self.params
            values = (r.model, r.model_hash, r.vae, r.sampler, r.schedule, r.steps, r.cfg_scale, r.seed, r.width,
                      r.height, r.clip_skip)  # fmt: skip
            digest.update(b"\x00" + repr(values).encode("utf-8", "surrogatepass"))
            if r.loras:
                digest.update(repr([(lo.name, lo.weight) for lo in r.loras]).encode("utf-8", "surrogatepass"))
        return digest.hexdigest()


@dataclass
class InsertResult:
    ids: list[int] = field(default_factory=list)  # new ids, in input order (skipped entries left out)
    skipped: int = 0
    all_ids: list[int] = field(default_factory=list)  # for every input entry, its new or existing id


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _batched(items: Iterable[NewEntry], size: int) -> Iterator[list[NewEntry]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _existing(conn: sqlite3.Connection, fingerprints: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(fingerprints), 500):
        chunk = fingerprints[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(conn.execute(f"SELECT fingerprint, id FROM prompts WHERE fingerprint IN ({marks})", chunk))
    return found


def insert_entries(
    conn: sqlite3.Connection,
    entries: Iterable[NewEntry],
    *,
    pack_id: int | None = None,
    dedupe: bool = True,
    batch_size: int = 5_000,
    progress: Progress | None = None,
    bulk: bool = False,
) -> InsertResult:
    """Insert entries inside the caller's write transaction; duplicates (same fingerprint) are skipped.

    With `bulk`, the FTS index is filled once at the end instead of row by row (see `deferred_fts`).
    """
    if bulk:
        with deferred_fts(conn):
            return insert_entries(
                conn, entries, pack_id=pack_id, dedupe=dedupe, batch_size=batch_size, progress=progress
            )
    result = InsertResult()
    tag_cache: dict[str, int] = {}
    last_source: tuple[dict[str, Any], str] = ({}, "{}")  # one import shares one source dict: serialise it once
    now = sql_datetime(datetime.now(UTC))
    next_id = int(conn.execute("SELECT coalesce(max(id), 0) FROM prompts").fetchone()[0]) + 1
    for batch in _batched(entries, batch_size):
        prints = [e.fingerprint() for e in batch]
        seen = _existing(conn, prints) if dedupe else {}
        prompt_rows: list[tuple[Any, ...]] = []
        recipe_rows: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[int, int]] = []
        tag_ids(conn, {t for e in batch for t in e.tags}, tag_cache)
        for entry, fp in zip(batch, prints, strict=True):
            if fp in seen:
                result.skipped += 1
                result.all_ids.append(seen[fp])
                continue
            pid = next_id
            next_id += 1
            if entry.source is not last_source[0] and entry.source != last_source[0]:
                last_source = (entry.source, _dumps(entry.source))
            seen[fp] = pid
            tags = sorted(entry.tags)
            prompt_rows.append(
                (
                    pid,
                    entry.title,
                    entry.prompt,
                    entry.negative_prompt,
                    entry.notes,
                    entry.rating,
                    int(entry.favourite),
                    pack_id,
                    last_source[1],
                    tag_text(tags),
                    fp,
                    now,
                    now,
                )
            )
            if entry.params is not None:
                r = entry.params
                recipe_rows.append(
                    (
                        pid,
                        r.model,
                        r.model_hash,
                        r.vae,
                        r.sampler,
                        r.schedule,
                        r.steps,
                        r.cfg_scale,
                        r.seed,
                        r.width,
                        r.height,
                        r.clip_skip,
                        json.dumps([lora.model_dump() for lora in r.loras]) if r.loras else "[]",
                        _dumps(r.extra) if r.extra else "{}",
                    )
                )
            tag_rows.extend((pid, tag_cache[t]) for t in tags)
            result.ids.append(pid)
            result.all_ids.append(pid)
        conn.executemany(
            "INSERT INTO prompts(id, title, prompt, negative_prompt, notes, rating, favourite, pack_id, source,"
            " tag_text, fingerprint, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            prompt_rows,
        )
        conn.executemany(
            "INSERT INTO recipes(prompt_id, model, model_hash, vae, sampler, schedule, steps, cfg_scale, seed,"
            " width, height, clip_skip, loras, extra) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            recipe_rows,
        )
        conn.executemany("INSERT INTO prompt_tags(prompt_id, tag_id) VALUES (?, ?)", tag_rows)
        if progress is not None:
            progress(len(batch))
    return result
