"""The SQLite connection: pragmas, write transactions that start with BEGIN IMMEDIATE, and a lazy ORM engine.

Readers use the stdlib ``sqlite3`` connection directly (fast imports, fast rows). Writers use `Database.write()`,
which takes the write lock up front so two processes (CLI + TUI) queue on ``busy_timeout`` instead of failing
half-way with "database is locked". The SQLAlchemy engine for SQLModel sessions is created only when asked for.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from promptlib.errors import LibraryError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

BUSY_TIMEOUT_MS = 15_000
# BEGIN IMMEDIATE waits busy_timeout once; a few more tries ride out a long writer in another process.
BEGIN_RETRIES = 4

# After a long read held checkpoints back, the WAL file keeps its peak size until the last connection closes; this
# truncates it back to at most this much at the next reset (the size doctor warns about).
WAL_SIZE_LIMIT = 64 * 1024 * 1024

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
    "PRAGMA mmap_size=268435456",
    f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}",
)

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format


def sql_datetime(value: datetime) -> str:
    """A naive UTC datetime in the text form SQLAlchemy stores, for rows written with plain SQL."""
    return value.strftime(DATETIME_FORMAT)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open `path` with promptlib's pragmas, in autocommit mode (transactions are explicit)."""
    uri = f"file:{path.as_posix()}{'?mode=ro' if readonly else ''}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=15)
        for pragma in PRAGMAS if not readonly else PRAGMAS[2:]:
            conn.execute(pragma)
    except sqlite3.DatabaseError as exc:
        raise LibraryError(f"cannot open {path}: {exc}") from exc
    return conn


def is_locked_error(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def storage_error(exc: sqlite3.Error) -> LibraryError | None:
    """A one-line LibraryError for a write the storage refused (disk full, I/O error, read-only or damaged file),
    or None for errors that are not about storage (constraint violations, misuse), which are left as they are."""
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return None
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and is_locked_error(exc):
        reason = "another promptlib process held the library too long"
    elif "full" in text:
        reason = "the disk is full"
    elif "I/O" in text:
        reason = "disk I/O error (is the disk full, or the file too large for this filesystem or a quota?)"
    elif "readonly" in text or "read-only" in text:
        reason = "the library's files are read-only"
    elif "malformed" in text or "not a database" in text:
        reason = "the database file is damaged (run `promptlib doctor`)"
    else:
        reason = text
    return LibraryError(f"cannot write to the library: {reason}; the change was rolled back")


def _rollback(conn: sqlite3.Connection) -> None:
    # After a failed write SQLite may already have rolled back; a second ROLLBACK would hide the real error.
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one ``BEGIN IMMEDIATE`` transaction on `conn`: all of it commits, or none of it.

    Raises LibraryError when the write lock stays taken, and (see `storage_error`) when the disk refuses the write.
    """
    for attempt in range(BEGIN_RETRIES):
        try:
            conn.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError as exc:
            if not is_locked_error(exc):
                _raise_storage_error(exc)
            if attempt == BEGIN_RETRIES - 1:
                raise LibraryError(
                    "the library is busy: another promptlib process has held the write lock too long"
                ) from exc
            time.sleep(0.05 * (attempt + 1))
    try:
        yield conn
    except sqlite3.Error as exc:
        _rollback(conn)
        _raise_storage_error(exc)
    except BaseException:
        _rollback(conn)
        raise
    else:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            _raise_storage_error(exc)


def _raise_storage_error(exc: sqlite3.Error) -> NoReturn:
    wrapped = storage_error(exc)
    if wrapped is None:
        raise exc
    raise wrapped from exc


class Database:
    """One library database: a shared stdlib connection for reads and writes, and a lazy SQLAlchemy engine."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self.conn = connect(path, readonly=readonly)
        # One connection serves every thread of this process (the TUI's workers): reads and writes take turns.
        self.lock = threading.RLock()
        self._engine: Engine | None = None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        self.conn.close()

    def execute(self, sql: str, params: Any = ()) -> list[Any]:
        """Run one statement and fetch its rows, holding the lock throughout."""
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the shared connection (thread-safe within this process)."""
        if self.readonly:
            raise LibraryError(f"{self.path} is opened read-only")
        with self.lock, immediate(self.conn) as conn:
            yield conn

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine for SQLModel sessions, created on first use (same pragmas, BEGIN IMMEDIATE)."""
        if self._engine is None:
            from sqlalchemy import create_engine, event
            from sqlalchemy.pool import NullPool

            engine = create_engine(
                "sqlite://", creator=lambda: connect(self.path, readonly=self.readonly), poolclass=NullPool
            )

            @event.listens_for(engine, "begin")
            def _begin_immediate(connection: Any) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

            self._engine = engine
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A SQLModel session in one write transaction: committed on success, rolled back on error."""
        from sqlmodel import Session

        if self.readonly:
            raise LibraryError(f"{self.path} is opened read-only")
        from sqlalchemy.exc import DBAPIError

        try:
            with self.lock, Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except DBAPIError as exc:
            wrapped = storage_error(exc.orig) if isinstance(exc.orig, sqlite3.Error) else None
            if wrapped is None:
                raise
            raise wrapped from exc
