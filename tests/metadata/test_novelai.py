"""NovelAI: PNG chunks (Description/Software/Source/Comment) and the stealth JSON variant."""

from __future__ import annotations

import json

import pytest

from promptlib.errors import FormatError
from promptlib.metadata.chunks import ImageChunks
from promptlib.metadata.novelai import parse_novelai, read

COMMENT = {
    "prompt": "1girl, masterpiece",
    "steps": 28,
    "height": 1216,
    "width": 832,
    "scale": 5.0,
    "uc": "lowres, bad anatomy",
    "seed": 3377,
    "sampler": "k_euler_ancestral",
    "noise_schedule": "karras",
    "sm": False,
    "cfg_rescale": 0,
    "n_samples": 1,
}


def test_png_chunks() -> None:
    chunks = ImageChunks(
        "n.png",
        "PNG",
        832,
        1216,
        text={
            "Title": "AI generated image",
            "Description": "1girl, masterpiece",
            "Software": "NovelAI",
            "Source": "Stable Diffusion XL C1E1DE52",
            "Generation time": "5.2",
            "Comment": json.dumps(COMMENT),
        },
    )
    (recipe,) = read(chunks)
    assert recipe.generator == "novelai"
    assert (recipe.prompt, recipe.negative_prompt) == ("1girl, masterpiece", "lowres, bad anatomy")
    assert (recipe.steps, recipe.cfg_scale, recipe.seed, recipe.width, recipe.height) == (28, 5.0, 3377, 832, 1216)
    assert (recipe.sampler, recipe.schedule) == ("Euler a", "karras")
    assert (recipe.model, recipe.model_hash) == ("Stable Diffusion XL", "C1E1DE52")
    assert recipe.extra["sm"] is False and recipe.extra["Software"] == "NovelAI"
    assert json.loads(recipe.raw or "")["Source"] == "Stable Diffusion XL C1E1DE52"


def test_old_comment_without_prompt_uses_description_and_v4_captions() -> None:
    old = {key: value for key, value in COMMENT.items() if key != "prompt"}
    chunks = ImageChunks(
        "n.png", "PNG", 1, 1, text={"Description": "a cat", "Software": "NovelAI", "Comment": json.dumps(old)}
    )
    assert read(chunks)[0].prompt == "a cat"
    v4 = dict(
        old,
        uc="",
        v4_prompt={"caption": {"base_caption": "v4 prompt", "char_captions": []}},
        v4_negative_prompt={"caption": {"base_caption": "v4 negative"}},
    )
    recipe = parse_novelai(json.dumps(v4))
    assert (recipe.prompt, recipe.negative_prompt) == ("v4 prompt", "v4 negative")


def test_stealth_json() -> None:
    payload = json.dumps(
        {"Description": "a fox", "Software": "NovelAI", "Source": "NovelAI Diffusion V4 4F49EC75", "Comment": COMMENT}
    )
    (recipe,) = read(ImageChunks("n.png", "PNG", 1, 1, stealth=payload))
    assert recipe.prompt == "1girl, masterpiece" and recipe.model == "NovelAI Diffusion V4" and recipe.raw == payload


def test_unclaimed_and_bad() -> None:
    assert read(ImageChunks("x.png", "PNG", 1, 1, text={"Comment": "just a comment"})) == []
    assert read(ImageChunks("x.png", "PNG", 1, 1, stealth="a1111 text\nSteps: 1")) == []
    with pytest.raises(FormatError):
        read(ImageChunks("x.png", "PNG", 1, 1, text={"Software": "NovelAI", "Comment": "[1]"}))
    with pytest.raises(FormatError):
        parse_novelai('{"Comment": 5}')
