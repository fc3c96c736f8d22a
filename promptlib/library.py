"""`Library`: the one facade over a promptlib library folder. The CLI, the TUI, notebooks and tests call only this.

    >>> from promptlib import Library
    >>> lib = Library.open("~/prompts")                 # creates the folder on first use
    >>> entry = lib.add("a lighthouse in fog, oil painting", tags=["seascape"], params={"steps": 30})
    >>> [hit.entry.title for hit in lib.search("lighthouse tag:seascape").hits]

Every method raises promptlib's own errors (`promptlib.errors`) with one-line messages.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from promptlib import config as cfg
from promptlib.entries import Entry, ImportReport, RenderInfo, SearchHit, StyleInfo
from promptlib.errors import LibraryError, NotFoundError, ValidationError
from promptlib.ingest import ingest_entries, ingest_images
from promptlib.limits import MAX_NOTES_CHARS, MAX_PROMPT_CHARS, MAX_TITLE_CHARS
from promptlib.recipe import PARAM_FIELDS, GenerationParams, Recipe, canonical_sampler
from promptlib.search import dsl, lexical
from promptlib.store import migrate, queries
from promptlib.store.bulk import NewEntry, insert_entries
from promptlib.store.db import Database, sql_datetime
from promptlib.store.files import ImageStore
from promptlib.store.renders import NewRender, insert_render
from promptlib.store.tags import clean_tags, drop_unused_tags, get_tags, set_tags

if TYPE_CHECKING:
    from promptlib.importing import ImageItem, ImportSummary
    from promptlib.store.doctor import Finding

Progress = Callable[[int], None]
_UNSET: Any = object()


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: list[SearchHit]
    truncated: bool  # more matches existed than the bounded ranking window covered

    def to_json(self) -> list[dict[str, Any]]:
        return [hit.to_json() for hit in self.hits]


def _check_text(label: str, value: str, limit: int, *, required: bool = False) -> str:
    if "\x00" in value:
        raise ValidationError(f"{label} contains a NUL byte")
    if len(value) > limit:
        raise ValidationError(f"{label} is {len(value):,} characters; the limit is {limit:,}")
    if required and not value.strip():
        raise ValidationError(f"{label} is empty")
    return value


def make_params(params: GenerationParams | dict[str, Any] | None) -> GenerationParams | None:
    """Generation parameters from a params dict (recipe field names; unknown keys go to `extra`) or from already
    validated parameters (a Recipe, a pack's params), with sampler names from any tool canonicalised.
    Raises ValidationError naming the bad field."""
    if params is None:
        return None
    if isinstance(params, GenerationParams):
        return params.canonical() if params.model_fields_set else None
    known = {k: v for k, v in params.items() if k in PARAM_FIELDS}
    extra = dict(params.get("extra") or {})
    extra.update((k, v) for k, v in params.items() if k not in known and k != "extra")
    sampler, schedule = known.get("sampler"), known.get("schedule")
    # (isinstance with a `str | None` union costs ~1.5 µs: too much per row of a bulk import)
    if (
        (sampler or schedule)
        and (sampler is None or type(sampler) is str)
        and (schedule is None or type(schedule) is str)
    ):
        known["sampler"], known["schedule"] = canonical_sampler(sampler, schedule)
    try:
        return GenerationParams(extra=extra, **known)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        raise ValidationError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


def _is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


class Library:
    """A library folder: ``library.db``, ``images/``, ``index/``, ``config.toml``."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.db_path = path / cfg.DB_NAME
        if not self.db_path.exists():
            if not create:
                raise LibraryError(f"no promptlib library at {path} (run `promptlib init`)")
            self._create_folder()
        elif not os.access(path, os.W_OK) or not os.access(self.db_path, os.W_OK):
            raise LibraryError(
                f"library folder {path} is read-only: promptlib needs write access for its write-ahead log"
            )
        self.images = ImageStore(path)
        self.config = self._load_config()
        self.last_backup: Path | None = None
        self._ensure_schema()
        self.db = Database(self.db_path)
        self.images.sweep_temp()

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> Library:
        """Open (and by default create) the library at `path`, ``$PROMPTLIB_HOME`` or the platform default."""
        return cls(cfg.resolve_library_path(path), create=create)

    def _create_folder(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            for sub in (cfg.IMAGES_DIR, cfg.INDEX_DIR):
                (self.path / sub).mkdir(exist_ok=True)
            config_file = self.path / cfg.CONFIG_NAME
            if not config_file.exists():
                config_file.write_text(cfg.DEFAULT_CONFIG_TEXT, encoding="utf-8")
        except OSError as exc:
            raise LibraryError(f"cannot create library at {self.path}: {exc.strerror or exc}") from exc

    def _load_config(self) -> cfg.Config:
        try:
            return cfg.Config.load(self.path / cfg.CONFIG_NAME)
        except (ValueError, OSError) as exc:
            raise LibraryError(f"{self.path / cfg.CONFIG_NAME}: {exc}") from exc

    def _ensure_schema(self) -> None:
        try:
            conn = sqlite3.connect(self.db_path)
        except sqlite3.Error as exc:
            raise LibraryError(f"cannot open {self.db_path}: {exc}") from exc
        try:
            due = migrate.needs_upgrade(conn)
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"{self.db_path} is not a SQLite database or is corrupt ({exc})") from exc
        finally:
            conn.close()
        if due:
            self.last_backup = migrate.upgrade(self.path, self.db_path, backups_dir=self.path / cfg.BACKUPS_DIR)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- entries ------------------------------------------------------------------------------------------------

    def prepare_entry(
        self,
        prompt: str,
        *,
        negative_prompt: str = "",
        title: str = "",
        notes: str = "",
        tags: Iterable[str] = (),
        params: GenerationParams | dict[str, Any] | None = None,
        rating: int | None = None,
        favourite: bool = False,
        source: dict[str, Any] | None = None,
    ) -> NewEntry:
        """Validate one entry for `add_many` (the bulk path); raises ValidationError naming the problem."""
        _check_text("prompt", prompt, MAX_PROMPT_CHARS, required=True)
        _check_text("negative prompt", negative_prompt, MAX_PROMPT_CHARS)
        _check_text("title", title, MAX_TITLE_CHARS)
        _check_text("notes", notes, MAX_NOTES_CHARS)
        if rating is not None and not 0 <= rating <= 5:
            raise ValidationError(f"rating {rating} is outside 0-5")
        return NewEntry(
            prompt=prompt,
            negative_prompt=negative_prompt,
            title=title.strip(),
            notes=notes,
            tags=tuple(clean_tags(tags)),
            params=make_params(params),
            rating=rating,
            favourite=favourite,
            source=source or {},
        )

    def add(
        self,
        prompt: str,
        *,
        negative_prompt: str = "",
        title: str = "",
        notes: str = "",
        tags: Iterable[str] = (),
        params: GenerationParams | dict[str, Any] | None = None,
        rating: int | None = None,
        favourite: bool = False,
        source: dict[str, Any] | None = None,
    ) -> Entry:
        """Add one prompt and return it. Raises ValidationError for an empty or oversized prompt or bad params."""
        new = self.prepare_entry(
            prompt,
            negative_prompt=negative_prompt,
            title=title,
            notes=notes,
            tags=tags,
            params=params,
            rating=rating,
            favourite=favourite,
            source=source or {"added": "manual"},
        )
        with self.db.write() as conn:
            result = insert_entries(conn, [new], dedupe=False)
        return self.get(result.ids[0])

    def add_many(
        self,
        entries: Iterable[NewEntry],
        *,
        pack: str | None = None,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Insert many validated entries in one transaction, skipping ones already present (idempotent)."""
        report = ImportReport(pack=pack)
        with self.db.write() as conn:
            pack_id = self.ensure_pack(conn, pack) if pack else None
            result = insert_entries(conn, entries, pack_id=pack_id, progress=progress, bulk=True)
        report.added, report.skipped, report.ids = len(result.ids), result.skipped, result.ids
        return report

    def get(self, entry_id: int) -> Entry:
        """The entry with this id; raises NotFoundError."""
        found = self.get_many([entry_id])
        if not found:
            raise NotFoundError(f"no prompt with id {entry_id}")
        return found[0]

    def get_many(self, ids: Sequence[int], *, with_renders: bool = True) -> list[Entry]:
        """Entries for `ids` in order; missing ids are left out."""
        with self.db.lock:
            return queries.load_entries(self.db.conn, ids, with_renders=with_renders)

    def count(self, query: str = "", *, limit: int | None = None) -> int:
        """How many entries match `query` (all entries when empty), counting at most `limit` when given."""
        with self.db.lock:
            if not query.strip() and limit is None:
                return int(self.db.conn.execute("SELECT count(*) FROM prompts").fetchone()[0])
            return lexical.count(self.db.conn, dsl.parse(query), limit=limit)

    def reachable(self, query: str = "") -> int:
        """How many entries `entries(query=...)` can page through: all matches of a filter-only query; for a
        ranked text query at most the ranking window (see `promptlib.search.lexical`)."""
        parsed = dsl.parse(query)
        limit = lexical.DEFAULT_WINDOW if parsed.positive_text else None
        with self.db.lock:
            return lexical.count(self.db.conn, parsed, limit=limit)

    def edit(
        self,
        entry_id: int,
        *,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        title: str | None = None,
        notes: str | None = None,
        params: dict[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        rating: int | None = _UNSET,
        favourite: bool | None = None,
    ) -> Entry:
        """Change fields of an entry; `params` is merged into the recipe (a None value clears a field)."""
        from promptlib.store.models import Prompt, RecipeRow

        with self.db.session() as session:
            row = session.get(Prompt, entry_id)
            if row is None:
                raise NotFoundError(f"no prompt with id {entry_id}")
            if prompt is not None:
                row.prompt = _check_text("prompt", prompt, MAX_PROMPT_CHARS, required=True)
            if negative_prompt is not None:
                row.negative_prompt = _check_text("negative prompt", negative_prompt, MAX_PROMPT_CHARS)
            if title is not None:
                row.title = _check_text("title", title, MAX_TITLE_CHARS).strip()
            if notes is not None:
                row.notes = _check_text("notes", notes, MAX_NOTES_CHARS)
            if rating is not _UNSET:
                if rating is not None and not 0 <= rating <= 5:
                    raise ValidationError(f"rating {rating} is outside 0-5")
                row.rating = rating
            if favourite is not None:
                row.favourite = favourite
            recipe_row = session.get(RecipeRow, entry_id)
            if params:
                current = recipe_row.model_dump(exclude={"prompt_id"}) if recipe_row else {}
                merged = make_params(current | params)
                assert merged is not None
                values = merged.params() | {"extra": merged.extra}
                if recipe_row is None:
                    recipe_row = RecipeRow(prompt_id=entry_id)
                for key, value in values.items():
                    setattr(recipe_row, key, value)
                session.add(recipe_row)
            row.fingerprint = NewEntry(
                prompt=row.prompt,
                negative_prompt=row.negative_prompt,
                params=make_params(recipe_row.model_dump(exclude={"prompt_id"})) if recipe_row else None,
            ).fingerprint()
            row.updated_at = datetime.now(UTC)
            session.add(row)
            session.flush()
            if tags is not None:
                raw = session.connection().connection.driver_connection
                assert isinstance(raw, sqlite3.Connection)
                set_tags(raw, entry_id, tags)
        return self.get(entry_id)

    def duplicate(self, entry_id: int) -> Entry:
        """A copy of an entry (text, tags, params; not its renders) with " (copy)" after the title."""
        entry = self.get(entry_id)
        return self.add(
            entry.prompt,
            negative_prompt=entry.negative_prompt,
            title=(entry.title + " (copy)").strip(),
            notes=entry.notes,
            tags=entry.tags,
            params={k: v for k, v in entry.params.items() if v not in (None, [], {})},
            source={"duplicate_of": entry.id},
        )

    def remove(self, ids: Iterable[int]) -> int:
        """Delete entries with their renders; image files no longer referenced are deleted after the commit."""
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        with self.db.write() as conn:
            marks = ",".join("?" * len(wanted))
            paths = [
                r[0]
                for r in conn.execute(
                    f"SELECT image_path FROM renders WHERE prompt_id IN ({marks}) AND linked = 0", wanted
                )
            ]
            old_tags = [
                r[0] for r in conn.execute(f"SELECT tag_id FROM prompt_tags WHERE prompt_id IN ({marks})", wanted)
            ]
            removed = conn.execute(f"DELETE FROM prompts WHERE id IN ({marks})", wanted).rowcount
            drop_unused_tags(conn, old_tags)
            still_used = (
                {r[0] for r in conn.execute("SELECT DISTINCT image_path FROM renders WHERE linked = 0")}
                if paths
                else set()
            )
        for path in set(paths) - still_used:
            self.images.remove(path)
        return int(removed)

    def entries(self, *, limit: int = 50, offset: int = 0, sort: str = "new", query: str = "") -> list[Entry]:
        """Entries in `sort` order, optionally restricted by a query's filters and words."""
        parsed = dsl.parse(query)
        sort = "score" if sort == "score" and parsed.positive_text else sort
        with self.db.lock:
            result = lexical.search(self.db.conn, parsed, limit=limit, offset=offset, sort=sort)
            return self.get_many([pid for pid, _ in result.hits], with_renders=False)

    def search(self, query: str, *, limit: int = 20, offset: int = 0, sort: str = "score") -> SearchResult:
        """Lexical search with the query DSL (see `promptlib.search.dsl`); raises QueryError for bad queries."""
        parsed = dsl.parse(query)
        with self.db.lock:
            result = lexical.search(self.db.conn, parsed, limit=limit, offset=offset, sort=sort)
            entries = {e.id: e for e in self.get_many([pid for pid, _ in result.hits])}
        hits = [SearchHit(entries[pid], score, {"lexical": score}) for pid, score in result.hits if pid in entries]
        return SearchResult(query, hits, result.truncated)

    # --- tags, ratings, favourites ------------------------------------------------------------------------------

    def _require(self, conn: sqlite3.Connection, ids: Sequence[int]) -> None:
        marks = ",".join("?" * len(ids))
        found = {r[0] for r in conn.execute(f"SELECT id FROM prompts WHERE id IN ({marks})", list(ids))}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(f"no prompt with id {', '.join(map(str, missing[:5]))}")

    def tag(self, ids: Iterable[int], *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> dict[int, list[str]]:
        """Add and remove tags on entries; returns each entry's tags afterwards."""
        wanted = sorted(set(ids))
        plus, minus = clean_tags(add), set(clean_tags(remove))
        out: dict[int, list[str]] = {}
        with self.db.write() as conn:
            self._require(conn, wanted)
            for pid in wanted:
                current = get_tags(conn, pid)
                out[pid] = set_tags(conn, pid, [t for t in current + plus if t not in minus])
        return out

    def tags(self, *, limit: int = 1000) -> list[tuple[str, int]]:
        """Tag names with how many entries carry them, most used first."""
        with self.db.lock:
            return queries.top_counts(self.db.conn, "tags", limit=limit)

    def rate(self, ids: Iterable[int], rating: int | None) -> int:
        """Set (or with None clear) the 0-5 rating of entries; returns how many changed."""
        if rating is not None and not 0 <= rating <= 5:
            raise ValidationError(f"rating {rating} is outside 0-5")
        return self._set_column(ids, "rating", rating)

    def favourite(self, ids: Iterable[int], value: bool = True) -> int:
        """Mark or unmark entries as favourites; returns how many."""
        return self._set_column(ids, "favourite", int(value))

    def _set_column(self, ids: Iterable[int], column: str, value: object) -> int:
        wanted = sorted(set(ids))
        now = sql_datetime(datetime.now(UTC))
        with self.db.write() as conn:
            self._require(conn, wanted)
            conn.executemany(
                f"UPDATE prompts SET {column} = ?, updated_at = ? WHERE id = ?",
                [(value, now, i) for i in wanted],
            )
        return len(wanted)

    # --- styles -------------------------------------------------------------------------------------------------

    def styles(self) -> list[StyleInfo]:
        with self.db.lock:
            return queries.load_styles(self.db.conn)

    def style(self, name: str) -> StyleInfo:
        """The style called `name` (case-insensitive); raises NotFoundError."""
        with self.db.lock:
            found = queries.load_styles(self.db.conn, name=name)
        if not found:
            raise NotFoundError(f"no style named {name!r}")
        return found[0]

    def add_style(
        self, name: str, prompt: str, *, negative_prompt: str = "", notes: str = "", tags: Iterable[str] = ()
    ) -> StyleInfo:
        """Create a style template (``{prompt}`` marks where the entry's prompt goes); raises ValidationError."""
        from promptlib.store.models import Style

        _check_text("style name", name, MAX_TITLE_CHARS, required=True)
        _check_text("style prompt", prompt, MAX_PROMPT_CHARS)
        _check_text("style negative prompt", negative_prompt, MAX_PROMPT_CHARS)
        if queries.load_styles(self.db.conn, name=name):
            raise ValidationError(f"a style named {name!r} already exists")
        with self.db.session() as session:
            session.add(
                Style(
                    name=name.strip(),
                    prompt=prompt,
                    negative_prompt=negative_prompt,
                    notes=notes,
                    tags=clean_tags(tags),
                )
            )
        return self.style(name)

    def apply_style(self, entry_id: int, style: str) -> Entry:
        """Rewrite an entry's prompt and negative prompt through a style template."""
        entry, template = self.get(entry_id), self.style(style)
        prompt, negative = template.apply(entry.prompt, entry.negative_prompt)
        return self.edit(entry_id, prompt=prompt, negative_prompt=negative)

    # --- collections --------------------------------------------------------------------------------------------

    def collect(self, name: str, ids: Iterable[int], *, description: str = "") -> int:
        """Add entries to a collection, creating it if needed; returns the collection's size."""
        _check_text("collection name", name, MAX_TITLE_CHARS, required=True)
        wanted = list(dict.fromkeys(ids))
        now = sql_datetime(datetime.now(UTC))
        with self.db.write() as conn:
            self._require(conn, wanted)
            conn.execute(
                "INSERT OR IGNORE INTO collections(name, description, created_at) VALUES (?, ?, ?)",
                (name.strip(), description, now),
            )
            cid = conn.execute("SELECT id FROM collections WHERE name = ?", (name.strip(),)).fetchone()[0]
            start = conn.execute(
                "SELECT coalesce(max(position), -1) + 1 FROM collection_items WHERE collection_id = ?", (cid,)
            ).fetchone()[0]
            conn.executemany(
                "INSERT OR IGNORE INTO collection_items(collection_id, prompt_id, position, added_at)"
                " VALUES (?, ?, ?, ?)",
                [(cid, pid, start + n, now) for n, pid in enumerate(wanted)],
            )
            return int(
                conn.execute("SELECT count(*) FROM collection_items WHERE collection_id = ?", (cid,)).fetchone()[0]
            )

    def uncollect(self, name: str, ids: Iterable[int]) -> int:
        """Take entries out of a collection (the collection stays); returns how many were in it."""
        wanted = list(dict.fromkeys(ids))
        with self.db.write() as conn:
            row = conn.execute("SELECT id FROM collections WHERE name = ? COLLATE NOCASE", (name.strip(),)).fetchone()
            if row is None:
                raise NotFoundError(f"no collection named {name!r}")
            marks = ",".join("?" * len(wanted))
            cur = conn.execute(
                f"DELETE FROM collection_items WHERE collection_id = ? AND prompt_id IN ({marks})", [row[0], *wanted]
            )
            return int(cur.rowcount)

    def collections(self) -> list[tuple[str, int]]:
        rows = self.db.execute(
            "SELECT c.name, count(ci.prompt_id) FROM collections c LEFT JOIN collection_items ci"
            " ON ci.collection_id = c.id GROUP BY c.id ORDER BY c.name COLLATE NOCASE"
        )
        return [(r[0], int(r[1])) for r in rows]

    # --- packs --------------------------------------------------------------------------------------------------

    def ensure_pack(self, conn: sqlite3.Connection, name: str, **fields: Any) -> int:
        now = sql_datetime(datetime.now(UTC))
        conn.execute(
            "INSERT OR IGNORE INTO packs(name, version, description, imported_at) VALUES (?, '', '', ?)",
            (name, now),
        )
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            conn.execute(f"UPDATE packs SET {sets} WHERE name = ?", [*fields.values(), name])
        return int(conn.execute("SELECT id FROM packs WHERE name = ?", (name,)).fetchone()[0])

    def import_path(
        self,
        path: str | os.PathLike[str],
        *,
        fmt: str | None = None,
        pack: str | None = None,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import one file or pack: a native pack (folder or .zip with pack.json) or a foreign style/prompt file
        (A1111 styles.csv, Fooocus/InvokeAI style JSON, prompts_from_file, JSONL), detected from its content.

        Idempotent. Bad rows are reported in the result and skipped; raises FormatError / UnsafeInputError when
        the file as a whole cannot be read.
        """
        source_path = Path(path)
        if not source_path.exists():
            raise NotFoundError(f"{source_path}: no such file or folder")
        if fmt in (None, "promptlib-pack") and (source_path.is_dir() or _is_zip(source_path)):
            return self.import_pack(source_path, progress=progress)
        from promptlib.limits import MAX_JSON_BYTES

        if source_path.stat().st_size > MAX_JSON_BYTES:
            from promptlib.errors import UnsafeInputError

            raise UnsafeInputError(f"{source_path.name} is larger than {MAX_JSON_BYTES:,} bytes")
        return self.import_data(
            source_path.read_bytes(), name=str(source_path), fmt=fmt, pack=pack or source_path.stem, progress=progress
        )

    def import_data(
        self,
        data: bytes,
        *,
        name: str,
        fmt: str | None = None,
        pack: str | None = None,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import a foreign style/prompt file's bytes (format detected from content unless `fmt` is given)."""
        from promptlib.packs.formats import read_any

        short = name.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
        found, part, warnings = read_any(data, source=short, fmt=fmt, filename=short)
        report = ingest_entries(
            self,
            part.entries,
            part.styles,
            pack_name=pack or Path(short).stem or "imported",
            pack_fields={"source": name},
            source={"format": found, "path": name},
            progress=progress,
        )
        report.errors[:0] = warnings
        report.format = found
        return report

    def import_paths(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        fmt: str | None = None,
        pack: str | None = None,
        link: bool = False,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Import files, folders (recursively) and zips; returns an `ImportSummary`. Never raises for one bad
        file: it is listed in ``summary.failed`` with its reason and the rest is imported."""
        from promptlib.importing import Importer

        return Importer(self, fmt=fmt, pack=pack, link=link, progress=progress).run([Path(p) for p in paths])

    def import_images(self, items: Sequence[ImageItem], *, pack: str | None = None) -> ImportReport:
        """Store images with the recipes read from their metadata (see `promptlib.ingest.ingest_images`)."""
        return ingest_images(self, items, pack=pack)

    def import_pack(self, path: str | os.PathLike[str], *, progress: Progress | None = None) -> ImportReport:
        """Import a native pack (folder or .zip). Idempotent; bad entries are reported and skipped."""
        from promptlib.packs.native import PackSource, load_pack

        source_path = Path(path)
        if not source_path.exists():
            raise NotFoundError(f"{source_path}: no such file or folder")
        with PackSource(source_path) as source:
            loaded = load_pack(source)
            m = loaded.manifest
            report = ingest_entries(
                self,
                loaded.entries,
                loaded.styles,
                pack_name=m.name,
                pack_fields={
                    "version": m.version,
                    "author": m.author,
                    "license": m.license,
                    "description": m.description,
                    "homepage": m.homepage,
                    "source": str(source_path),
                    "created": sql_datetime(m.created) if m.created else None,
                },
                source={"format": "promptlib-pack", "path": str(source_path)},
                progress=progress,
                images=source,
            )
            report.errors[:0] = loaded.errors
        report.format = "promptlib-pack"
        return report

    def export(
        self,
        target: str | os.PathLike[str],
        *,
        fmt: str = "pack",
        name: str = "my-prompts",
        query: str = "",
        author: str | None = None,
        license: str | None = None,
        description: str = "",
        include_styles: bool = True,
        include_images: bool = False,
    ) -> Path:
        """Write the entries matching `query` (all by default) and the styles in format `fmt`.

        Formats: ``pack`` (native folder, or zip when `target` ends in .zip), ``a1111-styles``, ``fooocus-styles``,
        ``invokeai-presets``, ``prompts-from-file``, ``jsonl``, ``csv``. Raises ValidationError for an unknown
        format, QueryError for a bad query.
        """
        from promptlib.packs import exporting

        return exporting.export(
            self,
            Path(target),
            fmt=fmt,
            name=name,
            query=query,
            author=author,
            license=license,
            description=description,
            include_styles=include_styles,
            include_images=include_images,
        )

    def entry_ids(self, query: str = "", *, sort: str = "old") -> list[int]:
        """Every entry id matching `query`, unranked and unbounded (for exports and batch operations)."""
        with self.db.lock:
            result = lexical.search(self.db.conn, dsl.parse(query), limit=10**9, sort=sort, window=10**9)
        return [pid for pid, _ in result.hits]

    # --- images and renders -------------------------------------------------------------------------------------

    def add_image(
        self,
        entry_id: int,
        data: bytes,
        *,
        recipe: Recipe | None = None,
        kind: str = "render",
        environment: dict[str, Any] | None = None,
        timings: dict[str, Any] | None = None,
    ) -> RenderInfo:
        """Store an image (file first, then its row) as a render of an entry; raises ValidationError if not an image."""
        from promptlib.images import probe_image

        info = probe_image(data)
        stored = self.images.put(data, ext=info.extension)
        new = NewRender(
            prompt_id=entry_id,
            image_sha256=stored.sha256,
            image_path=stored.relpath,
            width=info.width,
            height=info.height,
            file_size=stored.size,
            format=info.format,
            kind=kind,
            recipe=recipe,
            environment=environment or {},
            timings=timings or {},
        )
        with self.db.write() as conn:
            self._require(conn, [entry_id])
            render_id = insert_render(conn, new)
        assert render_id is not None
        return self.get_render(render_id)

    def has_image(self, entry_id: int, sha256: str) -> bool:
        """True when the entry already has a render with this image."""
        rows = self.db.execute("SELECT 1 FROM renders WHERE prompt_id = ? AND image_sha256 = ?", (entry_id, sha256))
        return bool(rows)

    def get_render(self, render_id: int) -> RenderInfo:
        with self.db.lock:
            found = queries.load_render(self.db.conn, render_id)
        if found is None:
            raise NotFoundError(f"no render with id {render_id}")
        return found

    def image_path(self, render: RenderInfo) -> Path:
        return Path(render.image_path) if render.linked else self.path / render.image_path

    def _on_new_renders(self, renders: Sequence[RenderInfo], images: Sequence[Any] | None = None) -> None:
        """Called after renders (from the renderer or an import) are stored: keeps derived data such as the
        semantic index up to date. ``images`` are the decoded PIL images when the caller has them in memory."""
        return None

    # --- rendering (promptlib.render) ---------------------------------------------------------------------------

    # --- semantic search (promptlib.search.embed / index / hybrid) ----------------------------------------------

    # --- maintenance --------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts of everything, plus the most used tags, packs, samplers and models."""
        with self.db.lock:
            out: dict[str, Any] = dict(queries.stats(self.db.conn))
            for what in ("tags", "packs", "samplers", "models"):
                out[f"top_{what}"] = dict(queries.top_counts(self.db.conn, what, limit=8))
        out["library"] = str(self.path)
        out["schema"] = migrate.current_revision(self.db.conn)
        out["db_bytes"] = self.db_path.stat().st_size
        return out

    def backup(self, target: str | os.PathLike[str] | None = None) -> Path:
        """A consistent copy of library.db made with SQLite's backup API (default: ``backups/``)."""
        dest = (
            Path(target)
            if target
            else self.path / cfg.BACKUPS_DIR / migrate.backup_name(migrate.current_revision(self.db.conn))
        )
        if dest.is_dir():
            dest = dest / migrate.backup_name(migrate.current_revision(self.db.conn))
        try:
            return migrate.backup(self.db_path, dest)
        except (OSError, sqlite3.Error) as exc:
            raise LibraryError(f"backup to {dest} failed: {exc}") from exc

    def check(self) -> list[str]:
        """Integrity problems found (empty when healthy): SQLite, foreign keys, FTS index, schema revision."""
        from promptlib.store.doctor import integrity_problems

        with self.db.lock:
            return integrity_problems(self.db.conn)

    def doctor(self, *, fix: bool = False, deep: bool = False) -> list[Finding]:
        """Everything wrong with the library: `check()`'s findings plus missing, corrupt (`deep`), orphaned and
        temporary image files and an oversized WAL. With `fix`, after a backup: orphaned and temp files are
        deleted, a damaged search index is rebuilt, the WAL is checkpointed. Returns the findings as found."""
        from promptlib.store import doctor as doc

        with self.db.lock:
            findings = doc.classify(self.check()) + doc.image_findings(self.db.conn, self.images, deep=deep)
        findings += doc.wal_findings(self.db_path)
        if fix and any(f.fixable for f in findings):
            self.backup()
            for finding in findings:
                if finding.kind in ("orphan-file", "temp-file"):
                    doc.remove_file(self.path, finding)
            if any(f.kind == "search-index" for f in findings):
                self.rebuild_search_index()
            if any(f.kind == "wal-size" for f in findings):
                with self.db.lock:
                    self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return findings

    def rebuild_search_index(self) -> None:
        """Rebuild the FTS5 index from the prompts table."""
        with self.db.write() as conn:
            conn.execute("INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild')")
