"""The crash operations that need torch: a render with the tiny random-weight model, and a semantic index save.

Registered like those of `tests.reliability.operations` (``register(..., module=__name__)``); the fork server
preloads this module and torch, open_clip and faiss, so that kills land in the operation, not in imports. Each
child sets one torch thread and its own render cache (``PROMPTLIB_CACHE_DIR`` under the inputs folder), as the
render tests do.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.library import Library
from tests.reliability.crash import VOLATILE_COLUMNS, Operation, State, db_state, register
from tests.reliability.operations import seed_library

if TYPE_CHECKING:
    from promptlib.search.index import VectorIndex

# --- render (tiny random-weight SD 1.5) ----------------------------------------------------------------------------

TINY_MODEL = "random:sd15-tiny"
RENDER_IMAGES = 3  # one committed unit each (one `Library.render(n=1)` call per image)
RENDER_ENTRY = 1


def _tiny_settings(inputs: Path) -> None:
    """One torch thread and a private render cache (see tests/render/conftest.py)."""
    import torch

    os.environ["PROMPTLIB_CACHE_DIR"] = str(inputs / "render-cache")
    torch.set_num_threads(1)


def _render_prepare(library: Path, inputs: Path) -> None:
    seed_library(library, entries=20, images=2)
    with Library.open(library) as lib:
        lib.edit(RENDER_ENTRY, params={"model": TINY_MODEL, "steps": 2, "width": 64, "height": 64, "seed": 11})


def _render_run(library: Path, inputs: Path) -> Iterator[None]:
    _tiny_settings(inputs)
    with Library.open(library) as lib:
        for k in range(RENDER_IMAGES):
            run = lib.render(RENDER_ENTRY, model=TINY_MODEL, n=1, steps=2, seed=100 + k, size=(64, 64))
            assert len(run) == 1, run
            yield


def _render_state(library: Path) -> State:
    """The database content without run timings (a render's image, recipe and environment are deterministic)."""
    return db_state(library, volatile=VOLATILE_COLUMNS | {"timings"})


def _renders_complete(library: Path, inputs: Path) -> None:
    """Every stored render is a whole image of the recipe it records (all or nothing per image)."""
    import json

    from PIL import Image

    conn = sqlite3.connect(library / "library.db")
    try:
        rows = conn.execute(
            "SELECT image_path, width, height, recipe, environment FROM renders WHERE prompt_id = ? AND kind = 'render'"
            " AND recipe LIKE '%random:%'",
            (RENDER_ENTRY,),
        ).fetchall()
    finally:
        conn.close()
    for rel, width, height, recipe, environment in rows:
        assert json.loads(recipe)["model"] == TINY_MODEL, rel
        assert json.loads(environment).get("model_hash"), rel
        with Image.open(library / rel) as image:
            image.load()  # raises on a truncated file
            assert image.size == (width, height) == (64, 64), rel


RENDER = register(
    Operation("render", _render_prepare, _render_run, snapshot=_render_state, extra_check=_renders_complete),
    module=__name__,
)


# --- semantic index save (tiny open_clip model) -------------------------------------------------------------------

INDEX_IMAGES_OLD = 24  # renders in the saved (old) index
INDEX_IMAGES_NEW = 12  # renders embedded after it was saved: the new index holds all of them
INDEX_KINDS = ("image", "prompt")
INDEX_OUTCOMES: Counter[str] = Counter()  # "image old", "prompt new", "image rebuilt", ... over all kills


def _index_files(library: Path) -> list[Path]:
    return sorted((library / "index").glob("*.faiss"))


def quick_tiny_clip(folder: Path) -> Any:
    """The semantic tests' tiny CLIP with a few training steps: these checks need its vectors, not its accuracy."""
    from tests.semantic import helpers

    steps, helpers.TRAIN_STEPS = helpers.TRAIN_STEPS, 20
    try:
        return helpers.train(folder)
    finally:
        helpers.TRAIN_STEPS = steps


def _index_prepare(library: Path, inputs: Path) -> None:
    """A library whose vectors are all stored but whose saved indexes are those of an earlier build: the
    operation only builds and saves the indexes (no database change), so each kind's manifest is its unit."""
    from tests.semantic.helpers import COMBOS, add_drawn, open_library

    (inputs / "tiny-clip").mkdir(parents=True, exist_ok=True)
    model = quick_tiny_clip(inputs / "tiny-clip")
    rng = random.Random(5)
    with open_library(library, model, workers=0) as lib:
        for n in range(INDEX_IMAGES_OLD):
            add_drawn(lib, COMBOS[n % len(COMBOS)], rng, prompt=f"index entry {n}")
        lib.build_index(workers=0)
        old = inputs / "old-index"
        shutil.copytree(library / "index", old)
        for n in range(INDEX_IMAGES_OLD, INDEX_IMAGES_OLD + INDEX_IMAGES_NEW):
            add_drawn(lib, COMBOS[n % len(COMBOS)], rng, prompt=f"index entry {n}")
        lib.build_index(workers=0)
        new = inputs / "new-index"
        shutil.copytree(library / "index", new)
    shutil.rmtree(library / "index")
    shutil.copytree(old, library / "index")


def _index_run(library: Path, inputs: Path) -> Iterator[None]:
    import torch

    torch.set_num_threads(1)
    with Library.open(library) as lib:
        for kind in INDEX_KINDS:
            lib.build_index(kinds=(kind,), workers=0)
            yield
        lib.flush_index()


def _manifests(library: Path) -> list[tuple[str, str]]:
    folder = library / "index"
    return [(p.name, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.faiss.json"))]


def _index_state(library: Path) -> State:
    """The database content plus the saved manifests: the manifest is written last, so it is the commit record of
    an index save (a file that disagrees with it is found by `_index_is_old_new_or_rebuilt`)."""
    import hashlib

    base = db_state(library)
    digest = hashlib.sha256(base.digest.encode())
    for name, text in _manifests(library):
        digest.update(f"{name}\0{text}\0".encode())
    return State(digest.hexdigest(), (*base.counts, ("manifests", len(_manifests(library)))))


def _index_is_old_new_or_rebuilt(library: Path, inputs: Path) -> None:
    """Each saved index is the old or the new one with its file matching the manifest, or is detected as corrupt
    (a torn save) and rebuilt. The doctor reports exactly that (torn: ``foreign-index``; the old index lags by
    new ids only, which its next use adds, so it is no finding);
    after reopening the index answers like a fresh build from the stored vectors, never empty, and after
    ``doctor --fix`` the saved one does too."""
    from promptlib.search.index import VectorIndex, read_manifest
    from promptlib.search.index_manifest import file_digest

    expected = {"old": None, "new": None, "rebuilt": "foreign-index"}
    with Library.open(library) as lib:
        service = lib.semantic
        labels = {}
        for kind in INDEX_KINDS:
            path = service.index_path(kind)
            manifest = read_manifest(path)
            known = {w: read_manifest(inputs / f"{w}-index" / path.name).index_sha256 for w in ("old", "new")}
            agrees = file_digest(path) == (manifest.index_size, manifest.index_sha256)
            labels[kind] = next((w for w, sha in known.items() if agrees and sha == manifest.index_sha256), "rebuilt")
            INDEX_OUTCOMES[f"{kind} {labels[kind]}"] += 1
        found = {(f.kind, f.path) for f in lib.doctor() if f.kind in ("stale-index", "foreign-index")}
        wanted = {
            (expected[label], service.index_path(kind).relative_to(library).as_posix())
            for kind, label in labels.items()
            if expected[label] is not None
        }
        assert found == wanted, (labels, found)
        for kind in INDEX_KINDS:
            _answers_like_a_fresh_build(lib, kind, service.index(kind))
        lib.doctor(fix=True)
        assert not [f for f in lib.doctor() if f.kind in ("stale-index", "foreign-index")]
    with Library.open(library) as lib:
        for kind in INDEX_KINDS:
            path = lib.semantic.index_path(kind)
            saved = VectorIndex.load(path, model=lib.semantic.model_id, dim=read_manifest(path).dim)
            _answers_like_a_fresh_build(lib, kind, saved)


def _answers_like_a_fresh_build(lib: Library, kind: str, index: VectorIndex | None) -> None:
    import numpy as np

    from promptlib.search.index import VectorIndex
    from promptlib.store import embeddings as stored

    assert index is not None, f"{kind}: no index after reopening"
    with lib.db.lock:
        ids, vectors = stored.load(lib.db.conn, kind, lib.semantic.model_id, dim=index.dim)
    assert len(ids) > 0 and index.count == len(ids), f"{kind}: the index holds {index.count} of {len(ids)} vectors"
    fresh = VectorIndex.build(lib.semantic.model_id, index.dim, ids, vectors, generation="fresh")
    k = min(5, len(ids))
    assert np.array_equal(index.search(vectors, k)[1], fresh.search(vectors, k)[1]), f"{kind}: results differ"


INDEX_SAVE = register(
    Operation(
        "index-save",
        _index_prepare,
        _index_run,
        snapshot=_index_state,
        extra_check=_index_is_old_new_or_rebuilt,
        doctor_allows=frozenset({"stale-index", "foreign-index"}),
    ),
    module=__name__,
)
