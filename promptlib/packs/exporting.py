"""Exports: the library (or a query's entries) as a native pack or in another tool's format."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticError

from promptlib.errors import NotFoundError, ValidationError
from promptlib.packs.formats._common import pydantic_message
from promptlib.packs.schema import PackEntry, PackFile, PackImage, PackManifest, PackParams, PackStyle

if TYPE_CHECKING:
    from promptlib.library import Library

EXPORT_FORMATS = (
    "pack",
    "a1111-styles",
    "fooocus-styles",
    "invokeai-presets",
    "prompts-from-file",
    "jsonl",
    "csv",
)
_MODULES = {
    "a1111-styles": "a1111_styles",
    "fooocus-styles": "fooocus_styles",
    "invokeai-presets": "invokeai_presets",
    "prompts-from-file": "prompts_from_file",
    "jsonl": "jsonl",
}
STYLE_FORMATS = ("a1111-styles", "fooocus-styles", "invokeai-presets")  # these hold styles only; the rest entries
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ("id", "title", "prompt", "negative_prompt", "tags", "rating", "favourite", "notes", "model",
               "sampler", "schedule", "steps", "cfg_scale", "seed", "width", "height", "clip_skip")  # fmt: skip


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote, in the shape ``promptlib export --json`` prints (the names mirror `ImportSummary`)."""

    path: Path  # the file, zip or pack folder written
    format: str  # as `--format` names it: pack, a1111-styles, ...
    exported: int  # entries written
    styles_exported: int
    images_exported: int  # image files (one per distinct image; a pack with --images only)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "exported": self.exported,
            "styles_exported": self.styles_exported,
            "images_exported": self.images_exported,
        }

    def describe(self) -> str:
        """One line for people: the path and what the format holds ('out.zip: 12 entries, 3 styles, 4 images')."""
        counts = []
        if self.format not in STYLE_FORMATS:
            counts.append(_plural(self.exported, "entry", "entries"))
        if self.format in (*STYLE_FORMATS, "pack"):
            counts.append(_plural(self.styles_exported, "style", "styles"))
        if self.images_exported:
            counts.append(_plural(self.images_exported, "image", "images"))
        return f"{self.path}: {', '.join(counts)}"


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def neutralize_cell(value: str) -> str:
    """A spreadsheet cell that cannot run as a formula: a leading = + - @ tab or CR gets a ' in front."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def collect(
    lib: Library, *, query: str, include_styles: bool, include_images: bool
) -> tuple[list[PackEntry], list[PackStyle], dict[str, bytes]]:
    """The entries matching `query` and the styles as pack models (with image bytes when asked)."""
    entries: list[PackEntry] = []
    images: dict[str, bytes] = {}
    for entry in lib.get_many(lib.entry_ids(query), with_renders=include_images):
        params = {k: v for k, v in entry.params.items() if v not in (None, [], {})}
        pack_images = []
        for render in entry.renders if include_images else ():
            rel = f"images/{render.image_sha256}.{Path(render.image_path).suffix.lstrip('.') or 'png'}"
            path = lib.image_path(render)
            try:
                images[rel] = path.read_bytes()
            except OSError as exc:
                raise NotFoundError(
                    f"render {render.id}'s image {path} cannot be read ({exc.strerror or exc}): "
                    "`promptlib doctor` finds and fixes missing files"
                ) from None
            pack_images.append(
                PackImage(path=rel, sha256=render.image_sha256, width=render.width, height=render.height)
            )
        entries.append(
            PackEntry(
                title=entry.title or None,
                prompt=entry.prompt,
                negative_prompt=entry.negative_prompt,
                tags=list(entry.tags),
                params=PackParams.model_validate(params),
                notes=entry.notes,
                rating=entry.rating,
                favourite=entry.favourite,
                images=pack_images,
                collections=list(entry.collections),
            )
        )
    styles = [
        PackStyle(name=s.name, prompt=s.prompt, negative_prompt=s.negative_prompt, tags=list(s.tags), notes=s.notes)
        for s in (lib.styles() if include_styles else [])
    ]
    return entries, styles, images


def export(
    lib: Library,
    target: Path,
    *,
    fmt: str,
    name: str,
    query: str,
    author: str | None,
    license: str | None,
    description: str,
    include_styles: bool,
    include_images: bool,
) -> ExportSummary:
    """Write an export and say what it holds; see `Library.export`."""
    fmt = fmt.replace("_", "-")  # a1111_styles, as `import --format` spells it, works too
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"unknown export format {fmt!r} (one of: {', '.join(EXPORT_FORMATS)})")
    manifest = None
    if fmt == "pack":  # checked before any work: a name with '/' or one too long is the caller's to fix
        try:
            manifest = PackManifest(
                name=name, author=author, license=license, description=description, created=datetime.now(UTC)
            )
        except PydanticError as exc:
            if exc.errors()[0]["type"] == "string_pattern_mismatch":  # the name's pattern, said in words
                raise ValidationError(f"pack name {name!r} must not contain '/', '\\' or control characters") from None
            raise ValidationError(f"pack {pydantic_message(exc)}") from None
    entries, styles, images = collect(
        lib, query=query, include_styles=include_styles, include_images=include_images and fmt == "pack"
    )
    if manifest is not None:
        from promptlib.packs.native import write_pack

        path = write_pack(target, manifest, entries, styles, images)
        return ExportSummary(path, fmt, len(entries), len(styles), len(images))
    if fmt == "csv":
        data = _entries_csv(lib, query)
    else:
        import importlib

        module = importlib.import_module(f"promptlib.packs.formats.{_MODULES[fmt]}")
        if fmt == "a1111-styles":
            styles = [
                s.model_copy(update={k: neutralize_cell(getattr(s, k)) for k in ("name", "prompt", "negative_prompt")})
                for s in styles
            ]
        data = module.write(PackFile(entries=entries, styles=styles))
    if target.is_dir():
        raise ValidationError(f"{target} is a folder: {fmt} is written to a file, give its name")
    from promptlib.search.index_manifest import atomic_file

    with atomic_file(target) as handle:  # nothing half-written is left behind
        handle.write(data)
    if fmt in STYLE_FORMATS:
        return ExportSummary(target, fmt, 0, len(styles), 0)
    return ExportSummary(target, fmt, len(entries), 0, 0)


def _entries_csv(lib: Library, query: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in lib.get_many(lib.entry_ids(query), with_renders=False):
        row = {
            "id": entry.id,
            "title": entry.title,
            "prompt": entry.prompt,
            "negative_prompt": entry.negative_prompt,
            "tags": ", ".join(entry.tags),
            "rating": entry.rating,
            "favourite": int(entry.favourite),
            "notes": entry.notes,
        } | {k: entry.params.get(k) for k in CSV_COLUMNS[8:]}
        writer.writerow(
            neutralize_cell(str(v)) if isinstance(v, str) else ("" if v is None else v) for v in row.values()
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
