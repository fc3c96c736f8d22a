"""Importing images with generation metadata: entries + renders, duplicates, --link, bad files, real samples."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from promptlib.library import Library
from tests.conftest import SHARED

SAMPLES = SHARED / "fixtures" / "metadata" / "sd-parsers"
INFOTEXT = (
    "a lighthouse in fog, <lora:detail:0.6>\nNegative prompt: people, text\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234, Size: 32x48, Model hash: abc123, "
    "Model: sd_xl_base_1.0"
)


def a1111_png(text: str = INFOTEXT, color: tuple[int, int, int] = (1, 2, 3)) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 48), color).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def test_an_a1111_png_becomes_an_entry_with_its_image(lib: Library, tmp_path: Path) -> None:
    (tmp_path / "00001-1234.png").write_bytes(a1111_png())
    summary = lib.import_paths([tmp_path])
    assert (summary.imported, summary.images_imported, summary.failed) == (1, 1, [])
    entry = lib.get(summary.ids[0])
    assert entry.prompt.startswith("a lighthouse in fog") and entry.negative_prompt == "people, text"
    p = entry.params
    assert (p["steps"], p["sampler"], p["schedule"], p["cfg_scale"], p["seed"]) == (28, "DPM++ 2M", "karras", 6.5, 1234)
    assert p["model"] == "sd_xl_base_1.0" and p["loras"][0]["name"] == "detail"
    assert entry.title == "00001-1234" and entry.source["generator"] == "a1111"
    render = entry.renders[0]
    assert (render.width, render.height, render.kind) == (32, 48, "import")
    assert lib.image_path(render).read_bytes() == (tmp_path / "00001-1234.png").read_bytes()
    assert render.recipe["raw"] == INFOTEXT  # the original text is kept verbatim
    assert [h.entry.id for h in lib.search("lighthouse has:image sampler:dpmpp_2m").hits] == [entry.id]


def test_reimport_adds_nothing_and_a_copy_elsewhere_is_the_same_image(lib: Library, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(a1111_png())
    (tmp_path / "b.png").write_bytes(a1111_png())
    first = lib.import_paths([tmp_path / "a"])
    again = lib.import_paths([tmp_path / "a", tmp_path / "b.png"])
    assert first.imported == 1 and again.imported == 0 and again.duplicates == 2
    assert lib.stats()["renders"] == 1


def test_link_references_images_in_place(lib: Library, tmp_path: Path) -> None:
    path = tmp_path / "keep.png"
    path.write_bytes(a1111_png())
    summary = lib.import_paths([path], link=True)
    render = lib.get(summary.ids[0]).renders[0]
    assert render.linked and lib.image_path(render) == path.resolve()
    assert lib.images.iter_files() == []


def test_bad_images_are_reported_one_line_each_and_the_rest_imported(lib: Library, tmp_path: Path) -> None:
    (tmp_path / "good.png").write_bytes(a1111_png())
    plain = io.BytesIO()
    Image.new("RGB", (4, 4)).save(plain, "PNG")
    (tmp_path / "plain.png").write_bytes(plain.getvalue())
    (tmp_path / "truncated.png").write_bytes(a1111_png()[:60])
    (tmp_path / "fake.png").write_bytes(b"8BPS\x00\x01 this is a photoshop file")
    (tmp_path / "empty.png").write_bytes(b"")
    summary = lib.import_paths([tmp_path])
    assert summary.imported == 1
    reasons = {Path(f["path"]).name: f["reason"] for f in summary.failed}
    assert set(reasons) == {"plain.png", "truncated.png", "fake.png", "empty.png"}
    assert "no generation metadata" in reasons["plain.png"]
    assert all("\n" not in r for r in reasons.values())


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sd-parsers fixtures not present")
def test_real_images_from_other_tools_import(lib: Library) -> None:
    summary = lib.import_paths([SAMPLES / "parsers"])
    generators = {e.source.get("generator") for e in lib.entries(limit=1000)}
    assert {"a1111", "comfyui", "invokeai", "fooocus", "novelai"} <= generators
    assert summary.imported >= 10
    assert summary.failed == [] or all("no generation metadata" in f["reason"] for f in summary.failed)
    bad = lib.import_paths([SAMPLES / "bad_images"])
    names = {Path(f["path"]).name for f in bad.failed}
    assert {"empty_file.png", "empty_image.png", "empty_image.jpg"} <= names
    assert bad.imported + bad.duplicates == 1  # text_after_idat.png still has its parameters


def test_a_comfyui_image_with_two_samplers_gives_two_entries_sharing_the_image(lib: Library, tmp_path: Path) -> None:
    import json

    from tests.metadata.test_comfyui import basic_graph, node

    graph = basic_graph()
    graph["20"] = node("CLIPTextEncode", text="a castle at dusk", clip=["4", 1])
    graph["2"] = node("KSampler", seed=7, steps=10, cfg=5, sampler_name="euler", scheduler="normal", denoise=0.5,
                      model=["4", 0], positive=["20", 0], negative=["7", 0], latent_image=["5", 0])  # fmt: skip
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(graph))
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (5, 6, 7)).save(buffer, "PNG", pnginfo=info)
    (tmp_path / "ComfyUI_00001_.png").write_bytes(buffer.getvalue())
    summary = lib.import_paths([tmp_path / "ComfyUI_00001_.png"])
    assert summary.imported == 2 and summary.images_imported == 2
    entries = {e.prompt: lib.get(e.id) for e in lib.entries()}
    fox, castle = entries["a red fox in snow"], entries["a castle at dusk"]
    assert fox.renders[0].image_sha256 == castle.renders[0].image_sha256
    assert fox.renders[0].recipe["seed"] == 42 and castle.renders[0].recipe["seed"] == 7  # each its own recipe
    assert castle.params["sampler"] == "Euler" and castle.params["schedule"] == "normal"
    assert lib.stats()["images"] == 1


def test_an_image_whose_recipe_is_refused_leaves_no_file_behind(lib: Library, tmp_path: Path) -> None:
    (tmp_path / "huge.png").write_bytes(a1111_png("x" * 150_000 + "\nSteps: 20, Seed: 1", color=(9, 9, 9)))
    (tmp_path / "fine.png").write_bytes(a1111_png())
    summary = lib.import_paths([tmp_path])
    assert summary.imported == 1 and any("huge.png" in w for w in summary.warnings)
    assert len(lib.images.iter_files()) == 1  # only the image that became a render was stored
    assert lib.doctor() == []
