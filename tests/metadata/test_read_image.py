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


def test_a1111_and_novelai_stealth_in_lossless_webp(img: Any) -> None:
    import json

    pixels = img.stealth_pixels(INFOTEXT, 64, 64, compressed=True)
    meta = read_image(img.webp(pixels, 64, 64))
    assert (meta.format, meta.generator, meta.recipes[0].negative_prompt) == ("WEBP", "a1111", "dog")
    comment = {"prompt": "a fox", "uc": "blurry", "scale": 5, "sampler": "k_euler", "steps": 28}
    hidden = json.dumps({"Software": "NovelAI", "Comment": json.dumps(comment)})
    meta = read_image(img.webp(img.stealth_pixels(hidden, 64, 64, compressed=True), 64, 64))
    assert (meta.generator, meta.recipes[0].prompt, meta.recipes[0].steps) == ("novelai", "a fox", 28)


def test_a_photos_user_comment_is_no_prompt(img: Any) -> None:
    """A camera's or photo editor's caption in UserComment is not A1111 infotext: A1111 always writes its parameters
    line there (or at least a negative prompt)."""
    caption = img.jpeg_with_exif({0x9286: b"ASCII\0\0\0" + b"Sunset over the harbour, Lisbon 2019"})
    assert read_image(caption).recipes == []
    negative_only = img.jpeg_with_exif({0x9286: b"UNICODE\0" + "a cat\nNegative prompt: dog".encode("utf-16-be")})
    assert read_image(negative_only).recipes[0].negative_prompt == "dog"


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


# --- real-world variants, written into image files as each tool writes them ---------------------------------


def _png_with_text(**chunks: str) -> bytes:
    import io

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key.replace("_dash_", "-"), value)  # add_text writes iTXt for non-latin-1 text, as A1111 does
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _exif_image(fmt: str, *, user_comment: bytes | str, maker_note: str | None = None, ifd0: bool = False) -> bytes:
    import io

    from PIL import Image

    exif = Image.Exif()
    target = exif if ifd0 else exif.get_ifd(0x8769)
    target[0x9286] = user_comment
    if maker_note is not None:
        target[0x927C] = maker_note
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, fmt, exif=exif)
    return buf.getvalue()


SDXL_REFINER = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "12": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_refiner_1.0.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncodeSDXL", "inputs": {"text_g": "a cat", "text_l": "a cat", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncodeSDXL", "inputs": {"text_g": "blurry", "text_l": "", "clip": ["4", 1]}},
    "15": {"class_type": "CLIPTextEncodeSDXLRefiner", "inputs": {"ascore": 6, "text": "a cat", "clip": ["12", 1]}},
    "16": {"class_type": "CLIPTextEncodeSDXLRefiner", "inputs": {"ascore": 2.5, "text": "blurry", "clip": ["12", 1]}},
    "10": {
        "class_type": "KSamplerAdvanced",
        "inputs": {
            "add_noise": "enable",
            "noise_seed": 721897303308196,
            "steps": 25,
            "cfg": 8,
            "sampler_name": "dpmpp_2m",
            "scheduler": "karras",
            "start_at_step": 0,
            "end_at_step": 20,
            "return_with_leftover_noise": "enable",
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "11": {
        "class_type": "KSamplerAdvanced",
        "inputs": {
            "add_noise": "disable",
            "noise_seed": 0,
            "steps": 25,
            "cfg": 8,
            "sampler_name": "dpmpp_2m",
            "scheduler": "karras",
            "start_at_step": 20,
            "end_at_step": 10000,
            "return_with_leftover_noise": "disable",
            "model": ["12", 0],
            "positive": ["15", 0],
            "negative": ["16", 0],
            "latent_image": ["10", 0],
        },
    },
    "17": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["12", 2]}},
}
NOVELAI_V4 = {
    "prompt": "1girl, solo, lighthouse",
    "steps": 28,
    "height": 1216,
    "width": 832,
    "scale": 5,
    "seed": 123456789,
    "noise_schedule": "karras",
    "sampler": "k_euler_ancestral",
    "v4_prompt": {"caption": {"base_caption": "1girl, solo, lighthouse", "char_captions": []}, "use_order": True},
    "v4_negative_prompt": {"caption": {"base_caption": "lowres", "char_captions": []}},
    "uc": "lowres",
}
INVOKE_V5 = {
    "generation_mode": "sdxl_txt2img",
    "positive_prompt": "a barn",
    "negative_prompt": "people",
    "width": 1024,
    "height": 832,
    "seed": 42,
    "cfg_scale": 6.5,
    "steps": 30,
    "scheduler": "dpmpp_3m_k",
    "model": {"key": "k", "hash": "blake3:aa", "name": "Juggernaut XL v9", "base": "sdxl", "type": "main"},
    "loras": [{"model": {"key": "l", "hash": "blake3:bb", "name": "detail", "base": "sdxl"}, "weight": 0.75}],
}
FOOOCUS_A1111 = (
    "a cat, cinematic\nNegative prompt: blurry, lowres\nSteps: 30, Sampler: DPM++ 2M SDE, Seed: 9, Size: 1152x896, "
    "CFG scale: 4, Model: juggernautXL_v8Rundiffusion, Scheduler: exponential, Raw prompt: a cat, "
    "Raw negative prompt: , Version: Fooocus v2.5.5"
)
A1111_FULL = (
    "masterpiece, a fox\nin the snow <lora:detail:0.6>\nNegative prompt: blurry, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, Size: 512x768, "
    "Model hash: abcdef1234, Model: anything_v5, Denoising strength: 0.5, Clip skip: 2, Hires upscale: 2, "
    'Hires upscaler: R-ESRGAN 4x+, Lora hashes: "detail: 0123abcd", TI hashes: "easyneg: 1234abcd", '
    "Version: v1.10.1"
)


