"""`Library`: the one facade over a promptlib library folder. The CLI, the TUI, notebooks and tests call only this.

    >>> from promptlib import Library
    >>> lib = Library.open("~/prompts")                 # creates the folder on first use
    >>> entry = lib.add("a lighthouse in fog, oil painting", tags=["seascape"], params={"steps": 30})
    >>> [hit.entry.title for hit in lib.search("lighthouse tag:seascape").hits]

Every method raises promptlib's own errors (`promptlib.errors`) with one-line messages.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from promptlib import config as cfg
from promptlib.entries import Entry, ImportReport, RenderInfo, SearchHit, StyleInfo
from promptlib.errors import (
    OVERWRITE,
    SEARCH_IMAGE,
    SEARCH_LIKE,
    LibraryError,
    NotFoundError,
    PromptlibError,
    Switch,
    ValidationError,
    switch_error,
)
from promptlib.ingest import ingest_entries, ingest_images
from promptlib.limits import MAX_NOTES_CHARS, MAX_PROMPT_CHARS, MAX_TITLE_CHARS
from promptlib.recipe import (
    GenerationParams,
    LoraRef,
    Recipe,
    check_params_dict,
    fast_params_from_dict,
    params_from_dict,
)
from promptlib.search import dsl, index_manifest, lexical
from promptlib.store import migrate, queries
from promptlib.store.bulk import NewEntry, insert_entries, references_unchecked
from promptlib.store.db import Database, sql_datetime
from promptlib.store.files import ImageStore
from promptlib.store.renders import NewRender, insert_render
from promptlib.store.tags import clean_tag_tuple, clean_tags, drop_unused_tags, get_tags, set_tags

if TYPE_CHECKING:
    import threading

    from promptlib.importing import ImageItem, ImportSummary
    from promptlib.packs.exporting import ExportSummary
    from promptlib.render.renderer import RenderOptions
    from promptlib.render.results import GridResult, Rendered, RenderProgress, RenderRun, VerifyReport
    from promptlib.search.duplicates import DuplicateCluster
    from promptlib.search.reports import BuildReport, IndexStatus
    from promptlib.search.semantic import SemanticSearch, StageProgress
    from promptlib.store.doctor import Facts as DoctorFacts
    from promptlib.store.doctor import Finding
    from promptlib.store.removal import Removed

Progress = Callable[[int], None]
_UNSET: Any = object()
# `search`'s arguments as its errors name them (see `promptlib.errors.Switch`)
_BY_IMAGE = (SEARCH_IMAGE, SEARCH_LIKE)
_SIMILAR_PROMPTS = Switch("similar_prompts=True", "--similar-prompts")
_SEMANTIC_OR_HYBRID = (Switch("mode='semantic'", "--mode semantic"), Switch("mode='hybrid'", "--mode hybrid"))


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: list[SearchHit]
    truncated: bool  # more matches existed than the bounded ranking window covered

    def to_json(self, *, root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
        """The hits as ``promptlib search --json`` prints them; `root` as for `RenderInfo.to_json`."""
        return [hit.to_json(root=root) for hit in self.hits]


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
    if type(params) is dict:
        # plain values are checked in Python (~1 µs); anything else, errors included, goes through pydantic
        fast = fast_params_from_dict(params)
        if fast is not None:
            return fast
    elif isinstance(params, GenerationParams):
        return params.canonical() if params.model_fields_set else None
    try:
        return params_from_dict(params)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        raise ValidationError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


def _with_tagged_loras(
    prompt: str, params: GenerationParams | dict[str, Any] | None
) -> GenerationParams | dict[str, Any] | None:
    """`params` with the prompt's ``<lora:…>`` tags as its LoRAs, when it lists none."""
    from promptlib.metadata.a1111 import lora_tags

    tagged = [{"name": name, "weight": weight} for name, weight in lora_tags(prompt)]
    if not tagged:
        return params
    if params is None:
        return {"loras": tagged}
    if isinstance(params, dict):
        return params if params.get("loras") else {**params, "loras": tagged}
    return params if params.loras else params.model_copy(update={"loras": tuple(LoraRef(**t) for t in tagged)})


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
        self.schema_on_open: str | None = None  # the revision found before any upgrade (None: a new database)
        self.upgraded = False  # whether opening upgraded the schema
        self._ensure_schema()
        self.db = Database(self.db_path)
        self.images.sweep_temp()
        migrate.sweep_backup_temps(self.path / cfg.BACKUPS_DIR)
        index_manifest.sweep_temps(self.path / cfg.INDEX_DIR)  # saves of the semantic index cut short by a crash

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
            self.schema_on_open = migrate.current_revision(conn)
            due = migrate.needs_upgrade(conn)
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"{self.db_path} is not a SQLite database or is corrupt ({exc})") from exc
        finally:
            conn.close()
        if due:
            self.last_backup = migrate.upgrade(self.path, self.db_path, backups_dir=self.path / cfg.BACKUPS_DIR)
            self.upgraded = True

    def close(self) -> None:
        # Index changes held in memory reach disk now, not only at exit. Closing must not fail: a stale index is
        # detected and rebuilt from the stored vectors on the next open.
        with contextlib.suppress(Exception):
            self.flush_index()
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
        # One combined test for the common case (~0.3 µs); `_check_text` finds and words the first problem.
        if (
            "\x00" in prompt
            or len(prompt) > MAX_PROMPT_CHARS
            or not prompt
            or prompt.isspace()  # (with the test above: exactly `not prompt.strip()`)
            or "\x00" in negative_prompt
            or len(negative_prompt) > MAX_PROMPT_CHARS
            or "\x00" in title
            or len(title) > MAX_TITLE_CHARS
            or "\x00" in notes
            or len(notes) > MAX_NOTES_CHARS
        ):
            _check_text("prompt", prompt, MAX_PROMPT_CHARS, required=True)
            _check_text("negative prompt", negative_prompt, MAX_PROMPT_CHARS)
            _check_text("title", title, MAX_TITLE_CHARS)
            _check_text("notes", notes, MAX_NOTES_CHARS)
        if rating is not None and not 0 <= rating <= 5:
            raise ValidationError(f"rating {rating} is outside 0-5")
        tag_tuple = clean_tag_tuple(tuple(tags))
        # plain parameter dicts: checked here, the model built only if someone asks for entry.params
        checked = check_params_dict(params) if type(params) is dict else None
        return NewEntry.checked(
            prompt,
            negative_prompt,
            title.strip(),
            notes,
            tag_tuple,
            checked if checked is not None else make_params(params),
            rating,
            favourite,
            source or {},
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
        """Add one prompt and return it. Raises ValidationError for an empty or oversized prompt or bad params.
        LoRAs tagged in the prompt (``<lora:name:0.7>``) become the params' LoRAs when the params name none, as
        image imports do, so ``lora:name`` finds the entry."""
        if "<" in prompt:
            params = _with_tagged_loras(prompt, params)
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
        with self.db.lock, references_unchecked(self.db.conn), self.db.write() as conn:
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
        """A copy of an entry (text, tags, params; not its renders; its source says ``duplicate_of``). A titled
        entry's copy has " (copy)" after the title (cut to fit the limit); an untitled one's stays untitled, shown
        by its prompt as every untitled entry is."""
        entry = self.get(entry_id)
        suffix = " (copy)"
        title = entry.title.strip()
        return self.add(
            entry.prompt,
            negative_prompt=entry.negative_prompt,
            title=title[: MAX_TITLE_CHARS - len(suffix)].rstrip() + suffix if title else "",
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
        with self.images.exclusive():  # no other process may adopt a file between our check and its deletion
            return self._remove(wanted, keep=False)[0]

    def remove_undoable(self, ids: Iterable[int]) -> Removed:
        """`remove`, returning what was deleted — rows, tags, collection places, grids, renders, embeddings and
        the bytes of the image files deleted — so that `restore` can put it all back with the same ids."""
        from promptlib.store.removal import Removed

        wanted = sorted(set(ids))
        if not wanted:
            return Removed((), {}, [], [])
        with self.images.exclusive():
            taken = self._remove(wanted, keep=True)[1]
        assert taken is not None  # keep=True always takes a snapshot
        return taken

    def restore(self, removed: Removed) -> list[int]:
        """Put entries deleted by `remove_undoable` back as they were: same ids, tags, collections, renders and
        images. Raises ValidationError when one of their ids has been used again since (nothing is changed)."""
        from promptlib.store.removal import check_restorable, restore_rows

        with self.db.lock:
            check_restorable(self.db.conn, removed)  # refuse before writing any file
        created: list[str] = []
        try:
            with self.images.writing():  # from the first file to the rows' commit (see ImageStore.writing)
                for relpath, data in removed.files.items():
                    stored = self.images.put(data, ext=relpath.rsplit(".", 1)[-1])
                    created += [stored.relpath] if stored.created else []
                    if stored.relpath != relpath:  # content-addressed: the same bytes land at the same path
                        raise LibraryError(f"restored image {relpath} landed at {stored.relpath}")
                with self.db.write() as conn:
                    restore_rows(conn, removed)  # checks again, inside the transaction
        except BaseException:
            with self.images.exclusive():  # files no row took up go again (another writer may have adopted one)
                for relpath in self._unreferenced(created):
                    self.images.remove(relpath)
            raise
        return list(removed.ids)

    def _unreferenced(self, relpaths: Sequence[str]) -> list[str]:
        """Those of `relpaths` that no render or grid row refers to."""
        if not relpaths:
            return []
        marks = ",".join("?" * len(relpaths))
        with self.db.lock:
            used = {
                row[0]
                for row in self.db.conn.execute(
                    f"SELECT image_path FROM renders WHERE image_path IN ({marks})"
                    f" UNION SELECT image_path FROM grids WHERE image_path IN ({marks})",
                    [*relpaths, *relpaths],
                )
            }
        return [p for p in relpaths if p not in used]

    def _remove(self, wanted: list[int], *, keep: bool) -> tuple[int, Removed | None]:
        """Delete entries (the caller holds the images lock exclusively); with `keep`, also what `restore` needs."""
        from promptlib.store.removal import MAX_KEPT_BYTES, snapshot

        with self.db.write() as conn:
            marks = ",".join("?" * len(wanted))
            taken = snapshot(conn, wanted) if keep else None
            paths = [  # the files of their renders and grid images (linked renders' files are not ours)
                r[0]
                for r in conn.execute(
                    f"SELECT image_path FROM renders WHERE prompt_id IN ({marks}) AND linked = 0"
                    f" UNION SELECT image_path FROM grids WHERE prompt_id IN ({marks}) AND image_path IS NOT NULL",
                    [*wanted, *wanted],
                )
            ]
            old_tags = [
                r[0] for r in conn.execute(f"SELECT tag_id FROM prompt_tags WHERE prompt_id IN ({marks})", wanted)
            ]
            removed = conn.execute(f"DELETE FROM prompts WHERE id IN ({marks})", wanted).rowcount
            drop_unused_tags(conn, old_tags)
            still_used = (
                {
                    r[0]
                    for r in conn.execute(
                        "SELECT image_path FROM renders WHERE linked = 0"
                        " UNION SELECT image_path FROM grids WHERE image_path IS NOT NULL"
                    )
                }
                if paths
                else set()
            )
        gone = sorted(set(paths) - still_used)
        files: dict[str, bytes] = {}
        if taken is not None:
            sizes = {p: self.images.path(p).stat().st_size for p in gone if self.images.path(p).is_file()}
            if sum(sizes.values()) <= MAX_KEPT_BYTES:
                files = {p: self.images.path(p).read_bytes() for p in sizes}
            else:
                taken = replace(taken, images_kept=False)
        for path in gone:
            self.images.remove(path)
        return int(removed), (replace(taken, files=files) if taken is not None else None)

    def entries(
        self, *, limit: int = 50, offset: int = 0, sort: str = "new", query: str = "", with_renders: bool = False
    ) -> list[Entry]:
        """Entries in `sort` order, optionally restricted by a query's filters and words (their renders only with
        `with_renders`: a browsing list does not need them)."""
        parsed = dsl.parse(query)
        sort = "score" if sort == "score" and parsed.positive_text else sort
        with self.db.lock:
            result = lexical.search(self.db.conn, parsed, limit=limit, offset=offset, sort=sort)
            return self.get_many([pid for pid, _ in result.hits], with_renders=with_renders)

    def search(
        self,
        query: str = "",
        *,
        limit: int = 20,
        offset: int = 0,
        sort: str = "score",
        mode: str = "auto",
        image: str | os.PathLike[str] | bytes | None = None,
        like: int | None = None,
        similar_prompts: bool = False,
    ) -> SearchResult:
        """Search with the query DSL (see `promptlib.search.dsl`); raises QueryError for bad queries.

        `mode`: ``lexical`` (bm25), ``semantic`` (vectors), ``hybrid`` (both, fused), or ``auto``: hybrid when the
        query has words and a semantic index exists, else lexical. `image` (a file or its bytes) or `like` (a
        render id) search by image; `similar_prompts` searches prompt embeddings instead of image embeddings
        (then `like` is a prompt id). Filters restrict every side (docs/search.md).

        Semantic and hybrid hits are `promptlib.search.hybrid.HybridHit`s: ``scores`` holds ``lexical``,
        ``semantic`` and ``fused`` (None where a side did not find the entry) and ``render_id`` the image that matched;
        the result says which ``mode`` ran and, when ``auto`` fell back to lexical search, why (``note``). Raises
        NotFoundError when a semantic mode has no index, a render id is unknown or the model's weights are missing;
        ValidationError for an image that is not acceptable."""
        parsed = dsl.parse(query)
        if image is not None and like is not None:
            raise switch_error(
                ValidationError, lambda i, k: f"{i} and {k} each give the image to search by: use one", *_BY_IMAGE
            )
        if mode == "semantic" and (image is not None or like is not None) and parsed.positive_text:
            raise switch_error(
                ValidationError,
                lambda semantic, hybrid: (
                    f"{semantic} searches by the image alone and would ignore the words: drop"
                    f" them, or use {hybrid} to rank by both"
                ),
                *_SEMANTIC_OR_HYBRID,
            )
        if mode != "lexical" and self._wants_semantic(parsed, mode, image, like, similar_prompts):
            return self._semantic_search(
                query, parsed, limit=limit, offset=offset, sort=sort, mode=mode, image=image, like=like,
                prompts=similar_prompts,
            )  # fmt: skip
        if image is not None or like is not None or similar_prompts:
            raise switch_error(
                ValidationError,
                lambda i, k, p, semantic, hybrid: f"{i}, {k} and {p} need {semantic} or {hybrid}",
                *_BY_IMAGE, _SIMILAR_PROMPTS, *_SEMANTIC_OR_HYBRID,
            )  # fmt: skip
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
        """Add entries to a collection, creating it if needed; returns the collection's size. The collection is
        found as `uncollect` finds it (its exact spelling, else the one that matches ignoring case), so 'Board'
        adds to an existing 'board' rather than starting a second collection. Raises NotFoundError when several
        spellings match and none exactly."""
        _check_text("collection name", name, MAX_TITLE_CHARS, required=True)
        wanted = list(dict.fromkeys(ids))
        now = sql_datetime(datetime.now(UTC))
        with self.db.write() as conn:
            self._require(conn, wanted)
            cid = self._find_collection(conn, name)
            if cid is None:
                cur = conn.execute(
                    "INSERT INTO collections(name, description, created_at) VALUES (?, ?, ?)",
                    (name.strip(), description, now),
                )
                cid = int(cur.lastrowid or 0)
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
        """Take entries out of a collection (the collection stays); returns how many were in it. Raises
        NotFoundError for an unknown collection."""
        wanted = list(dict.fromkeys(ids))
        with self.db.write() as conn:
            cid = self._collection_id(conn, name)
            marks = ",".join("?" * len(wanted))
            cur = conn.execute(
                f"DELETE FROM collection_items WHERE collection_id = ? AND prompt_id IN ({marks})", [cid, *wanted]
            )
            return int(cur.rowcount)

    def delete_collection(self, name: str) -> int:
        """Delete a collection; its entries stay in the library. Returns how many entries it held. Raises
        NotFoundError for an unknown collection."""
        with self.db.write() as conn:
            cid = self._collection_id(conn, name)
            held = conn.execute("SELECT count(*) FROM collection_items WHERE collection_id = ?", (cid,)).fetchone()[0]
            conn.execute("DELETE FROM collection_items WHERE collection_id = ?", (cid,))
            conn.execute("DELETE FROM collections WHERE id = ?", (cid,))
            return int(held)

    def collection_name(self, name: str) -> str:
        """The stored name of the collection `name` refers to: its exact spelling, else the one that matches ignoring
        case (the collection `uncollect` and `delete_collection` change). Raises NotFoundError for an unknown name, or
        one that matches several spellings but none exactly."""
        with self.db.lock:
            cid = self._collection_id(self.db.conn, name)
            return str(self.db.conn.execute("SELECT name FROM collections WHERE id = ?", (cid,)).fetchone()[0])

    @staticmethod
    def _find_collection(conn: sqlite3.Connection, name: str) -> int | None:
        """The collection called `name`: its exact spelling first, else the one that matches ignoring case; None
        when there is none. Raises NotFoundError when several spellings match and none exactly."""
        rows = conn.execute(
            "SELECT id, name FROM collections WHERE name = ? COLLATE NOCASE", (name.strip(),)
        ).fetchall()
        exact = [r for r in rows if r[1] == name.strip()]
        if exact or len(rows) == 1:
            return int((exact or rows)[0][0])
        if rows:  # 'Moodboard' and 'moodboard' both exist (an earlier promptlib made such pairs): guessing could err
            spellings = ", ".join(repr(r[1]) for r in rows)
            raise NotFoundError(f"no collection named {name!r} (there are {spellings}: give the exact name)")
        return None

    @classmethod
    def _collection_id(cls, conn: sqlite3.Connection, name: str) -> int:
        cid = cls._find_collection(conn, name)
        if cid is None:
            raise NotFoundError(f"no collection named {name!r}")
        return cid

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
        """Import one file or pack: a native pack (folder or .zip with pack.json), a foreign style/prompt file
        (A1111 styles.csv, Fooocus/InvokeAI style JSON, prompts_from_file, JSONL) or a generator's parameter file
        (A1111 infotext .txt, ComfyUI workflow or API-format .json), detected from its content.

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
        return self.import_data(source_path.read_bytes(), name=str(source_path), fmt=fmt, pack=pack, progress=progress)

    def import_data(
        self,
        data: bytes,
        *,
        name: str,
        fmt: str | None = None,
        pack: str | None = None,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import a foreign style/prompt file's bytes (format detected from content unless `fmt` is given). A
        style/prompt file's entries go to a pack named after the file; a generator's parameter file (A1111 .txt,
        ComfyUI .json) is like an image: in no pack unless `pack` is given."""
        from promptlib.packs.formats import FORMATS, read_any

        short = name.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
        found, part, warnings = read_any(data, source=short, fmt=fmt, filename=short)
        generated = found.replace("-", "_") not in FORMATS  # a generator's file, not a style/prompt file
        pack = pack or (None if generated else Path(short).stem or "imported")
        report = ingest_entries(
            self,
            part.entries,
            part.styles,
            pack_name=pack,
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

        importer = Importer(self, fmt=fmt, pack=pack, link=link, progress=progress)
        return importer.run([Path(p).absolute() for p in paths])  # sources are recorded as absolute paths

    def import_images(self, items: Sequence[ImageItem], *, pack: str | None = None) -> ImportReport:
        """Store images with the recipes read from their metadata (see `promptlib.ingest.ingest_images`)."""
        before = self._newest_render_id()
        report = ingest_images(self, items, pack=pack)
        self._embed_renders_after(before)
        return report

    def import_pack(self, path: str | os.PathLike[str], *, progress: Progress | None = None) -> ImportReport:
        """Import a native pack (folder or .zip). Idempotent; bad entries are reported and skipped."""
        from promptlib.packs.native import PackSource, load_pack

        source_path = Path(path)
        if not source_path.exists():
            raise NotFoundError(f"{source_path}: no such file or folder")
        before = self._newest_render_id()
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
        self._embed_renders_after(before)
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
        overwrite: bool = False,
    ) -> Path:
        """Write the entries matching `query` (all by default) and the styles in format `fmt`; returns the file, zip
        or folder written (`export_summary` also says how many entries, styles and images it holds).

        Formats: ``pack`` (native folder, or zip when `target` ends in .zip), ``a1111-styles``, ``fooocus-styles``,
        ``invokeai-presets``, ``prompts-from-file``, ``jsonl``, ``csv``. An existing file, or a folder with files
        in it, is only written over with `overwrite`. Raises ValidationError for an unknown format or an existing
        target, QueryError for a bad query.
        """
        return self.export_summary(
            target, fmt=fmt, name=name, query=query, author=author, license=license, description=description,
            include_styles=include_styles, include_images=include_images, overwrite=overwrite,
        ).path  # fmt: skip

    def export_summary(
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
        overwrite: bool = False,
    ) -> ExportSummary:
        """`export`, returning what was written: the path, the format and the entries, styles and image files it
        holds (what ``promptlib export --json`` prints). Raises as `export` does."""
        from promptlib.packs import exporting

        target = Path(target)
        if not overwrite and (target.is_file() or (target.is_dir() and any(target.iterdir()))):
            what = "folder is not empty" if target.is_dir() else "file exists"
            raise OVERWRITE.error(
                ValidationError, lambda how: f"{target}: the {what}; choose another target or pass {how}"
            )

        try:
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
        except OSError as exc:
            raise LibraryError(f"cannot write {target}: {exc.strerror or exc}") from None

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
        with self.images.writing():  # from the file to its row's commit (see ImageStore.writing)
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
        semantic index up to date. ``images`` are the decoded PIL images when the caller has them in memory.

        Cheap when no semantic index exists (a file check and one indexed query); otherwise embeds the images (on
        the GPU when there is one) and adds them to the index held in memory. Never raises: an embedding failure is
        logged and shown by `index_status()`."""
        if not renders:
            return
        try:
            if self._semantic is None and not self._has_embeddings():
                return
            self.semantic.on_new_renders([r.id for r in renders], images)
        except Exception as exc:  # a render is already stored; derived data must never fail it
            import logging

            logging.getLogger(__name__).warning("embedding new renders failed: %s", exc)

    # --- rendering (promptlib.render) ---------------------------------------------------------------------------

    def render(
        self,
        target: int | str | Sequence[int],
        *,
        n: int = 1,
        model: str | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        seed: int | str | None = None,
        size: tuple[int, int] | str | None = None,
        overrides: dict[str, Any] | None = None,
        options: RenderOptions | None = None,
        limit: int | None = None,
        progress: Callable[[RenderProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> RenderRun:
        """Render entries — an id, ids, or a search query (a pack: ``"pack:NAME"``) — and store the images as
        renders whose PNGs embed their recipe. ``n`` images per entry with consecutive seeds; ``seed`` is a number,
        ``"random"`` or None (the entry's seed, else random). Other recipe fields (``schedule``, ``clip_skip``,
        ``vae``, ``loras``, ``dtype``, ``negative_prompt``, ``width``/``height``) go in ``overrides``; how to run
        (device, batch size, speed and memory options, deterministic mode) in ``options``.

        Compatible images are rendered in batches of ``options.batch_size``. ``progress`` gets `RenderProgress`
        events on the calling thread; setting ``cancel`` stops before the next step and returns what is stored
        (``run.cancelled``). An entry that cannot render (no model, a missing LoRA or checkpoint) is listed in
        ``run.failed`` with its reason while the others render; when none can, its NotFoundError or
        ValidationError is raised."""
        from promptlib.render import service

        fields = dict(overrides or {})
        for key, value in (("model", model), ("sampler", sampler), ("steps", steps), ("cfg_scale", cfg)):
            if value is not None:
                fields[key] = value
        if seed is not None:
            fields["seed"] = seed
        if size is not None:
            fields["width"], fields["height"] = self._render_size(size)
        return service.render(
            self,
            target,
            overrides=fields,
            n=n,
            options=options or self._render_options(),
            limit=limit,
            progress=progress,
            cancel=cancel,
        )

    def rerun(
        self,
        render_id: int,
        *,
        options: RenderOptions | None = None,
        exact: bool = True,
        progress: Callable[[RenderProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Rendered:
        """Render a stored render's recipe again and store it as a new render (``environment.rerun_of``). With
        ``exact`` the original batch geometry and pixel-affecting options are replayed, so in the same environment
        the image is bit-identical. Raises NotFoundError, ValidationError, RenderCancelled when cancelled."""
        from promptlib.render import service
        from promptlib.render.renderer import RenderCancelled

        found = service.rerun(self, render_id, options=options, exact=exact, progress=progress, cancel=cancel)
        if found is None:
            raise RenderCancelled(f"rerun of render {render_id} cancelled")
        return found

    def verify(
        self,
        render_id: int,
        *,
        options: RenderOptions | None = None,
        exact: bool = True,
        progress: Callable[[RenderProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> VerifyReport:
        """Re-render a stored render (nothing is stored) and report ``identical`` or the drift (max abs pixel
        difference, PSNR) and the environment fingerprint fields that differ. Raises NotFoundError,
        ValidationError, RenderCancelled when cancelled."""
        from promptlib.render import service
        from promptlib.render.renderer import RenderCancelled

        found = service.verify(self, render_id, options=options, exact=exact, progress=progress, cancel=cancel)
        if found is None:
            raise RenderCancelled(f"verify of render {render_id} cancelled")
        return found

    def grid(
        self,
        entry_id: int,
        *,
        x: str | None = None,
        y: str | None = None,
        z: str | None = None,
        axes: Sequence[str] = (),
        overrides: dict[str, Any] | None = None,
        options: RenderOptions | None = None,
        animate: str | os.PathLike[str] | None = None,
        frame_ms: int = 500,
        max_cell: int | None = None,
        progress: Callable[[RenderProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> GridResult:
        """An X/Y/Z grid of one entry over recipe fields: axes as ``"FIELD=V1,V2,…"`` (``x``/``y``/``z``, or
        ``axes`` in that order), e.g. ``x="seed=1,2,3", y='sampler="Euler a","DPM++ 2M"'``, prompt search/replace
        (``prompt=cat,dog``) and ``negative=on,off``. Every cell is stored as a render linked to the grid; the
        labelled grid image is stored too; ``animate`` (.webp/.gif) also writes the cells as frames. Cancelling
        keeps the finished cells as plain renders and stores no grid. Raises ValidationError for a bad axis."""
        from promptlib.render.grid import render_grid

        given: list[str | None] = [*axes]
        if len(given) > 3:
            raise ValidationError(f"a grid has at most 3 axes, not {len(given)}")
        given += [None] * (3 - len(given))
        return render_grid(
            self,
            entry_id,
            x=x or given[0],
            y=y or given[1],
            z=z or given[2],
            overrides=overrides or {},
            options=options or self._render_options(),
            animate=Path(animate) if animate is not None else None,
            frame_ms=frame_ms,
            max_cell=max_cell,
            progress=progress,
            cancel=cancel,
        )

    def _render_options(self) -> RenderOptions:
        from promptlib.render.renderer import RenderOptions

        return RenderOptions(device=self.config.render_device, dtype=self.config.render_dtype)

    @staticmethod
    def _render_size(size: tuple[int, int] | str) -> tuple[int, int]:
        from promptlib.render.recipes import parse_size

        return parse_size(size)

    # --- semantic search (promptlib.search.embed / index / hybrid) ----------------------------------------------

    _semantic: SemanticSearch | None = None

    @property
    def semantic(self) -> SemanticSearch:
        """The semantic search service of this library (`promptlib.search.semantic`), created on first use."""
        if self._semantic is None:
            from promptlib.search.embed import EmbedderSpec
            from promptlib.search.semantic import SemanticSearch

            spec = EmbedderSpec.from_config(self.config, base=self.path)
            self._semantic = SemanticSearch(db=self.db, root=self.path, spec=spec)
        return self._semantic

    def build_index(
        self,
        *,
        kinds: Sequence[str] = ("image", "prompt"),
        progress: StageProgress | None = None,
        batch_size: int | None = None,
        workers: int | None = None,
    ) -> BuildReport:
        """Embed the renders and prompts that have no vector under the configured model (prompts edited since the
        last build again), then build and save the indexes from all stored vectors. ``progress(stage, done,
        total)``. Unreadable images are listed in the report and skipped. Raises NotFoundError for missing weights."""
        return self.semantic.build(kinds=kinds, progress=progress, batch_size=batch_size, workers=workers)

    def rebuild_index(
        self,
        *,
        kinds: Sequence[str] = ("image", "prompt"),
        reembed: bool = False,
        progress: StageProgress | None = None,
        batch_size: int | None = None,
        workers: int | None = None,
    ) -> BuildReport:
        """Delete the saved indexes and build them again from the stored vectors; with `reembed`, delete this
        model's stored vectors too and embed everything again."""
        return self.semantic.rebuild(
            kinds=kinds, reembed=reembed, progress=progress, batch_size=batch_size, workers=workers
        )

    def index_status(self) -> IndexStatus:
        """The configured model and its weights file, per kind what is embedded and whether the saved index is
        fresh, stale, missing or corrupt, vectors of other models, and the last embedding error."""
        return self.semantic.status()

    def flush_index(self) -> None:
        """Save index changes held in memory now (they are saved every 30 s and at exit anyway)."""
        if self._semantic is not None:
            self._semantic.flush()

    def similar(self, render_id: int, *, query: str = "", limit: int = 20, offset: int = 0) -> SearchResult:
        """Entries whose images look like render `render_id`'s (itself left out), restricted by `query`'s filters
        and fused with its words when it has any. Raises NotFoundError for an unknown render."""
        return self.search(query, like=render_id, limit=limit, offset=offset)

    def search_image(
        self, image: str | os.PathLike[str] | bytes, *, query: str = "", limit: int = 20, offset: int = 0
    ) -> SearchResult:
        """Entries whose images look like `image` (a file or its bytes). Raises ValidationError / UnsafeInputError
        for something that is not an acceptable image; the library is untouched."""
        return self.search(query, image=image, limit=limit, offset=offset)

    def similar_prompts(self, prompt: str | int, *, query: str = "", limit: int = 20, offset: int = 0) -> SearchResult:
        """Entries whose prompts mean something like `prompt` (a text, or an entry id: that entry left out), by
        prompt embeddings; `query` restricts (filters) and adds lexical ranking (words)."""
        if isinstance(prompt, int):
            return self.search(query, like=prompt, similar_prompts=True, limit=limit, offset=offset)
        parsed = dsl.parse(query)
        return self._semantic_search(
            query, parsed, limit=limit, offset=offset, sort="score", mode="auto", image=None, like=None,
            prompts=True, text=prompt,
        )  # fmt: skip

    def duplicates(self, *, threshold: float = 0.95) -> list[DuplicateCluster]:
        """Clusters of near-duplicate images: renders whose embeddings have cosine similarity ≥ `threshold`,
        largest first. Raises NotFoundError when there is no image index."""
        return self.semantic.duplicates(threshold=threshold)

    def _wants_semantic(self, parsed: dsl.Query, mode: str, image: object, like: int | None, prompts: bool) -> bool:
        if mode not in ("auto", "lexical", "semantic", "hybrid"):
            raise ValidationError(f"unknown search mode {mode!r} (one of: auto, lexical, semantic, hybrid)")
        if mode != "auto" or image is not None or like is not None or prompts:
            return True
        if not parsed.positive_text:
            return False
        if self._semantic is None and not self._has_embeddings():
            return False  # never used semantic search: stay on the light lexical path (no imports)
        try:
            return self.semantic.available("image")
        except PromptlibError:  # a broken [embedding] config: the semantic path falls back and says why
            return True

    def _semantic_search(
        self,
        query: str,
        parsed: dsl.Query,
        *,
        limit: int,
        offset: int,
        sort: str,
        mode: str,
        image: str | os.PathLike[str] | bytes | None,
        like: int | None,
        prompts: bool,
        text: str | None = None,
    ) -> SearchResult:
        """Semantic or hybrid search (see `promptlib.search.semantic.SemanticSearch.rank`); hits are `HybridHit`s
        with ``scores = {lexical, semantic, fused}`` and the render that matched. In ``auto`` mode a plain text
        query falls back to lexical search when the semantic side cannot run (missing weights): the reason is in
        the result's ``note`` and `index_status()`."""
        from promptlib.search.embed import prompt_text
        from promptlib.search.hybrid import HybridHit
        from promptlib.search.lexical import SORTS
        from promptlib.search.semantic import SemanticResult

        if sort not in SORTS:
            raise ValidationError(f"unknown sort {sort!r} (one of: {', '.join(SORTS)})")
        kind = "prompt" if prompts else "image"
        explicit = mode != "auto" or image is not None or like is not None or prompts
        if mode == "auto":
            mode = "hybrid" if parsed.positive_text else "semantic"
        try:
            data: bytes | None = None
            name = "image"
            if image is not None:
                data, name = self._query_image(image)
            vector = None
            if text is not None or data is not None or like is not None:
                vector = self.semantic.query_vector(
                    kind=kind, text=prompt_text(text or ""), image=data, image_name=name, like=like
                )
            ranking = self.semantic.rank(
                parsed, mode=mode, limit=limit, offset=offset, sort=sort, kind=kind, vector=vector,
                exclude=like,
            )  # fmt: skip
        except PromptlibError as exc:
            if explicit:
                raise
            lexical_result = self.search(query, limit=limit, offset=offset, sort=sort, mode="lexical")
            return SemanticResult(
                query, lexical_result.hits, lexical_result.truncated, mode="lexical", note=f"lexical only: {exc}",
                cli_note=f"lexical only: {exc.cli_message()}",
            )  # fmt: skip
        entries = {e.id: e for e in self.get_many([f.prompt_id for f in ranking.hits])}
        hits: list[SearchHit] = []
        for f in ranking.hits:
            if f.prompt_id in entries:
                scores: dict[str, Any] = {
                    "lexical": f.lexical,
                    "semantic": f.semantic,
                    "fused": f.fused,
                }  # None: absent
                hits.append(HybridHit(entries[f.prompt_id], f.fused, scores, f.render_id))
        return SemanticResult(query, hits, ranking.truncated, mode=ranking.mode)

    @staticmethod
    def _query_image(image: str | os.PathLike[str] | bytes) -> tuple[bytes, str]:
        from promptlib.limits import MAX_IMAGE_BYTES

        if isinstance(image, bytes):
            return image, "image"
        path = Path(image)
        try:
            if path.stat().st_size > MAX_IMAGE_BYTES:
                from promptlib.errors import UnsafeInputError

                raise UnsafeInputError(f"{path.name} is larger than {MAX_IMAGE_BYTES:,} bytes")
            return path.read_bytes(), path.name
        except FileNotFoundError:
            raise NotFoundError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ValidationError(f"{path} is a folder, not an image") from None
        except OSError as exc:
            raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def _has_embeddings(self) -> bool:
        """Any stored vector or saved index at all, under any model: a cheap check that keeps libraries that never
        used semantic search from loading its modules."""
        if any((self.path / cfg.INDEX_DIR).glob("*.faiss.json")):
            return True
        with self.db.lock:
            conn = self.db.conn
            return any(
                conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
                for table in ("render_embeddings", "prompt_embeddings")
            )

    def _newest_render_id(self) -> int:
        with self.db.lock:
            return int(self.db.conn.execute("SELECT coalesce(max(id), 0) FROM renders").fetchone()[0])

    def _embed_renders_after(self, render_id: int) -> None:
        """Embed renders stored after `render_id` (by an import) when a semantic index exists; never raises."""
        try:
            if not self._has_embeddings() or not (
                self.semantic.available("image") or self.semantic.available("prompt")
            ):
                return
            with self.db.lock:
                ids = [r[0] for r in self.db.conn.execute("SELECT id FROM renders WHERE id > ?", (render_id,))]
            self.semantic.on_new_renders(ids)
        except Exception as exc:  # the import itself succeeded
            import logging

            logging.getLogger(__name__).warning("embedding imported images failed: %s", exc)

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

    def schema_revision(self) -> str | None:
        """The schema revision of library.db now (after any upgrade opening the library made)."""
        with self.db.lock:
            return migrate.current_revision(self.db.conn)

    def backup(self, target: str | os.PathLike[str] | None = None) -> Path:
        """A consistent copy of library.db made with SQLite's backup API (default: ``backups/``). A `target` that
        is a folder, or ends with a path separator, gets a dated file inside it; a file it names must not exist."""
        name = migrate.backup_name(migrate.current_revision(self.db.conn))
        text = os.fspath(target) if target else ""
        dest = Path(text) if text else self.path / cfg.BACKUPS_DIR / name
        if dest.is_dir() or text.endswith((os.sep, "/")):
            dest = dest / name
        if text and dest.exists():  # a file the user named is never overwritten
            raise LibraryError(f"backup target {dest} already exists: name a new file or a folder")
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
        from contextlib import nullcontext

        # With fix, hold the image lock from finding orphans to deleting them: files of imports in flight in other
        # processes are not orphans (see ImageStore.writing).
        with self.images.exclusive() if fix else nullcontext():
            return self._doctor(fix=fix, deep=deep)

    def _doctor(self, *, fix: bool, deep: bool) -> list[Finding]:
        import promptlib.render.doctor_checks
        import promptlib.search.doctor_checks  # noqa: F401 (they register their checks)
        from promptlib.store import doctor as doc

        with self.db.lock:
            findings = doc.classify(self.check()) + doc.image_findings(self.db.conn, self.images, deep=deep)
        findings += doc.wal_findings(self.db_path)
        for check in doc.CHECKS.values():  # checks other modules registered (see store.doctor.register_check)
            findings += check.find(self)
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
            for check in doc.CHECKS.values():
                mine = [f for f in findings if f.fixable and f.kind in check.kinds]
                if mine and check.fix is not None:
                    check.fix(self, mine)
        return findings

    def doctor_facts(self) -> DoctorFacts:
        """Schema revision (and the one this promptlib expects), database and write-ahead log sizes, image files
        and renders: what ``promptlib doctor`` reports besides problems."""
        from promptlib.store import doctor as doc

        with self.db.lock:
            return doc.facts(self.db.conn, self.db_path, self.images)

    def rebuild_search_index(self) -> None:
        """Rebuild the FTS5 index from the prompts table."""
        with self.db.write() as conn:
            conn.execute("INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild')")
