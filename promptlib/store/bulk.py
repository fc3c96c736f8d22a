"""Inserting many entries fast: one transaction, multi-row INSERTs for every table, ids assigned up front.

This is the product's only insert path for prompts — `Library.add` uses it with one entry, imports with a
million — so fingerprints, tags and the FTS index are handled the same way everywhere. A bulk insert writes each
batch (rows, then its FTS index entries) on a helper thread while the caller's thread prepares the next batch:
see `_Overlap` for why that pays on two cores.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from itertools import islice
from operator import itemgetter
from typing import Any, overload

from promptlib.limits import MAX_ID
from promptlib.recipe import CheckedParams, GenerationParams, params_from_checked
from promptlib.store import seed_column
from promptlib.store.db import sql_datetime
from promptlib.store.schema_extras import CREATE_TRIGGERS, FTS_COLUMNS, FTS_TABLE, TRIGGER_NAMES
from promptlib.store.tags import tag_ids, tag_text

Progress = Callable[[int], None]

# The typed parameters a fingerprint covers, in the order it hashes them.
_FINGERPRINT_FIELDS = ("model", "model_hash", "vae", "sampler", "schedule", "steps", "cfg_scale", "seed", "width",
                       "height", "clip_skip")  # fmt: skip
_SEED = _FINGERPRINT_FIELDS.index("seed")
_field_values = itemgetter(*_FINGERPRINT_FIELDS)  # from a model's __dict__, where pydantic keeps field values


def _param_values(params: GenerationParams) -> tuple[Any, ...]:
    return _field_values(params.__dict__)  # type: ignore[no-any-return]


_sha256 = hashlib.sha256
_object_setattr = object.__setattr__


def fingerprint(prompt: str, negative_prompt: str, params: GenerationParams | None) -> str:
    """sha256 over the text and the typed parameters: equal entries from any source get equal prints.

    Stored in every library: the bytes hashed must never change (a NUL between the parts, the parameters as the
    repr of their tuple, LoRAs as the repr of (name, weight) pairs).
    """
    if params is None:
        return _fingerprint(prompt, negative_prompt, None, ())
    return _fingerprint(prompt, negative_prompt, _param_values(params), params.loras)


def _fingerprint(prompt: str, negative_prompt: str, values: tuple[Any, ...] | None, loras: Any) -> str:
    """`fingerprint` with the parameters' values already read (the insert loop reuses them for the recipe row)."""
    if values is None:
        text = f"{prompt}\x00{negative_prompt}"
    else:
        text = f"{prompt}\x00{negative_prompt}\x00{values!r}"
        if loras:
            text += repr([(lo.name, lo.weight) for lo in loras])
    return _sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class _Params:
    """`NewEntry.params`: a GenerationParams — or the values `check_params_dict` passed, turned into one on first
    access. A bulk import reads the values straight from the dict and never builds the ~1 µs pydantic object."""

    @overload
    def __get__(self, entry: None, owner: type[NewEntry] | None = None) -> None: ...
    @overload
    def __get__(self, entry: NewEntry, owner: type[NewEntry] | None = None) -> GenerationParams | None: ...
    def __get__(self, entry: NewEntry | None, owner: type[NewEntry] | None = None) -> GenerationParams | None:
        if entry is None:
            return None  # the dataclass default
        stored = entry.__dict__["params"]
        if type(stored) is tuple:
            stored = entry.__dict__["params"] = params_from_checked(stored)
        return stored  # type: ignore[no-any-return]

    def __set__(self, entry: NewEntry, value: GenerationParams | CheckedParams | None) -> None:
        entry.__dict__["params"] = value


