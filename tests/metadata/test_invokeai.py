"""InvokeAI's three metadata generations: Dream command lines, sd-metadata (2.x), invokeai_metadata (3.x+)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promptlib.errors import FormatError
from promptlib.metadata.chunks import ImageChunks
from promptlib.metadata.invokeai import (
    parse_dream,
    parse_invokeai_graph,
    parse_invokeai_metadata,
    parse_sd_metadata,
    read,
    split_negative,
)


def test_dream_command_line() -> None:
    text = (
        '"a castle on a hill [fog, blurry] at dawn" -s 50 -S 123456 -W 512 -H 768 -C 7.5 -A k_euler_a '
        "-f 0.6 -U 2 0.8 --seamless"
    )
    recipe = parse_dream(text)
    assert recipe.generator == "invokeai" and recipe.raw == text
    assert (recipe.prompt, recipe.negative_prompt) == ("a castle on a hill at dawn", "fog, blurry")
    assert (recipe.steps, recipe.seed, recipe.width, recipe.height, recipe.cfg_scale) == (50, 123456, 512, 768, 7.5)
    assert recipe.sampler == "Euler a"
    assert recipe.extra == {"strength": 0.6, "upscale": [2, 0.8], "seamless": True}


def test_dream_long_options_and_unbalanced_quotes() -> None:
    recipe = parse_dream('"a cat --steps 20 --seed 9 --cfg_scale 6 --sampler k_dpmpp_2_a --model stable-diffusion-1.5')
    assert (recipe.steps, recipe.seed, recipe.cfg_scale, recipe.sampler) == (20, 9, 6.0, "DPM++ 2S a")
    assert recipe.model == "stable-diffusion-1.5"


def test_dream_short_switches_mean_what_invokeai_parses_them_as() -> None:
    # ldm/invoke/args.py: '-A', '-m', '--sampler' are the sampler; -v is variation_amount, -V with_variations
    # (seed:weight pairs); -T / -fit is fit.
    recipe = parse_dream('"a fox" -s 20 -S 1 -W 512 -H 512 -C 7 -m k_euler_a -v 0.1 -V 42:0.2,43:0.3 -T')
    assert (recipe.sampler, recipe.model) == ("Euler a", None)
    assert recipe.extra == {"variation_amount": 0.1, "with_variations": "42:0.2,43:0.3", "fit": True}


@pytest.mark.parametrize(
    ("text", "prompt", "negative"),
    [
        # 1.x wrote f'"{prompt}"' without escaping the quotes inside
        ('"a sign that says "open", neon [blurry]" -s 30 -S 7 -A k_lms', 'a sign that says "open", neon', "blurry"),
        # 2.x wrote the prompt bare (dream_prompt_str: the escaped copy is discarded)
        (
            "'80s poster, rock 'n' roll  [ugly] -s 30 -S 7 -W 512 -H 512 -C 7.5 -A k_lms",
            "'80s poster, rock 'n' roll",
            "ugly",
        ),
        ('"a cat -s on a mat" -s 30 -S 7', "a cat -s on a mat", ""),
    ],
)
def test_dream_prompt_is_kept_verbatim_up_to_the_first_switch(text: str, prompt: str, negative: str) -> None:
    recipe = parse_dream(text)
    assert (recipe.prompt, recipe.negative_prompt, recipe.steps, recipe.seed) == (prompt, negative, 30, 7)


def test_dream_negative_numbers_are_values() -> None:
    recipe = parse_dream('"x" -S 5 --threshold -1')
    assert recipe.extra["threshold"] == -1


@pytest.mark.parametrize("text", ["", "   "])
def test_dream_empty(text: str) -> None:
    with pytest.raises(FormatError):
        parse_dream(text)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a cat [dog]", ("a cat", "dog")),
        ("a [b] c [d, e]", ("a c", "b, d, e")),
        ("a [b [c]] d", ("a d", "b [c]")),
        ("a ] b", ("a ] b", "")),
        ("a [unclosed", ("a [unclosed", "")),
        ("[only negative]", ("", "only negative")),
    ],
)
def test_split_negative(prompt: str, expected: tuple[str, str]) -> None:
    assert split_negative(prompt) == expected


SD_METADATA = {
    "model": "stable diffusion",
    "model_weights": "deliberate_v2",
    "model_hash": "abc123",
    "app_id": "invoke-ai/InvokeAI",
    "app_version": "2.3.0",
    "image": {
        "prompt": [{"prompt": "a lighthouse [people, boats]", "weight": 1.0}],
        "steps": 30,
        "cfg_scale": 7.5,
        "height": 640,
        "width": 512,
        "seed": 42,
        "sampler": "k_dpmpp_2",
        "type": "txt2img",
        "postprocessing": None,
        "variations": [],
    },
}


def test_sd_metadata() -> None:
    recipe = parse_sd_metadata(json.dumps(SD_METADATA))
    assert (recipe.prompt, recipe.negative_prompt) == ("a lighthouse", "people, boats")
    assert (recipe.model, recipe.model_hash, recipe.sampler) == ("deliberate_v2", "abc123", "DPM++ 2M")
    assert (recipe.steps, recipe.cfg_scale, recipe.seed, recipe.width, recipe.height) == (30, 7.5, 42, 512, 640)
    assert recipe.extra["app_version"] == "2.3.0" and recipe.extra["type"] == "txt2img"


def test_sd_metadata_string_prompt_blends_and_images_list() -> None:
    data = {"images": [{"prompt": "plain [neg]", "seed": 1}]}
    assert parse_sd_metadata(json.dumps(data)).negative_prompt == "neg"
    blended = dict(SD_METADATA, image={"prompt": [{"prompt": "a", "weight": 0.5}, {"prompt": "b", "weight": 0.5}]})
    recipe = parse_sd_metadata(json.dumps(blended))
    assert recipe.prompt == "a\nb"
    assert recipe.extra["prompt_weights"] == [["a", 0.5], ["b", 0.5]]


def test_sd_metadata_model_id_names_the_model_when_there_is_no_model_weights() -> None:
    # ldm/invoke/args.py metadata_dumps (2.x) wrote the model name as "model_id"; later versions as "model_weights"
    data = {key: value for key, value in SD_METADATA.items() if key != "model_weights"}
    recipe = parse_sd_metadata(json.dumps({**data, "model_id": "stable-diffusion-1.5"}))
    assert recipe.model == "stable-diffusion-1.5" and "model_id" not in recipe.extra


@pytest.mark.parametrize("text", ["[]", '{"image": 5}', "nope"])
def test_sd_metadata_bad(text: str) -> None:
    with pytest.raises(FormatError):
        parse_sd_metadata(text)


def test_invokeai_metadata_v3_and_v5() -> None:
    v3 = {
        "generation_mode": "txt2img",
        "positive_prompt": "a red barn",
        "negative_prompt": "people",
        "width": 768,
        "height": 512,
        "seed": 99,
        "cfg_scale": 6,
        "steps": 28,
        "scheduler": "dpmpp_2m_k",
        "clip_skip": 1,
        "model": {"model_name": "juggernautXL", "base_model": "sdxl", "model_type": "main"},
        "vae": {"model_name": "sdxl-vae-fp16-fix", "base_model": "sdxl"},
        "loras": [{"lora": {"model_name": "pixel-art", "base_model": "sdxl"}, "weight": 0.75}],
    }
    recipe = parse_invokeai_metadata(json.dumps(v3))
    assert (recipe.prompt, recipe.negative_prompt, recipe.seed, recipe.steps) == ("a red barn", "people", 99, 28)
    assert (recipe.sampler, recipe.schedule, recipe.clip_skip) == ("DPM++ 2M", "karras", 1)
    assert (recipe.model, recipe.vae) == ("juggernautXL", "sdxl-vae-fp16-fix")
    assert [(lora.name, lora.weight) for lora in recipe.loras] == [("pixel-art", 0.75)]
    assert recipe.extra["generation_mode"] == "txt2img"
    v5 = dict(
        v3,
        scheduler="kdpm_2_a",
        model={"key": "k1", "hash": "blake3:ffee", "name": "sdxl-base", "base": "sdxl", "type": "main"},
        loras=[{"model": {"key": "k2", "hash": "blake3:aa", "name": "detail", "base": "sdxl"}, "weight": 0.5}],
    )
    recipe = parse_invokeai_metadata(json.dumps(v5))
    assert (recipe.model, recipe.model_hash, recipe.sampler) == ("sdxl-base", "blake3:ffee", "DPM2 a")
    assert recipe.loras[0].name == "detail" and recipe.loras[0].hash == "blake3:aa"


def test_read_prefers_the_newest_generation_and_falls_back() -> None:
    chunks = ImageChunks(
        "x.png",
        "PNG",
        1,
        1,
        text={"invokeai_metadata": "{bad", "sd-metadata": json.dumps(SD_METADATA), "Dream": '"x" -S 1'},
    )
    assert read(chunks)[0].model == "deliberate_v2"
    assert read(ImageChunks("x.png", "PNG", 1, 1, text={"parameters": "x"})) == []
    with pytest.raises(FormatError):
        read(ImageChunks("x.png", "PNG", 1, 1, text={"invokeai_metadata": "[]"}))


def test_dpmpp_3m_schedulers_are_named_like_the_others() -> None:
    from promptlib.recipe import canonical_sampler

    assert canonical_sampler("dpmpp_3m") == ("DPM++ 3M", None)
    assert canonical_sampler("dpmpp_3m_k") == ("DPM++ 3M", "karras")


def _edge(source: str, output: str, destination: str, field: str) -> dict[str, Any]:
    return {"source": {"node_id": source, "field": output}, "destination": {"node_id": destination, "field": field}}


def invoke_graph() -> dict[str, Any]:
    """A workflow-editor graph as InvokeAI 4/5 stores it in ``invokeai_graph``: fields inline, links as edges."""
    model = {"key": "k", "hash": "blake3:aa", "name": "Juggernaut XL", "base": "sdxl", "type": "main"}
    lora = {"key": "l", "hash": "blake3:bb", "name": "detail", "base": "sdxl", "type": "lora"}
    return {
        "id": "g",
        "nodes": {
            "model": {"id": "model", "type": "sdxl_model_loader", "model": model},
            "lora": {"id": "lora", "type": "sdxl_lora_loader", "lora": lora, "weight": 0.6},
            "pos": {"id": "pos", "type": "sdxl_compel_prompt", "style": "", "original_width": 1024},
            "text": {"id": "text", "type": "string", "value": "a lighthouse at dusk"},
            "neg": {"id": "neg", "type": "sdxl_compel_prompt", "prompt": "blurry"},
            "seed": {"id": "seed", "type": "integer", "value": 31337},
            "noise": {"id": "noise", "type": "noise", "width": 1024, "height": 768, "use_cpu": True},
            "denoise": {
                "id": "denoise",
                "type": "denoise_latents",
                "steps": 30,
                "cfg_scale": 6.5,
                "scheduler": "dpmpp_2m_k",
                "denoise_start": 0,
                "denoise_end": 1,
            },
            "l2i": {"id": "l2i", "type": "l2i", "fp32": False},
        },
        "edges": [
            _edge("model", "unet", "lora", "unet"),
            _edge("lora", "unet", "denoise", "unet"),
            _edge("text", "value", "pos", "prompt"),
            _edge("pos", "conditioning", "denoise", "positive_conditioning"),
            _edge("neg", "conditioning", "denoise", "negative_conditioning"),
            _edge("seed", "value", "noise", "seed"),
            _edge("noise", "noise", "denoise", "noise"),
            _edge("denoise", "latents", "l2i", "latents"),
        ],
    }


def test_invokeai_graph_without_metadata() -> None:
    chunks = ImageChunks("w.png", "PNG", 1, 1, text={"invokeai_graph": json.dumps(invoke_graph())})
    (recipe,) = read(chunks)
    assert (recipe.prompt, recipe.negative_prompt) == ("a lighthouse at dusk", "blurry")
    assert (recipe.seed, recipe.width, recipe.height, recipe.steps, recipe.cfg_scale) == (31337, 1024, 768, 30, 6.5)
    assert (recipe.sampler, recipe.schedule, recipe.model, recipe.model_hash) == (
        "DPM++ 2M",
        "karras",
        "Juggernaut XL",
        "blake3:aa",
    )
    assert [(lora.name, lora.weight, lora.hash) for lora in recipe.loras] == [("detail", 0.6, "blake3:bb")]


def test_invokeai_graph_flux_and_unusable_graphs() -> None:
    flux = {
        "nodes": {
            "enc": {"type": "flux_text_encoder", "prompt": "a fox"},
            "loader": {"type": "flux_model_loader", "model": {"name": "FLUX Dev", "hash": "h"}},
            "den": {"type": "flux_denoise", "num_steps": 20, "guidance": 3.5, "seed": 7, "width": 512, "height": 512},
        },
        "edges": [
            _edge("enc", "conditioning", "den", "positive_text_conditioning"),
            _edge("loader", "transformer", "den", "transformer"),
        ],
    }
    (recipe,) = parse_invokeai_graph(json.dumps(flux))
    assert (recipe.prompt, recipe.steps, recipe.seed, recipe.width, recipe.model) == ("a fox", 20, 7, 512, "FLUX Dev")
    assert recipe.extra["guidance"] == 3.5
    assert parse_invokeai_graph(json.dumps({"nodes": {"u": {"type": "esrgan"}}, "edges": []})) == []  # no denoiser
    with pytest.raises(FormatError):
        parse_invokeai_graph("[1]")
    metadata = ImageChunks("m.png", "PNG", 1, 1, text={"invokeai_metadata": json.dumps({"positive_prompt": "meta"})})
    both = ImageChunks("m.png", "PNG", 1, 1, text={**metadata.text, "invokeai_graph": json.dumps(flux)})
    assert read(both)[0].prompt == "meta"  # the metadata chunk wins
