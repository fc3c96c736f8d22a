"""The doctor checks other modules register: ``stale-index`` and ``foreign-index`` (the semantic index, rebuilt by
``--fix`` from the stored vectors, never re-embedding) and ``model-hash`` / ``model-missing`` (the renderer)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptlib.library import Library
from promptlib.recipe import Recipe
from promptlib.store import doctor as doc
from tests.reliability.operations import png

# --- the semantic index ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> object:
    pytest.importorskip("open_clip")
    pytest.importorskip("faiss")
    from tests.reliability.operations_heavy import quick_tiny_clip

    return quick_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture
def indexed(tmp_path: Path, tiny_model: object) -> Iterator[Library]:
    """A library with eight drawn images, its image and prompt indexes built and saved."""
    from tests.semantic.helpers import COMBOS, add_drawn, open_library

    rng = random.Random(1)
    lib = open_library(tmp_path / "lib", tiny_model, workers=0)  # type: ignore[arg-type]
    for n in range(8):
        add_drawn(lib, COMBOS[n], rng, prompt=f"drawn {n}")
    lib.build_index(workers=0)
    yield lib
    lib.close()


def _kinds(lib: Library) -> list[tuple[str, str]]:
    return sorted((f.kind, Path(f.path or "").name.split(".")[-2]) for f in lib.doctor())


def _no_embedding(lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any use of the model fail: a fix must rebuild from stored vectors only."""

    def refuse() -> None:
        raise AssertionError("the fix loaded the embedding model")

    monkeypatch.setattr(lib.semantic, "embedder", refuse)


def _saved_matches_stored(lib: Library, kind: str) -> None:
    from promptlib.search.index import VectorIndex, read_manifest
    from promptlib.search.semantic import _label
    from promptlib.store import embeddings as stored

    path = lib.semantic.index_path(kind)
    manifest = read_manifest(path)
    with lib.db.lock:
        ids = stored.stored_ids(lib.db.conn, kind, lib.semantic.model_id)
        assert manifest.generation == _label(stored.version(lib.db.conn, kind))
    saved = VectorIndex.load(path, model=lib.semantic.model_id, dim=manifest.dim)
    assert sorted(saved.ids().tolist()) == ids.tolist() and len(ids) > 0


def test_a_fresh_index_has_no_findings(indexed: Library) -> None:
    assert indexed.doctor() == []
    assert {"stale-index", "foreign-index", "model-hash", "model-missing"} <= set(doc.KINDS)


def _replace_vector(lib: Library, kind: str, owner: int) -> None:
    """Store an owner's vector again, as re-embedding does: the saved index no longer knows what it holds."""
    from promptlib.store import embeddings as stored

    model = lib.semantic.model_id
    with lib.db.write() as conn:
        dim = lib.semantic._stored_dim(conn, kind)
        assert dim is not None
        ids, vectors = stored.load_some(conn, kind, model, [owner], dim=dim)
        stored.store(conn, kind, model, ids, vectors)


