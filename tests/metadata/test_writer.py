"""Renders carry A1111 infotext and promptlib's own recipe chunk, readable by both readers."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from promptlib.errors import FormatError
from promptlib.metadata import read_image
from promptlib.metadata.writer import embed_recipe, read_embedded_recipe
from promptlib.recipe import LoraRef, Recipe

RECIPE = Recipe(
    prompt="a lighthouse, (fog:1.2)\nsecond line",
    negative_prompt="people, text",
    model="sd_xl_base_1.0",
    model_hash="31e35c80fc",
    sampler="DPM++ 2M",
    schedule="karras",
    steps=30,
    cfg_scale=6.5,
    seed=123456789,
    width=32,
    height=48,
    clip_skip=2,
    loras=(LoraRef(name="detail", weight=0.6),),
    extra={"Denoising strength": 0.4, "Hires upscale": 2},
)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 48), (9, 8, 7)).save(out, "PNG")
    return out.getvalue()


def test_embedded_png_reads_back_through_the_a1111_reader_and_keeps_its_pixels() -> None:
    original = _png()
    tagged = embed_recipe(original, RECIPE)
    assert read_image(tagged).recipes[0].model_copy(update={"generator": None, "raw": None}) == RECIPE
    from promptlib.metadata import read_metadata
    from promptlib.metadata.a1111 import read as read_a1111

    meta = read_metadata(read_image(tagged).chunks)
    assert meta.generator == "promptlib"
    got = read_a1111(meta.chunks)[0]  # what A1111 and other tools see
    assert got.negative_prompt == "people, text"
    assert got.prompt == "a lighthouse, (fog:1.2)\nsecond line <lora:detail:0.6>"  # A1111 keeps LoRAs as prompt tags
    assert (got.sampler, got.schedule, got.steps, got.cfg_scale, got.seed) == ("DPM++ 2M", "karras", 30, 6.5, 123456789)
    assert (got.model, got.clip_skip, got.width, got.height) == ("sd_xl_base_1.0", 2, 32, 48)
    assert [(lo.name, lo.weight) for lo in got.loras] == [("detail", 0.6)]
    with Image.open(io.BytesIO(tagged)) as a, Image.open(io.BytesIO(original)) as b:
        assert a.tobytes() == b.tobytes()
        assert read_embedded_recipe(a.text["promptlib"]) == RECIPE  # type: ignore[attr-defined]


def test_embedding_refuses_non_pngs_and_double_tagging() -> None:
    with pytest.raises(FormatError, match="not a PNG"):
        embed_recipe(b"GIF89a....", RECIPE)
    with pytest.raises(FormatError, match="already has"):
        embed_recipe(embed_recipe(_png(), RECIPE), RECIPE)
    with pytest.raises(FormatError):
        read_embedded_recipe('{"steps": -1}')
