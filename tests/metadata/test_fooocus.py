"""Fooocus: the JSON scheme (PNG chunk or EXIF) and the A1111-style scheme."""

from __future__ import annotations

import json

import pytest

from promptlib.errors import FormatError
from promptlib.metadata.chunks import ImageChunks
from promptlib.metadata.fooocus import is_fooocus_json, parse_a1111_scheme, parse_fooocus, read

SCHEME = {
    "prompt": "a smiling goldfish",
    "negative_prompt": "ugly",
    "full_prompt": ["cinematic still a smiling goldfish"],
    "full_negative_prompt": ["ugly, blurry"],
    "styles": "['Fooocus V2']",
    "performance": "Speed",
    "steps": 30,
    "resolution": "(896, 1152)",
    "guidance_scale": 4,
    "sharpness": 2,
    "sampler": "dpmpp_2m_sde_gpu",
    "scheduler": "karras",
    "base_model": "juggernautXL_v8Rundiffusion",
    "base_model_hash": "aeb7e9e689",
    "refiner_model": "None",
    "vae": "Default (model)",
    "clip_skip": 2,
    "loras": [["sd_xl_offset_example-lora_1.0", 0.1, "4852686128"]],
    "lora_combined_2": "models/loras/extra.safetensors : 0.5",
    "seed": "6952411511246973023",
    "version": "Fooocus v2.4.3",
    "metadata_scheme": "fooocus",
}


def test_json_scheme() -> None:
    recipe = parse_fooocus(json.dumps(SCHEME))
    assert recipe.generator == "fooocus"
    assert (recipe.prompt, recipe.negative_prompt) == ("a smiling goldfish", "ugly")
    assert (recipe.seed, recipe.steps, recipe.cfg_scale, recipe.clip_skip) == (6952411511246973023, 30, 4.0, 2)
    assert (recipe.sampler, recipe.schedule, recipe.width, recipe.height) == ("DPM++ 2M SDE", "karras", 896, 1152)
    assert (recipe.model, recipe.model_hash, recipe.vae) == ("juggernautXL_v8Rundiffusion", "aeb7e9e689", None)
    assert [(lora.name, lora.weight, lora.hash) for lora in recipe.loras] == [
        ("sd_xl_offset_example-lora_1.0", 0.1, "4852686128"),
        ("extra", 0.5, None),
    ]
    assert recipe.extra["full_prompt"] == ["cinematic still a smiling goldfish"]
    assert recipe.extra["performance"] == "Speed"


def test_detection() -> None:
    assert is_fooocus_json(SCHEME)
    assert is_fooocus_json({"version": "Fooocus v2.1", "prompt": "x"})
    assert not is_fooocus_json({"sui_image_params": {}})
    assert not is_fooocus_json([1])


A1111_SCHEME = (
    "cinematic still a goldfish\nNegative prompt: ugly\n"
    "Steps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 123, Size: 896x1152, CFG scale: 4, Sharpness: 2, "
    "Model: juggernautXL, Model hash: aeb7e9e689, Performance: Speed, VAE: Default (model), "
    'Lora hashes: "offset: 4852686128", Lora weights: "offset: 0.1", Version: Fooocus v2.4.3'
)


def test_a1111_scheme() -> None:
    recipe = parse_a1111_scheme(A1111_SCHEME)
    assert recipe.generator == "fooocus"
    assert (recipe.sampler, recipe.schedule, recipe.seed, recipe.vae) == ("DPM++ 2M SDE", "karras", 123, None)
    assert [(lora.name, lora.weight, lora.hash) for lora in recipe.loras] == [("offset", 0.1, "4852686128")]
    assert "Lora weights" not in recipe.extra and "Lora hashes" not in recipe.extra


