"""Importing many things at once: files, folders (recursive) and zips, each item's format detected from content.

Native packs, foreign style/prompt files and images with generation metadata are told apart by their bytes, not
their names — except that inside folders and zips, documents, code and config files and the .txt / .json sidecars
A1111 and Easy Diffusion write next to their images are skipped (an image without parameters inside takes them from
its sidecar, or from the ``log.html`` Fooocus keeps beside its images), and a file named like an image that is not
one fails. Each file (or
batch of images) is its own transaction; a file that fails is reported with its reason and the rest of the run goes
on. Zips are read member by member, never extracted.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.errors import FormatError, PromptlibError, UnsafeInputError
from promptlib.limits import MAX_IMAGE_BYTES, MAX_JSON_BYTES

if TYPE_CHECKING:
    from promptlib.library import Library
    from promptlib.recipe import Recipe

Progress = Callable[[int], None]

IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF")  # PNG, JPEG, WEBP (RIFF....WEBP)
ZIP_MAGIC = b"PK\x03\x04"
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_TOTAL = 4 * 1024 * 1024 * 1024
MAX_ZIP_RATIO = 200
IMAGE_BATCH = 256
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".jfif", ".webp", ".gif", ".bmp", ".avif", ".heic", ".tif", ".tiff"}
)
# Inside a folder or zip, text files are detected by content like everything else, except those that are plainly
# something else: documents (README, LICENSE...), code and config files, and the .txt sidecars A1111 writes next to
# its images (their image carries the same parameters).
OTHER_TEXT_SUFFIXES = frozenset(
    {".md", ".markdown", ".rst", ".html", ".htm", ".xml", ".py", ".js", ".ts", ".sh", ".bat", ".ps1", ".yaml",
     ".yml", ".toml", ".ini", ".cfg", ".log"}
)  # fmt: skip
DOC_STEMS = ("readme", "license", "licence", "copying", "notice", "changelog", "changes", "authors", "contributing")
FOOOCUS_LOG = "log.html"  # Fooocus's page of each day's images and their parameters, beside them
SIDECAR_SUFFIXES = (".txt", ".json")  # an image's parameters beside it (A1111, Easy Diffusion: same stem)


@dataclass
class ImportSummary:
    """What a run did, in the shape ``promptlib import --json`` prints."""

    imported: int = 0
    duplicates: int = 0
    styles_imported: int = 0
    styles_duplicates: int = 0
    images_imported: int = 0
    files: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)

    skipped: int = 0  # documents, code and image sidecars met in folders and zips (see `is_other_text`)

    def fail(self, path: str, reason: object) -> None:
        self.failed.append({"path": path, "reason": " ".join(str(reason).split())})

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "ids": self.ids,
            "styles_imported": self.styles_imported,
            "styles_duplicates": self.styles_duplicates,
            "images_imported": self.images_imported,
            "files": self.files,
            "skipped": self.skipped,
            "warnings": self.warnings,
        }


@dataclass
class ImageItem:
    """An image to import: where it came from, its bytes, and the recipes its metadata holds."""

    path: str
    data: bytes
    recipes: list[Recipe]
    width: int
    height: int
    format: str
    link: Path | None = None  # the original file, when imported with --link


def is_image(head: bytes) -> bool:
    return head.startswith(IMAGE_MAGIC[:2]) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP")


def read_image_item(data: bytes, *, path: str, link: Path | None = None) -> ImageItem:
    """Probe an image and read its generation metadata; raises FormatError / UnsafeInputError."""
    from promptlib.metadata import read_image

    meta = read_image(data, name=path)
    return ImageItem(
        path=path,
        data=data,
        recipes=list(meta.recipes),
        width=meta.width,
        height=meta.height,
        format=meta.format,
        link=link,
    )


def is_other_text(name: str, siblings: frozenset[str] = frozenset()) -> bool:
    """Whether a file met inside a folder or zip is plainly not a style/prompt file: a document (README, LICENSE...),
    code or config, or the .txt / .json sidecar of an image beside it (`siblings`: the lower-cased names in its
    folder)."""
    path = Path(name)
    suffix, stem = path.suffix.lower(), path.stem.lower()
    if suffix in OTHER_TEXT_SUFFIXES or stem.startswith(DOC_STEMS):
        return True
    return suffix in SIDECAR_SUFFIXES and any(f"{stem}{ext}" in siblings for ext in IMAGE_SUFFIXES)


def read_text_beside(path: Path, name: str) -> str | None:
    """The text of the file `name` in `path`'s folder, or None when there is none (or it is too large)."""
    other = path.with_name(name)
    try:
        if not other.is_file() or other.stat().st_size > MAX_JSON_BYTES:
            return None
        return other.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def sidecar_recipes(text: str | None) -> list[Recipe]:
    """The recipe in an image's sidecar, for images saved without their parameters inside: Easy Diffusion's "txt"
    or "json" metadata, a ComfyUI graph, or A1111 parameters; [] when the text is none of them."""
    from promptlib.metadata.a1111 import parse_infotext
    from promptlib.metadata.easydiffusion import parse_easydiffusion, parse_easydiffusion_text

    if not text or not text.strip():
        return []
    if text.lstrip().startswith("{"):
        from promptlib.packs.formats.comfyui_graph import graph_recipes

        for parse in (parse_easydiffusion, graph_recipes):
            try:
                found = parse(text)
            except PromptlibError:
                continue
            return found if isinstance(found, list) else [found]
        return []
    try:
        return [parse_easydiffusion_text(text)]  # before A1111's: its lines include "Steps: 25"
    except PromptlibError:
        pass
    if "Steps:" not in text:
        return []
    try:
        return [parse_infotext(text)]
    except PromptlibError:
        return []


