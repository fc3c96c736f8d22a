"""NovelAI: PNG chunks (Description/Software/Source/Comment) and the stealth JSON variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


# --- V4 / V4.5 character prompts ---------------------------------------------------------------------------------

V4_COMMENT = dict(
    COMMENT,
    prompt="2girls, park",
    uc="lowres",
    v4_prompt={
        "caption": {
            "base_caption": "2girls, park",
            "char_captions": [
                {"char_caption": "girl, red hair", "centers": [{"x": 0.3, "y": 0.5}]},
                {"char_caption": "girl, blue hair", "centers": [{"x": 0.7, "y": 0.5}]},
            ],
        },
        "use_coords": True,
        "use_order": True,
    },
    v4_negative_prompt={
        "caption": {
            "base_caption": "lowres",
            "char_captions": [
                {"char_caption": "bad hands", "centers": [{"x": 0.3, "y": 0.5}]},
                {"char_caption": "", "centers": [{"x": 0.7, "y": 0.5}]},
            ],
        },
        "legacy_uc": False,
    },
)


def test_v4_character_captions_join_the_prompts_and_are_kept_structured() -> None:
    recipe = parse_novelai(json.dumps(V4_COMMENT))
    assert recipe.prompt == "2girls, park | girl, red hair | girl, blue hair"
    assert recipe.negative_prompt == "lowres | bad hands"
    assert recipe.extra["characters"] == [
        {"prompt": "girl, red hair", "negative_prompt": "bad hands", "centers": [{"x": 0.3, "y": 0.5}]},
        {"prompt": "girl, blue hair", "negative_prompt": "", "centers": [{"x": 0.7, "y": 0.5}]},
    ]
    assert recipe.extra["v4_prompt"]["use_coords"] is True  # NovelAI's own structure stays verbatim
    assert recipe.extra["v4_negative_prompt"]["legacy_uc"] is False


def test_v4_characters_without_a_prompt_key_and_not_appended_twice() -> None:
    no_prompt = {key: value for key, value in V4_COMMENT.items() if key not in ("prompt", "uc")}
    recipe = parse_novelai(json.dumps(no_prompt))
    assert recipe.prompt.split(" | ") == ["2girls, park", "girl, red hair", "girl, blue hair"]
    merged = dict(V4_COMMENT, prompt="2girls, park | girl, red hair")  # a tool that already appended one
    assert parse_novelai(json.dumps(merged)).prompt == "2girls, park | girl, red hair | girl, blue hair"


@pytest.mark.parametrize(
    ("v4_prompt", "prompt", "characters"),
    [
        ({"caption": {"base_caption": "base", "char_captions": "girl"}}, "base", None),
        ({"caption": {"base_caption": "base", "char_captions": [5, None, "x", []]}}, "base", None),
        ({"caption": ["base"]}, "fallback", None),
        ("not an object", "fallback", None),
        (
            {"caption": {"base_caption": 7, "char_captions": [{"char_caption": 3, "centers": {"x": 1}}]}},
            "7 | 3",
            [{"prompt": "3", "negative_prompt": "", "centers": []}],
        ),
        (
            {"caption": {"char_captions": [{"centers": [{"x": "0.5", "y": 0.1}, {"x": None}, 4, {"x": 1e999}]}]}},
            "fallback",
            [{"prompt": "", "negative_prompt": "", "centers": [{"x": 0.5, "y": 0.1}]}],
        ),
    ],
)
def test_v4_odd_shapes_never_crash(v4_prompt: object, prompt: str, characters: object) -> None:
    comment = {"uc": "", "scale": 5, "v4_prompt": v4_prompt}
    chunks = {"Description": "fallback", "Software": "NovelAI", "Comment": json.dumps(comment)}
    (recipe,) = read(ImageChunks("n.png", "PNG", 1, 1, text=chunks))
    assert recipe.prompt == prompt
    assert recipe.extra.get("characters") == characters


def test_v4_hostile_character_counts_are_bounded() -> None:
    many = {"caption": {"base_caption": "b", "char_captions": [{"char_caption": f"c{i}"} for i in range(5000)]}}
    recipe = parse_novelai(json.dumps({"uc": "", "v4_prompt": many}))
    assert len(recipe.extra["characters"]) == 64 and recipe.prompt.endswith(" | c63")


def test_v4_characters_round_trip_through_infotext_and_the_promptlib_chunk(img: Any) -> None:
    from promptlib.metadata import read_image
    from promptlib.metadata.a1111 import format_infotext, parse_infotext
    from promptlib.metadata.writer import embed_recipe

    recipe = parse_novelai(json.dumps(V4_COMMENT))
    again = parse_infotext(format_infotext(recipe))
    assert (again.prompt, again.negative_prompt) == (recipe.prompt, recipe.negative_prompt)
    (back,) = read_image(embed_recipe(img.build_png(), recipe)).recipes
    assert back.extra["characters"] == recipe.extra["characters"] and back.prompt == recipe.prompt


def test_v4_character_captions_are_searchable_after_import(lib: Any, tmp_path: Path) -> None:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "NovelAI")
    info.add_text("Comment", json.dumps(V4_COMMENT))
    Image.new("RGB", (8, 8)).save(tmp_path / "nai.png", pnginfo=info)
    summary = lib.import_paths([tmp_path / "nai.png"])
    assert summary.imported == 1
    assert [hit.entry.id for hit in lib.search("blue hair").hits] == summary.ids
    assert [hit.entry.id for hit in lib.search("bad hands").hits] == summary.ids  # negative captions too
    assert lib.get(summary.ids[0]).params["extra"]["characters"][1]["prompt"] == "girl, blue hair"


# --- the request form: characterPrompts -------------------------------------------------------------------------

CHARACTER_PROMPTS = [
    {"prompt": "girl, red hair", "uc": "bad hands", "center": {"x": 0.3, "y": 0.5}, "enabled": True},
    {"prompt": "boy, hat", "uc": "extra arms", "center": {"x": 0.5, "y": 0.5}, "enabled": False},
    {"prompt": "girl, blue hair", "uc": "", "center": {"x": 0.7, "y": 0.5}, "enabled": True},
]


def test_character_prompts_join_the_prompts_without_the_disabled_ones() -> None:
    comment = dict(COMMENT, prompt="2girls, park", uc="lowres", characterPrompts=CHARACTER_PROMPTS)
    recipe = parse_novelai(json.dumps(comment))
    assert recipe.prompt == "2girls, park | girl, red hair | girl, blue hair"
    assert recipe.negative_prompt == "lowres | bad hands"
    assert recipe.extra["characters"] == [
        {"prompt": "girl, red hair", "negative_prompt": "bad hands", "centers": [{"x": 0.3, "y": 0.5}]},
        {"prompt": "girl, blue hair", "negative_prompt": "", "centers": [{"x": 0.7, "y": 0.5}]},
    ]
    assert recipe.extra["characterPrompts"][1]["enabled"] is False  # kept as written


def test_character_prompts_beside_v4_captions_are_not_counted_twice() -> None:
    both = dict(V4_COMMENT, characterPrompts=CHARACTER_PROMPTS)
    recipe = parse_novelai(json.dumps(both))
    assert recipe.prompt == "2girls, park | girl, red hair | girl, blue hair"
    assert recipe.negative_prompt == "lowres | bad hands"
    assert len(recipe.extra["characters"]) == 2
    no_negative_captions = {key: value for key, value in both.items() if key != "v4_negative_prompt"}
    recipe = parse_novelai(json.dumps(no_negative_captions))  # the request fills in the side V4 leaves empty
    assert (recipe.prompt, recipe.negative_prompt) == (
        "2girls, park | girl, red hair | girl, blue hair",
        "lowres | bad hands",
    )
    assert recipe.extra["characters"][0]["negative_prompt"] == "bad hands"


@pytest.mark.parametrize(
    ("characters", "prompt", "expected"),
    [
        ("girl", "base", None),
        ([5, None, "x", []], "base", None),
        (
            [{"prompt": 3, "uc": ["x"], "center": [0.5, 0.5]}],
            "base | 3",
            [{"prompt": "3", "negative_prompt": "", "centers": []}],
        ),
        (
            [{"prompt": "a", "center": {"x": "0.25", "y": 1e999}}, {"prompt": "b", "enabled": "false"}],
            "base | a",
            [{"prompt": "a", "negative_prompt": "", "centers": []}],
        ),
        (
            [{"prompt": "a", "enabled": 0}, {"prompt": "b", "enabled": None}],
            "base | b",
            [{"prompt": "b", "negative_prompt": "", "centers": []}],
        ),
        (
            [{"center": {"x": 0.1, "y": 0.9}}],
            "base",
            [{"prompt": "", "negative_prompt": "", "centers": [{"x": 0.1, "y": 0.9}]}],
        ),
    ],
)
def test_character_prompts_odd_shapes_never_crash(characters: object, prompt: str, expected: object) -> None:
    recipe = parse_novelai(json.dumps({"prompt": "base", "uc": "", "scale": 5, "characterPrompts": characters}))
    assert recipe.prompt == prompt
    assert recipe.extra.get("characters") == expected


def test_character_prompts_hostile_counts_are_bounded() -> None:
    many = [{"prompt": f"c{i}", "uc": f"u{i}", "center": {"x": 0.5, "y": 0.5}} for i in range(5000)]
    recipe = parse_novelai(json.dumps({"uc": "", "characterPrompts": many}))
    assert len(recipe.extra["characters"]) == 64 and recipe.prompt.endswith(" | c63")