def test_a_remove_is_no_finding_the_saved_index_catches_up_by_id(
    indexed: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptlib.search.index import VectorIndex, read_manifest

    indexed.remove([3])  # cascades to its render's and its prompt's vectors: the saved indexes lag behind
    assert read_manifest(indexed.semantic.index_path("image")).count == 8  # still saved before the remove
    assert indexed.doctor() == []
    monkeypatch.setattr(VectorIndex, "build", None)  # the next use catches up by id: any rebuild fails the test
    assert indexed.semantic.index("image").count == 7  # type: ignore[union-attr]
    assert indexed.semantic.index("prompt").count == 7  # type: ignore[union-attr]


def test_stale_index_is_reported_and_rebuilt_from_stored_vectors(
    indexed: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexed.remove([3])
    _replace_vector(indexed, "image", 1)  # a replaced vector: the next use would rebuild, so the doctor says so
    _replace_vector(indexed, "prompt", 1)
    assert _kinds(indexed) == [("stale-index", "image"), ("stale-index", "prompt")]
    assert all(f.fixable for f in indexed.doctor())
    details = [f.detail for f in indexed.doctor()]
    assert details[0].startswith("image index saved at generation 8; the stored vectors are at 10, some")
    assert not [d for d in details if ".0" in d]  # generations are whole numbers, printed as such
    _no_embedding(indexed, monkeypatch)
    found = indexed.doctor(fix=True)
    assert [f.kind for f in found] == ["stale-index", "stale-index"]
    assert indexed.doctor() == []
    for kind in ("image", "prompt"):
        _saved_matches_stored(indexed, kind)
    assert indexed.semantic.index("image").count == 7  # type: ignore[union-attr]


def test_a_lag_too_long_to_catch_up_by_id_is_stale(indexed: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    from promptlib.search import semantic

    monkeypatch.setattr(semantic, "CATCH_UP_LIMIT", 0)  # 8 vectors: at most 0 ids are added or dropped by id
    indexed.remove([3])
    assert _kinds(indexed) == [("stale-index", "image"), ("stale-index", "prompt")]
    assert "too many changes to catch up by id" in indexed.doctor()[0].detail


def test_unreadable_index_is_foreign_and_rebuilt(indexed: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    from promptlib.search.index import manifest_path

    path = indexed.semantic.index_path("image")
    manifest_path(path).write_text('{"model": "trunc', encoding="utf-8")
    assert _kinds(indexed) == [("foreign-index", "image")]
    _no_embedding(indexed, monkeypatch)
    indexed.doctor(fix=True)
    assert indexed.doctor() == []
    _saved_matches_stored(indexed, "image")


def test_index_of_another_model_or_dimension_is_foreign(indexed: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    from promptlib.search.index import manifest_path

    image, prompt = (manifest_path(indexed.semantic.index_path(kind)) for kind in ("image", "prompt"))
    data = json.loads(image.read_text(encoding="utf-8"))
    image.write_text(json.dumps({**data, "model": "ViT-B-32/other"}), encoding="utf-8")
    data = json.loads(prompt.read_text(encoding="utf-8"))
    prompt.write_text(json.dumps({**data, "dim": data["dim"] * 2}), encoding="utf-8")
    findings = indexed.doctor()
    assert _kinds(indexed) == [("foreign-index", "image"), ("foreign-index", "prompt")]
    assert "ViT-B-32/other" in " ".join(f.detail for f in findings)
    _no_embedding(indexed, monkeypatch)
    indexed.doctor(fix=True)
    assert indexed.doctor() == []
    for kind in ("image", "prompt"):
        _saved_matches_stored(indexed, kind)


def test_torn_save_is_foreign_and_rebuilt(indexed: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    path = indexed.semantic.index_path("image")
    path.write_bytes(path.read_bytes()[:-100])  # the file is not the one its manifest names
    assert _kinds(indexed) == [("foreign-index", "image")]
    _no_embedding(indexed, monkeypatch)
    indexed.doctor(fix=True)
    assert indexed.doctor() == []
    _saved_matches_stored(indexed, "image")


def test_a_library_without_index_skips_the_index_checks(tmp_path: Path) -> None:
    with Library.open(tmp_path / "plain") as lib:
        lib.add_image(lib.add("no index").id, png(1))
        assert lib.doctor() == []
        assert lib._semantic is None  # the check did not even set up semantic search


# --- model hashes ---------------------------------------------------------------------------------------------------


@pytest.fixture
def hash_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PROMPTLIB_CACHE_DIR", str(cache))
    return cache


def _render_with(lib: Library, entry: int, n: int, *, model: str, sha: str, vae: Path | None = None) -> None:
    vae_sha = hashlib.sha256(vae.read_bytes()).hexdigest() if vae is not None else None
    recipe = Recipe(model=model, model_hash=sha[:10], vae=str(vae) if vae else None, steps=2)
    lib.add_image(entry, png(n), recipe=recipe, environment={"model_hash": sha, "vae_hash": vae_sha})


def test_changed_and_missing_model_files_are_reported_not_fixed(lib: Library, tmp_path: Path, hash_cache: Path) -> None:
    model, vae = tmp_path / "tiny.safetensors", tmp_path / "vae.safetensors"
    model.write_bytes(b"weights v1" * 100)
    vae.write_bytes(b"vae v1" * 100)
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    entry = lib.add("rendered").id
    _render_with(lib, entry, 1, model=str(model), sha=sha, vae=vae)
    _render_with(lib, entry, 2, model=str(model), sha=sha)
    _render_with(lib, entry, 3, model="random:sd15-tiny", sha="f" * 64)  # random weights: skipped
    _render_with(lib, entry, 4, model="tiny-by-name", sha="e" * 64)  # a name, not a path: skipped
    assert lib.doctor() == []
    assert (hash_cache / "hashes.json").is_file()  # hashed through the hash cache

    model.write_bytes(b"weights v2" * 100)  # replaced by another file under the same name
    findings = lib.doctor()
    assert [(f.kind, f.path) for f in findings] == [("model-hash", str(model))]
    assert "2 render(s)" in findings[0].detail and sha[:10] in findings[0].detail
    assert not findings[0].fixable

    vae.unlink()
    assert sorted((f.kind, f.path) for f in lib.doctor()) == [("model-hash", str(model)), ("model-missing", str(vae))]
    lib.doctor(fix=True)  # report only: nothing changes
    assert sorted(f.kind for f in lib.doctor()) == ["model-hash", "model-missing"]
    assert lib.db.execute("SELECT count(*) FROM renders")[0][0] == 4


def test_a_model_recorded_by_short_hash_only_is_compared_by_prefix(
    lib: Library, tmp_path: Path, hash_cache: Path
) -> None:
    model = tmp_path / "short.ckpt"
    model.write_bytes(b"short hash model")
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    entry = lib.add("imported from A1111").id
    lib.add_image(entry, png(9), recipe=Recipe(model=str(model), model_hash=sha[:10]))
    assert lib.doctor() == []
    model.write_bytes(b"another model")
    assert [f.kind for f in lib.doctor()] == ["model-hash"]