@dataclass(frozen=True)
class NewEntry:
    """A prompt to insert, already validated."""

    prompt: str
    negative_prompt: str = ""
    title: str = ""
    notes: str = ""
    tags: tuple[str, ...] = ()  # normalised (see store.tags.clean_tags)
    params: _Params = _Params()  # GenerationParams | None; a CheckedParams is built into one on first access
    rating: int | None = None
    favourite: bool = False
    source: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def checked(
        cls,
        prompt: str,
        negative_prompt: str,
        title: str,
        notes: str,
        tags: tuple[str, ...],
        params: GenerationParams | CheckedParams | None,
        rating: int | None,
        favourite: bool,
        source: dict[str, Any],
    ) -> NewEntry:
        """The same entry as ``NewEntry(...)`` with every field given, built without the dataclass ``__init__``
        (a third of its cost: bulk imports build one per row). For values the caller has already validated."""
        new = cls.__new__(cls)
        _object_setattr(new, "__dict__", {
            "prompt": prompt, "negative_prompt": negative_prompt, "title": title, "notes": notes, "tags": tags,
            "params": params, "rating": rating, "favourite": favourite, "source": source,
        })  # fmt: skip
        return new

    def fingerprint(self) -> str:
        """See `fingerprint`."""
        return fingerprint(self.prompt, self.negative_prompt, self.params)


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


# Rows go in as multi-row ``INSERT … VALUES (…),(…),…`` statements: one step runs a whole chunk without the GIL
# (executemany takes the GIL back for every row), and it costs less than executemany's per-row round trips.
_PROMPT_COLUMNS = ("id", "title", "prompt", "negative_prompt", "notes", "rating", "favourite", "pack_id", "source",
                   "tag_text", "fingerprint", "created_at", "updated_at")  # fmt: skip
_RECIPE_COLUMNS = ("prompt_id", *_FINGERPRINT_FIELDS, "loras", "extra")
_TAG_COLUMNS = ("prompt_id", "tag_id")
# NULL for a parameter: sqlite3 binds a float NaN as NULL (SQLite never stores a NaN), while binding None goes
# through sqlite3's adapter lookup first — ~3,000 instructions a value, a fifth of the SQL side of a typical row.
_NULL = math.nan
_NULLS: dict[Any, Any] = {None: _NULL}
# Rows per INSERT statement: each statement costs the helper one wait for the GIL (see _Overlap), so fewer are
# faster (1,000 rows: 64k/s, 2,500: 68k/s); a cached 2,500-row statement holds ~6 MB. Fewer when the SQLite
# build allows fewer variables; a batch's remainder goes in power-of-two chunks, so few statement shapes exist.
ROWS_PER_STATEMENT = 2_500
# The GIL switch interval during a bulk insert (CPython's default: 5 ms): the helper thread waits up to this long
# for the GIL after every statement while the caller's thread runs Python (measured: 55k/s at 5 ms, 68k/s at 1 ms).
GIL_SWITCH_INTERVAL = 0.001
_FTS_COLS = ", ".join(FTS_COLUMNS)
_FILL_FTS = f"INSERT INTO {FTS_TABLE}(rowid, {_FTS_COLS}) SELECT id, {_FTS_COLS} FROM prompts WHERE id BETWEEN ? AND ?"


@lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    one = "(" + ",".join("?" * len(columns)) + ")"
    return f"INSERT INTO {table}({', '.join(columns)}) VALUES " + ",".join([one] * rows)


