"""Finding (and safely repairing) what can go wrong between the database and the image files.

Rule 2 of the architecture — files first, then rows — means a crash can leave an image file no row refers to,
or a temp file; a user can delete an image by hand. The doctor reports both kinds of drift and, with `fix`,
removes what is safe to remove (after a backup). Rows are never deleted: a missing image is reported, not hidden.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from promptlib.store.files import ImageStore, sha256_file

WAL_WARN_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Finding:
    """One problem (or fact) the doctor found; `fixable` ones are repaired by ``doctor --fix``."""

    kind: str  # integrity, missing-image, corrupt-image, orphan-file, temp-file, wal-size, search-index, schema
    detail: str
    path: str | None = None
    fixable: bool = False

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "detail": self.detail, "path": self.path, "fixable": self.fixable}


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
    """Missing, corrupt (with `deep`: every file re-hashed), orphaned and temporary image files."""
    found: list[Finding] = []
    referenced: set[str] = set()
    for sha, rel, linked in conn.execute("SELECT DISTINCT image_sha256, image_path, linked FROM renders"):
        path = Path(rel) if linked else images.path(rel)
        if not linked:
            referenced.add(rel)
        if not path.is_file():
            found.append(Finding("missing-image", f"render image {sha[:12]}… is missing", str(path)))
        elif deep and sha256_file(path) != sha:
            found.append(Finding("corrupt-image", f"{path.name} no longer matches its sha256", str(path)))
    for rel in images.iter_files():
        if rel not in referenced:
            found.append(Finding("orphan-file", "image file no render refers to", rel, fixable=True))
    if images.tmp.is_dir():
        for leftover in sorted(images.tmp.iterdir()):
            found.append(Finding("temp-file", "unfinished write", str(leftover), fixable=True))
    return found


def wal_findings(db_path: Path) -> list[Finding]:
    wal = db_path.with_name(db_path.name + "-wal")
    size = wal.stat().st_size if wal.exists() else 0
    if size > WAL_WARN_BYTES:
        return [Finding("wal-size", f"write-ahead log is {size // 2**20} MB (checkpointed by --fix)", fixable=True)]
    return []


def remove_file(library: Path, finding: Finding) -> None:
    """Delete the file of an orphan or temp finding; only ever inside the library's images folder."""
    assert finding.path is not None
    target = Path(finding.path) if Path(finding.path).is_absolute() else library / finding.path
    if target.resolve().is_relative_to((library / "images").resolve()):
        target.unlink(missing_ok=True)
