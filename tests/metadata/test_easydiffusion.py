"""Easy Diffusion: one PNG chunk per field (str() of the value) or the same fields as JSON in EXIF."""

from __future__ import annotations

import json

import pytest

from promptlib.errors import FormatError
from promptlib.metadata.chunks import ImageChunks
from promptlib.metadata.easydiffusion import is_easydiffusion, parse_easydiffusion, read

PNG_FIELDS = {
    "prompt": "a mountain lake, golden hour",
    "negative_prompt": "people",
    "seed": "1234",
    "use_stable_diffusion_model": "sd-v1-5/realisticVision.safetensors",
    "clip_skip": "True",
    "use_vae_model": "vae-ft-mse-840000-ema-pruned",
    "sampler_name": "euler_a",
    "width": "768",
    "height": "512",
    "num_inference_steps": "25",
    "guidance_scale": "7.5",
    "use_lora_model": "['add_detail', 'film']",
    "lora_alpha": "[0.5, 0.8]",
    "use_face_correction": "GFPGANv1.4",
    "use_upscale": "None",
    "tiling": "None",
}


def test_png_fields() -> None:
    (recipe,) = read(ImageChunks("e.png", "PNG", 768, 512, text=PNG_FIELDS))
    assert recipe.generator == "easydiffusion"
    assert (recipe.prompt, recipe.negative_prompt, recipe.seed) == ("a mountain lake, golden hour", "people", 1234)
    assert (recipe.steps, recipe.cfg_scale, recipe.width, recipe.height) == (25, 7.5, 768, 512)
    assert (recipe.sampler, recipe.model, recipe.clip_skip) == ("Euler a", "realisticVision", 2)
    assert recipe.vae == "vae-ft-mse-840000-ema-pruned"
    assert [(lora.name, lora.weight) for lora in recipe.loras] == [("add_detail", 0.5), ("film", 0.8)]
    assert recipe.extra["use_face_correction"] == "GFPGANv1.4"
    assert "use_upscale" not in recipe.extra  # "None" means unset


def test_exif_json_and_txt_labels() -> None:
    data = {
        "prompt": "a cat",
        "seed": 5,
        "num_inference_steps": 20,
        "guidance_scale": 7,
        "sampler_name": "dpmpp_2m",
        "use_lora_model": "one",
        "lora_alpha": 0.4,
        "clip_skip": False,
    }
    comment = json.dumps(data)
    (recipe,) = read(ImageChunks("e.jpg", "JPEG", 1, 1, exif={"UserComment": comment}))
    assert (recipe.seed, recipe.sampler, recipe.clip_skip, recipe.raw) == (5, "DPM++ 2M", None, comment)
    assert recipe.loras[0].weight == 0.4
    labels = {"Prompt": "a dog", "Seed": "7", "Steps": "30", "Guidance Scale": "6", "Sampler": "ddim"}
    assert parse_easydiffusion(labels).steps == 30


def test_detection_and_errors() -> None:
    assert not is_easydiffusion({"prompt": '{"3": {}}', "workflow": "{}"})
    assert read(ImageChunks("c.png", "PNG", 1, 1, text={"prompt": "x"})) == []
    with pytest.raises(FormatError):
        parse_easydiffusion({"prompt": "x"})
    with pytest.raises(FormatError):
        parse_easydiffusion("[1, 2]")


def test_txt_labels_join_lists_with_commas() -> None:
    # "embed,txt" metadata: labels as keys, lists joined with ", " (save_utils.format_value)
    fields = {"Prompt": "a cat", "Seed": "42", "Stable Diffusion model": "sd-v1-5", "Sampler": "euler_a", "Steps": "25",
              "Guidance Scale": "7.5", "LoRA model": "lora_one, lora_two", "LoRA Strength": "0.5, 0.8"}  # fmt: skip
    recipe = parse_easydiffusion(fields)
    assert [(lora.name, lora.weight) for lora in recipe.loras] == [("lora_one", 0.5), ("lora_two", 0.8)]
