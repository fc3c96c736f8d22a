"""Finding (and safely repairing) what can go wrong between the database and the image files.

Rule 2 of the architecture — files first, then rows — means a crash can leave an image file no row refers to,
or a temp file; a user can delete an image by hand. The doctor reports both kinds of drift and, with `fix`,
removes what is safe to remove (after a backup). Rows are never deleted: a missing image is reported, not hidden.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptlib.store.db import WAL_SIZE_LIMIT
from promptlib.store.files import ImageStore, sha256_file

WAL_WARN_BYTES = WAL_SIZE_LIMIT

# Every kind of finding, what it means and what ``--fix`` does about it. Modules that own derived data add their
# kinds with `register_check` (the semantic index: "stale-index", "foreign-index"; the renderer: "model-hash").
KINDS: dict[str, str] = {
    "integrity": "SQLite's integrity check failed (not fixable here: restore a backup from backups/)",
    "foreign-key": "a row points to a row that does not exist",
    "search-index": "the full-text index is damaged (--fix rebuilds it)",
    "schema": "the schema revision is not the one this promptlib expects",
    "missing-image": "a render's image file is gone (the row is kept)",
    "corrupt-image": "an image file no longer matches its sha256 (found by --deep)",
    "orphan-file": "an image file no render refers to, left by a crash (--fix deletes it)",
    "temp-file": "an unfinished write (--fix deletes it)",
    "wal-size": "the write-ahead log is large (--fix checkpoints it)",
}


@dataclass(frozen=True)
class Finding:
    """One problem the doctor found (its `kind` is a key of `KINDS`); `fixable` ones are repaired by ``--fix``."""

    kind: str
    detail: str
    path: str | None = None
    fixable: bool = False

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "detail": self.detail, "path": self.path, "fixable": self.fixable}


@dataclass(frozen=True)
class Check:
    """A check another module adds to the doctor: `find(library)` returns findings of its `kinds`; `fix(library,
    findings)`, when given, repairs the fixable ones (called after the doctor's backup)."""

    name: str
    kinds: dict[str, str]
    find: Callable[[Any], list[Finding]]
    fix: Callable[[Any, list[Finding]], None] | None = None


CHECKS: dict[str, Check] = {}


def register_check(check: Check) -> None:
    """Add (or replace, by name) a check that `Library.doctor` runs after its own."""
    CHECKS[check.name] = check
    KINDS.update(check.kinds)


@dataclass(frozen=True)
class Facts:
    """What the doctor reports about a library besides problems."""

    schema: str | None
    head: str
    db_bytes: int
    wal_bytes: int
    image_files: int
    renders: int

    def to_json(self) -> dict[str, object]:
        return {
            "schema": self.schema,
            "schema_head": self.head,
            "db_bytes": self.db_bytes,
            "wal_bytes": self.wal_bytes,
            "image_files": self.image_files,
            "renders": self.renders,
        }

    def describe(self) -> str:
        state = "current" if self.schema == self.head else f"this promptlib expects {self.head}"
        return (
            f"schema {self.schema or 'none'} ({state}), database {_size(self.db_bytes)}, "
            f"write-ahead log {_size(self.wal_bytes)}, {self.image_files:,} image files, {self.renders:,} renders"
        )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    value, unit = n / 1024, "KB"
    for bigger in ("MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def facts(conn: sqlite3.Connection, db_path: Path, images: ImageStore) -> Facts:
    """Schema revision (and the one expected), database and WAL sizes, image files and renders."""
    from promptlib.store import migrate

    return Facts(
        schema=migrate.current_revision(conn),
        head=migrate.HEAD_REVISION,
        db_bytes=db_path.stat().st_size,
        wal_bytes=_wal_bytes(db_path),
        image_files=len(images.iter_files()),
        renders=int(conn.execute("SELECT count(*) FROM renders").fetchone()[0]),
    )


def _wal_bytes(db_path: Path) -> int:
    wal = db_path.with_name(db_path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """SQLite integrity, foreign keys, the FTS index and the schema revision; one line per problem."""
    from promptlib.store import migrate

    problems: list[str] = []
    result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        problems.extend(f"integrity: {line}" for line in result[:20])
    for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check"):
        problems.append(f"foreign key: {table} row {rowid} points to a missing {parent}")
    try:
        conn.execute("INSERT INTO prompts_fts(prompts_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError as exc:
        problems.append(f"search index: {exc} (run `promptlib doctor --fix`)")
    revision = migrate.current_revision(conn)
    if revision != migrate.HEAD_REVISION:
        problems.append(f"schema revision {revision} is not {migrate.HEAD_REVISION}")
    return problems


def classify(problems: list[str]) -> list[Finding]:
    """`integrity_problems` lines as findings (only a damaged search index is fixable)."""
    out = []
    for line in problems:
        kind = line.split(":", 1)[0].replace(" ", "-")
        if kind not in ("integrity", "foreign-key", "search-index"):
            kind = "schema"
        out.append(Finding(kind, line, fixable=kind == "search-index"))
    return out


def image_findings(conn: sqlite3.Connection, images: ImageStore, *, deep: bool) -> list[Finding]:
    """Missing, corrupt (with `deep`: every file re-hashed), orphaned and temporary image files. Renders and grids
    refer to image files; a file neither refers to is orphaned."""
    found: list[Finding] = []
    referenced: set[str] = set()
    rows = conn.execute("SELECT DISTINCT image_sha256, image_path, linked, 'render' FROM renders").fetchall()
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'grids'").fetchone():
        rows += conn.execute("SELECT DISTINCT image_sha256, image_path, 0, 'grid' FROM grids").fetchall()
    for sha, rel, linked, what in rows:
        path = Path(rel) if linked else images.path(rel)
        if not linked:
            referenced.add(rel)
        if not path.is_file():
            found.append(Finding("missing-image", f"{what} image {sha[:12]}… is missing", str(path)))
        elif deep and sha256_file(path) != sha:
            found.append(Finding("corrupt-image", f"{path.name} no longer matches its sha256", str(path)))
    for rel in images.iter_files():
        if rel not in referenced:
            found.append(Finding("orphan-file", "image file no render or grid refers to", rel, fixable=True))
    if images.tmp.is_dir():
        for leftover in sorted(images.tmp.iterdir()):
            found.append(Finding("temp-file", "unfinished write", str(leftover), fixable=True))
    return found


def wal_findings(db_path: Path) -> list[Finding]:
    size = _wal_bytes(db_path)
    if size > WAL_WARN_BYTES:
        return [Finding("wal-size", f"write-ahead log is {size // 2**20} MB (checkpointed by --fix)", fixable=True)]
    return []


def remove_file(library: Path, finding: Finding) -> None:
    """Delete the file of an orphan or temp finding; only ever inside the library's images folder."""
    assert finding.path is not None
    target = Path(finding.path) if Path(finding.path).is_absolute() else library / finding.path
    if target.resolve().is_relative_to((library / "images").resolve()):
        target.unlink(missing_ok=True)
