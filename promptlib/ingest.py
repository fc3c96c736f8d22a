"""Writing what importers read into the library: validated entries, styles and images, files first, then rows.

`Library.import_*` and the `Importer` call these; each call is one write transaction (images: one per batch).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.entries import ImportReport
from promptlib.errors import ValidationError
from promptlib.recipe import Recipe
from promptlib.store.bulk import NewEntry, gc_paused, insert_entries
from promptlib.store.db import sql_datetime
from promptlib.store.renders import NewRender, insert_render
from promptlib.store.tags import clean_tags

if TYPE_CHECKING:
    from promptlib.images import ImageInfo
    from promptlib.importing import ImageItem
    from promptlib.library import Library, Progress
    from promptlib.store.files import StoredFile


def ingest_entries(
    lib: Library,
    items: Sequence[Any],
    styles: Sequence[Any],
    *,
    pack_name: str | None,
    pack_fields: dict[str, Any],
    source: dict[str, Any],
    progress: Progress | None,
    images: Any = None,
) -> ImportReport:
    """Validate pack entries, store their images' files, then insert entries, styles and renders in one
    transaction: a crash leaves the old library or the new one (plus at most unreferenced files)."""
    report = ImportReport(pack=pack_name)
    news: list[tuple[NewEntry, Any]] = []
    with gc_paused():  # (see gc_paused: the collector would cost as much as the preparation)
        for n, item in enumerate(items):
            try:
                new = lib.prepare_entry(
                    item.prompt,
                    negative_prompt=item.negative_prompt,
                    title=item.title or "",
                    notes=item.notes,
                    tags=item.tags,
                    params=item.params,  # validated with the pack: used as it is
                    rating=item.rating,
                    favourite=item.favourite,
                    source=source,
                )
            except ValidationError as exc:
                report.errors.append(f"entry {n + 1}: {exc}")
                continue
            news.append((new, item))
    with lib.images.writing():  # from the first file to the commit (see ImageStore.writing)
        return _insert_pack(
            lib, news, styles, images=images, report=report, pack_name=pack_name, pack_fields=pack_fields,
            progress=progress,
        )  # fmt: skip


def _insert_pack(
    lib: Library,
    news: list[tuple[NewEntry, Any]],
    styles: Sequence[Any],
    *,
    images: Any,
    report: ImportReport,
    pack_name: str | None,
    pack_fields: dict[str, Any],
    progress: Progress | None,
) -> ImportReport:
    placed = _store_pack_images(lib, news, images, report) if images is not None else []
    with lib.db.write() as conn:
        pack_id = lib.ensure_pack(conn, pack_name, **pack_fields) if pack_name else None
        result = insert_entries(conn, [n for n, _ in news], pack_id=pack_id, progress=progress, bulk=True)
        report.added, report.skipped, report.ids = len(result.ids), result.skipped, result.ids
        report.styles_added, report.styles_skipped = insert_styles(conn, styles, pack_id)
        _insert_collections(
            conn, [(result.all_ids[n], getattr(item, "collections", ())) for n, (_, item) in enumerate(news)]
        )
        for n, stored, info in placed:
            new = news[n][0]
            recipe = Recipe(
                prompt=new.prompt,
                negative_prompt=new.negative_prompt,
                **(new.params.model_dump() if new.params is not None else {}),
            )
            render = NewRender(
                prompt_id=result.all_ids[n],
                image_sha256=stored.sha256,
                image_path=stored.relpath,
                width=info.width,
                height=info.height,
                file_size=stored.size,
                format=info.format,
                kind="import",
                recipe=recipe,
            )
            report.images_added += insert_render(conn, render, skip_existing=True) is not None
    return report


def _insert_collections(conn: Any, memberships: Sequence[tuple[int, Sequence[str]]]) -> None:
    """Put entries in the collections a pack lists for them (collections made as needed, places kept)."""
    from datetime import UTC, datetime

    from promptlib.store.db import sql_datetime

    now = sql_datetime(datetime.now(UTC))
    for entry_id, names in memberships:
        for name in names:
            conn.execute(
                "INSERT OR IGNORE INTO collections(name, description, created_at) VALUES (?, '', ?)",
                (name.strip(), now),
            )
            conn.execute(
                "INSERT OR IGNORE INTO collection_items(collection_id, prompt_id, position, added_at)"
                " SELECT c.id, ?, (SELECT coalesce(max(position), -1) + 1 FROM collection_items WHERE collection_id"
                " = c.id), ? FROM collections c WHERE c.name = ?",
                (entry_id, now, name.strip()),
            )


def _store_pack_images(
    lib: Library, news: Sequence[tuple[NewEntry, Any]], source: Any, report: ImportReport
) -> list[tuple[int, StoredFile, ImageInfo]]:
    """Store the image files of a pack's entries (files first, one sync for all); returns (entry index, stored file,
    image info) per image. An entry whose image is bad or unsafe keeps its entry; the problem is reported.
    Raises LibraryError when the disk refuses a file (the import then changes nothing but unreferenced files)."""
    from promptlib.images import probe_image
    from promptlib.packs.native import iter_images

    placed: list[tuple[int, StoredFile, ImageInfo]] = []
    created = False
    for n, (_new, item) in enumerate(news):
        try:
            for _digest, data in iter_images(source, item):
                info = probe_image(data, name=f"image of entry {n + 1}")
                stored = lib.images.put(data, ext=info.extension, sync=False)
                created = created or stored.created
                placed.append((n, stored, info))
        except ValidationError as exc:  # a bad image skips the image; a storage error (LibraryError) ends the import
            report.errors.append(str(exc))
    if created:
        lib.images.sync_all()
    return placed


def insert_styles(conn: sqlite3.Connection, styles: Sequence[Any], pack_id: int | None) -> tuple[int, int]:
    added = skipped = 0
    now = sql_datetime(datetime.now(UTC))
    for style in styles:
        cur = conn.execute(
            "INSERT OR IGNORE INTO styles(name, prompt, negative_prompt, notes, tags, pack_id, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                style.name.strip(),
                style.prompt,
                style.negative_prompt,
                style.notes,
                json.dumps(clean_tags(style.tags)),
                pack_id,
                now,
                now,
            ),
        )
        if cur.rowcount:
            added += 1
        else:
            skipped += 1
    return added, skipped


def ingest_images(lib: Library, items: Sequence[ImageItem], *, pack: str | None = None) -> ImportReport:
    """Store images with the recipes read from their metadata: files first (one sync per batch),
    then one transaction adding an entry per recipe (duplicates skipped) and the image as its render."""
    with lib.images.writing():  # from the first file to the commit (see ImageStore.writing)
        return _ingest_images(lib, items, pack)


def _ingest_images(lib: Library, items: Sequence[ImageItem], pack: str | None) -> ImportReport:
    from promptlib.images import FORMATS
    from promptlib.store.files import sha256_bytes

    report = ImportReport(pack=pack)
    news: list[NewEntry] = []
    owners: list[tuple[int, Recipe]] = []  # (index in items, the recipe read from the image) per new entry
    for n, item in enumerate(items):  # validate first: an image none of whose recipes is usable stores no file
        for recipe in item.recipes:
            try:
                news.append(
                    lib.prepare_entry(
                        recipe.prompt,
                        negative_prompt=recipe.negative_prompt,
                        title=Path(item.path.rsplit("!", 1)[-1]).stem,
                        params=recipe,
                        source={"format": "image", "generator": recipe.generator, "path": item.path},
                    )
                )
            except ValidationError as exc:
                report.errors.append(f"{item.path}: {exc}")
                continue
            owners.append((n, recipe))
    placed: dict[int, tuple[str, str, bool]] = {}  # index in items -> sha256, path, linked
    created: list[str] = []
    for n in dict.fromkeys(n for n, _ in owners):
        item = items[n]
        if item.link is not None:
            placed[n] = (sha256_bytes(item.data), str(item.link.resolve()), True)
            continue
        stored = lib.images.put(item.data, ext=FORMATS.get(item.format, "png"), sync=False)
        if stored.created:
            created.append(stored.relpath)
        placed[n] = (stored.sha256, stored.relpath, False)
    if created:
        lib.images.sync_all()
    with lib.db.write() as conn:
        pack_id = lib.ensure_pack(conn, pack) if pack else None
        result = insert_entries(conn, news, pack_id=pack_id, bulk=len(news) > 50)
        report.added, report.skipped, report.ids = len(result.ids), result.skipped, result.ids
        for (n, recipe), entry_id in zip(owners, result.all_ids, strict=True):
            item, (sha, path, linked) = items[n], placed[n]
            render = NewRender(
                prompt_id=entry_id,
                image_sha256=sha,
                image_path=path,
                linked=linked,
                width=item.width,
                height=item.height,
                file_size=len(item.data),
                format=item.format,
                kind="import",
                recipe=recipe,  # the full recipe as read, raw metadata text included
            )
            report.images_added += insert_render(conn, render, skip_existing=True) is not None
    return report
