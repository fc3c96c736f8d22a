"""Writes that fail part-way: a file size limit (RLIMIT_FSIZE) or a full tiny filesystem, then recovery.

Run as ``python -m tests.reliability.disk_full rlimit|tmpfs WORKDIR`` (the tests do); prints one JSON object per
scenario. Each scenario copies a prepared library, makes the disk "full", runs one write, and reports what the
user saw (the exception type and message) and what the library looked like afterwards: its state compared with
before, ``PRAGMA integrity_check``, leftover temp files, and whether the same process — and a fresh open — can
read and write again once space is back.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from promptlib.errors import PromptlibError
from promptlib.library import Library
from tests.reliability.crash import db_state, temp_files
from tests.reliability.operations import build_pack, infotext, make_old_library, prompt_text, seed_library


def noise_png(n: int, *, side: int, text: str | None = None) -> bytes:
    """A PNG of random pixels (incompressible: about 3·side² bytes)."""
    import io
    import random

    from PIL import Image, PngImagePlugin

    rng = random.Random(n)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    info = PngImagePlugin.PngInfo()
    if text is not None:
        info.add_text("parameters", text)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info, compress_level=0)
    return buffer.getvalue()


def _bulk_add(lib: Library, inputs: Path) -> None:
    news = [lib.prepare_entry(prompt_text(n, "full ") + " " + "x" * 1_000, tags=["full"]) for n in range(3_000)]
    lib.add_many(news, pack="full")


def _edit(lib: Library, inputs: Path) -> None:
    lib.edit(1, notes="n" * 60_000, params={"steps": 33}, tags=["edited"])


def _tag(lib: Library, inputs: Path) -> None:
    lib.tag(range(1, 101), add=[f"tag{n}" for n in range(40)])


def _add_image(lib: Library, inputs: Path) -> None:
    lib.add_image(1, noise_png(1, side=400))


def _import_images(lib: Library, inputs: Path) -> None:
    summary = lib.import_paths([inputs / "big-images"])
    if summary.failed:
        raise ImportFailed(summary.failed[0]["reason"])


def _import_pack(lib: Library, inputs: Path) -> None:
    report = lib.import_path(inputs / "pack.zip")
    if report.errors:
        raise ImportFailed(report.errors[0])


def _backup(lib: Library, inputs: Path) -> None:
    lib.backup()


class ImportFailed(PromptlibError):
    """An import that reported (rather than raised) the failure: the reason is what the user reads."""


SCENARIOS: dict[str, Callable[[Library, Path], None]] = {
    "bulk-add": _bulk_add,
    "edit": _edit,
    "tag": _tag,
    "add-image": _add_image,
    "import-images": _import_images,
    "import-pack": _import_pack,
    "backup": _backup,
}


def prepare(workdir: Path) -> None:
    """The template library and the inputs every scenario uses."""
    seed_library(workdir / "template", entries=200, images=2)
    old = workdir / "old-template"
    make_old_library(old, entries=300, images=2)
    inputs = workdir / "inputs"
    (inputs / "big-images").mkdir(parents=True)
    for n in range(3):
        (inputs / "big-images" / f"{n}.png").write_bytes(noise_png(10 + n, side=400, text=infotext(n, "big ")))
    build_pack(inputs / "pack-src.zip", entries=20, images=0)
    _pack_with_big_image(inputs / "pack.zip")


def _pack_with_big_image(target: Path) -> None:
    from promptlib.packs.native import write_pack
    from promptlib.packs.schema import PackEntry, PackImage, PackManifest
    from promptlib.store.files import sha256_bytes

    data = noise_png(99, side=400)
    entry = PackEntry(
        prompt="a pack entry with a big image", images=[PackImage(path="images/big.png", sha256=sha256_bytes(data))]
    )
    small = [PackEntry(prompt=prompt_text(n, "pack ")) for n in range(50)]
    write_pack(target, PackManifest(name="full-pack"), [entry, *small], [], images={"images/big.png": data})


def _lift() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _works(library: Path) -> bool:
    """The library opens, reads and takes a small write."""
    with Library.open(library, create=False) as lib:
        lib.count()
        lib.search("detail")
        entry = lib.add("written after the failure")
        lib.remove([entry.id])
        return lib.check() == []


def run_scenario(
    name: str, library: Path, inputs: Path, *, fill: Callable[[], None], free: Callable[[], None]
) -> dict[str, Any]:
    """Run one scenario against `library` with the disk made full by `fill`; `free` gives the space back."""
    before = db_state(library)
    result: dict[str, Any] = {"scenario": name}
    lib = Library.open(library, create=False)
    fill()
    try:
        SCENARIOS[name](lib, inputs)
        result["outcome"] = "succeeded"
    except PromptlibError as exc:
        result.update(outcome="refused", error=type(exc).__name__, message=str(exc))
    except BaseException as exc:  # what reached the user instead of a promptlib error
        result.update(outcome="crashed", error=type(exc).__name__, message=str(exc), trace=traceback.format_exc())
    try:
        lib.count()  # the same process can still read while the disk is full
        result["reads_while_full"] = True
    except BaseException as exc:
        result["reads_while_full"] = f"{type(exc).__name__}: {exc}"
    free()
    try:
        lib.add("the same process writes again once space is back")
        result["same_process_writes_after"] = True
    except BaseException as exc:
        result["same_process_writes_after"] = f"{type(exc).__name__}: {exc}"
    lib.close()
    result["temp_files_while_open"] = [str(p.relative_to(library)) for p in temp_files(library)]
    result["unchanged"] = _unchanged(library, before)
    result["works_after"] = _works(library)
    result["temp_files_after_open"] = [str(p.relative_to(library)) for p in temp_files(library)]
    return result


def _unchanged(library: Path, before: Any) -> bool:
    """The failed write left nothing behind: the state equals the one before, plus the one recovery entry."""
    import sqlite3

    conn = sqlite3.connect(library / "library.db")
    try:
        ok = [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
        conn.execute("DELETE FROM prompts WHERE prompt = 'the same process writes again once space is back'")
        conn.commit()
    finally:
        conn.close()
    return ok and db_state(library) == before


def _bytes_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main_rlimit(workdir: Path) -> None:
    """File size limit: every file the process writes may grow only a little past the library's largest file."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
    inputs = workdir / "inputs"
    for name in [*SCENARIOS, "migration"]:
        library = workdir / f"rlimit-{name}"
        shutil.copytree(workdir / ("old-template" if name == "migration" else "template"), library)
        largest = max(p.stat().st_size for p in library.rglob("*") if p.is_file())
        # Small enough that the write must fail: a few WAL pages, half the database (a backup), or a bit more than
        # the largest file (the WAL of a bulk write, an image file).
        limit = {"edit": 48 * 1024, "tag": 48 * 1024, "backup": largest // 2, "migration": largest // 2}.get(
            name, largest + 64 * 1024
        )

        def fill(limit: int = limit) -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        if name == "migration":
            print(json.dumps(_migration(library, fill)), flush=True)
            continue
        print(json.dumps(run_scenario(name, library, inputs, fill=fill, free=_lift)), flush=True)


