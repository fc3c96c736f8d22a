"""read_image: detection by content (not extension), empty results, and refusals end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from promptlib.errors import FormatError, UnsafeInputError
from promptlib.metadata import READERS, ImageMetadata, read_image, read_metadata
from promptlib.metadata.chunks import ImageChunks

INFOTEXT = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 9, Size: 512x512"
COMFY = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 1,
            "steps": 20,
            "cfg": 7,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "comfy prompt", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
}


@pytest.mark.parametrize(
    ("chunks", "generator"),
    [
        ({"parameters": INFOTEXT}, "a1111"),
        ({"prompt": json.dumps(COMFY), "workflow": "{}"}, "comfyui"),
        ({"parameters": INFOTEXT, "prompt": json.dumps(COMFY)}, "a1111"),
        ({"parameters": json.dumps({"sui_image_params": {"prompt": "s", "seed": 3}})}, "swarmui"),
        ({"parameters": json.dumps({"prompt": "f", "full_prompt": ["f"], "performance": "Speed"})}, "fooocus"),
        ({"Dream": '"a cat" -S 5'}, "invokeai"),
        ({"Software": "NovelAI", "Comment": json.dumps({"uc": "", "seed": 1, "sampler": "k_euler"})}, "novelai"),
        ({"prompt": "ed prompt", "seed": "3", "num_inference_steps": "20", "guidance_scale": "7"}, "easydiffusion"),
    ],
)
def test_detection_by_content(img: Any, chunks: dict[str, str], generator: str) -> None:
    meta = read_image(img.png_with_text(**chunks), name="anything.jpg")
    assert meta.generator == generator
    assert meta.recipes and all(recipe.generator == generator for recipe in meta.recipes)


def test_drawthings_xmp_in_png(img: Any) -> None:
    xmp = (
        '<x:xmpmeta><rdf:Description exif:UserComment="{&quot;c&quot;: &quot;koi&quot;, &quot;scale&quot;: 5}"/>'
        "<xmp:CreatorTool>Draw Things</xmp:CreatorTool></x:xmpmeta>"
    )
    meta = read_image(img.build_png(before=(img.itxt_chunk("XML:com.adobe.xmp", xmp),)))
    assert meta.generator == "drawthings" and meta.recipes[0].prompt == "koi"


def test_a1111_jpeg_and_stealth(img: Any) -> None:
    jpeg = img.jpeg_with_exif({0x9286: b"UNICODE\0" + INFOTEXT.encode("utf-16-be")})
    assert read_image(jpeg).recipes[0].seed == 9
    pixels = img.stealth_pixels(INFOTEXT, 64, 64, compressed=True)
    meta = read_image(img.build_png(64, 64, color_type=6, pixels=pixels))
    assert (meta.generator, meta.recipes[0].negative_prompt) == ("a1111", "dog")


def test_no_metadata_gives_no_recipes(img: Any) -> None:
    meta = read_image(img.png_with_text(Software="GIMP", Comment="holiday photo"))
    assert isinstance(meta, ImageMetadata)
    assert (meta.recipes, meta.generator, meta.format, meta.width, meta.height) == ([], None, "PNG", 1, 1)


def test_broken_claimed_metadata_raises_with_the_file_name(img: Any) -> None:
    with pytest.raises(FormatError, match=r"x\.png"):
        read_image(img.png_with_text(prompt="{" * 50_000), name="x.png")
    deep = {"3": {"class_type": "KSampler", "inputs": {"x": json.loads("[" * 70 + "]" * 70)}}}
    with pytest.raises(FormatError, match="deeper"):
        read_image(img.png_with_text(prompt=json.dumps(deep)), name="x.png")


def test_a_failed_reader_is_noted_when_another_succeeds(img: Any) -> None:
    meta = read_image(img.png_with_text(invokeai_metadata="{bad", parameters=INFOTEXT))
    assert meta.generator == "a1111"
    assert any(note.startswith("invokeai:") for note in meta.warnings)


def test_hostile_files_raise_only_promptlib_errors(img: Any) -> None:
    valid = img.png_with_text(parameters=INFOTEXT)
    cases = [
        b"",
        b"\x89PNG\r\n\x1a\n",
        valid[:30],
        valid[:-5],
        img.build_png(70_000, 70_000),
        b"\xff\xd8\xff\xe0" + b"\0" * 50,
        b"RIFF\0\0\0\0WEBPVP8 ",
        bytes(range(256)) * 4,
    ]
    for data in cases:
        with pytest.raises((FormatError, UnsafeInputError)):
            read_image(data)


def test_path_and_bytes_agree(tmp_path: Path, img: Any) -> None:
    data = img.png_with_text(parameters=INFOTEXT)
    path = tmp_path / "a.webp"  # the extension lies; content decides
    path.write_bytes(data)
    assert read_image(path).recipes == read_image(data).recipes


def test_read_metadata_on_prebuilt_chunks() -> None:
    meta = read_metadata(ImageChunks("x", "PNG", 8, 8, text={"parameters": INFOTEXT}))
    assert meta.recipes[0].prompt == "a cat"
    assert set(READERS) == {
        "promptlib_chunk",
        "invokeai",
        "swarmui",
        "fooocus",
        "novelai",
        "a1111",
        "comfyui",
        "easydiffusion",
        "drawthings",
    }


def test_import_is_light() -> None:
    code = "import sys, promptlib.metadata; print('PIL' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
