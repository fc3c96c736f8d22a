"""ComfyUI graphs: API prompt and UI workflow, samplers found by inputs, links followed, hostile graphs bounded."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest

from promptlib.errors import FormatError
from promptlib.metadata.chunks import ImageChunks
from promptlib.metadata.comfyui import parse_prompt_graph, parse_workflow, read


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def basic_graph(**sampler_overrides: Any) -> dict[str, Any]:
    sampler = {
        "seed": 42,
        "steps": 25,
        "cfg": 6.5,
        "sampler_name": "dpmpp_2m",
        "scheduler": "karras",
        "denoise": 1.0,
        "model": ["10", 0],
        "positive": ["6", 0],
        "negative": ["7", 0],
        "latent_image": ["5", 0],
    }
    sampler.update(sampler_overrides)
    return {
        "3": node("KSampler", **sampler),
        "4": node("CheckpointLoaderSimple", ckpt_name="SDXL/juggernautXL_v9.safetensors"),
        "5": node("EmptyLatentImage", width=832, height=1216, batch_size=1),
        "6": node("CLIPTextEncode", text="a red fox in snow", clip=["11", 0]),
        "7": node("CLIPTextEncode", text="blurry, lowres", clip=["11", 0]),
        "8": node("VAEDecode", samples=["3", 0], vae=["12", 0]),
        "9": node("SaveImage", images=["8", 0], filename_prefix="ComfyUI"),
        "10": node(
            "LoraLoader",
            lora_name="detail.safetensors",
            strength_model=0.7,
            strength_clip=1,
            model=["13", 0],
            clip=["13", 1],
        ),
        "11": node("CLIPSetLastLayer", stop_at_clip_layer=-2, clip=["10", 1]),
        "12": node("VAELoader", vae_name="sdxl_vae.safetensors"),
        "13": node(
            "LoraLoader",
            lora_name="styles/film.safetensors",
            strength_model=0.4,
            strength_clip=0.4,
            model=["4", 0],
            clip=["4", 1],
        ),
    }


def one(graph: dict[str, Any]) -> Any:
    recipes = parse_prompt_graph(json.dumps(graph))
    assert len(recipes) == 1
    return recipes[0]


def test_basic_ksampler_graph() -> None:
    recipe = one(basic_graph())
    assert recipe.generator == "comfyui"
    assert (recipe.prompt, recipe.negative_prompt) == ("a red fox in snow", "blurry, lowres")
    assert (recipe.seed, recipe.steps, recipe.cfg_scale) == (42, 25, 6.5)
    assert (recipe.sampler, recipe.schedule) == ("DPM++ 2M", "karras")
    assert (recipe.width, recipe.height) == (832, 1216)
    assert recipe.model == "juggernautXL_v9"
    assert recipe.extra["model_path"] == "SDXL/juggernautXL_v9.safetensors"
    assert recipe.vae == "sdxl_vae.safetensors"
    assert recipe.clip_skip == 2
    assert [(lora.name, lora.weight) for lora in recipe.loras] == [("film", 0.4), ("detail", 0.7)]
    assert recipe.extra["denoise"] == 1.0
    assert recipe.extra["node_id"] == "3" and recipe.extra["class_type"] == "KSampler"


def test_sampler_found_by_inputs_not_class_name() -> None:
    graph = basic_graph()
    graph["3"]["class_type"] = "KSampler (Efficient)"
    assert one(graph).seed == 42


def test_seed_from_a_linked_seed_node_and_primitive_like_nodes() -> None:
    graph = basic_graph(seed=["20", 0], steps=["21", 0], sampler_name=["22", 0])
    graph["20"] = node("Seed (rgthree)", seed=987654321)
    graph["21"] = node("PrimitiveInt", value=33)
    graph["22"] = node("Sampler Selector", sampler_name="euler_ancestral")
    recipe = one(graph)
    assert (recipe.seed, recipe.steps, recipe.sampler) == (987654321, 33, "Euler a")


def test_text_through_string_nodes_and_concat() -> None:
    graph = basic_graph()
    graph["6"] = node("CLIPTextEncode", text=["30", 0], clip=["11", 0])
    graph["30"] = node("Text Concatenate", text_a=["31", 0], text_b="golden hour", delimiter=", ")
    graph["31"] = node("String Literal", string="a red fox")
    assert one(graph).prompt == "a red fox, golden hour"  # WAS Text Concatenate joins with its delimiter


def test_string_concatenate_keeps_its_delimiter_through_nested_and_linked_pieces() -> None:
    graph = basic_graph()
    graph["6"] = node("CLIPTextEncode", text=["30", 0], clip=["11", 0])
    graph["30"] = node("StringConcatenate", string_a="a cat", string_b=["31", 0], delimiter=", ")
    graph["31"] = node("StringConcatenate", string_a=["32", 0], string_b="golden hour")  # no delimiter: ""
    graph["32"] = node("PrimitiveString", value="in the rain ")
    assert one(graph).prompt == "a cat, in the rain golden hour"


def test_was_text_concatenate_order_empty_pieces_whitespace_and_escaped_newline() -> None:
    graph = basic_graph()
    graph["6"] = node("CLIPTextEncode", text=["30", 0], clip=["11", 0])
    graph["30"] = node(
        "Text Concatenate",
        text_d=["33", 0],
        text_b=["31", 0],
        text_a=["32", 0],
        text_c="",
        delimiter="\\n",
        clean_whitespace="true",
    )
    graph["31"] = node("StringConcatenate", string_a="b1", string_b="b2", delimiter=" + ")
    graph["32"] = node("String Literal", string="  a  ")
    graph["33"] = node("Text Concatenate", text_a=["32", 0], text_b=" d ", delimiter="|", clean_whitespace="false")
    # text_a..text_d in name order, the empty text_c dropped; the inner node keeps whitespace, the outer strips it
    assert one(graph).prompt == "a\nb1 + b2\na  | d"


def test_concatenation_cycles_and_doubling_chains_are_bounded() -> None:
    graph = basic_graph()
    graph["6"] = node("CLIPTextEncode", text=["c0", 0], clip=["11", 0])
    for index in range(60):  # each node repeats the next one twice: 2**60 characters if built naively
        graph[f"c{index}"] = node("StringConcatenate", string_a=[f"c{index + 1}", 0], string_b=[f"c{index + 1}", 0])
    graph["c60"] = node("StringConcatenate", string_a="word ", string_b=["c0", 0], delimiter=", ")  # and a cycle
    recipe = one(graph)
    assert "word" in recipe.prompt and len(recipe.prompt) < 1_000_000  # built up to the per-walk budget, no further


def test_the_text_concatenations_build_is_bounded_per_graph_too() -> None:
    from promptlib.limits import MAX_METADATA_CHARS

    graph = basic_graph()
    graph["6"] = node("CLIPTextEncode", text=["c0", 0], clip=["11", 0])
    for index in range(12):  # 4 MB of text from a 40 KB chunk, for each of 64 samplers × 2 prompts
        piece = [f"c{index + 1}", 0] if index < 11 else "\U0001f600" * 1000
        graph[f"c{index}"] = node("StringConcatenate", string_a=piece, string_b=piece, delimiter=",")
    sampler = graph["3"]
    for k in range(64):
        graph[f"s{k}"] = {**sampler, "inputs": {**sampler["inputs"], "positive": ["6", 0], "negative": ["6", 0]}}
    recipes = parse_prompt_graph(json.dumps(graph))
    assert len(recipes) >= 64
    assert sum(len(r.prompt) + len(r.negative_prompt) for r in recipes) <= 2 * MAX_METADATA_CHARS


def test_conditioning_combine_concat_area_and_controlnet() -> None:
    graph = basic_graph(positive=["40", 0], negative=["43", 1])
    graph["40"] = node("ConditioningCombine", conditioning_1=["41", 0], conditioning_2=["42", 0])
    graph["41"] = node("ConditioningSetArea", conditioning=["6", 0], width=512, height=512, x=0, y=0, strength=1.0)
    graph["42"] = node("ConditioningConcat", conditioning_to=["44", 0], conditioning_from=["45", 0])
    graph["43"] = node(
        "ControlNetApplyAdvanced", positive=["6", 0], negative=["7", 0], control_net=["46", 0], image=["47", 0]
    )
    graph["44"] = node("CLIPTextEncode", text="snowy forest", clip=["11", 0])
    graph["45"] = node("CLIPTextEncode", text="a red fox in snow", clip=["11", 0])
    graph["46"] = node("ControlNetLoader", control_net_name="canny.safetensors")
    graph["47"] = node("LoadImage", image="edges.png")
    recipe = one(graph)
    assert recipe.prompt == "a red fox in snow\nsnowy forest"  # duplicates kept once
    assert recipe.negative_prompt == "blurry, lowres"  # only the negative side of the ControlNet node


def test_sdxl_encoder_and_zeroed_negative() -> None:
    graph = basic_graph(negative=["51", 0])
    graph["6"] = node(
        "CLIPTextEncodeSDXL",
        width=1024,
        height=1024,
        crop_w=0,
        crop_h=0,
        target_width=1024,
        target_height=1024,
        text_g="a castle",
        text_l="oil painting",
        clip=["11", 0],
    )
    graph["51"] = node("ConditioningZeroOut", conditioning=["6", 0])
    recipe = one(graph)
    assert recipe.prompt == "a castle\noil painting"
    assert recipe.negative_prompt == ""


def test_sampler_custom_advanced_flux_style() -> None:
    graph = {
        "1": node(
            "SamplerCustomAdvanced",
            noise=["2", 0],
            guider=["3", 0],
            sampler=["4", 0],
            sigmas=["5", 0],
            latent_image=["6", 0],
        ),
        "2": node("RandomNoise", noise_seed=123456789),
        "3": node("BasicGuider", model=["7", 0], conditioning=["8", 0]),
        "4": node("KSamplerSelect", sampler_name="euler"),
        "5": node("BasicScheduler", scheduler="simple", steps=20, denoise=1.0, model=["7", 0]),
        "6": node("EmptySD3LatentImage", width=1024, height=768, batch_size=1),
        "7": node("UNETLoader", unet_name="flux1-dev.safetensors", weight_dtype="fp8_e4m3fn"),
        "8": node("FluxGuidance", guidance=3.5, conditioning=["9", 0]),
        "9": node("CLIPTextEncode", text="a lighthouse at dusk", clip=["10", 0]),
        "10": node("DualCLIPLoader", clip_name1="t5xxl.safetensors", clip_name2="clip_l.safetensors", type="flux"),
        "11": node("VAEDecode", samples=["1", 0], vae=["12", 0]),
        "12": node("VAELoader", vae_name="ae.safetensors"),
    }
    recipe = one(graph)
    assert (recipe.seed, recipe.steps, recipe.sampler, recipe.schedule) == (123456789, 20, "Euler", "simple")
    assert recipe.prompt == "a lighthouse at dusk" and recipe.negative_prompt == ""
    assert (recipe.model, recipe.vae, recipe.width, recipe.height) == ("flux1-dev", "ae.safetensors", 1024, 768)
    assert recipe.extra["guidance"] == 3.5
    assert recipe.extra["denoise"] == 1.0


def test_sampler_custom_with_cfg_guider_and_sampler_node_class() -> None:
    graph = {
        "1": node(
            "SamplerCustom",
            model=["7", 0],
            add_noise=True,
            noise_seed=5,
            cfg=4.5,
            positive=["8", 0],
            negative=["9", 0],
            sampler=["4", 0],
            sigmas=["5", 0],
            latent_image=["6", 0],
        ),
        "4": node("SamplerDPMPP_2M_SDE", noise_device="gpu", eta=1.0, s_noise=1.0),
        "5": node("SplitSigmas", sigmas=["10", 0], step=0),
        "10": node("KarrasScheduler", steps=30, sigma_max=14.6, sigma_min=0.03, rho=7.0),
        "6": node("EmptyLatentImage", width=512, height=512, batch_size=1),
        "7": node("CheckpointLoaderSimple", ckpt_name="sd15.ckpt"),
        "8": node("CLIPTextEncode", text="cat", clip=["7", 1]),
        "9": node("CLIPTextEncode", text="dog", clip=["7", 1]),
    }
    recipe = one(graph)
    assert (recipe.sampler, recipe.schedule, recipe.steps, recipe.cfg_scale) == ("DPM++ 2M SDE", "karras", 30, 4.5)


def test_several_samplers_first_pass_first() -> None:
    graph = basic_graph()
    graph["60"] = node("LatentUpscaleBy", upscale_method="nearest-exact", scale_by=1.5, samples=["3", 0])
    graph["2"] = node(
        "KSampler",
        seed=7,
        steps=10,
        cfg=5,
        sampler_name="euler",
        scheduler="normal",
        denoise=0.5,
        model=["4", 0],
        positive=["6", 0],
        negative=["7", 0],
        latent_image=["60", 0],
    )
    recipes = parse_prompt_graph(json.dumps(graph))
    assert [recipe.seed for recipe in recipes] == [42, 7]
    assert (recipes[1].width, recipes[1].height) == (1248, 1824)  # 832x1216 scaled by 1.5
    assert recipes[1].loras == ()  # the second pass uses the bare checkpoint
    assert recipes[1].vae is None  # no VAEDecode downstream of the second pass


def test_efficient_loader_style_node() -> None:
    graph = {
        "1": node(
            "KSampler (Efficient)",
            seed=1,
            steps=20,
            cfg=7,
            sampler_name="dpmpp_2m",
            scheduler="karras",
            model=["2", 0],
            positive=["2", 1],
            negative=["2", 2],
            latent_image=["2", 3],
        ),
        "2": node(
            "Efficient Loader",
            ckpt_name="dreamshaper_8.safetensors",
            vae_name="Baked VAE",
            clip_skip=-2,
            lora_name="None",
            positive="a wizard",
            negative="ugly",
            empty_latent_width=640,
            empty_latent_height=960,
            batch_size=1,
        ),
    }
    recipe = one(graph)
    assert (recipe.prompt, recipe.negative_prompt) == ("a wizard", "ugly")
    assert (recipe.model, recipe.vae, recipe.clip_skip, recipe.width, recipe.height) == (
        "dreamshaper_8",
        None,
        2,
        640,
        960,
    )
    assert recipe.loras == ()


def test_lora_stacks() -> None:
    graph = basic_graph(model=["70", 0])
    graph["70"] = node(
        "Power Lora Loader (rgthree)",
        model=["4", 0],
        clip=["4", 1],
        lora_1={"on": True, "lora": "a.safetensors", "strength": 0.6},
        lora_2={"on": False, "lora": "b.safetensors", "strength": 1},
        lora_3={"on": True, "lora": "c.safetensors", "strength": 1.1},
    )
    assert [(lora.name, lora.weight) for lora in one(graph).loras] == [("a", 0.6), ("c", 1.1)]
    graph["70"] = node(
        "CR LoRA Stack",
        lora_name_1="x.safetensors",
        model_weight_1=0.3,
        switch_1="On",
        lora_name_2="y.safetensors",
        model_weight_2=0.9,
        switch_2="Off",
        model=["4", 0],
    )
    assert [(lora.name, lora.weight) for lora in one(graph).loras] == [("x", 0.3)]


def test_pysssss_loaders_with_images_pass_names_as_content_objects() -> None:
    # ComfyUI-Custom-Scripts "CheckpointLoader|pysssss" / "LoraLoader|pysssss" (and Efficiency's loader) take
    # {"content": file name, "image": preview} and load kwargs[...]["content"]
    graph = basic_graph()
    checkpoint = {"content": "SDXL/dreamshaperXL.safetensors", "image": None}
    graph["4"] = node("CheckpointLoader|pysssss", ckpt_name=checkpoint)
    graph["13"]["class_type"] = "LoraLoader|pysssss"
    graph["13"]["inputs"]["lora_name"] = {"content": "styles/film.safetensors", "image": "loras/film.png"}
    recipe = one(graph)
    assert recipe.model == "dreamshaperXL"
    assert [(lora.name, lora.weight) for lora in recipe.loras] == [("film", 0.4), ("detail", 0.7)]


def test_rgthree_lora_loader_stack() -> None:
    graph = basic_graph(model=["70", 0])
    graph["70"] = node(
        "Lora Loader Stack (rgthree)",
        lora_01="detail.safetensors",
        strength_01=0.6,
        lora_02="None",
        strength_02=1,
        lora_03="style.safetensors",
        strength_03=0.8,
        lora_04="zero.safetensors",
        strength_04=0,  # rgthree does not load a LoRA of strength 0
        model=["4", 0],
        clip=["4", 1],
    )
    assert [(lora.name, lora.weight) for lora in one(graph).loras] == [("detail", 0.6), ("style", 0.8)]


def test_linked_scalars_follow_the_output_slot_of_rgthree_config_nodes() -> None:
    graph = basic_graph(steps=["80", 0], cfg=["80", 2], sampler_name=["80", 3], scheduler=["80", 4])
    graph["80"] = node(
        "KSampler Config (rgthree)",
        steps_total=30,
        refiner_step=24,
        cfg=7.5,
        sampler_name="euler_ancestral",
        scheduler="exponential",
    )
    recipe = one(graph)
    assert (recipe.steps, recipe.cfg_scale, recipe.sampler, recipe.schedule) == (30, 7.5, "Euler a", "exponential")
    graph["3"]["inputs"].update(steps=["81", 1], sampler_name=["81", 2])  # the older SDXL Config has no cfg
    graph["81"] = node(
        "SDXL Config (rgthree)", steps_total=40, refiner_step=32, sampler_name="euler", scheduler="normal"
    )
    assert (one(graph).steps, one(graph).sampler) == (32, "Euler")


def test_cycles_are_harmless() -> None:
    graph = basic_graph(positive=["80", 0])
    graph["80"] = node("ConditioningCombine", conditioning_1=["81", 0], conditioning_2=["6", 0])
    graph["81"] = node("ConditioningCombine", conditioning_1=["80", 0], conditioning_2=["80", 0])
    graph["13"]["inputs"]["model"] = ["10", 0]  # LoRA loaders feeding each other
    graph["5"] = node("LatentUpscale", width=0, height=0, samples=["3", 0])  # latent loop through the sampler
    recipe = one(graph)
    assert recipe.prompt == "a red fox in snow"
    assert recipe.width is None


def test_long_chains_are_bounded_and_fast() -> None:
    graph = basic_graph(positive=["r0", 0])
    for index in range(15_000):
        graph[f"r{index}"] = node("ConditioningSetTimestepRange", conditioning=[f"r{index + 1}", 0], start=0, end=1)
    graph["r15000"] = node("CLIPTextEncode", text="far away", clip=["11", 0])
    start = time.perf_counter()
    recipe = one(graph)
    assert time.perf_counter() - start < 5
    assert recipe.prompt in ("", "far away")


def test_graph_without_sampler_gives_no_recipes() -> None:
    graph = {"1": node("LoadImage", image="a.png"), "2": node("SaveImage", images=["1", 0])}
    assert parse_prompt_graph(json.dumps(graph)) == []


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2, 3]", '{"a": 1}', "[" * 10_000 + "]" * 10_000, '{"1": ' * 100 + "1" + "}" * 100],
)
def test_bad_prompt_chunks_raise_format_error(text: str) -> None:
    with pytest.raises(FormatError):
        parse_prompt_graph(text)


def test_odd_shapes_inside_a_valid_graph() -> None:
    graph = basic_graph(seed=[["x"], 0], positive=["6", "0"], latent_image=["5", 0, 1])
    graph["6"]["inputs"] = ["not", "a", "dict"]
    graph["99"] = {"class_type": 5, "inputs": {}}
    graph["98"] = "nonsense"
    assert parse_prompt_graph(json.dumps(graph)) == []  # the sampler lost its latent link


# --- UI workflow ---------------------------------------------------------------------------------------------


def workflow() -> dict[str, Any]:
    """A UI workflow: KSampler fed through a Reroute, a PrimitiveNode seed and a bypassed LoRA loader."""
    return {
        "last_node_id": 20,
        "nodes": [
            {
                "id": 3,
                "type": "KSampler",
                "mode": 0,
                "inputs": [
                    {"name": "model", "type": "MODEL", "link": 1},
                    {"name": "positive", "type": "CONDITIONING", "link": 2},
                    {"name": "negative", "type": "CONDITIONING", "link": 3},
                    {"name": "latent_image", "type": "LATENT", "link": 4},
                    {"name": "seed", "type": "INT", "link": 9, "widget": {"name": "seed"}},
                ],
                "widgets_values": [1, "randomize", 28, 7.5, "euler_ancestral", "normal", 1],
            },
            {"id": 4, "type": "CheckpointLoaderSimple", "mode": 0, "widgets_values": ["dreamshaper_8.safetensors"]},
            {"id": 5, "type": "EmptyLatentImage", "mode": 0, "widgets_values": [512, 768, 1]},
            {
                "id": 6,
                "type": "CLIPTextEncode",
                "mode": 0,
                "inputs": [{"name": "clip", "type": "CLIP", "link": 5}],
                "widgets_values": ["a watercolor fox"],
            },
            {
                "id": 7,
                "type": "CLIPTextEncode",
                "mode": 0,
                "inputs": [{"name": "clip", "type": "CLIP", "link": 6}],
                "widgets_values": ["photo"],
            },
            {"id": 10, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 7}]},
            {"id": 11, "type": "PrimitiveNode", "mode": 0, "widgets_values": [555, "fixed"]},
            {
                "id": 12,
                "type": "LoraLoader",
                "mode": 4,
                "inputs": [
                    {"name": "model", "type": "MODEL", "link": 8},
                    {"name": "clip", "type": "CLIP", "link": None},
                ],
                "widgets_values": ["skipped.safetensors", 1, 1],
            },
            {"id": 13, "type": "Note", "mode": 0, "widgets_values": ["remember to rate"]},
        ],
        "links": [
            [1, 12, 0, 3, 0, "MODEL"],
            [2, 10, 0, 3, 1, "CONDITIONING"],
            [3, 7, 0, 3, 2, "CONDITIONING"],
            [4, 5, 0, 3, 3, "LATENT"],
            [5, 4, 1, 6, 0, "CLIP"],
            [6, 4, 1, 7, 0, "CLIP"],
            [7, 6, 0, 10, 0, "CONDITIONING"],
            [8, 4, 0, 12, 0, "MODEL"],
            [9, 11, 0, 3, 4, "INT"],
        ],
    }


def test_workflow_with_reroute_primitive_and_bypass() -> None:
    (recipe,) = parse_workflow(json.dumps(workflow()))
    assert (recipe.prompt, recipe.negative_prompt) == ("a watercolor fox", "photo")
    assert (recipe.seed, recipe.steps, recipe.cfg_scale, recipe.sampler) == (555, 28, 7.5, "Euler a")
    assert (recipe.width, recipe.height, recipe.model) == (512, 768, "dreamshaper_8")
    assert recipe.loras == ()  # the LoRA loader was bypassed
    assert recipe.extra["graph"] == "workflow"


def test_workflow_with_core_primitive_nodes_feeding_widgets() -> None:
    # ComfyUI's own PrimitiveInt/Float/String nodes (comfy_extras/nodes_primitive.py) are real nodes: their one
    # "value" widget is stored by position (PrimitiveInt with a control_after_generate value after it).
    data = workflow()
    data["nodes"] += [
        {"id": 21, "type": "PrimitiveInt", "mode": 0, "widgets_values": [424242, "fixed"]},
        {"id": 22, "type": "PrimitiveFloat", "mode": 0, "widgets_values": [5.5]},
        {"id": 23, "type": "PrimitiveStringMultiline", "mode": 0, "widgets_values": ["a red fox"]},
    ]
    sampler, positive = data["nodes"][0], data["nodes"][3]
    sampler["inputs"][4]["link"] = 21
    sampler["inputs"].append({"name": "cfg", "type": "FLOAT", "link": 22, "widget": {"name": "cfg"}})
    positive["inputs"].append({"name": "text", "type": "STRING", "link": 23, "widget": {"name": "text"}})
    data["links"] += [[21, 21, 0, 3, 4, "INT"], [22, 22, 0, 3, 5, "FLOAT"], [23, 23, 0, 6, 1, "STRING"]]
    (recipe,) = parse_workflow(json.dumps(data))
    assert (recipe.seed, recipe.cfg_scale, recipe.prompt) == (424242, 5.5, "a red fox")


def test_workflow_with_pysssss_loaders_with_images() -> None:
    data = workflow()
    data["nodes"][1]["type"] = "CheckpointLoader|pysssss"
    data["nodes"][1]["widgets_values"] = [{"content": "dreamshaper_8.safetensors", "image": None}]
    lora = data["nodes"][7]
    lora["type"], lora["mode"] = "LoraLoader|pysssss", 0
    lora["widgets_values"] = [{"content": "film.safetensors", "image": None}, 0.5, 1]
    (recipe,) = parse_workflow(json.dumps(data))
    assert recipe.model == "dreamshaper_8" and [(x.name, x.weight) for x in recipe.loras] == [("film", 0.5)]


def test_workflow_old_bool_control_value_and_object_links() -> None:
    data = workflow()
    data["nodes"][0]["widgets_values"] = [1, True, 28, 7.5, "euler", "normal", 1]
    data["links"] = [
        {
            "id": link[0],
            "origin_id": link[1],
            "origin_slot": link[2],
            "target_id": link[3],
            "target_slot": link[4],
            "type": link[5],
        }
        for link in data["links"]
    ]
    (recipe,) = parse_workflow(json.dumps(data))
    assert (recipe.steps, recipe.sampler) == (28, "Euler")


def test_workflow_reroute_cycle_and_muted_nodes() -> None:
    data = workflow()
    data["nodes"].append({"id": 14, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "link": 10}]})
    data["nodes"].append({"id": 15, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "link": 11}]})
    data["links"] += [[10, 15, 0, 14, 0, "*"], [11, 14, 0, 15, 0, "*"], [12, 14, 0, 3, 2, "CONDITIONING"]]
    data["nodes"][0]["inputs"][2]["link"] = 12
    (recipe,) = parse_workflow(json.dumps(data))
    assert recipe.negative_prompt == ""
    data["nodes"][0]["mode"] = 2  # the sampler itself muted
    assert parse_workflow(json.dumps(data)) == []


def test_workflow_with_rgthree_loras_config_and_string_concatenate() -> None:
    data: dict[str, Any] = {
        "nodes": [
            {
                "id": 3,
                "type": "KSampler",
                "inputs": [
                    {"name": "model", "type": "MODEL", "link": 1},
                    {"name": "positive", "type": "CONDITIONING", "link": 2},
                    {"name": "negative", "type": "CONDITIONING", "link": 3},
                    {"name": "latent_image", "type": "LATENT", "link": 4},
                    {"name": "steps", "type": "INT", "link": 5, "widget": {"name": "steps"}},
                    {"name": "cfg", "type": "FLOAT", "link": 6, "widget": {"name": "cfg"}},
                    {"name": "sampler_name", "type": "COMBO", "link": 7, "widget": {"name": "sampler_name"}},
                ],
                "widgets_values": [1, "fixed", 20, 7, "euler", "karras", 1],
            },
            {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["m.safetensors"]},
            {"id": 5, "type": "EmptyLatentImage", "widgets_values": [512, 512, 1]},
            {
                "id": 6,
                "type": "CLIPTextEncode",
                "inputs": [{"name": "text", "type": "STRING", "link": 8, "widget": {"name": "text"}}],
                "widgets_values": [""],
            },
            {"id": 7, "type": "CLIPTextEncode", "widgets_values": ["ugly"]},
            {
                "id": 12,
                "type": "Lora Loader Stack (rgthree)",
                "inputs": [{"name": "model", "type": "MODEL", "link": 9}],
                "widgets_values": ["detail.safetensors", 0.6, "None", 1, "style.safetensors", 0.8, "None", 1],
            },
            {
                "id": 13,
                "type": "Power Lora Loader (rgthree)",
                "inputs": [{"name": "model", "type": "MODEL", "link": 10}],
                "widgets_values": [
                    {},
                    {"type": "PowerLoraLoaderHeaderWidget"},
                    {"on": True, "lora": "power.safetensors", "strength": 0.5, "strengthTwo": None},
                    {"on": False, "lora": "off.safetensors", "strength": 1, "strengthTwo": None},
                    {},
                    "",
                ],
            },
            {"id": 20, "type": "StringConcatenate", "widgets_values": ["a cat", "in the rain", ", "]},
            {"id": 80, "type": "KSampler Config (rgthree)", "widgets_values": [30, 24, 7.5, "euler_ancestral", "x"]},
        ],
        "links": [
            [1, 13, 0, 3, 0, "MODEL"],
            [2, 6, 0, 3, 1, "CONDITIONING"],
            [3, 7, 0, 3, 2, "CONDITIONING"],
            [4, 5, 0, 3, 3, "LATENT"],
            [5, 80, 0, 3, 4, "INT"],
            [6, 80, 2, 3, 5, "FLOAT"],
            [7, 80, 3, 3, 6, "COMBO"],
            [8, 20, 0, 6, 1, "STRING"],
            [9, 4, 0, 12, 0, "MODEL"],
            [10, 12, 0, 13, 0, "MODEL"],
        ],
    }
    (recipe,) = parse_workflow(json.dumps(data))
    assert recipe.prompt == "a cat, in the rain"
    assert (recipe.steps, recipe.cfg_scale, recipe.sampler, recipe.schedule) == (30, 7.5, "Euler a", "karras")
    assert [(lora.name, lora.weight) for lora in recipe.loras] == [("detail", 0.6), ("style", 0.8), ("power", 0.5)]


@pytest.mark.parametrize("data", [[], {"nodes": "x"}, {"nodes": [1, "a", None], "links": "x"}])
def test_bad_workflows(data: Any) -> None:
    with contextlib.suppress(FormatError):
        assert parse_workflow(json.dumps(data)) == []


def test_read_falls_back_to_workflow_and_ignores_plain_prompt_text() -> None:
    chunks = ImageChunks("x.png", "PNG", 1, 1, text={"prompt": "{broken", "workflow": json.dumps(workflow())})
    assert read(chunks)[0].seed == 555
    assert read(ImageChunks("x.png", "PNG", 1, 1, text={"prompt": "a plain prompt"})) == []
    with pytest.raises(FormatError):
        read(ImageChunks("x.png", "PNG", 1, 1, text={"prompt": "{broken"}))