def _insert_rows(
    conn: sqlite3.Connection, table: str, columns: tuple[str, ...], flat: list[Any], *, max_variables: int
) -> None:
    """Insert rows given as one flat list of values: full statements of `ROWS_PER_STATEMENT` rows, then the rest
    in power-of-two chunks (so a connection compiles and caches a dozen statement shapes at most)."""
    width = len(columns)
    full = max(1, min(ROWS_PER_STATEMENT, max_variables // width))
    left, start = len(flat) // width, 0
    while left:
        rows = full if left >= full else 1 << (left.bit_length() - 1)
        end = start + rows * width
        conn.execute(_insert_sql(table, columns, rows), flat[start:end] if start or end < len(flat) else flat)
        start, left = end, left - rows


def _write_batch(
    conn: sqlite3.Connection,
    prompts: list[Any],
    recipes: list[Any],
    tags: list[Any],
    fts_range: tuple[int, int] | None,
) -> None:
    max_variables = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    _insert_rows(conn, "prompts", _PROMPT_COLUMNS, prompts, max_variables=max_variables)
    _insert_rows(conn, "recipes", _RECIPE_COLUMNS, recipes, max_variables=max_variables)
    _insert_rows(conn, "prompt_tags", _TAG_COLUMNS, tags, max_variables=max_variables)
    if fts_range is not None:
        conn.execute(_FILL_FTS, fts_range)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (it is re-enabled after, if it was on).

    A bulk import allocates ~10 tracked objects per row and keeps a batch of them alive, so the collector runs
    full passes over the whole heap again and again: 8 µs a row in benchmarks/bench_import.py, as much as the
    SQL of a row. Rows make no reference cycles; cycles the caller makes meanwhile are collected afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _quick_gil_handoffs() -> Iterator[None]:
    """`GIL_SWITCH_INTERVAL` inside the block (if shorter than the current one), the old interval after."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, GIL_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@contextmanager
def references_unchecked(conn: sqlite3.Connection) -> Iterator[None]:
    """Foreign-key enforcement off around a bulk insert; enter it before the transaction begins (SQLite ignores
    the pragma inside one) and hold the connection's lock throughout.

    `insert_entries` only writes references that are right by construction — the pack made in the same
    transaction, tag ids it has just looked up, prompt ids it has just inserted — so the checks (three index
    probes a row, ~7 % of the SQL work) can never fail there.
    """
    enabled = bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])
    if enabled:
        conn.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if enabled:
            conn.execute("PRAGMA foreign_keys=ON")


class _Overlap:
    """Runs one job (a batch's SQL) at a time on a helper thread while the caller's thread goes on with Python.

    sqlite3 releases the GIL for the whole of a statement's step, and every statement here is one long step (a
    multi-row INSERT, the FTS fill of a batch), so SQLite's work runs on the second core while the caller's
    generator prepares the next batch; only binding the values holds the GIL. After each statement the helper
    needs the GIL back, which the busy caller's thread hands over only every switch interval: hence few, large
    statements and a short interval while a bulk insert runs. The caller must not touch the connection until
    `wait` returns. (Per-row executemany on a helper is slower than no helper: the GIL would change hands once
    per row.)
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, job: Callable[[], None]) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(job,), name="promptlib-sql", daemon=True)
        self._thread.start()

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # handed to the caller's thread by `wait`
            self._error = exc

    def wait(self) -> None:
        """Block until the job in flight (if any) is done; re-raise its error."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


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

    With `bulk`, each batch is written on a helper thread while the next one is prepared (the caller's generator
    runs meanwhile; a query it makes waits for the statement in flight), and the FTS index is filled once per
    batch with one INSERT … SELECT instead of row by row (~3x less work). The per-row triggers are dropped and
    re-created inside the caller's transaction, so other connections never see them missing and a rollback
    restores them. The connection must allow use from another thread (promptlib's does). Cyclic GC is paused
    and the GIL switch interval shortened meanwhile (see `gc_paused`, `GIL_SWITCH_INTERVAL`).
    """
    if not bulk:
        return _insert(conn, entries, pack_id=pack_id, dedupe=dedupe, batch_size=batch_size, progress=progress)
    for name in TRIGGER_NAMES:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    overlap = _Overlap(conn)
    try:
        with gc_paused(), _quick_gil_handoffs():
            result = _insert(
                conn, entries, pack_id=pack_id, dedupe=dedupe, batch_size=batch_size, progress=progress, helper=overlap
            )
            overlap.wait()
    except BaseException:
        # the caller rolls back: let the statement in flight finish first; its own error, if any, is secondary
        with suppress(Exception):
            overlap.wait()
        raise
    for statement in CREATE_TRIGGERS:
        conn.execute(statement)
    return result


# The largest entry id present, and the largest ever handed out (prompts is AUTOINCREMENT: see store/models.py).
_ID_HIGH_WATER = (
    "SELECT coalesce((SELECT max(id) FROM prompts), 0),"
    " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'prompts'), 0)"
)


