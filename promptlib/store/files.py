"""The content-addressed image store: ``images/ab/cd/<sha256>.<ext>``, written atomically, never modified.

Files are written before the rows that reference them (ARCHITECTURE rule 2): temp name in ``images/.tmp``, fsync,
``os.replace``, fsync of the folder. A crash leaves at most an unreferenced file or a temp file, which
`ImageStore.sweep_temp` (run on open) and ``promptlib doctor`` remove.

Between a file's write and its row's commit the file looks unreferenced to every other process. Writers therefore
hold `ImageStore.writing` (a shared lock on ``.images.lock``) from the first file to the commit, and whoever
deletes files it believes unreferenced (``doctor --fix``, `Library.remove`, the temp sweep) holds
`ImageStore.exclusive` while it decides and deletes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from promptlib.errors import LibraryError

ALLOWED_EXTENSIONS = frozenset({"png", "jpg", "webp", "gif", "bmp", "tiff", "avif"})
LOCK_NAME = ".images.lock"


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    relpath: str  # relative to the library folder, with forward slashes
    size: int
    created: bool  # False when an identical file was already stored


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ImageStore:
    """Immutable image files addressed by their sha256 under ``<library>/images``."""

    def __init__(self, library: Path) -> None:
        self.library = library
        self.root = library / "images"
        self.tmp = self.root / ".tmp"
        self._made: set[Path] = set()  # folders known to exist (saves two mkdir calls per stored file)

    @contextmanager
    def _flock(self, mode: int) -> Iterator[bool]:
        # A new descriptor per use: flock belongs to the open file, so threads of one process exclude each other too.
        fd = os.open(self.library / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, mode)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold from storing files until the rows referring to them are committed (shared between writers)."""
        with self._flock(fcntl.LOCK_SH):
            yield

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold while deciding that files are unreferenced and deleting them (waits for writers in flight)."""
        with self._flock(fcntl.LOCK_EX):
            yield

    def relpath(self, sha256: str, ext: str) -> str:
        return f"images/{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"

    def path(self, relpath: str) -> Path:
        return self.library / relpath

    def put(self, data: bytes, *, ext: str, sync: bool = True) -> StoredFile:
        """Store `data` under its hash; returns the existing file when identical content is already stored.
        Raises LibraryError when the file cannot be written (disk full, too large, read-only).

        With ``sync=False`` nothing is fsynced: the caller must call `sync_all` before a committed row refers to
        the file (batch imports make one system-wide sync per batch instead of two fsyncs per file).
        """
        ext = ext.lower().lstrip(".")
        if ext not in ALLOWED_EXTENSIONS:
            raise ValueError(f"image extension {ext!r} is not allowed")
        digest = sha256_bytes(data)
        rel = self.relpath(digest, ext)
        final = self.library / rel
        if final.exists() and final.stat().st_size == len(data):
            return StoredFile(digest, rel, len(data), created=False)
        try:
            for folder in (self.tmp, final.parent):
                if folder not in self._made:
                    folder.mkdir(parents=True, exist_ok=True)
                    self._made.add(folder)
            fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix=digest[:16], suffix=".part")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    if sync:
                        handle.flush()
                        os.fsync(handle.fileno())
                Path(tmp_name).replace(final)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            if sync:
                _fsync_dir(final.parent)
        except OSError as exc:  # disk full, file too large, read-only folder: one line, nothing left behind
            raise LibraryError(f"cannot store the image: {exc.strerror or exc}") from exc
        return StoredFile(digest, rel, len(data), created=True)

    @staticmethod
    def sync_all() -> None:
        """Flush every written file and rename to disk (one ``sync()`` for a whole batch of `put(sync=False)`)."""
        os.sync()

    def remove(self, relpath: str) -> None:
        """Delete a stored file (after the last row referencing it is gone)."""
        path = self.library / relpath
        if path.resolve().is_relative_to(self.root.resolve()):
            path.unlink(missing_ok=True)

    def sweep_temp(self) -> int:
        """Remove temp files left by a crash; returns how many. Skipped (0) while another process is writing
        images: its temp files are not leftovers, and a later open sweeps."""
        if not self.tmp.is_dir():
            return 0
        count = 0
        with self._flock(fcntl.LOCK_EX | fcntl.LOCK_NB) as locked:
            if not locked:
                return 0
            for leftover in self.tmp.iterdir():
                leftover.unlink(missing_ok=True)
                count += 1
        return count

    def iter_files(self) -> list[str]:
        """All stored image files, as library-relative paths."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.relative_to(self.library).as_posix()
            for p in self.root.glob("??/??/*")
            if p.is_file() and not p.name.endswith(".part")
        )
