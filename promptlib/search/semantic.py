"""Semantic search as a service over one library: the glue between the database, the embedder and the indexes.

One vector index per (model, kind), kind ``image`` (render ids → image embeddings) or ``prompt`` (prompt ids → text
embeddings), saved under the library's ``index/`` folder as ``<model>-<digest>.<kind>.faiss`` plus its manifest.
SQLite holds the vectors (`promptlib.store.embeddings`); an index is a cache of them: its manifest records the
embedding table's counters (`embeddings.version`) it was saved at. A stale index (vectors added or deleted since:
renders, imports, cascading deletes, another process) is brought up to date by id; one that is corrupt, of another
model, missing while vectors are stored, or whose vectors were rewritten is rebuilt from the stored vectors before it
answers (never silently empty, never re-embedding).

Incremental: `on_new_renders` embeds new renders (and their prompts) when an index exists, stores the vectors and
adds them to the index held in memory. That index is saved at most every `SAVE_INTERVAL` seconds and at exit; the
counters make this safe: an index that missed a change (another process, a crash before the save) is simply stale
at the next open and catches up then.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.config import INDEX_DIR
from promptlib.errors import (
    SEARCH_IMAGE,
    SEARCH_LIKE,
    NotFoundError,
    PromptlibError,
    QueryError,
    ValidationError,
    switch_error,
)
from promptlib.library import SearchResult
from promptlib.search import duplicates, hybrid
from promptlib.search.duplicates import DuplicateCluster, DuplicateMember
from promptlib.search.embed import Embedder, EmbedderSpec, get_embedder, prompt_text
from promptlib.search.index import (
    CorruptIndexError,
    StaleIndexError,
    VectorIndex,
    VectorIndexError,
    manifest_path,
    read_manifest,
)
from promptlib.search.reports import BuildReport, EmbedFailure, IndexStatus, KindStatus
from promptlib.store import embeddings as stored
from promptlib.store.embeddings import KINDS, TABLES

if TYPE_CHECKING:
    import sqlite3

    import numpy as np
    import numpy.typing as npt

    from promptlib.search.dsl import Query
    from promptlib.store.db import Database

    FloatArray = npt.NDArray[np.float32]

log = logging.getLogger(__name__)

SAVE_INTERVAL = 30.0  # seconds between saves of an index changed in memory (and once at exit)
STORE_EVERY = 4096  # vectors per write transaction while building: an interrupted build keeps its progress
CATCH_UP_LIMIT = 10_000  # ids added or dropped by id rather than rebuilding (and at most a tenth of them)
RECENT_QUERIES = 256  # text query vectors kept
DEPTH_MIN = 100  # each side of a hybrid query ranks at least this many candidates
RENDERS_PER_ENTRY = 4  # image hits are over-fetched by this factor: several renders of one entry count once
ERROR_KEY = "embedding:last-error"
DEFAULT_THRESHOLD = 0.95

StageProgress = Callable[[str, int, int], None]  # (stage, done, total)


def index_file_name(model_id: str, kind: str) -> str:
    """``ViT-B-32_laion2b_s34b_b79k-1a2b3c4d.image.faiss``: readable, and distinct for every model id."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._")[:80] or "model"
    return f"{slug}-{hashlib.sha256(model_id.encode()).hexdigest()[:8]}.{kind}.faiss"


@dataclass(frozen=True)
class Ranking:
    """A semantic or hybrid ranking before hydration: one page of fused entries."""

    hits: list[hybrid.Fused]
    truncated: bool
    mode: str


Version = tuple[int, int]  # `promptlib.store.embeddings.version`: (change counter, rewrite counter)


def _label(version: Version) -> str:
    """The manifest's generation string for a version."""
    return f"{version[0]}.{version[1]}"


def _parse(label: str) -> Version | None:
    first, _, second = label.partition(".")
    return (int(first), int(second)) if first.isdigit() and second.isdigit() else None