def test_read_png_jpeg_and_unclaimed() -> None:
    png = ImageChunks("f.png", "PNG", 1, 1, text={"parameters": json.dumps(SCHEME), "fooocus_scheme": "fooocus"})
    assert read(png)[0].seed == 6952411511246973023
    jpeg = ImageChunks("f.jpg", "JPEG", 1, 1, exif={"UserComment": A1111_SCHEME, "MakerNote": "a1111"})
    assert read(jpeg)[0].generator == "fooocus"
    no_scheme = ImageChunks("f.png", "PNG", 1, 1, text={"parameters": A1111_SCHEME})
    assert read(no_scheme)[0].generator == "fooocus"  # recognised by "Version: Fooocus"
    plain = ImageChunks("a.png", "PNG", 1, 1, text={"parameters": "x\nSteps: 1, Seed: 1, Sampler: Euler"})
    assert read(plain) == []
    swarm = ImageChunks("s.png", "PNG", 1, 1, text={"parameters": '{"sui_image_params": {"prompt": "x"}}'})
    assert read(swarm) == []


def test_bad_json_with_scheme_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        read(ImageChunks("f.png", "PNG", 1, 1, text={"parameters": "{oops", "fooocus_scheme": "fooocus"}))


def test_a1111_scheme_takes_the_raw_prompts_like_the_json_scheme() -> None:
    # Fooocus's A1111 scheme writes the style-expanded prompt on the prompt lines; what the user typed is in
    # "Raw prompt" / "Raw negative prompt" (modules/meta_parser.py), as "prompt" is in the JSON scheme.
    text = (
        "a cat, cinematic, highly detailed\nNegative prompt: ugly, lowres\n"
        "Steps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 123, Size: 1152x896, CFG scale: 4, "
        'Raw prompt: "a cat, fluffy", Raw negative prompt: ugly, Version: Fooocus v2.5.5'
    )
    recipe = parse_a1111_scheme(text)
    assert (recipe.prompt, recipe.negative_prompt) == ("a cat, fluffy", "ugly")
    assert recipe.extra["full_prompt"] == "a cat, cinematic, highly detailed"
    assert recipe.extra["full_negative_prompt"] == "ugly, lowres"
    assert "Raw prompt" not in recipe.extra and recipe.steps == 30


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_jpeg_and_webp_with_the_parameters_in_ifd0_as_fooocus_writes_them(fmt: str) -> None:
    import io

    from PIL import Image

    from promptlib.metadata import read_image

    exif = Image.Exif()
    exif[0x9286] = json.dumps(SCHEME)  # Fooocus: exif[0x9286] = metadata, exif[0x927C] = scheme, both in IFD0
    exif[0x927C] = "fooocus"
    exif[0x0131] = "Fooocus v2.5.5"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, fmt, exif=exif)
    meta = read_image(buf.getvalue())
    assert meta.generator == "fooocus"
    assert meta.recipes[0].prompt == "a smiling goldfish" and meta.recipes[0].steps == 30


def test_a1111_scheme_reads_the_scheduler_field() -> None:
    # Fooocus folds only "karras" into the sampler name and always writes "Scheduler: <name>" (meta_parser.py).
    text = (
        "a cat\nSteps: 30, Sampler: DPM++ 2M SDE, Seed: 1, Size: 1152x896, CFG scale: 4, "
        "Scheduler: exponential, Version: Fooocus v2.5.5"
    )
    recipe = parse_a1111_scheme(text)
    assert (recipe.sampler, recipe.schedule) == ("DPM++ 2M SDE", "exponential")
    assert "Scheduler" not in recipe.extra
    karras = parse_a1111_scheme(text.replace("DPM++ 2M SDE", "DPM++ 2M SDE Karras").replace("exponential", "karras"))
    assert (karras.sampler, karras.schedule) == ("DPM++ 2M SDE", "karras")


def test_a1111_scheme_empty_raw_negative_prompt_means_the_user_typed_none() -> None:
    # Fooocus writes "Raw negative prompt: " (an empty bare value) when only styles added a negative prompt.
    text = (
        "a cat, cinematic\nNegative prompt: blurry, lowres\n"
        "Steps: 30, Sampler: Euler, Seed: 1, Size: 1024x1024, CFG scale: 4, Raw prompt: a cat, "
        "Raw negative prompt: , Version: Fooocus v2.5.5"
    )
    recipe = parse_a1111_scheme(text)
    assert (recipe.prompt, recipe.negative_prompt) == ("a cat", "")
    assert recipe.extra["full_negative_prompt"] == "blurry, lowres"
    assert "Raw negative prompt" not in recipe.extra
