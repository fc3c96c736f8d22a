"""Reading and writing native packs (folder or ``.zip``) safely.

Nothing is extracted to disk: files are read by name through a `PackSource`, every name is checked (no absolute
paths, no ``..``, no backslashes, no symlinks leaving the folder), and sizes are bounded before reading.
"""

from __future__ import annotations

import json
import lzma
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pydantic import ValidationError as PydanticError

from promptlib.errors import FormatError, UnsafeInputError
from promptlib.limits import MAX_IMAGE_BYTES, MAX_JSON_BYTES
from promptlib.packs.schema import MANIFEST_NAME, PackEntry, PackFile, PackManifest, PackStyle

MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_RATIO = 200  # a member that inflates more than this is treated as a zip bomb
# What reading a damaged, encrypted or exotic zip member raises (CRC and header mismatches, corrupt deflate data,
# a cut-off stream, a password or a compression method zipfile lacks).
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, RuntimeError, NotImplementedError)
# Opening one also fails on a newer "version needed", a damaged directory or undecodable names.
ZIP_OPEN_ERRORS = (*ZIP_READ_ERRORS, ValueError)


def brief(exc: BaseException, limit: int = 120) -> str:
    """An exception's text on one short line (zipfile's can quote kilobytes of the damaged header)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_member_name(name: str) -> str:
    """A pack-relative path, normalised; raises UnsafeInputError for absolute, parent or backslash paths."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeInputError(f"unsafe path in pack: {name!r}")
    parts = PurePosixPath(name).parts
    if any(part == ".." for part in parts):
        raise UnsafeInputError(f"unsafe path in pack: {name!r}")
    return "/".join(p for p in parts if p != ".")