@pytest.mark.parametrize(
    ("data", "generator", "expected"),
    [
        pytest.param(
            _exif_image("JPEG", user_comment=b"UNICODE\0" + A1111_FULL.encode("utf-16-be")),
            "a1111",
            {"prompt": "masterpiece, a fox\nin the snow <lora:detail:0.6>", "negative_prompt": "blurry, lowres",
             "seed": 1234, "steps": 28, "sampler": "DPM++ 2M", "schedule": "karras", "cfg_scale": 6.5,
             "width": 512, "height": 768, "model": "anything_v5", "clip_skip": 2},
            id="a1111-jpeg-piexif-utf16be",
        ),
        pytest.param(
            _exif_image("WEBP", user_comment=b"UNICODE\0" + A1111_FULL.encode("utf-16-le")),
            "a1111",
            {"seed": 1234, "steps": 28, "model": "anything_v5"},
            id="a1111-webp-utf16le",
        ),
        pytest.param(
            _png_with_text(prompt=json.dumps(SDXL_REFINER)),
            "comfyui",
            {"prompt": "a cat", "negative_prompt": "blurry", "seed": 721897303308196, "steps": 25,
             "sampler": "DPM++ 2M", "schedule": "karras", "cfg_scale": 8.0, "width": 1024, "height": 1024,
             "model": "sd_xl_base_1.0"},
            id="comfyui-sdxl-base-and-refiner",
        ),
        pytest.param(
            _png_with_text(
                Title="NovelAI generated image", Description="1girl, solo, lighthouse", Software="NovelAI",
                Source="NovelAI Diffusion V4.5 4BDE2A90", Comment=json.dumps(NOVELAI_V4),
            ),
            "novelai",
            {"prompt": "1girl, solo, lighthouse", "negative_prompt": "lowres", "seed": 123456789, "steps": 28,
             "sampler": "Euler a", "cfg_scale": 5.0, "width": 832, "height": 1216,
             "model": "NovelAI Diffusion V4.5", "model_hash": "4BDE2A90"},
            id="novelai-v4",
        ),
        pytest.param(
            _png_with_text(invokeai_metadata=json.dumps(INVOKE_V5)),
            "invokeai",
            {"prompt": "a barn", "negative_prompt": "people", "seed": 42, "steps": 30, "sampler": "DPM++ 3M",
             "schedule": "karras", "cfg_scale": 6.5, "width": 1024, "height": 832, "model": "Juggernaut XL v9"},
            id="invokeai-v5-metadata",
        ),
        pytest.param(
            _png_with_text(Dream='"a sign that says "open" [blurry]" -s 30 -S 7 -W 512 -H 512 -C 7.5 -m k_euler_a'),
            "invokeai",
            {"prompt": 'a sign that says "open"', "negative_prompt": "blurry", "seed": 7, "steps": 30,
             "sampler": "Euler a", "cfg_scale": 7.5, "width": 512},
            id="invokeai-1x-dream-unescaped-quotes",
        ),
        pytest.param(
            _exif_image("WEBP", user_comment=FOOOCUS_A1111, maker_note="a1111", ifd0=True),
            "fooocus",
            {"prompt": "a cat", "negative_prompt": "", "seed": 9, "steps": 30, "sampler": "DPM++ 2M SDE",
             "schedule": "exponential", "cfg_scale": 4.0, "width": 1152, "model": "juggernautXL_v8Rundiffusion"},
            id="fooocus-webp-a1111-scheme",
        ),
    ],
)  # fmt: skip
def test_real_world_variants_through_image_files(data: bytes, generator: str, expected: dict[str, Any]) -> None:
    meta = read_image(data)
    assert meta.generator == generator
    recipe = meta.recipes[0]
    assert {key: getattr(recipe, key) for key in expected} == expected
