"""SwarmUI: sui_image_params JSON in the parameters chunk or EXIF UserComment."""

from __future__ import annotations

import json

import pytest

from promptlib.errors import FormatError
from promptlib.metadata.chunks import ImageChunks
from promptlib.metadata.swarmui import parse_swarmui, read

DATA = {
    "sui_image_params": {
        "prompt": "a 25 year old woman, portrait",
        "negativeprompt": "blurry",
        "model": "Flux/flux1-dev-fp8",
        "seed": 1970900528,
        "steps": 25,
        "cfgscale": 1.0,
        "aspectratio": "Custom",
        "width": 512,
        "height": 768,
        "sampler": "euler",
        "scheduler": "normal",
        "vae": "ae.sft",
        "clipstopatlayer": -2,
        "loras": ["detail", "film"],
        "loraweights": ["0.8", "1"],
        "swarm_version": "0.9.1.1",
    },
    "sui_models": [
        {"name": "Flux/flux1-dev-fp8.safetensors", "param": "model", "hash": "0xabc"},
        {"name": "detail.safetensors", "param": "loras", "hash": "0xdef"},
    ],
}


def test_swarm_params() -> None:
    recipe = parse_swarmui(json.dumps(DATA))
    assert recipe.generator == "swarmui"
    assert (recipe.prompt, recipe.negative_prompt, recipe.seed, recipe.steps) == (
        "a 25 year old woman, portrait",
        "blurry",
        1970900528,
        25,
    )
    assert (recipe.cfg_scale, recipe.width, recipe.height, recipe.clip_skip) == (1.0, 512, 768, 2)
    assert (recipe.sampler, recipe.schedule, recipe.vae) == ("Euler", "normal", "ae.sft")
    assert (recipe.model, recipe.model_hash) == ("flux1-dev-fp8", "0xabc")
    assert [(lora.name, lora.weight, lora.hash) for lora in recipe.loras] == [
        ("detail", 0.8, "0xdef"),
        ("film", 1.0, None),
    ]
    assert recipe.extra["swarm_version"] == "0.9.1.1"


def test_read_png_and_jpeg() -> None:
    text = json.dumps(DATA)
    assert read(ImageChunks("s.png", "PNG", 1, 1, text={"parameters": text}))[0].seed == 1970900528
    assert read(ImageChunks("s.jpg", "JPEG", 1, 1, exif={"UserComment": text}))[0].steps == 25
    assert read(ImageChunks("a.png", "PNG", 1, 1, text={"parameters": "a\nSteps: 1"})) == []


@pytest.mark.parametrize("text", ['{"sui_image_params": 5}', "[]", "{"])
def test_bad(text: str) -> None:
    with pytest.raises(FormatError):
        parse_swarmui(text)


def test_lora_lists_as_comma_separated_strings() -> None:
    # "List-values will either be JSON lists, or comma separated list strings" (docs/Image Metadata Format.md)
    data = {"sui_image_params": {"prompt": "a cat", "model": "sd_xl_base_1.0", "seed": 1, "steps": 20,
            "loras": "arcane_style,detail-tweaker", "loraweights": "0.8,0.5"}}  # fmt: skip
    recipe = parse_swarmui(json.dumps(data))
    assert [(lora.name, lora.weight) for lora in recipe.loras] == [("arcane_style", 0.8), ("detail-tweaker", 0.5)]


def test_one_lora_weight_as_a_bare_number() -> None:
    data = {"sui_image_params": {"prompt": "a cat", "model": "m", "seed": 1, "steps": 20, "loras": ["arcane"],
            "loraweights": 0.5}}  # fmt: skip
    assert [(lora.name, lora.weight) for lora in parse_swarmui(json.dumps(data)).loras] == [("arcane", 0.5)]