class PackSource:
    """Read-only access to the files of a pack folder or zip, by pack-relative name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        if path.is_dir():
            return
        try:
            self._zip = zipfile.ZipFile(path)
        except ZIP_OPEN_ERRORS as exc:
            raise FormatError(f"{path.name}: not a pack folder or zip ({brief(exc)})") from exc
        infos = self._zip.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise UnsafeInputError(f"{path.name}: {len(infos):,} members is too many for a pack")
        # A zip of a folder holds "<folder>/pack.json": read relative to that folder.
        manifests = [i.filename for i in infos if i.filename.rsplit("/", 1)[-1] == MANIFEST_NAME]
        if manifests:
            top = min(manifests, key=len)
            self._prefix = top[: -len(MANIFEST_NAME)]

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> PackSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, name: str, *, limit: int) -> bytes:
        """The bytes of one file; raises FormatError when missing, UnsafeInputError when unsafe or too big."""
        rel = safe_member_name(name)
        if self._zip is None:
            root = self.path.resolve()
            target = (self.path / rel).resolve()
            if not target.is_relative_to(root):
                raise UnsafeInputError(f"{name!r} points outside the pack (symlink?)")
            if not target.is_file():
                raise FormatError(f"{self.path.name}: {name} is missing")
            if target.stat().st_size > limit:
                raise UnsafeInputError(f"{name} is larger than {limit:,} bytes")
            return target.read_bytes()
        try:
            info = self._zip.getinfo(self._prefix + rel)
        except KeyError as exc:
            raise FormatError(f"{self.path.name}: {name} is missing") from exc
        if info.external_attr >> 28 == 0o12:  # a symlink stored in the zip
            raise UnsafeInputError(f"{name} is a symlink inside the zip")
        if info.file_size > limit:
            raise UnsafeInputError(f"{name} is larger than {limit:,} bytes")
        if info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO:
            raise UnsafeInputError(f"{name} inflates {info.file_size // info.compress_size}x: refusing a zip bomb")
        return read_member(self._zip, info, limit=limit, name=name)


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, limit: int, name: str) -> bytes:
    """A zip member's bytes, inflated a chunk at a time so that memory stays near the size its header declares
    (a header can lie). Raises UnsafeInputError past `limit` or the declared size, FormatError for damage."""
    declared = min(info.file_size, limit)
    chunks: list[bytes] = []
    total = 0
    try:
        with archive.open(info) as handle:
            while chunk := handle.read(min(1 << 20, declared - total + 1)):
                total += len(chunk)
                if total > declared:
                    break
                chunks.append(chunk)
    except ZIP_READ_ERRORS as exc:
        raise FormatError(f"{name}: cannot be read from the zip ({brief(exc)})") from exc
    if total > limit:
        raise UnsafeInputError(f"{name} is larger than {limit:,} bytes")
    if total > declared:
        raise UnsafeInputError(f"{name} inflates past the {info.file_size:,} bytes its header declares")
    return b"".join(chunks)


def _load_json(data: bytes, name: str) -> object:
    try:
        return json.loads(data.decode("utf-8-sig"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"{name}: not valid JSON ({exc})") from exc


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not allowed in a pack")


def _one_line(exc: PydanticError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" + (f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else "")


@dataclass
class LoadedPack:
    manifest: PackManifest
    entries: list[PackEntry] = field(default_factory=list)
    styles: list[PackStyle] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def load_pack(source: PackSource) -> LoadedPack:
    """Read and validate the manifest and every entry file; bad files are reported, the rest loaded."""
    raw = _load_json(source.read(MANIFEST_NAME, limit=MAX_JSON_BYTES), MANIFEST_NAME)
    try:
        manifest = PackManifest.model_validate(raw)
    except PydanticError as exc:
        raise FormatError(f"{MANIFEST_NAME}: {_one_line(exc)}") from exc
    pack = LoadedPack(manifest, list(manifest.entries), list(manifest.styles))
    for name in manifest.files:
        try:
            data = _load_json(source.read(name, limit=MAX_JSON_BYTES), name)
            part = PackFile.model_validate(data)
        except PydanticError as exc:
            pack.errors.append(f"{name}: {_one_line(exc)}")
            continue
        except (FormatError, UnsafeInputError) as exc:
            pack.errors.append(str(exc))
            continue
        pack.entries.extend(part.entries)
        pack.styles.extend(part.styles)
    return pack


def iter_images(source: PackSource, entry: PackEntry) -> Iterator[tuple[str, bytes]]:
    """The (sha256, bytes) of each image an entry ships; raises FormatError on a hash mismatch."""
    from promptlib.store.files import sha256_bytes

    for image in entry.images:
        data = source.read(image.path, limit=MAX_IMAGE_BYTES)
        digest = sha256_bytes(data)
        if digest != image.sha256:
            raise FormatError(f"{image.path}: sha256 {digest[:12]}… does not match the manifest")
        yield digest, data


def write_pack(
    target: Path,
    manifest: PackManifest,
    entries: list[PackEntry],
    styles: list[PackStyle],
    images: dict[str, bytes] | None = None,
) -> Path:
    """Write a pack folder, or a zip when `target` ends in ``.zip``: manifest + entries.json (+ images)."""
    manifest = manifest.model_copy(update={"files": ["entries.json"], "entries": [], "styles": []})
    documents = {
        MANIFEST_NAME: manifest.model_dump_json(by_alias=True, indent=2, exclude_none=True),
        "entries.json": PackFile(entries=entries, styles=styles).model_dump_json(indent=2, exclude_none=True),
    }
    images = images or {}
    if target.suffix.lower() == ".zip":
        from promptlib.search.index_manifest import atomic_file

        with atomic_file(target) as handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in documents.items():
                archive.writestr(name, text)
            for name, data in images.items():
                archive.writestr(safe_member_name(name), data, compress_type=zipfile.ZIP_STORED)
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name, text in documents.items():
        (target / name).write_text(text + "\n", encoding="utf-8")
    for name, data in images.items():
        path = target / safe_member_name(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return target
