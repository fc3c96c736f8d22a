"""The operations the crash harness kills, registered by name (see `tests.reliability.crash`).

Each `prepare` builds a small but realistic starting library; each `run` yields after every unit it commits, so
the harness knows every state a killed run may leave. The render and index-save operations, which need torch, are
in `tests.reliability.operations_heavy`.
"""

from __future__ import annotations

import io
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, PngImagePlugin

from promptlib.library import Library
from tests.reliability.crash import Operation, db_state, register

WORDS = [
    "lighthouse",
    "fog",
    "harbour",
    "castle",
    "forest",
    "neon",
    "city",
    "portrait",
    "dragon",
    "river",
    "mountain",
    "desert",
    "snow",
    "fox",
    "owl",
    "cyberpunk",
    "watercolor",
    "oil",
    "painting",
    "sunset",
    "storm",
    "garden",
    "ruins",
    "robot",
    "ship",
    "temple",
    "market",
    "lantern",
    "bridge",
]
SAMPLERS = ("Euler a", "DPM++ 2M Karras", "DDIM", "UniPC")


def prompt_text(n: int, salt: str = "") -> str:
    """A deterministic, distinct prompt."""
    words = [WORDS[(n * 7 + k * 3) % len(WORDS)] for k in range(6)]
    return f"{salt}{' '.join(words)}, detail {n}"


