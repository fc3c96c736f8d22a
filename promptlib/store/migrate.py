"""Schema versions: detect, back up, upgrade — once, even when two processes open an old library together.

The revision check on open is one plain SQL query; Alembic is imported only when an upgrade is due.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from promptlib.errors import LibraryError

HEAD_REVISION = "0004"  # the newest file in migrations/versions; a test keeps the two in step
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004")
LOCK_NAME = ".migrate.lock"


def migrations_path() -> Path:
    """The Alembic script folder: shipped inside the wheel, or the repository's top-level ``migrations/``."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise LibraryError("promptlib's migration scripts are missing from this installation; reinstall promptlib")


def current_revision(conn: sqlite3.Connection) -> str | None:
    """The library's schema revision, or None for a database Alembic never touched."""
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row else None


def has_tables(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0])


@contextmanager
def _migration_lock(library: Path) -> Iterator[None]:
    """An exclusive lock on the library folder for the duration of a migration (released by the OS on crash)."""
    with (library / LOCK_NAME).open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def backup(db_path: Path, target: Path) -> Path:
    """Copy a live database with SQLite's online backup API (consistent even while others write).

    The copy is written to ``<target>.<pid>.tmp`` and renamed: a crash leaves at most that temp file, which
    `sweep_backup_temps` removes on the next open once its process is gone.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        src = sqlite3.connect(db_path)
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def sweep_backup_temps(folder: Path) -> int:
    """Remove the temp files of backups whose process has died (a crash during a backup); returns how many."""
    if not folder.is_dir():
        return 0
    removed = 0
    for leftover in folder.glob("*.tmp"):
        owner = leftover.suffixes[-2].lstrip(".") if len(leftover.suffixes) >= 2 else ""
        if owner.isdigit() and _alive(int(owner)):
            continue  # a backup in progress in another process
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def backup_name(revision: str | None) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    return f"library-{stamp}-rev{revision or 'none'}.db"


def needs_upgrade(conn: sqlite3.Connection) -> bool:
    """True when the schema is older than this promptlib; raises LibraryError when it is newer or foreign."""
    revision = current_revision(conn)
    if revision == HEAD_REVISION:
        return False
    if revision is None:
        if has_tables(conn):
            raise LibraryError("library.db is not a promptlib library (no schema version); refusing to touch it")
        return True
    if revision not in KNOWN_REVISIONS:
        raise LibraryError(
            f"library schema {revision} is newer than this promptlib understands (head {HEAD_REVISION}); "
            "upgrade promptlib"
        )
    return True


def upgrade(library: Path, db_path: Path, *, backups_dir: Path) -> Path | None:
    """Bring the database to HEAD_REVISION; back it up first when it holds data. Returns the backup path.

    Holds an exclusive lock on the library folder, and re-checks the revision after taking it, so of two
    processes opening an old library at once exactly one migrates.
    """
    with _migration_lock(library):
        conn = sqlite3.connect(db_path)
        try:
            if not needs_upgrade(conn):
                return None
            old = current_revision(conn)
        finally:
            conn.close()
        try:
            saved = backup(db_path, backups_dir / backup_name(old)) if old is not None else None
        except (OSError, sqlite3.Error) as exc:
            raise LibraryError(
                f"cannot back up {db_path.name} before upgrading its schema: {exc}; nothing was changed"
            ) from exc
        _run_alembic(db_path)
        return saved


def _run_alembic(db_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    from promptlib.store.db import connect

    def _connect() -> sqlite3.Connection:
        conn = connect(db_path)
        # SQLite's documented way to change a table: with foreign keys enforced, dropping a table being rebuilt
        # would cascade-delete the rows that refer to it. A migration that rebuilds tables checks the references
        # itself (PRAGMA foreign_key_check) before the one transaction commits; SQLite ignores this inside one.
        conn.execute("PRAGMA foreign_keys=OFF")
        return conn

    engine = create_engine("sqlite://", creator=_connect, poolclass=NullPool)

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: object) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # type: ignore[attr-defined]

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_path()))
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    except Exception as exc:  # Alembic and SQLAlchemy raise many types; the user needs one line
        raise LibraryError(f"migrating {db_path} failed: {exc}; the backup is untouched") from exc
    finally:
        engine.dispose()