def _catch_up_limit(stored_count: int) -> int:
    """How many ids an index may lack or hold in excess and still be brought up to date by id."""
    return max(CATCH_UP_LIMIT, stored_count // 10)


def catches_up(saved: Version | None, now: Version, *, stored_count: int) -> bool:
    """Whether an index saved at `saved` is brought up to date by id on its next use (`SemanticSearch.index`)
    rather than rebuilt: no stored vector was replaced since, and the change counter moved forward by no more than
    ids may be added or dropped (each insert or delete moves it, so its lag bounds them). Such a lag is the normal
    state after a remove or an import in a process that did not load the index; the doctor does not report it."""
    return saved is not None and saved[1] == now[1] and 0 <= now[0] - saved[0] <= _catch_up_limit(stored_count)


@dataclass
class _Live:
    """An index held in memory, exact for the stored vectors at `version`."""

    index: VectorIndex
    version: Version
    dirty: bool = False


def _flush_at_exit(ref: weakref.ReferenceType[SemanticSearch]) -> None:
    service = ref()
    if service is not None:
        with contextlib.suppress(Exception):
            service.flush()


# --- the service ------------------------------------------------------------------------------------------------------


class SemanticSearch:
    """Semantic search over one library (`Library.semantic`). Thread-safe."""

    def __init__(self, *, db: Database, root: Path, spec: EmbedderSpec) -> None:
        self.db = db
        self.root = root
        self.spec = spec
        self._live: dict[str, _Live] = {}
        self._recent: OrderedDict[tuple[str, str], FloatArray] = OrderedDict()
        self._lock = threading.RLock()
        self._last_save = time.monotonic()
        atexit.register(_flush_at_exit, weakref.ref(self))

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    def index_path(self, kind: str) -> Path:
        return self.root / INDEX_DIR / index_file_name(self.model_id, kind)

    def embedder(self) -> Embedder:
        """The loaded model (once per process); raises NotFoundError when its weights are missing."""
        return get_embedder(self.spec)

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A consistent read: counters and vectors from the same database state."""
        with self.db.lock:
            conn = self.db.conn
            own = not conn.in_transaction
            if own:
                conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if own:
                    conn.execute("COMMIT")

    # -- availability (cheap: no model, no faiss) -------------------------------------------------------------------

    def available(self, kind: str = "image") -> bool:
        """Whether `kind` has an index or stored vectors under the configured model (what "an index exists" means
        for the default search mode). Raises NotFoundError when the configured model files are missing."""
        model_id = self.model_id
        if manifest_path(self.index_path(kind)).exists():
            return True
        with self.db.lock:
            row = self.db.conn.execute(f"SELECT 1 FROM {TABLES[kind]} WHERE model = ? LIMIT 1", (model_id,)).fetchone()
        return row is not None

    def _stored_dim(self, conn: sqlite3.Connection, kind: str) -> int | None:
        row = conn.execute(f"SELECT dim FROM {TABLES[kind]} WHERE model = ? LIMIT 1", (self.model_id,)).fetchone()
        return int(row[0]) if row else None

    # -- indexes -------------------------------------------------------------------------------------------------

    def index(self, kind: str) -> VectorIndex | None:
        """The index of `kind`, exact for the stored vectors: the one in memory, else the saved one, brought up to date
        by ids when only vectors were added or deleted since (a few), else rebuilt from the stored vectors (and
        saved). None when nothing was ever embedded or indexed under the model."""
        with self._lock:
            with self.db.lock:
                now = stored.version(self.db.conn, kind)
                dim = self._stored_dim(self.db.conn, kind)
            live = self._live.get(kind)
            if live is not None and (live.version == now or self._catch_up(kind, live)):
                return live.index
            self._live.pop(kind, None)
            path = self.index_path(kind)
            if dim is None:
                try:
                    dim = read_manifest(path).dim
                except VectorIndexError:
                    return None
            try:
                index = VectorIndex.load(path, model=self.model_id, dim=dim)
            except (StaleIndexError, CorruptIndexError) as exc:
                log.info("rebuilding %s from stored vectors: %s", path.name, exc)
                return self._rebuild_index(kind, dim)
            saved = _parse(index.manifest.generation)
            if saved is not None:
                live = _Live(index, saved)
                if saved == now or self._catch_up(kind, live):
                    self._live[kind] = live
                    return index
            log.info("rebuilding %s from stored vectors: saved at %s", path.name, index.manifest.generation)
            return self._rebuild_index(kind, dim)

    def _catch_up(self, kind: str, live: _Live) -> bool:
        """Bring an index up to date by ids — drop those no longer stored, add the new ones — when no stored vector
        was rewritten since it was exact and the change is small (a delete, an import); False: rebuild instead."""
        import numpy as np

        with self._snapshot() as conn:
            now = stored.version(conn, kind)
            if now[1] != live.version[1]:
                return False
            current = stored.stored_ids(conn, kind, self.model_id)
            held = live.index.ids()
            gone = np.setdiff1d(held, current, assume_unique=True)
            new = np.setdiff1d(current, held, assume_unique=True)
            if len(gone) + len(new) > _catch_up_limit(len(current)):
                return False
            ids, vectors = stored.load_some(conn, kind, self.model_id, new.tolist(), dim=live.index.dim)
        if len(ids) != len(new):
            return False
        live.index.remove(gone)
        if len(ids):
            live.index.add(ids, vectors)
        if live.index.outgrown:  # e.g. an exact index past its size limit: rebuild as the right type
            return False
        live.version, live.dirty = now, True
        return True

    def _rebuild_index(self, kind: str, dim: int, *, progress: StageProgress | None = None) -> VectorIndex:
        with self._snapshot() as conn:
            version = stored.version(conn, kind)
            ids, vectors = stored.load(conn, kind, self.model_id, dim=dim)
        stage = f"indexing {kind}s"

        def report(done: int, total: int) -> None:
            if progress is not None:
                progress(stage, done, total)

        index = VectorIndex.build(self.model_id, dim, ids, vectors, generation=_label(version), progress=report)
        index.save(self.index_path(kind), generation=_label(version))
        self._live[kind] = _Live(index, version)
        return index

    def _require_index(self, kind: str) -> VectorIndex:
        index = self.index(kind)
        if index is None:
            what = "images" if kind == "image" else "prompts"
            raise NotFoundError(f"no semantic index of {what} for {self.model_id}: run `promptlib index build` first")
        return index

    def flush(self) -> None:
        """Save every index changed in memory since its last save."""
        with self._lock:
            for kind, live in list(self._live.items()):
                if live.dirty:
                    live.index.save(self.index_path(kind), generation=_label(live.version))
                    live.dirty = False
            self._last_save = time.monotonic()

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_save >= SAVE_INTERVAL:
            self.flush()

    # -- storing vectors ---------------------------------------------------------------------------------------------

    def _store(self, kind: str, ids: Sequence[int], vectors: FloatArray, *, load_saved: bool = False) -> None:
        """Store vectors and keep the index in memory exact: it takes the same vectors when it was exact before the
        write (`load_saved`: a saved index exact before the write is loaded for that)."""
        if not len(ids):
            return
        with self.db.write() as conn:
            before, after = stored.store(conn, kind, self.model_id, ids, vectors)
        with self._lock:
            live = self._live.get(kind)
            if live is None and load_saved:
                with contextlib.suppress(VectorIndexError):
                    index = VectorIndex.load(
                        self.index_path(kind), model=self.model_id, dim=int(vectors.shape[1]), generation=_label(before)
                    )
                    live = self._live[kind] = _Live(index, before)
            if live is not None and live.version == before:
                live.index.add(list(ids), vectors)
                live.version = after
                live.dirty = True
            elif live is not None and live.version[1] != after[1]:
                self._live.pop(kind, None)  # vectors it holds were replaced: it must be rebuilt

    def _check_dim(self, kind: str, dim: int) -> None:
        with self.db.lock:
            found = self._stored_dim(self.db.conn, kind)
        if found is not None and found != dim:
            raise stored.dim_mismatch(kind, self.model_id, stored=found, dim=dim)

    def _image_file(self, image_path: str, linked: bool) -> Path:
        return Path(image_path) if linked else self.root / image_path

    def _embed_renders(
        self,
        embedder: Embedder,
        report: BuildReport,
        *,
        ids: Sequence[int] | None = None,
        progress: StageProgress | None = None,
        batch_size: int | None = None,
        workers: int | None = None,
        load_saved: bool = False,
    ) -> None:
        import numpy as np

        with self.db.lock:
            pending = stored.renders_without(self.db.conn, self.model_id, ids=ids)
            known = stored.vectors_by_sha(self.db.conn, self.model_id, [p.sha256 for p in pending], dim=embedder.dim)
        # Another render of the same file already has a vector: copy it. The rest: embed each file once.
        copies = [p for p in pending if p.sha256 in known]
        groups: dict[str, list[stored.PendingRender]] = {}
        for p in pending:
            if p.sha256 not in known:
                groups.setdefault(p.sha256, []).append(p)
        if copies:
            self._store(
                "image",
                [p.render_id for p in copies],
                np.stack([known[p.sha256] for p in copies]),
                load_saved=load_saved,
            )
            report.reused += len(copies)
        unique = [group[0] for group in groups.values()]
        total, done = len(unique), 0
        if progress is not None and total:
            progress("embedding images", 0, total)
        buffer_ids: list[int] = []
        buffer: list[FloatArray] = []
        embedded = 0
        paths = [self._image_file(p.image_path, p.linked) for p in unique]
        failed: list[tuple[int, str]] = []
        for positions, vectors, bad in embedder.iter_files(paths, batch_size=batch_size, workers=workers):
            for pos, vector in zip(positions, vectors, strict=True):
                group = groups[unique[pos].sha256]
                for render in group:
                    buffer_ids.append(render.render_id)
                    buffer.append(vector)
                embedded += 1
                report.reused += len(group) - 1
            failed += bad
            if len(buffer_ids) >= STORE_EVERY:
                self._store("image", buffer_ids, np.stack(buffer), load_saved=load_saved)
                buffer_ids, buffer = [], []
            done += len(positions) + len(bad)
            if progress is not None:
                progress("embedding images", done, total)
        for pos, reason in sorted(failed):  # batches arrive as the workers finish them: listed in input order
            report.failed.append(EmbedFailure(unique[pos].render_id, str(paths[pos]), reason))
        if buffer_ids:
            self._store("image", buffer_ids, np.stack(buffer), load_saved=load_saved)
        report.embedded["image"] = report.embedded.get("image", 0) + embedded

    def _embed_prompts(
        self,
        embedder: Embedder,
        report: BuildReport,
        *,
        ids: Sequence[int] | None = None,
        progress: StageProgress | None = None,
        load_saved: bool = False,
    ) -> None:
        with self.db.lock:
            todo, mark = stored.prompts_to_embed(self.db.conn, self.model_id, ids=ids)
        total = len(todo)
        if progress is not None and total:
            progress("embedding prompts", 0, total)
        for start in range(0, total, STORE_EVERY):
            chunk = todo[start : start + STORE_EVERY]
            vectors = embedder.embed_texts([prompt_text(text) for _, text in chunk])
            self._store("prompt", [pid for pid, _ in chunk], vectors, load_saved=load_saved)
            if progress is not None:
                progress("embedding prompts", start + len(chunk), total)
        report.embedded["prompt"] = report.embedded.get("prompt", 0) + total
        if ids is None:
            with self.db.write() as conn:
                stored.set_watermark(conn, self.model_id, mark)

    # -- building --------------------------------------------------------------------------------------------------

    def build(
        self,
        *,
        kinds: Sequence[str] = KINDS,
        progress: StageProgress | None = None,
        batch_size: int | None = None,
        workers: int | None = None,
    ) -> BuildReport:
        """Embed what has no vector yet (renders, and prompts new or edited since the last build), then build and
        save each kind's index from all stored vectors. Unreadable images are reported and skipped.
        Raises NotFoundError when the model's weights are missing."""
        started = time.perf_counter()
        kinds = _check_kinds(kinds)
        embedder = self.embedder()
        for kind in kinds:
            self._check_dim(kind, embedder.dim)
        report = BuildReport(model=self.model_id, dim=embedder.dim)
        if "image" in kinds:
            self._embed_renders(embedder, report, progress=progress, batch_size=batch_size, workers=workers)
        if "prompt" in kinds:
            self._embed_prompts(embedder, report, progress=progress)
        with self._lock:
            for kind in kinds:
                report.indexed[kind] = self._rebuild_index(kind, embedder.dim, progress=progress).count
            self._last_save = time.monotonic()
        if not report.failed:
            self._record_error(None)
        report.seconds = time.perf_counter() - started
        return report

    def rebuild(
        self,
        *,
        kinds: Sequence[str] = KINDS,
        reembed: bool = False,
        progress: StageProgress | None = None,
        batch_size: int | None = None,
        workers: int | None = None,
    ) -> BuildReport:
        """Delete the saved indexes (and with `reembed` the stored vectors of this model) and build again."""
        kinds = _check_kinds(kinds)
        if reembed:
            self.embedder()  # a missing model fails here, before any stored vector is deleted
            with self.db.write() as conn:
                for kind in kinds:
                    stored.delete_model(conn, kind, self.model_id)
                if "prompt" in kinds:
                    stored.clear_watermark(conn, self.model_id)
        with self._lock:
            for kind in kinds:
                self._live.pop(kind, None)
                path = self.index_path(kind)
                manifest_path(path).unlink(missing_ok=True)
                path.unlink(missing_ok=True)
        return self.build(kinds=kinds, progress=progress, batch_size=batch_size, workers=workers)

    # -- incremental -------------------------------------------------------------------------------------------------

    def on_new_renders(self, render_ids: Sequence[int], images: Sequence[Any] | None = None) -> None:
        """Embed new renders (and their prompts) when an index of that kind exists; never raises: a failure is
        logged and recorded for `status` (the render itself is already safely stored)."""
        if not render_ids:
            return
        try:
            want_images, want_prompts = self.available("image"), self.available("prompt")
            if not (want_images or want_prompts):
                return
            embedder = self.embedder()
            report = BuildReport(model=self.model_id, dim=embedder.dim)
            if want_images:
                self._check_dim("image", embedder.dim)
                if images is not None and len(images) == len(render_ids):
                    self._embed_in_memory(embedder, list(render_ids), images)
                else:
                    workers = 0 if len(render_ids) < 64 else None
                    self._embed_renders(embedder, report, ids=render_ids, workers=workers, load_saved=True)
            if want_prompts:
                self._check_dim("prompt", embedder.dim)
                with self.db.lock:
                    marks = ",".join("?" * len(render_ids))
                    owners = [
                        r[0]
                        for r in self.db.conn.execute(
                            f"SELECT DISTINCT prompt_id FROM renders WHERE id IN ({marks})", list(render_ids)
                        )
                    ]
                self._embed_prompts(embedder, report, ids=owners, load_saved=True)
            if report.failed:
                self._record_error(f"{len(report.failed)} new image(s) not embedded: {report.failed[0]}")
            self._maybe_flush()
        except Exception as exc:  # embedding must never fail a render or an import
            log.warning("embedding new renders failed: %s", exc, exc_info=True)
            with contextlib.suppress(Exception):
                self._record_error(f"embedding renders {', '.join(map(str, render_ids[:5]))}: {exc}")

    def _embed_in_memory(self, embedder: Embedder, render_ids: list[int], images: Sequence[Any]) -> None:
        with self.db.lock:
            pending = {p.render_id for p in stored.renders_without(self.db.conn, self.model_id, ids=render_ids)}
        chosen = [(rid, image) for rid, image in zip(render_ids, images, strict=True) if rid in pending]
        if chosen:
            vectors = embedder.embed_images([image for _, image in chosen])
            self._store("image", [rid for rid, _ in chosen], vectors, load_saved=True)

    def _record_error(self, message: str | None) -> None:
        value = None if message is None else f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%SZ')} {message}"[:2000]
        with self.db.write() as conn:
            stored.meta_set(conn, ERROR_KEY, value)

    # -- status ------------------------------------------------------------------------------------------------------

    def status(self) -> IndexStatus:
        """What is embedded and indexed under the configured model, the weights it loads, the last embedding error."""
        from promptlib.search.embed import resolve_weights

        model_id = self.model_id
        try:
            weights_path, _ = resolve_weights(self.spec)
            weights = str(weights_path) if weights_path else "random weights"
        except PromptlibError as exc:
            weights = f"missing: {exc}"
        kinds: list[KindStatus] = []
        with self.db.lock:
            conn = self.db.conn
            for kind in KINDS:
                items_table = "renders" if kind == "image" else "prompts"
                items = int(conn.execute(f"SELECT count(*) FROM {items_table}").fetchone()[0])
                embedded = stored.count(conn, kind, model_id)
                now = stored.version(conn, kind)
                path = self.index_path(kind)
                indexed: int | None = None
                factory: str | None = None
                detail = ""
                try:
                    manifest = read_manifest(path)
                    indexed, factory = manifest.count, manifest.factory
                    saved, same_model = _parse(manifest.generation), manifest.model == model_id
                    state = "fresh" if saved == now and same_model else "stale"
                    if (
                        saved is not None
                        and saved != now
                        and same_model
                        and catches_up(saved, now, stored_count=embedded)
                    ):
                        detail = f"{now[0] - saved[0]:,} changes behind: its next use catches up by id, no rebuild"
                    size = path.stat().st_size if path.exists() else -1
                    if size != manifest.index_size:  # cheap check; loading verifies the sha256 too
                        state, detail = (
                            "corrupt",
                            f"{path.name} is {size:,} bytes, its manifest says {manifest.index_size:,}",
                        )
                except StaleIndexError:
                    state = "missing"
                except CorruptIndexError as exc:
                    state, detail = "corrupt", str(exc)
                live = self._live.get(kind)
                if live is not None and live.dirty and live.version == now:
                    state, indexed, detail = "fresh", live.index.count, "changes held in memory, saved soon"
                if items > embedded and (not detail or state == "stale"):  # searches leave them out until then
                    unembedded = f"{items - embedded:,} not embedded yet: `promptlib index build` adds them"
                    detail = f"{detail}; {unembedded}" if detail else unembedded
                kinds.append(KindStatus(kind, items, embedded, state, indexed, factory, str(path), detail))
            others = [
                {"kind": kind, "model": model, "dim": dim, "count": n}
                for kind, model, dim, n in stored.models(conn)
                if model != model_id
            ]
            last_error = stored.meta_get(conn, ERROR_KEY)
        return IndexStatus(model_id, weights, kinds, others, last_error)

    # -- queries -----------------------------------------------------------------------------------------------------

    def query_vector(
        self,
        *,
        kind: str,
        text: str = "",
        image: bytes | None = None,
        image_name: str = "image",
        like: int | None = None,
    ) -> FloatArray:
        """The query as a vector: a stored vector (`like`: a render id for images, a prompt id for prompts), an
        image's, or a text's. Raises NotFoundError for an unknown id, ValidationError for a bad image."""
        if like is not None:
            return self._vector_of(kind, like)
        embedder = self.embedder()
        if image is not None:
            if kind != "image":
                raise QueryError("a query image searches images, not prompts")
            return embedder.embed_image_bytes(image, name=image_name)
        if not text.strip():
            raise switch_error(
                QueryError,
                lambda i, k: f"semantic search needs words, an image ({i}) or a render ({k})",
                SEARCH_IMAGE,
                SEARCH_LIKE,
            )
        key = (embedder.model_id, text)
        with self._lock:
            cached = self._recent.get(key)
            if cached is not None:
                self._recent.move_to_end(key)
                return cached
        vector: FloatArray = embedder.embed_texts([text])[0]
        with self._lock:  # the next page of the same query, or the TUI asking again, costs no encoding
            self._recent[key] = vector
            while len(self._recent) > RECENT_QUERIES:
                self._recent.popitem(last=False)
        return vector

    def _vector_of(self, kind: str, owner: int) -> FloatArray:
        import numpy as np

        table = "renders" if kind == "image" else "prompts"
        with self.db.lock:
            row = self.db.conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (owner,)).fetchone()
            dim = self._stored_dim(self.db.conn, kind)
            found = stored.load_some(self.db.conn, kind, self.model_id, [owner], dim=dim) if dim else None
        if row is None:
            raise NotFoundError(f"no {'render' if kind == 'image' else 'prompt'} with id {owner}")
        if found is not None and len(found[0]):
            vector: FloatArray = found[1][0]
            return vector
        # Not embedded yet (added since the last build): embed it now, and keep it.
        embedder = self.embedder()
        report = BuildReport(model=self.model_id, dim=embedder.dim)
        if kind == "image":
            self._embed_renders(embedder, report, ids=[owner], workers=0, load_saved=True)
            if report.failed:
                raise ValidationError(str(report.failed[0]))
        else:
            self._embed_prompts(embedder, report, ids=[owner], load_saved=True)
        with self.db.lock:
            ids, vectors = stored.load_some(self.db.conn, kind, self.model_id, [owner], dim=embedder.dim)
        if not len(ids):
            raise NotFoundError(f"{kind} {owner} could not be embedded")
        return np.asarray(vectors[0], dtype=np.float32)

    def rank(
        self,
        query: Query,
        *,
        mode: str,
        limit: int,
        offset: int,
        sort: str,
        kind: str = "image",
        vector: FloatArray | None = None,
        exclude: int | None = None,
    ) -> Ranking:
        """Rank entries for a parsed query in ``semantic`` or ``hybrid`` mode. The vector side uses `vector` (or
        the query's words through the text encoder) under the query's filters; in hybrid mode the lexical bm25
        list is fused with it by reciprocal rank fusion. `exclude` drops one id (the render or prompt a "like"
        query started from)."""
        from promptlib.search import lexical

        if mode not in ("semantic", "hybrid"):
            raise QueryError(f"unknown search mode {mode!r}")
        if limit < 0 or offset < 0:
            raise QueryError("limit and offset must not be negative")
        depth = max(DEPTH_MIN, 2 * (offset + limit))
        if vector is None:
            vector = self.query_vector(kind=kind, text=hybrid.query_text(query))
        index = self._require_index(kind)
        with self.db.lock:
            allowed = hybrid.allowed_ids(self.db.conn, query, kind=kind)
        k = depth * (RENDERS_PER_ENTRY if kind == "image" else 1) + (exclude is not None)
        k = max(1, min(k, index.count))  # a huge --limit asks for no more than there is (k sizes the result arrays)
        scores, ids = index.search(vector.reshape(1, -1), k, allowed=allowed)
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0 and int(i) != exclude]
        with self.db.lock:
            conn = self.db.conn
            if kind == "image":
                semantic = hybrid.renders_to_prompts(conn, pairs)
            else:
                semantic = [(pid, score, None) for pid, score in pairs]
            truncated = False
            found = None
            if mode == "hybrid" and query.positive_text:
                found = lexical.search(conn, query, limit=depth, offset=0, sort="score")
                truncated = found.truncated
            if found is not None and found.hits:
                ranking = hybrid.fuse(found.hits, semantic)
            else:  # one list: its own order and scores (fusing it alone would only rename them)
                ranking = hybrid.only_semantic(semantic)
            if sort != "score":
                ranking = hybrid.reorder(conn, ranking, sort)
        return Ranking(ranking[offset : offset + limit], truncated, mode)

    # -- duplicates --------------------------------------------------------------------------------------------------

    def duplicates(self, *, threshold: float = DEFAULT_THRESHOLD) -> list[DuplicateCluster]:
        """Clusters of near-duplicate images (`promptlib.search.duplicates`), largest first. Raises NotFoundError
        when there is no image index, ValidationError for a threshold outside (0, 1]."""
        index = self._require_index("image")
        with self._snapshot() as conn:
            ids, vectors = stored.load(conn, "image", self.model_id, dim=index.dim)
        groups = duplicates.clusters(index, ids, vectors, threshold=threshold)
        wanted = [rid for group in groups for rid, _ in group]
        info: dict[int, tuple[int, str]] = {}
        with self.db.lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for rid, pid, path, linked in self.db.conn.execute(
                    f"SELECT id, prompt_id, image_path, linked FROM renders WHERE id IN ({marks})", chunk
                ):
                    info[int(rid)] = (int(pid), str(self._image_file(path, bool(linked))))
        found = [
            DuplicateCluster([DuplicateMember(rid, *info[rid], sim) for rid, sim in group if rid in info])
            for group in groups
        ]
        return [c for c in found if len(c.members) > 1]


def _check_kinds(kinds: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(kinds))
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise ValidationError(f"unknown index kind {', '.join(unknown) or '(none)'} (one of: {', '.join(KINDS)})")
    return chosen


@dataclass(frozen=True)
class SemanticResult(SearchResult):
    """`Library.search`'s result from the semantic path: which mode ran, and why it fell back to lexical if it did."""

    mode: str = "lexical"
    note: str = ""
    cli_note: str | None = None  # the note in the CLI's words, when it names a switch (see `promptlib.errors.Switch`)
