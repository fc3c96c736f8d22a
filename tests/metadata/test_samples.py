"""Every real sample image in shared/fixtures/metadata/sd-parsers, with values checked against its chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptlib.errors import FormatError
from promptlib.metadata import read_image


def test_a1111_png(samples: Path) -> None:
    meta = read_image(samples / "parsers/AUTOMATIC1111/automatic1111_cropped.png")
    assert meta.generator == "a1111" and meta.format == "PNG" and len(meta.recipes) == 1
    recipe = meta.recipes[0]
    assert (recipe.prompt, recipe.negative_prompt) == ("photo of a duck", "monochrome")
    assert (recipe.steps, recipe.sampler, recipe.cfg_scale, recipe.seed) == (15, "UniPC", 5.0, 235284042)
    assert (recipe.width, recipe.height) == (512, 400)
    assert (recipe.model, recipe.model_hash) == ("realistic_realisticVisionV20_v20", "c0d1994c73")
    assert recipe.raw is not None and recipe.raw.startswith("photo of a duck\nNegative prompt: monochrome\nSteps: 15")


def test_a1111_jpeg_user_comment(samples: Path) -> None:
    meta = read_image(samples / "parsers/AUTOMATIC1111/automatic1111_cropped.jpg")
    assert meta.generator == "a1111" and meta.format == "JPEG"
    recipe = meta.recipes[0]
    assert (recipe.prompt, recipe.seed, recipe.sampler, recipe.model) == (
        "photo of a duck",
        235284042,
        "UniPC",
        "realistic_realisticVisionV20_v20",
    )


def test_a1111_stealth(samples: Path) -> None:
    meta = read_image(samples / "parsers/AUTOMATIC1111/automatic1111_stealth.png")
    assert meta.chunks.text == {} and meta.chunks.stealth is not None
    recipe = meta.recipes[0]
    assert (recipe.prompt, recipe.negative_prompt) == ("a circle", "a square")
    assert (recipe.steps, recipe.sampler, recipe.schedule, recipe.cfg_scale) == (20, "Euler", None, 7.0)
    assert (recipe.seed, recipe.width, recipe.height, recipe.clip_skip) == (2015833630, 64, 64, 2)
    assert (recipe.model, recipe.model_hash) == ("realisticVisionV51_v51VAE", "15012c538f")
    assert recipe.extra == {"Version": "v1.9.4-169-ga30b19dd"}


def test_comfyui_img2img(samples: Path) -> None:
    meta = read_image(samples / "parsers/ComfyUI/img2img_cropped.png")
    assert meta.generator == "comfyui"
    (recipe,) = meta.recipes
    assert recipe.prompt == "photograph of victorian woman with wings, sky clouds, meadow grass"
    assert recipe.negative_prompt == "watermark, text"
    assert (recipe.seed, recipe.steps, recipe.cfg_scale) == (280823642470253, 20, 8.0)
    assert (recipe.sampler, recipe.schedule) == ("DPM++ 2M", "normal")  # "sample_dpmpp_2m" in this old file
    assert recipe.model == "v1-5-pruned-emaonly" and recipe.extra["denoise"] == pytest.approx(0.87)
    assert recipe.width is None  # img2img from a loaded image: no latent size in the graph


def test_comfyui_area_composition_two_passes(samples: Path) -> None:
    first, second = read_image(samples / "parsers/ComfyUI/night_evening_day_morning_cropped.png").recipes
    assert first.prompt.startswith("(best quality) (night:1.3)")
    assert "(masterpiece) (best quality) morning sky" in first.prompt
    assert first.negative_prompt.startswith("(hands), text, error, cropped")
    assert (first.seed, first.steps, first.cfg_scale, first.sampler) == (335608130539327, 13, 8.5, "DPM++ SDE")
    assert (first.width, first.height, first.clip_skip) == (704, 1280, 2)
    assert (first.model, first.vae) == ("Anything-V3.0", "vae-ft-mse-840000-ema-pruned.safetensors")
    assert second.prompt.startswith("(best quality) beautiful (HDR:1.2) (realistic:1.2) landscape")
    assert (second.seed, second.steps, second.sampler, second.schedule) == (1122440447966177, 14, "DPM++ 2M", "simple")
    assert (second.width, second.height, second.model) == (1088, 1920, "AbyssOrangeMix2_hard")


def test_comfyui_noisy_latents_six_samplers(samples: Path) -> None:
    recipes = read_image(samples / "parsers/ComfyUI/noisy_latents_3_subjects_cropped.png").recipes
    assert [recipe.seed for recipe in recipes] == [
        890421140397575,
        512136241112371,
        474977904562281,
        200072334202574,
        0,
        1084614416978598,
    ]
    assert recipes[0].prompt.startswith("(solo) girl (flat chest:0.9)")
    assert recipes[0].extra["class_type"] == "KSamplerAdvanced"
    assert (recipes[4].sampler, recipes[4].cfg_scale) == ("UniPC", 6.5)
    assert (recipes[5].steps, recipes[5].width, recipes[5].height) == (9, 1920, 1088)


def test_comfyui_unclip(samples: Path) -> None:
    first, second = read_image(samples / "parsers/ComfyUI/unclip_2pass_cropped.png").recipes
    assert first.prompt.startswith("(waifu, anime, exceptional, best aesthetic")
    assert (first.seed, first.steps, first.sampler) == (1106257833005336, 26, "UniPC")
    assert (first.model, first.vae) == ("wd-1-5-beta2-aesthetic-unclip-h-fp32", "kl-f8-anime2.ckpt")
    assert (second.prompt, second.seed, second.model) == (
        "beautiful scenery landscape outdoors mountains",
        119080905858220,
        "cardosAnimated_v20",
    )


def test_comfyui_workflow_agrees_with_prompt(samples: Path) -> None:
    from promptlib.metadata.comfyui import parse_prompt_graph, parse_workflow

    for path in sorted((samples / "parsers/ComfyUI").glob("*.png")):
        chunks = read_image(path).chunks
        from_prompt = parse_prompt_graph(chunks.text["prompt"])
        from_workflow = parse_workflow(chunks.text["workflow"])
        fields = ("prompt", "negative_prompt", "seed", "steps", "cfg_scale", "sampler", "width", "height", "model")
        assert [[getattr(r, f) for f in fields] for r in from_prompt] == [
            [getattr(r, f) for f in fields] for r in from_workflow
        ], path.name


def test_fooocus(samples: Path) -> None:
    meta = read_image(samples / "parsers/Fooocus/fooocus1_cropped.png")
    assert meta.generator == "fooocus"
    (recipe,) = meta.recipes
    assert (recipe.prompt, recipe.negative_prompt) == ("a smiling goldfish", "")
    assert (recipe.seed, recipe.steps, recipe.cfg_scale) == (6952411511246973023, 30, 4.0)
    assert (recipe.sampler, recipe.schedule, recipe.clip_skip) == ("DPM++ 2M SDE", "karras", 2)
    assert (recipe.width, recipe.height) == (768, 1280)
    assert (recipe.model, recipe.model_hash, recipe.vae) == ("juggernautXL_v8Rundiffusion", "aeb7e9e689", None)
    assert recipe.extra["full_prompt"][0].startswith("cinematic still a smiling goldfish")


def test_invokeai_dream(samples: Path) -> None:
    (recipe,) = read_image(samples / "parsers/InvokeAI/invokeai_dream1.png").recipes
    assert recipe.generator == "invokeai"
    assert recipe.prompt.startswith("professional full body photo of young woman")
    assert recipe.prompt.endswith("film grain, low contrast")
    assert recipe.negative_prompt == "rendering, glowing eyes, skinny"
    assert (recipe.steps, recipe.seed, recipe.width, recipe.height) == (50, 2980747362, 512, 768)
    assert (recipe.cfg_scale, recipe.sampler) == (5.0, "LMS")
    assert recipe.extra["upscale"] == [4, 0.95]


def test_invokeai_sd_metadata(samples: Path) -> None:
    (recipe,) = read_image(samples / "parsers/InvokeAI/invokeai_sdmeta1.png").recipes
    assert recipe.negative_prompt == "rendering, glowing eyes, skinny"
    assert (recipe.model, recipe.seed, recipe.steps, recipe.sampler) == (
        "deliberateForInvoke_v08",
        2980747362,
        50,
        "LMS",
    )
    assert recipe.model_hash is not None and recipe.model_hash.startswith("56d1442a0fee")
    assert recipe.extra["app_version"] == "2.3.0"


def test_invokeai_metadata(samples: Path) -> None:
    (recipe,) = read_image(samples / "parsers/InvokeAI/invokeai_imeta1.png").recipes
    assert recipe.prompt == "digital artwork, oil painting. painterly brushstrokes, holidays,"
    assert recipe.negative_prompt.startswith("grainy+, photo, oversaturated")
    assert (recipe.seed, recipe.steps, recipe.cfg_scale, recipe.sampler) == (3293022630, 35, 8.0, "Euler")
    assert (recipe.width, recipe.height, recipe.model, recipe.vae) == (1024, 1024, "juggernautXL", "VAEFix")
    assert recipe.extra["generation_mode"] == "sdxl_txt2img"


def test_novelai(samples: Path) -> None:
    (recipe,) = read_image(samples / "parsers/NovelAI/novelai1_cropped.png").recipes
    assert recipe.generator == "novelai"
    assert recipe.prompt == "masterpiece, best quality,  cat, space, icon"
    assert recipe.negative_prompt.startswith("lowres, bad anatomy, bad hands")
    assert (recipe.steps, recipe.cfg_scale, recipe.seed, recipe.sampler) == (50, 10.0, 2253955223, "Euler a")
    assert (recipe.model, recipe.model_hash) == ("Stable Diffusion", "1D44365E")
    assert recipe.extra["strength"] == 0.4


def test_bad_images(samples: Path) -> None:
    bad = samples / "bad_images"
    with pytest.raises(FormatError, match=r"empty_file\.png"):
        read_image(bad / "empty_file.png")
    for name in ("empty_image.png", "empty_image.jpg"):
        meta = read_image(bad / name)
        assert meta.recipes == [] and meta.generator is None and (meta.width, meta.height) == (1, 1)
    meta = read_image(bad / "text_after_idat.png")
    assert meta.generator == "a1111"
    assert (meta.recipes[0].prompt, meta.recipes[0].seed) == ("photo of a duck", 235284042)


def test_every_sample_reads_without_surprises(samples: Path) -> None:
    for path in sorted(samples.rglob("*")):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
            continue
        try:
            meta = read_image(path)
        except FormatError:
            assert path.stat().st_size == 0
            continue
        for recipe in meta.recipes:
            assert recipe.generator == meta.generator and recipe.raw
