"""Fuzzing: whatever text, JSON or bytes come in, readers return recipes or raise FormatError/UnsafeInputError."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptlib.errors import FormatError, UnsafeInputError
from promptlib.metadata import read_image
from promptlib.metadata.a1111 import format_infotext, parse_infotext
from promptlib.metadata.comfyui import parse_prompt_graph, parse_workflow
from promptlib.metadata.drawthings import parse_drawthings
from promptlib.metadata.easydiffusion import parse_easydiffusion
from promptlib.metadata.fooocus import parse_a1111_scheme, parse_fooocus
from promptlib.metadata.invokeai import parse_dream, parse_invokeai_metadata, parse_sd_metadata
from promptlib.metadata.novelai import parse_novelai
from promptlib.metadata.swarmui import parse_swarmui
from promptlib.recipe import Recipe

TEXT_PARSERS: dict[str, Callable[[str], Any]] = {
    "a1111": parse_infotext,
    "fooocus_a1111": parse_a1111_scheme,
    "comfy_prompt": parse_prompt_graph,
    "comfy_workflow": parse_workflow,
    "dream": parse_dream,
    "sd_metadata": parse_sd_metadata,
    "invokeai_metadata": parse_invokeai_metadata,
    "fooocus": parse_fooocus,
    "novelai": parse_novelai,
    "easydiffusion": parse_easydiffusion,
    "swarmui": parse_swarmui,
    "drawthings": parse_drawthings,
}

# Text shaped like the formats: their punctuation and keywords, so the fuzzer reaches past the first check.
_tokens = st.sampled_from(
    [
        "Steps: ",
        "Negative prompt:",
        ", ",
        ": ",
        "\n",
        '"',
        "\\",
        "{",
        "}",
        "[",
        "]",
        "<lora:",
        ">",
        "-S",
        "-s",
        "Size: ",
        "512x512",
        "Hashes: ",
        "Sampler: ",
        "DPM++ 2M Karras",
        "-1",
        "1e999",
        "NaN",
        "null",
        "true",
        "sui_image_params",
        "class_type",
        "inputs",
        "c",
        "uc",
        "Comment",
        "<exif:UserComment>",
        "<rdf:li>",
        "=",
    ]
)
format_text = st.one_of(
    st.text(max_size=300), st.lists(st.one_of(_tokens, st.text(max_size=5)), max_size=60).map("".join)
)

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=12)
)
_keys = st.sampled_from(
    [
        "class_type",
        "inputs",
        "seed",
        "noise_seed",
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "positive",
        "negative",
        "latent_image",
        "model",
        "text",
        "clip",
        "width",
        "height",
        "lora_name",
        "ckpt_name",
        "vae",
        "samples",
        "guider",
        "sigmas",
        "noise",
        "sampler",
        "conditioning",
        "nodes",
        "links",
        "id",
        "type",
        "mode",
        "widgets_values",
        "link",
        "name",
        "image",
        "prompt",
        "images",
        "sui_image_params",
        "Comment",
        "uc",
        "c",
        "positive_prompt",
        "loras",
        "lora",
        "weight",
        "scale",
        "size",
        "v2",
        "1",
        "2",
        "3",
    ]
)
_link = st.tuples(st.sampled_from(["1", "2", "3", 1, 2, 3]), st.integers(0, 3)).map(list)
json_values = st.recursive(
    st.one_of(_scalars, _link),
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(_keys, children, max_size=6)),
    max_leaves=40,
)

_ALLOWED = (FormatError, UnsafeInputError)


def _check(result: Any) -> None:
    recipes = result if isinstance(result, list) else [result]
    for recipe in recipes:
        assert isinstance(recipe, Recipe)
        json.dumps(recipe.extra)  # extras stay JSON-safe
        json.dumps(recipe.model_dump(mode="json"))


@pytest.mark.parametrize("name", sorted(TEXT_PARSERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=format_text)
def test_random_text(name: str, text: str) -> None:
    with contextlib.suppress(*_ALLOWED):
        _check(TEXT_PARSERS[name](text))


@pytest.mark.parametrize("name", sorted(set(TEXT_PARSERS) - {"a1111", "fooocus_a1111", "dream"}))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=json_values)
def test_random_json(name: str, data: Any) -> None:
    with contextlib.suppress(*_ALLOWED):
        _check(TEXT_PARSERS[name](json.dumps(data)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    graph=st.dictionaries(
        st.sampled_from(["1", "2", "3", "4"]),
        st.fixed_dictionaries(
            {
                "class_type": st.sampled_from(["KSampler", "CLIPTextEncode", "Reroute", "X"]),
                "inputs": st.dictionaries(_keys, st.one_of(_scalars, _link), max_size=8),
            }
        ),
        max_size=4,
    )
)
def test_random_comfy_graphs(graph: dict[str, Any]) -> None:
    with contextlib.suppress(*_ALLOWED):
        _check(parse_prompt_graph(json.dumps(graph)))


@settings(max_examples=100, deadline=None)
@given(text=format_text.filter(lambda t: t.strip()))
def test_formatted_infotext_always_parses(text: str) -> None:
    recipe = parse_infotext(text)
    again = parse_infotext(format_infotext(recipe)) if format_infotext(recipe).strip() else recipe
    assert isinstance(again, Recipe)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_images(img: Any, data: st.DataObject) -> None:
    base = data.draw(
        st.sampled_from(
            [
                img.png_with_text(parameters="a cat\nSteps: 20, Seed: 1, Sampler: Euler"),
                img.png_with_text(prompt='{"3": {"class_type": "KSampler", "inputs": {}}}'),
                img.jpeg_with_exif({0x9286: b"UNICODE\0" + "x\nSteps: 1".encode("utf-16-le")}),
            ]
        )
    )
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)), max_size=8))
    mutated = bytearray(base)
    for index, value in edits:
        mutated[index] = value
    cut = data.draw(st.integers(0, len(mutated)))
    try:
        meta = read_image(bytes(mutated[:cut] if data.draw(st.booleans()) else mutated))
    except _ALLOWED:
        return
    for recipe in meta.recipes:
        _check(recipe)