def png(n: int, *, infotext: str | None = None, size: tuple[int, int] = (24, 16)) -> bytes:
    """A small distinct PNG, with A1111 infotext when given."""
    info = PngImagePlugin.PngInfo()
    if infotext is not None:
        info.add_text("parameters", infotext)
    buffer = io.BytesIO()
    Image.new("RGB", size, (n % 256, (n // 256) % 256, 77)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def infotext(n: int, salt: str) -> str:
    return (
        f"{prompt_text(n, salt)}\nNegative prompt: blurry, text {n}\n"
        f"Steps: {20 + n % 10}, Sampler: {SAMPLERS[n % 4]}, CFG scale: 7, Seed: {1000 + n}, Size: 24x16, "
        f"Model: tiny_{n % 3}"
    )


def seed_library(folder: Path, *, entries: int, images: int = 0, salt: str = "seed ") -> None:
    """A library with `entries` entries (tags, params, ratings, a collection, styles) and `images` renders."""
    with Library.open(folder) as lib:
        news = [
            lib.prepare_entry(
                prompt_text(n, salt),
                negative_prompt=f"lowres {n}",
                title=f"{salt}{n}",
                tags=[WORDS[n % 9], "seed"],
                params={"steps": 20 + n % 15, "sampler": SAMPLERS[n % 4], "seed": n, "cfg_scale": 7.0},
                rating=n % 6 if n % 3 else None,
                favourite=n % 5 == 0,
            )
            for n in range(entries)
        ]
        report = lib.add_many(news, pack="seed")
        for n, entry_id in enumerate(report.ids[:images]):
            lib.add_image(entry_id, png(n), kind="render")
        if report.ids:
            lib.collect("favourites", report.ids[: max(1, entries // 10)])
        lib.add_style("moody", "{prompt}, moody lighting, film grain", negative_prompt="cheerful")


# --- bulk add ---------------------------------------------------------------------------------------------------


def _bulk_prepare(library: Path, inputs: Path) -> None:
    seed_library(library, entries=200, images=5)


def _bulk_run(library: Path, inputs: Path) -> Iterator[None]:
    with Library.open(library) as lib:
        news = [
            lib.prepare_entry(
                prompt_text(n, "bulk "),
                negative_prompt="bad hands",
                tags=["bulk", WORDS[n % 11]],
                params={"steps": 30, "sampler": SAMPLERS[n % 4], "seed": n},
            )
            for n in range(3_000)
        ]
        lib.add_many(news, pack="bulk")
    yield


BULK_ADD = register(Operation("bulk-add", _bulk_prepare, _bulk_run, rerun_completes=True), module=__name__)


# --- edits, tags, ratings, collections, removals ----------------------------------------------------------------


def _changes_prepare(library: Path, inputs: Path) -> None:
    seed_library(library, entries=150, images=30)


def _changes_run(library: Path, inputs: Path) -> Iterator[None]:
    """Fifty changes of every kind the CLI and TUI make, one committed unit each."""
    with Library.open(library) as lib:
        for n in range(5):
            base = 1 + n * 25
            lib.edit(base, prompt=prompt_text(base, "edited "), title=f"edited {n}")
            yield
            lib.edit(base + 1, params={"steps": 40 + n, "sampler": "DDIM", "seed": None}, tags=["edited", "x"])
            yield
            lib.tag([base + 2, base + 3], add=["tagged", f"t{n}"], remove=["seed"])
            yield
            lib.rate([base + 4], n % 6)
            yield
            lib.favourite([base + 5], n % 2 == 0)
            yield
            lib.collect(f"set {n % 3}", [base + 6, base + 7, base + 8])
            yield
            lib.remove([base + 9, n + 1])  # the first 30 entries have images
            yield
            copy = lib.duplicate(base + 11)
            yield
            lib.apply_style(copy.id, "moody")
            yield
            lib.uncollect("favourites", [base + 12, 2, 3])
            yield


CHANGES = register(Operation("changes", _changes_prepare, _changes_run), module=__name__)


# --- native pack import (entries, styles and images) -----------------------------------------------------------


def build_pack(target: Path, *, entries: int, images: int, name: str = "crash-pack") -> Path:
    """A native pack zip with `entries` entries (the first `images` with an image each) and three styles."""
    from promptlib.packs.native import write_pack
    from promptlib.packs.schema import PackEntry, PackImage, PackManifest, PackParams, PackStyle
    from promptlib.store.files import sha256_bytes

    files: dict[str, bytes] = {}
    items = []
    for n in range(entries):
        pictures = []
        if n < images:
            data = png(5_000 + n)
            files[f"images/{n}.png"] = data
            pictures.append(PackImage(path=f"images/{n}.png", sha256=sha256_bytes(data), width=24, height=16))
        items.append(
            PackEntry(
                title=f"pack {n}",
                prompt=prompt_text(n, "pack "),
                negative_prompt="watermark",
                tags=["pack", WORDS[n % 13]],
                params=PackParams(steps=25, sampler="Euler a", seed=n),
                images=pictures,
            )
        )
    styles = [PackStyle(name=f"pack style {k}", prompt="{prompt}, " + WORDS[k]) for k in range(3)]
    manifest = PackManifest(name=name, version="1.0.0", author="reliability", license="CC0-1.0")
    return write_pack(target, manifest, items, styles, images=files)


def _pack_prepare(library: Path, inputs: Path) -> None:
    seed_library(library, entries=50, images=3)
    build_pack(inputs / "pack.zip", entries=400, images=25)


def _pack_run(library: Path, inputs: Path) -> Iterator[None]:
    with Library.open(library) as lib:
        lib.import_path(inputs / "pack.zip")
    yield


PACK_IMPORT = register(Operation("pack-import", _pack_prepare, _pack_run, rerun_completes=True), module=__name__)


# --- image import: a folder, a zip of images, a folder linked in place ------------------------------------------


def _images_prepare(library: Path, inputs: Path) -> None:
    seed_library(library, entries=40, images=2)
    for folder, start, count in (("folder", 0, 40), ("linked", 100, 20)):
        (inputs / folder).mkdir(parents=True, exist_ok=True)
        for n in range(start, start + count):
            (inputs / folder / f"{n:05d}.png").write_bytes(png(n, infotext=infotext(n, folder + " ")))
    with zipfile.ZipFile(inputs / "images.zip", "w") as archive:
        for n in range(200, 220):
            archive.writestr(f"zip/{n}.png", png(n, infotext=infotext(n, "zip ")))


def _images_run(library: Path, inputs: Path) -> Iterator[None]:
    with Library.open(library) as lib:
        for paths, link in (
            ([inputs / "folder"], False),
            ([inputs / "images.zip"], False),
            ([inputs / "linked"], True),
        ):
            summary = lib.import_paths(paths, link=link)
            assert not summary.failed, summary.failed
            yield


IMAGE_IMPORT = register(Operation("image-import", _images_prepare, _images_run, rerun_completes=True), module=__name__)


# --- migration of an old library ---------------------------------------------------------------------------------

OLD_REVISION = "0001"


def make_old_library(folder: Path, *, entries: int, images: int, revision: str = OLD_REVISION) -> None:
    """A library as the first release wrote it (Alembic at `revision`), with entries, tags and image files."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from promptlib.store import migrate
    from promptlib.store.files import ImageStore

    folder.mkdir(parents=True)
    (folder / "images").mkdir()
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.migrations_path()))
    engine = create_engine(f"sqlite:///{folder / 'library.db'}")
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    engine.dispose()
    store = ImageStore(folder)
    conn = sqlite3.connect(folder / "library.db")
    stamp = "2025-01-01 00:00:00.000000"
    with conn:
        conn.execute("INSERT INTO tags(id, name) VALUES (1, 'old')")
        for n in range(1, entries + 1):
            conn.execute(
                "INSERT INTO prompts(id, title, prompt, negative_prompt, notes, favourite, source, tag_text,"
                " fingerprint, created_at, updated_at) VALUES (?, ?, ?, '', '', 0, '{}', 'old', ?, ?, ?)",
                (n, f"old {n}", prompt_text(n, "old "), f"fp{n}", stamp, stamp),
            )
            conn.execute("INSERT INTO prompt_tags(prompt_id, tag_id) VALUES (?, 1)", (n,))
        for n in range(1, images + 1):
            stored = store.put(png(900 + n), ext="png")
            conn.execute(
                "INSERT INTO renders(prompt_id, image_sha256, image_path, linked, width, height, file_size, format,"
                " kind, recipe, environment, timings, created_at) VALUES (?, ?, ?, 0, 24, 16, ?, 'PNG', 'render',"
                " '{}', '{}', '{}', ?)",
                (n, stored.sha256, stored.relpath, stored.size, stamp),
            )
    conn.close()


def _migration_prepare(library: Path, inputs: Path) -> None:
    make_old_library(library, entries=500, images=10)


def _migration_run(library: Path, inputs: Path) -> Iterator[None]:
    Library.open(library).close()
    yield


def _backups_are_whole(library: Path, inputs: Path) -> None:
    """Every backup left behind is a complete, consistent database (never a half-written copy)."""
    for backup in sorted((library / "backups").glob("*.db")):
        conn = sqlite3.connect(backup)
        try:
            assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"], backup.name
            assert conn.execute("SELECT count(*) FROM prompts").fetchone()[0] > 0, backup.name
        finally:
            conn.close()


MIGRATION = register(
    Operation(
        "migration",
        _migration_prepare,
        _migration_run,
        completes_on_open=True,
        rerun_completes=True,
        extra_check=_backups_are_whole,
    ),
    module=__name__,
)


# --- backup ------------------------------------------------------------------------------------------------------


def _backup_prepare(library: Path, inputs: Path) -> None:
    seed_library(library, entries=1_000, images=5)


def _backup_run(library: Path, inputs: Path) -> Iterator[None]:
    with Library.open(library) as lib:
        lib.backup()
    yield


def _backup_matches(library: Path, inputs: Path) -> None:
    _backups_are_whole(library, inputs)
    for backup in sorted((library / "backups").glob("*.db")):
        copy = inputs.parent / "backup-check"
        copy.mkdir(exist_ok=True)
        (copy / "library.db").write_bytes(backup.read_bytes())
        assert db_state(copy) == db_state(library), backup.name


BACKUP = register(Operation("backup", _backup_prepare, _backup_run, extra_check=_backup_matches), module=__name__)