def _insert(
    conn: sqlite3.Connection,
    entries: Iterable[NewEntry],
    *,
    pack_id: int | None,
    dedupe: bool,
    batch_size: int,
    progress: Progress | None,
    helper: _Overlap | None = None,
) -> InsertResult:
    """The insert loop; with `helper`, each batch is written and indexed on its thread (no FTS triggers)."""
    result = InsertResult()
    ids, all_ids = result.ids, result.all_ids
    tag_cache: dict[str, int] = {}
    tag_lists: dict[tuple[str, ...], tuple[str, tuple[int, ...]]] = {}  # entry.tags -> (tag_text, sorted ids)
    last_source: tuple[dict[str, Any], str] = ({}, "{}")  # one import shares one source dict: serialise it once
    now = sql_datetime(datetime.now(UTC))
    pack = _NULL if pack_id is None else pack_id
    newest, used = conn.execute(_ID_HIGH_WATER).fetchone()
    # Ids are assigned here, not by SQLite: start above every id ever used (sqlite_sequence), not only the largest
    # one still present, or an entry added after its newest neighbour was removed would take the removed one's id.
    next_id = max(int(newest), int(used)) + 1
    # Rows this call adds are found in `seen`; the database is asked only about rows that were there before.
    ask_db = dedupe and newest > 0
    seen: dict[str, int] = {}
    wait = helper.wait if helper is not None else _nothing
    for batch in _batched(entries, batch_size):
        if not dedupe:
            seen = {}  # (only duplicates within one batch are skipped)
        fields: list[dict[str, Any] | None] = []  # per entry: its parameter values by name (model or checked values)
        values: list[tuple[Any, ...] | None] = []  # per entry: the fingerprinted values, in recipe column order
        prints: list[str] = []
        for e in batch:
            stored = e.__dict__["params"]
            if stored is None:
                fields.append(None)
                values.append(None)
                prints.append(_fingerprint(e.prompt, e.negative_prompt, None, ()))
                continue
            f = stored[0] if type(stored) is tuple else stored.__dict__
            v = _field_values(f)
            fields.append(f)
            values.append(v)
            prints.append(_fingerprint(e.prompt, e.negative_prompt, v, f["loras"]))
        if ask_db:
            wait()
            seen.update(_existing(conn, [fp for fp in prints if fp not in seen]))
        # Tags: every entry's (skipped ones too) exist afterwards, as they always have.
        fresh = {e.tags for e in batch if e.tags not in tag_lists}
        if fresh:
            names = {t for group in fresh for t in group if t not in tag_cache}
            if names:
                wait()
                tag_ids(conn, names, tag_cache)
            for entry_tags in fresh:
                ordered = sorted(entry_tags)
                tag_lists[entry_tags] = (tag_text(ordered), tuple(tag_cache[t] for t in ordered))
        first_id = next_id
        prompts: list[Any] = []  # flat: _PROMPT_COLUMNS values, row after row
        recipes: list[Any] = []
        links: list[Any] = []
        for entry, fp, typed, f in zip(batch, prints, values, fields, strict=True):
            pid = seen.get(fp)
            if pid is not None:
                result.skipped += 1
                all_ids.append(pid)
                continue
            pid = seen[fp] = next_id
            next_id += 1
            source = entry.source
            if source is not last_source[0] and source != last_source[0]:
                last_source = (source, _dumps(source))
            text, tag_numbers = tag_lists[entry.tags]
            rating = entry.rating
            prompts += (pid, entry.title, entry.prompt, entry.negative_prompt, entry.notes,
                        _NULL if rating is None else rating, int(entry.favourite), pack, last_source[1], text, fp,
                        now, now)  # fmt: skip
            if f is not None and typed is not None:
                recipes.append(pid)
                recipes += map(_NULLS.get, typed, typed)  # None -> _NULL
                seed = typed[_SEED]
                if seed is not None and seed > MAX_ID:  # stored as its negative (`seed_column`)
                    recipes[_SEED - len(typed)] = seed_column.to_sql(seed)
                loras, extra = f["loras"], f["extra"]
                recipes.append(json.dumps([lora.model_dump() for lora in loras]) if loras else "[]")
                recipes.append(_dumps(extra) if extra else "{}")
            for tag_id in tag_numbers:
                links += (pid, tag_id)
            ids.append(pid)
            all_ids.append(pid)
        if helper is None:
            _write_batch(conn, prompts, recipes, links, None)  # the triggers index the rows
        elif next_id > first_id:
            helper.start(partial(_write_batch, conn, prompts, recipes, links, (first_id, next_id - 1)))
        if progress is not None:
            progress(len(batch))
    return result


def _nothing() -> None:
    return None