def looks_binary(data: bytes) -> bool:
    """True for bytes no style/prompt format can be: NULs early on (UTF-16 text, which has a BOM, excepted)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return b"\x00" in data[:8192]


def _walk(root: Path, *, skip: Path) -> Iterator[Path]:
    """Files under a folder, sorted; hidden names, symlinked folders and the library itself skipped."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        if Path(folder).resolve() == skip:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (Path(folder) / d).resolve() != skip)
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def _peek(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(8192)


class Importer:
    """One import run over many paths."""

    def __init__(
        self,
        lib: Library,
        *,
        fmt: str | None = None,
        pack: str | None = None,
        link: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.lib = lib
        self.fmt = fmt
        self._logs: dict[str, dict[str, Recipe]] = {}  # Fooocus log.html recipes by folder, read once each
        self.pack = pack
        self.link = link
        self.progress = progress or (lambda _n: None)
        self.summary = ImportSummary()
        self._images: list[ImageItem] = []
        self._listings: dict[Path, frozenset[str]] = {}

    def run(self, paths: list[Path]) -> ImportSummary:
        library = self.lib.path.resolve()
        for path in paths:
            if not path.exists() and not path.is_symlink():
                self.summary.fail(str(path), "no such file or folder")
            elif path.resolve().is_relative_to(library):  # its own files: every render would come back as a copy
                self.summary.fail(str(path), f"is inside the library ({library}): nothing to import there")
            elif path.is_dir():
                self._folder(path)
            else:
                self._file(path)
        self._flush_images()
        return self.summary

    def _folder(self, folder: Path) -> None:
        if (folder / "pack.json").is_file() and self.fmt in (None, "promptlib-pack"):
            self._guard(str(folder), lambda: self._report(self.lib.import_pack(folder)))
            return
        root = folder.resolve()
        for path in _walk(folder, skip=self.lib.path.resolve()):
            self._file(path, root=root)

    def _siblings(self, folder: Path) -> frozenset[str]:
        """The lower-cased names in `folder` (listed once per run)."""
        found = self._listings.get(folder)
        if found is None:
            try:
                found = frozenset(child.name.lower() for child in folder.iterdir())
            except OSError:
                found = frozenset()
            self._listings[folder] = found
        return found

    def _file(self, path: Path, *, root: Path | None = None) -> None:
        """Import one file; inside a folder (`root`), symlinks leading out of it are refused."""
        try:
            if root is not None and path.is_symlink() and not path.resolve().is_relative_to(root):
                self.summary.fail(str(path), "a symlink to a file outside the imported folder: skipped")
                return
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):  # a pipe would block forever, a device never end
                self.summary.fail(str(path), "not a regular file (a pipe, device or socket): skipped")
                return
            size = info.st_size
            with path.open("rb") as handle:
                head = handle.read(16)
        except OSError as exc:
            self.summary.fail(str(path), exc.strerror or exc)
            return
        if size == 0:
            self.summary.fail(str(path), "an empty file")
        elif head.startswith(ZIP_MAGIC) and self.fmt in (None, "promptlib-pack", "zip"):
            self._zip(path)
        elif is_image(head):
            if size > MAX_IMAGE_BYTES:
                self.summary.fail(str(path), f"image is larger than {MAX_IMAGE_BYTES:,} bytes")
                return
            data = path.read_bytes()
            self._guard(
                str(path),
                lambda: self._add_image(data, str(path), path if self.link else None, lambda: self._beside(path)),
            )
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            self.summary.fail(str(path), "named like an image, but its content is not a PNG, JPEG or WEBP image")
        elif root is not None and is_other_text(path.name, self._siblings(path.parent)):
            self.summary.skipped += 1
        elif size > MAX_JSON_BYTES:
            self.summary.fail(str(path), f"larger than {MAX_JSON_BYTES:,} bytes")
        elif looks_binary(head + _peek(path)):
            self.summary.fail(str(path), "a binary file that is not a PNG, JPEG or WEBP image, a zip or a text format")
        else:
            self._guard(str(path), lambda: self._report(self.lib.import_path(path, fmt=self.fmt, pack=self.pack)))

    def _zip(self, path: Path) -> None:
        from promptlib.packs.native import ZIP_OPEN_ERRORS, brief

        try:
            archive = zipfile.ZipFile(path)
        except ZIP_OPEN_ERRORS as exc:
            self.summary.fail(str(path), f"not a readable zip ({brief(exc)})")
            return
        with archive:
            infos = archive.infolist()
            if any(i.filename.rsplit("/", 1)[-1] == "pack.json" for i in infos):
                archive.close()
                self._guard(str(path), lambda: self._report(self.lib.import_pack(path)))
                return
            if len(infos) > MAX_ZIP_MEMBERS:
                self.summary.fail(str(path), f"{len(infos):,} members is too many")
                return
            total = 0
            folders: dict[str, set[str]] = {}
            by_name = {i.filename: i for i in infos}
            for info in infos:
                folder, _, name = info.filename.rpartition("/")
                folders.setdefault(folder, set()).add(name.lower())
            for info in infos:
                where = f"{path}!{info.filename}"
                if info.is_dir():
                    continue
                folder, _, name = info.filename.rpartition("/")
                suffix = Path(name).suffix.lower()
                if is_other_text(name, frozenset(folders[folder])):
                    self.summary.skipped += 1
                    continue
                try:
                    data = self._member(archive, info)
                    total += len(data)
                    if total > MAX_ZIP_TOTAL:
                        raise UnsafeInputError(f"the zip inflates past {MAX_ZIP_TOTAL:,} bytes")
                except PromptlibError as exc:
                    self.summary.fail(where, exc)
                    continue
                if is_image(data[:16]):
                    beside = partial(self._zipped_beside, archive, by_name, info.filename)
                    self._guard(where, lambda d=data, w=where, b=beside: self._add_image(d, w, None, b))  # type: ignore[misc]
                elif suffix in IMAGE_SUFFIXES:
                    self.summary.fail(where, "named like an image, but its content is not a PNG, JPEG or WEBP image")
                else:
                    self._guard(where, lambda d=data, w=where: self._foreign(d, w))  # type: ignore[misc]

    def _beside(self, path: Path) -> list[Recipe]:
        """The recipe an image without parameters takes from beside it: its .txt or .json sidecar (A1111, Easy
        Diffusion, a ComfyUI graph), else its block in the folder's Fooocus log.html."""
        for suffix in SIDECAR_SUFFIXES:
            found = sidecar_recipes(read_text_beside(path, path.with_suffix(suffix).name))
            if found:
                return found
        return self._logged(str(path.parent), path.name, lambda: read_text_beside(path, FOOOCUS_LOG))

    def _zipped_beside(
        self, archive: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], member: str
    ) -> list[Recipe]:
        """`_beside` for an image inside a zip."""
        folder, _, name = member.rpartition("/")
        for suffix in SIDECAR_SUFFIXES:
            found = sidecar_recipes(self._zipped_text(archive, by_name, member.rsplit(".", 1)[0] + suffix))
            if found:
                return found
        log = f"{folder}/{FOOOCUS_LOG}" if folder else FOOOCUS_LOG
        return self._logged(f"{archive.filename}!{folder}", name, lambda: self._zipped_text(archive, by_name, log))

    def _logged(self, folder: str, name: str, read: Callable[[], str | None]) -> list[Recipe]:
        """The recipe of image `name` in `folder`'s Fooocus log.html (parsed once per folder), else []."""
        from promptlib.metadata.fooocus import parse_log

        if folder not in self._logs:
            text = read()
            self._logs[folder] = parse_log(text) if text and "image-container" in text else {}
        recipe = self._logs[folder].get(name)
        return [recipe] if recipe is not None else []

    def _zipped_text(self, archive: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo], member: str) -> str | None:
        """A text member of the zip beside an image (None when absent or too large)."""
        info = by_name.get(member)
        if info is None or info.file_size > MAX_JSON_BYTES:
            return None
        try:
            return self._member(archive, info).decode("utf-8", errors="replace")
        except PromptlibError:
            return None

    @staticmethod
    def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        from promptlib.packs.native import read_member, safe_member_name

        safe_member_name(info.filename)
        if info.external_attr >> 28 == 0o12:
            raise UnsafeInputError("a symlink inside the zip")
        limit = MAX_IMAGE_BYTES
        if info.file_size > limit:
            raise UnsafeInputError(f"member is larger than {limit:,} bytes")
        if info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO:
            raise UnsafeInputError(f"member inflates {info.file_size // info.compress_size}x: refusing a zip bomb")
        return read_member(archive, info, limit=limit, name="member")

    def _foreign(self, data: bytes, where: str) -> None:
        if len(data) > MAX_JSON_BYTES:
            raise UnsafeInputError(f"larger than {MAX_JSON_BYTES:,} bytes")
        if looks_binary(data):
            raise FormatError("a binary file that is not a PNG, JPEG or WEBP image, a zip or a text format")
        self._report(self.lib.import_data(data, name=where, fmt=self.fmt, pack=self.pack))

    def _guard(self, where: str, work: Callable[[], None]) -> None:
        try:
            work()
        except PromptlibError as exc:
            self.summary.fail(where, exc)

    def _report(self, report: Any) -> None:
        s = self.summary
        s.files += 1
        s.imported += report.added
        s.duplicates += report.skipped
        s.styles_imported += report.styles_added
        s.styles_duplicates += report.styles_skipped
        s.images_imported += report.images_added
        s.ids.extend(report.ids)
        s.warnings.extend(report.errors)
        self.progress(1)

    def _add_image(
        self, data: bytes, where: str, link: Path | None, beside: Callable[[], list[Recipe]] | None = None
    ) -> None:
        """Queue an image with the recipes its metadata holds, or (none there) those `beside` finds next to it."""
        item = read_image_item(data, path=where, link=link)
        if not item.recipes and beside is not None:
            item.recipes.extend(beside())
        if not item.recipes:
            self.summary.fail(where, "no generation metadata in this image")
            return
        self._images.append(item)
        if len(self._images) >= IMAGE_BATCH:
            self._flush_images()

    def _flush_images(self) -> None:
        if not self._images:
            return
        batch, self._images = self._images, []
        try:
            report = self.lib.import_images(batch, pack=self.pack)
        except PromptlibError as exc:
            for item in batch:
                self.summary.fail(item.path, exc)
            return
        self._report(report)
        self.summary.files += len(batch) - 1
        self.progress(len(batch) - 1)