def _migration(library: Path, fill: Callable[[], None]) -> dict[str, Any]:
    """Opening an old library while files cannot grow: the upgrade fails with one line, the old schema stays."""
    before = db_state(library)
    result: dict[str, Any] = {"scenario": "migration"}
    fill()
    try:
        Library.open(library, create=False).close()
        result["outcome"] = "succeeded"
    except PromptlibError as exc:
        result.update(outcome="refused", error=type(exc).__name__, message=str(exc))
    except BaseException as exc:
        result.update(outcome="crashed", error=type(exc).__name__, message=str(exc), trace=traceback.format_exc())
    _lift()
    result["unchanged"] = db_state(library) == before
    result["temp_files_while_open"] = [str(p.relative_to(library)) for p in temp_files(library)]
    result["works_after"] = _works(library)
    result["temp_files_after_open"] = [str(p.relative_to(library)) for p in temp_files(library)]
    result["reads_while_full"] = result["same_process_writes_after"] = True
    return result


def main_tmpfs(workdir: Path, mount: Path) -> None:
    """A tiny filesystem: the library lives on it and a filler file takes all but a little of the space."""
    inputs = workdir / "inputs"
    for name in SCENARIOS:
        library = mount / "lib"
        shutil.copytree(workdir / "template", library)
        filler = mount / "filler"

        def fill(filler: Path = filler) -> None:
            with filler.open("wb") as handle:
                try:
                    while True:
                        handle.write(b"\0" * 65_536)
                        handle.flush()
                except OSError:
                    pass
            stats = os.statvfs(mount)
            assert stats.f_bavail * stats.f_frsize < 256 * 1024

        def free(filler: Path = filler) -> None:
            filler.unlink(missing_ok=True)

        result = run_scenario(name, library, inputs, fill=fill, free=free)
        free()
        shutil.rmtree(library)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    mode, folder = sys.argv[1], Path(sys.argv[2])
    if mode == "rlimit":
        main_rlimit(folder)
    else:
        main_tmpfs(folder, Path(sys.argv[3]))
