"""The index as a derived cache: rebuilt when deleted, stale or corrupt, kept up to date by renders, imports and
deletions, and never the reason a render or an import fails."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("open_clip")

from PIL.PngImagePlugin import PngInfo

from promptlib.errors import ValidationError
from promptlib.library import Library
from promptlib.search import semantic as semantic_module
from promptlib.search.index import VectorIndex, manifest_path
from promptlib.store import embeddings as stored

from .helpers import COMBOS, TinyModel, add_drawn, caption, draw, open_library, png

QUERIES = [caption(*c) for c in COMBOS[::3]]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, tiny_clip: TinyModel) -> Path:
    """A library of one drawn image per caption, indexed; each test works on its own copy."""
    folder = tmp_path_factory.mktemp("template") / "lib"
    with open_library(folder, tiny_clip) as lib:
        rng = random.Random(11)
        for n, combo in enumerate(COMBOS):
            add_drawn(lib, combo, rng, prompt=f"picture {n}", tags=[combo[0]])
        lib.build_index()
    return folder


@pytest.fixture
def copy(template: Path, tmp_path: Path) -> Path:
    shutil.copytree(template, tmp_path / "lib")
    return tmp_path / "lib"


def indexed_library(folder: Path, model: TinyModel) -> Library:
    return open_library(folder, model)


def results(lib: Library) -> list[list[tuple[int, float]]]:
    return [
        [(h.entry.id, round(float(h.scores["semantic"]), 5)) for h in lib.search(q, mode="semantic", limit=5).hits]
        for q in QUERIES
    ]


def test_rebuild_after_deleting_the_index_files_restores_identical_results(copy: Path, tiny_clip: TinyModel) -> None:
    lib = indexed_library(copy, tiny_clip)
    before = results(lib)
    path = lib.semantic.index_path("image")
    lib.close()
    path.unlink()
    manifest_path(path).unlink()
    with open_library(copy, tiny_clip) as again:
        assert results(again) == before
        assert path.exists() and manifest_path(path).exists()  # rebuilt from the stored vectors and saved
        assert [k.state for k in again.index_status().kinds] == ["fresh", "fresh"]


def test_a_stale_manifest_triggers_a_rebuild(copy: Path, tiny_clip: TinyModel) -> None:
    lib = indexed_library(copy, tiny_clip)
    before = results(lib)
    path = lib.semantic.index_path("image")
    lib.close()
    data = json.loads(manifest_path(path).read_text())
    generation = data["generation"]
    data["generation"] = "1"  # as if saved before the last embeddings were stored
    manifest_path(path).write_text(json.dumps(data))
    with open_library(copy, tiny_clip) as again:
        assert again.index_status().kinds[0].state == "stale"
        assert results(again) == before
        assert json.loads(manifest_path(path).read_text())["generation"] == generation
        assert again.index_status().kinds[0].state == "fresh"


def test_a_corrupt_or_foreign_index_is_rebuilt_never_silently_empty(copy: Path, tiny_clip: TinyModel) -> None:
    lib = indexed_library(copy, tiny_clip)
    before = results(lib)
    path = lib.semantic.index_path("image")
    lib.close()
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with open_library(copy, tiny_clip) as again:
        assert again.index_status().kinds[0].state == "corrupt"
        assert results(again) == before
    data = json.loads(manifest_path(path).read_text())
    data["model"], data["dim"] = "ViT-B-32/laion2b_s34b_b79k", 512  # an index of another model and dimension
    manifest_path(path).write_text(json.dumps(data))
    with open_library(copy, tiny_clip) as again:
        assert results(again) == before
        assert json.loads(manifest_path(path).read_text())["dim"] == 32


def test_new_renders_are_embedded_and_indexed_in_memory(copy: Path, tiny_clip: TinyModel) -> None:
    lib = indexed_library(copy, tiny_clip)
    index = lib.semantic.index("image")
    assert index is not None and index.count == 24
    picture = draw("circle", "yellow", "black", random.Random(99))
    entry = lib.add("a new render")
    render = lib.add_image(entry.id, png(picture))
    lib._on_new_renders([render], [picture])  # what the renderer calls after storing renders
    live = lib.semantic.index("image")
    assert live is index and index.count == 25  # added in memory: no rebuild
    assert lib.search_image(png(picture), limit=1).hits[0].entry.id == entry.id
    assert lib.semantic.index("prompt") is not None and lib.semantic.index("prompt").count == 25  # type: ignore[union-attr]
    assert lib.index_status().kinds[0].detail == "changes held in memory, saved soon"
    lib.flush_index()
    assert json.loads(manifest_path(lib.semantic.index_path("image")).read_text())["count"] == 25
    lib.close()
    with open_library(copy, tiny_clip) as again:
        assert again.index_status().kinds[0].state == "fresh"


def test_nothing_is_embedded_without_an_index(slib: Library) -> None:
    entry = slib.add("no index here")
    render = slib.add_image(entry.id, png(draw("square", "red", "white", random.Random(1))))
    slib._on_new_renders([render])
    with slib.db.lock:
        assert stored.count(slib.db.conn, "image", slib.semantic.model_id) == 0
    assert not slib.semantic.index_path("image").exists()


def test_a_failing_embedding_never_fails_the_render_and_is_reported(copy: Path, tiny_clip: TinyModel) -> None:
    lib = indexed_library(copy, tiny_clip)
    entry = lib.add("broken file")
    render = lib.add_image(entry.id, png(draw("square", "red", "white", random.Random(1))))
    lib.image_path(render).write_bytes(b"\x89PNG\r\n\x1a\n damaged on disk")
    lib._on_new_renders([render])  # no images in memory: read from the file, which fails
    status = lib.index_status()
    assert status.last_error is not None and f"render {render.id}" in status.last_error
    assert "not a readable image" in status.last_error
    lib.semantic.embedder = None  # type: ignore[assignment,method-assign]  # any exception at all
    other = lib.add_image(entry.id, png(draw("circle", "red", "white", random.Random(2))))
    lib._on_new_renders([other])
    assert "embedding renders" in (lib.index_status().last_error or "")
    lib.close()


def test_imported_images_are_embedded_when_an_index_exists(copy: Path, tiny_clip: TinyModel, tmp_path: Path) -> None:
    lib = indexed_library(copy, tiny_clip)
    folder = tmp_path / "incoming"
    folder.mkdir()
    info = PngInfo()
    info.add_text("parameters", "a green triangle\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x64")
    draw("triangle", "green", "white", random.Random(3)).save(folder / "tri.png", pnginfo=info)
    summary = lib.import_paths([folder])
    assert summary.images_imported == 1
    with lib.db.lock:
        assert stored.count(lib.db.conn, "image", lib.semantic.model_id) == 25
    found = lib.search("green triangle", mode="hybrid", limit=3).hits[0]
    assert found.entry.prompt == "a green triangle" and found.scores["lexical"] is not None
    lib.close()


def test_deleted_entries_leave_the_index_by_id_without_a_rebuild(
    copy: Path, tiny_clip: TinyModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = indexed_library(copy, tiny_clip)
    index = lib.semantic.index("image")
    top = lib.search(QUERIES[0], mode="semantic", limit=1).hits[0].entry.id
    monkeypatch.setattr(VectorIndex, "build", None)  # any rebuild would fail the test
    lib.remove([top])  # the cascade deletes its vectors
    assert top not in [h.entry.id for h in lib.search(QUERIES[0], mode="semantic", limit=30).hits]
    assert lib.semantic.index("image") is index and index is not None and index.count == 23
    lib.flush_index()
    lib.close()
    with open_library(copy, tiny_clip) as again:  # the saved image index is exact again; prompts catch up on use
        assert [k.state for k in again.index_status().kinds] == ["fresh", "stale"]
        assert again.similar_prompts("picture 3", limit=30).hits and again.index_status().kinds[1].state == "fresh"


def test_rm_after_index_build_leaves_doctor_nothing_to_report(copy: Path, cli: Any) -> None:
    """`rm` does not load the index: the saved one lags by the removed ids, which its next use drops. That is the
    design working, so `doctor` exits 0 (it used to report a stale index and exit 1)."""
    assert cli("-L", str(copy), "index", "build").code == 0
    assert cli("-L", str(copy), "rm", "4", "--yes").code == 0
    report = cli("-L", str(copy), "doctor", "--json")
    assert report.code == 0 and report.json()["findings"] == [], report.out
    status = {k["kind"]: k for k in cli("-L", str(copy), "index", "status", "--json").json()["kinds"]}
    assert status["prompt"]["state"] == "stale"  # `index status` agrees: behind, and caught up by id on next use
    assert "changes behind: its next use catches up by id, no rebuild" in status["prompt"]["detail"]
    hits = cli("-L", str(copy), "search", QUERIES[0], "--mode", "semantic", "-k", "30", "--json").json()
    assert hits and 4 not in [hit["id"] for hit in hits]
    assert cli("-L", str(copy), "doctor").code == 0


def test_a_saved_index_catches_up_with_changes_made_elsewhere(
    copy: Path, tiny_clip: TinyModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    with indexed_library(copy, tiny_clip) as other:  # another process: deletes one entry, adds one render
        other.remove([1])
        entry = other.add("added elsewhere")
        picture = draw("triangle", "blue", "black", random.Random(8))
        render = other.add_image(entry.id, png(picture))
        with other.db.write() as conn:  # its vector, stored the way the embedder stores it
            vector = other.semantic.embedder().embed_images([picture])
            stored.store(conn, "image", other.semantic.model_id, [render.id], vector)
    monkeypatch.setattr(VectorIndex, "build", None)
    with open_library(copy, tiny_clip) as lib:
        assert lib.index_status().kinds[0].state == "stale"
        assert lib.search_image(png(picture), limit=1).hits[0].entry.id == entry.id
        index = lib.semantic.index("image")
        assert index is not None and index.count == 24 and render.id in index and 1 not in index


def test_edited_prompts_are_embedded_again(slib: Library) -> None:
    entry = slib.add("a red circle on black")
    slib.build_index(kinds=["prompt"])
    slib.edit(entry.id, prompt="a blue square on white")
    report = slib.build_index(kinds=["prompt"])
    assert report.embedded == {"prompt": 1}
    assert slib.similar_prompts("a blue square on white", limit=1).hits[0].scores["semantic"] == pytest.approx(
        1.0, abs=1e-4
    )
    assert slib.build_index(kinds=["prompt"]).embedded == {"prompt": 0}


def test_an_empty_library_builds_an_empty_index(slib: Library) -> None:
    report = slib.build_index()
    assert report.indexed == {"image": 0, "prompt": 0}
    assert slib.search("a red circle", mode="semantic").hits == []
    assert slib.duplicates() == []


def test_stored_vectors_of_another_dimension_are_a_clear_error(copy: Path, tiny_clip: TinyModel) -> None:
    lib = indexed_library(copy, tiny_clip)
    with lib.db.write() as conn:
        conn.execute("UPDATE render_embeddings SET dim = 16, vector = substr(vector, 1, 64)")
    with pytest.raises(ValidationError, match=r"rebuild_index\(reembed=True\)") as caught:
        lib.build_index()
    assert "promptlib index rebuild --reembed" in caught.value.cli_message()  # the CLI's words for the same fix
    report = lib.rebuild_index(reembed=True)
    assert report.embedded["image"] == 24 and report.indexed["image"] == 24
    lib.close()


def test_index_files_are_named_per_model_and_kind() -> None:
    a = semantic_module.index_file_name("ViT-B-32/laion2b_s34b_b79k", "image")
    b = semantic_module.index_file_name("ViT-B-32/openai", "image")
    assert a.startswith("ViT-B-32_laion2b_s34b_b79k-") and a.endswith(".image.faiss") and a != b
    assert "/" not in semantic_module.index_file_name("../../etc/passwd", "prompt")


def test_query_image_guard_keeps_library_untouched(slib: Library) -> None:
    slib.add("something")
    slib.build_index()
    before = sorted(p.name for p in slib.path.rglob("*") if p.is_file())
    with pytest.raises(ValidationError):
        slib.search_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    assert sorted(p.name for p in slib.path.rglob("*") if p.is_file()) == before


def test_status_says_how_many_items_are_not_embedded_yet(copy: Path, tiny_clip: TinyModel) -> None:
    with indexed_library(copy, tiny_clip) as lib:
        assert [k.detail for k in lib.index_status().kinds] == ["", ""]
        lib.add("a prompt added after the build")
        lib.add("and another")
        prompt = lib.index_status().kinds[1]
        assert prompt.kind == "prompt" and prompt.items == prompt.embedded + 2
        assert prompt.detail == "2 not embedded yet: `promptlib index build` adds them"
