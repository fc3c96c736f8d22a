"""The saved form of a vector index: its JSON manifest, file naming, atomic writes, and the errors that mean
"rebuild it from the stored embeddings". No faiss or numpy here, so callers can read a manifest cheaply.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from promptlib.errors import LibraryError

FORMAT = 1
METRIC = "ip"
MAX_MANIFEST_BYTES = 1 << 20


class VectorIndexError(LibraryError):
    """The saved vector index cannot be used as it is: rebuild it from the stored embeddings."""


class StaleIndexError(VectorIndexError):
    """The saved index is missing or belongs to another model, dimension, format or generation of embeddings."""


class CorruptIndexError(VectorIndexError):
    """The saved index or its manifest is unreadable, truncated, torn or inconsistent."""


@dataclass(frozen=True)
class IndexManifest:
    """What a saved index holds; saved as JSON beside the index file (`manifest_path`)."""

    model: str
    dim: int
    count: int
    generation: str  # the caller's version of the embeddings the index was saved from
    factory: str  # the faiss index_factory string
    metric: str = METRIC
    format: int = FORMAT
    search_params: str = ""  # faiss ParameterSpace string applied on load, e.g. "nprobe=8"
    recall_at_10: float | None = None  # measured at build against exact search (1.0 for exact indexes)
    index_size: int = 0  # the index file's size and sha256: a torn index/manifest pair is detected on load
    index_sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> IndexManifest:
        """A manifest from parsed JSON; raises CorruptIndexError when a field is missing or of the wrong type."""
        if not isinstance(data, dict):
            raise CorruptIndexError("index manifest is not a JSON object")
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name not in data:
                if field.name in _REQUIRED:
                    raise CorruptIndexError(f"index manifest lacks {field.name!r}")
                continue
            value = data[field.name]
            kind = _FIELD_TYPES[field.name]
            if value is not None or field.name != "recall_at_10":
                if kind is float and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                if not isinstance(value, kind) or isinstance(value, bool):
                    raise CorruptIndexError(f"index manifest field {field.name!r} has the wrong type")
            values[field.name] = value
        manifest = cls(**values)
        if manifest.dim < 1 or manifest.count < 0 or manifest.index_size < 0:
            raise CorruptIndexError("index manifest has a negative count, size or dimension")
        return manifest


_REQUIRED = frozenset({"model", "dim", "count", "generation", "factory"})
_FIELD_TYPES: dict[str, type] = {
    "model": str,
    "dim": int,
    "count": int,
    "generation": str,
    "factory": str,
    "metric": str,
    "format": int,
    "search_params": str,
    "recall_at_10": float,
    "index_size": int,
    "index_sha256": str,
}


def index_filename(model: str) -> str:
    """A safe file name for a model's index: ``ViT-B-32/laion2b`` → ``ViT-B-32-laion2b-<8 hex>.faiss`` (the hash
    keeps names that differ only in dropped characters apart)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")[:80] or "model"
    return f"{slug}-{hashlib.sha256(model.encode()).hexdigest()[:8]}.faiss"


def manifest_path(path: Path) -> Path:
    """The manifest file beside an index file: ``clip.faiss`` → ``clip.faiss.json``."""
    return path.with_name(path.name + ".json")


def read_manifest(path: Path) -> IndexManifest:
    """The manifest of the index saved at `path` (the index file's path).

    Raises StaleIndexError when neither file exists, CorruptIndexError when the manifest is missing beside an index
    file, too large, truncated or malformed.
    """
    path = Path(path)
    mpath = manifest_path(path)
    try:
        with mpath.open("rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        if path.exists():
            raise CorruptIndexError(f"vector index {path.name} has no manifest: interrupted save") from None
        raise StaleIndexError(f"no vector index saved at {path}") from None
    except OSError as exc:
        raise CorruptIndexError(f"cannot read the manifest of vector index {path.name}: {exc.strerror}") from exc
    if len(raw) > MAX_MANIFEST_BYTES:
        raise CorruptIndexError(f"the manifest of vector index {path.name} is too large")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptIndexError(f"the manifest of vector index {path.name} is not valid JSON (truncated?)") from exc
    return IndexManifest.from_json(data)


@contextmanager
def atomic_file(path: Path) -> Iterator[Any]:
    """A binary file written at a temp name beside `path`, fsynced, then renamed over it (or removed on error)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sweep_temps(folder: Path) -> int:
    """Remove the temp files of `atomic_file` writes (``.NAME.PID.THREAD.tmp``) whose process has died (a crash
    during an index save); returns how many."""
    from promptlib.store.migrate import _alive

    if not folder.is_dir():
        return 0
    removed = 0
    for leftover in folder.glob(".*.tmp"):
        parts = leftover.name.split(".")
        owner = parts[-3] if len(parts) >= 4 else ""
        if owner.isdigit() and _alive(int(owner)):
            continue  # a save in progress in another process
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


def fsync_dir(path: Path) -> None:
    if os.name != "posix":  # Windows cannot open a folder to fsync it; os.replace is durable there
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
                size += len(block)
    except FileNotFoundError:
        raise CorruptIndexError(f"vector index {path.name} is missing beside its manifest") from None
    except OSError as exc:
        raise CorruptIndexError(f"cannot read vector index {path.name}: {exc.strerror}") from exc
    return size, digest.hexdigest()


def write_manifest(path: Path, manifest: IndexManifest) -> None:
    """Write the manifest of the index at `path` atomically (temp file, fsync, `os.replace`)."""
    with atomic_file(manifest_path(path)) as handle:
        handle.write(json.dumps(manifest.to_json(), indent=1).encode() + b"\n")
