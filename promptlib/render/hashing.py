"""Model file hashes: sha256 of each weight file, cached by (path, mtime_ns, size) so multi-gigabyte checkpoints
are read once; a folder model's hash covers its sorted component weight files.

The short form (first 10 hex digits of the file's sha256) is what A1111 writes as ``Model hash`` (its "AutoV2").
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from promptlib.render.checkpoints import WEIGHT_SUFFIXES

CHUNK = 8 * 1024 * 1024
SHORT_HASH_CHARS = 10
Progress = Callable[[int], None]  # called with the number of bytes hashed since the last call


class HashCache:
    """A small JSON file mapping absolute paths to ``{mtime_ns, size, sha256}``; an entry counts only while the
    file's mtime and size still match. Corrupt or unreadable cache files are treated as empty, never fatal."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> HashCache:
        from promptlib.render.presets import cache_root

        return cls(cache_root() / "hashes.json")

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, path: Path, stat: os.stat_result) -> str | None:
        entry = self._read().get(str(path))
        if (
            isinstance(entry, dict)
            and entry.get("mtime_ns") == stat.st_mtime_ns
            and entry.get("size") == stat.st_size
            and isinstance(entry.get("sha256"), str)
        ):
            return str(entry["sha256"])
        return None

    def put(self, path: Path, stat: os.stat_result, digest: str) -> None:
        with self._lock:
            data = self._read()
            data[str(path)] = {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size, "sha256": digest}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".hashes-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, sort_keys=True)
                    fh.flush()
                    os.fsync(fh.fileno())
                Path(tmp).replace(self.path)
            except OSError:
                Path(tmp).unlink(missing_ok=True)  # a read-only cache folder costs speed, not correctness


def file_sha256(path: Path, *, cache: HashCache | None = None, progress: Progress | None = None) -> str:
    """The sha256 (hex) of a file, from ``cache`` (default: ``HashCache.default()``) when the file's mtime and size
    are unchanged, else computed and stored. Symlinks (the HF cache's snapshots) are followed."""
    real = Path(path).resolve()
    stat = real.stat()
    store = cache if cache is not None else HashCache.default()
    cached = store.get(real, stat)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with real.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            if progress is not None:
                progress(len(chunk))
    result = digest.hexdigest()
    store.put(real, stat, result)
    return result


def short_hash(sha256: str) -> str:
    """A1111's ``Model hash`` for a file whose full sha256 is given."""
    return sha256[:SHORT_HASH_CHARS]


def component_weight_files(folder: Path) -> list[Path]:
    """The weight files of a diffusers folder (a pipeline's component subfolders, or a single component's own
    files, as in a VAE folder), sorted by relative path."""
    folder = Path(folder)
    places = [folder, *(sub for sub in sorted(folder.iterdir()) if sub.is_dir() and not sub.name.startswith("."))]
    found = [p for place in places for p in place.iterdir() if p.name.endswith(WEIGHT_SUFFIXES) and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def folder_sha256(folder: Path, *, cache: HashCache | None = None, progress: Progress | None = None) -> str:
    """sha256 over ``relative/path\\0file_sha256\\n`` of every component weight file of a diffusers folder."""
    outer = hashlib.sha256()
    for path in component_weight_files(folder):
        rel = path.relative_to(folder).as_posix()
        outer.update(f"{rel}\0{file_sha256(path, cache=cache, progress=progress)}\n".encode())
    return outer.hexdigest()
