"""ComfyUI UI workflows with subgraphs (``definitions.subgraphs``) and old frontends' widgets converted to inputs."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from promptlib.errors import FormatError
from promptlib.metadata._comfy_workflow import MAX_SUBGRAPH_DEPTH, workflow_to_graph
from promptlib.metadata.chunks import ImageChunks
from promptlib.metadata.comfyui import parse_workflow, read

SAMPLER = "6f1c2a9e-0000-4000-8000-00000000a001"  # subgraph ids are UUIDs; instances use them as their type
LATENT = "6f1c2a9e-0000-4000-8000-00000000a002"


def link(link_id: int, origin: int, slot: int, target: int, target_slot: int, kind: str) -> dict[str, Any]:
    """A link in the object form subgraph definitions use."""
    return {
        "id": link_id,
        "origin_id": origin,
        "origin_slot": slot,
        "target_id": target,
        "target_slot": target_slot,
        "type": kind,
    }


def sampler_definition() -> dict[str, Any]:
    """KSampler + two text encoders inside, fed by the subgraph inputs; the latent comes from a nested subgraph."""
    return {
        "id": SAMPLER,
        "version": 1,
        "name": "Sample",
        "inputNode": {"id": -10, "bounding": [0, 0, 120, 80]},
        "outputNode": {"id": -20, "bounding": [900, 0, 120, 60]},
        "inputs": [
            {"id": "i-model", "name": "model", "type": "MODEL", "linkIds": [11]},
            {"id": "i-clip", "name": "clip", "type": "CLIP", "linkIds": [12, 13]},
            {"id": "i-text", "name": "text", "type": "STRING", "linkIds": [14]},
            {"id": "i-seed", "name": "seed", "type": "INT", "linkIds": [15]},
        ],
        "outputs": [{"id": "o-latent", "name": "LATENT", "type": "LATENT", "linkIds": [16]}],
        "widgets": [],
        "nodes": [
            {
                "id": 1,
                "type": "KSampler",
                "mode": 0,
                "inputs": [
                    {"name": "model", "type": "MODEL", "link": 11},
                    {"name": "positive", "type": "CONDITIONING", "link": 17},
                    {"name": "negative", "type": "CONDITIONING", "link": 18},
                    {"name": "latent_image", "type": "LATENT", "link": 19},
                    {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 15},
                ],
                "widgets_values": [0, "randomize", 30, 6.5, "dpmpp_2m", "karras", 1],
            },
            {
                "id": 2,
                "type": "CLIPTextEncode",
                "mode": 0,
                "inputs": [
                    {"name": "clip", "type": "CLIP", "link": 12},
                    {"name": "text", "type": "STRING", "widget": {"name": "text"}, "link": 14},
                ],
                "widgets_values": ["placeholder inside the definition"],
            },
            {
                "id": 3,
                "type": "CLIPTextEncode",
                "mode": 0,
                "inputs": [{"name": "clip", "type": "CLIP", "link": 13}],
                "widgets_values": ["blurry"],
            },
            {"id": 5, "type": LATENT, "mode": 0, "inputs": [], "outputs": [{"name": "LATENT", "links": [19]}]},
        ],
        "links": [
            link(11, -10, 0, 1, 0, "MODEL"),
            link(12, -10, 1, 2, 0, "CLIP"),
            link(13, -10, 1, 3, 0, "CLIP"),
            link(14, -10, 2, 2, 1, "STRING"),
            link(15, -10, 3, 1, 4, "INT"),
            link(16, 1, 0, -20, 0, "LATENT"),
            link(17, 2, 0, 1, 1, "CONDITIONING"),
            link(18, 3, 0, 1, 2, "CONDITIONING"),
            link(19, 5, 0, 1, 3, "LATENT"),
        ],
    }


def latent_definition() -> dict[str, Any]:
    return {
        "id": LATENT,
        "name": "Portrait latent",
        "inputNode": {"id": -10},
        "outputNode": {"id": -20},
        "inputs": [],
        "outputs": [{"name": "LATENT", "type": "LATENT", "linkIds": [1]}],
        "nodes": [{"id": 1, "type": "EmptyLatentImage", "mode": 0, "widgets_values": [832, 1216, 1]}],
        "links": [link(1, 1, 0, -20, 0, "LATENT")],
    }


def instance(node_id: int, *, values: list[Any], seed_link: int | None = None, mode: int = 0) -> dict[str, Any]:
    """A subgraph node: model/clip linked from outside, text and seed promoted widgets (values in input order)."""
    return {
        "id": node_id,
        "type": SAMPLER,
        "mode": mode,
        "inputs": [
            {"name": "model", "type": "MODEL", "link": 1},
            {"name": "clip", "type": "CLIP", "link": 5},
            {"name": "text", "type": "STRING", "widget": {"name": "text"}, "link": None},
            {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": seed_link},
        ],
        "outputs": [{"name": "LATENT", "type": "LATENT", "links": [2]}],
        "widgets_values": values,
    }


def subgraph_workflow(*instances: dict[str, Any]) -> dict[str, Any]:
    """A workflow-only file: the sampler sits inside a subgraph, the checkpoint and the VAE decode outside."""
    nodes: list[dict[str, Any]] = [
        {"id": 4, "type": "CheckpointLoaderSimple", "mode": 0, "widgets_values": ["juggernautXL.safetensors"]},
        {"id": 8, "type": "VAEDecode", "inputs": [{"name": "samples", "link": 2}, {"name": "vae", "link": 3}]},
    ]
    nodes += instances or (instance(10, values=["a lighthouse at dusk", 42, "fixed"]),)
    return {
        "id": "0c3f4b8e-9d2a-4e7b-8a51-000000000000",
        "revision": 0,
        "last_node_id": 10,
        "last_link_id": 5,
        "nodes": nodes,
        "links": [
            [1, 4, 0, 10, 0, "MODEL"],
            [2, 10, 0, 8, 0, "LATENT"],
            [3, 4, 2, 8, 1, "VAE"],
            [5, 4, 1, 10, 1, "CLIP"],
        ],
        "definitions": {"subgraphs": [sampler_definition(), latent_definition()]},
        "version": 0.4,
    }


def test_the_sampler_inside_a_subgraph_gives_the_recipe() -> None:
    (recipe,) = parse_workflow(json.dumps(subgraph_workflow()))
    assert (recipe.prompt, recipe.negative_prompt) == ("a lighthouse at dusk", "blurry")  # the instance's value
    assert (recipe.seed, recipe.steps, recipe.cfg_scale) == (42, 30, 6.5)
    assert (recipe.sampler, recipe.schedule) == ("DPM++ 2M", "karras")
    assert (recipe.model, recipe.width, recipe.height) == ("juggernautXL", 832, 1216)  # the nested subgraph's size
    assert recipe.extra["node_id"] == "10:1"  # named as ComfyUI's own API export names inner nodes


def test_an_image_with_only_a_workflow_chunk() -> None:
    chunks = ImageChunks("x.png", "PNG", 832, 1216, text={"workflow": json.dumps(subgraph_workflow())})
    (recipe,) = read(chunks)
    assert recipe.prompt == "a lighthouse at dusk" and recipe.extra["graph"] == "workflow"


def test_instance_inputs_linked_outside_and_values_left_to_the_definition() -> None:
    data = subgraph_workflow(instance(10, values=[], seed_link=6))
    data["nodes"].append({"id": 20, "type": "PrimitiveNode", "mode": 0, "widgets_values": [777, "fixed"]})
    data["links"].append([6, 20, 0, 10, 3, "INT"])
    (recipe,) = parse_workflow(json.dumps(data))
    assert recipe.seed == 777  # from the primitive outside, through the instance's input
    assert recipe.prompt == "placeholder inside the definition"  # the instance holds no value: the inner one


def test_two_instances_of_one_definition_keep_their_own_values() -> None:
    second = instance(30, values=["a red barn", 7, "randomize"])
    data = subgraph_workflow(instance(10, values=["a lighthouse at dusk", 42, "fixed"]), second)
    recipes = parse_workflow(json.dumps(data))
    assert sorted((r.extra["node_id"], r.prompt, r.seed) for r in recipes) == [
        ("10:1", "a lighthouse at dusk", 42),
        ("30:1", "a red barn", 7),
    ]


@pytest.mark.parametrize("mode", [2, 4])
def test_muted_and_bypassed_instances_are_not_expanded(mode: int) -> None:
    data = subgraph_workflow(instance(10, values=["x", 1, "fixed"], mode=mode))
    assert parse_workflow(json.dumps(data)) == []


def test_legacy_proxy_widgets_hold_values_in_proxy_order() -> None:
    legacy = instance(10, values=["a legacy prompt", 99])
    legacy["inputs"] = legacy["inputs"][:2]  # promoted by proxy, not through subgraph inputs
    legacy["properties"] = {"proxyWidgets": [["2", "text"], ["1", "seed"], ["1", "control_after_generate"]]}
    data = subgraph_workflow(legacy)
    (recipe,) = parse_workflow(json.dumps(data))
    assert (recipe.prompt, recipe.seed) == ("a legacy prompt", 99)


def test_custom_boundary_ids_and_output_found_by_link_ids() -> None:
    data = subgraph_workflow()
    definition = data["definitions"]["subgraphs"][0]
    definition["inputNode"]["id"], definition["outputNode"]["id"] = -1, -2
    for item in definition["links"]:
        item["origin_id"] = -1 if item["origin_id"] == -10 else item["origin_id"]
        item["target_id"] = 99 if item["target_id"] == -20 else item["target_id"]  # only linkIds say it
    (recipe,) = parse_workflow(json.dumps(data))
    assert (recipe.prompt, recipe.seed) == ("a lighthouse at dusk", 42)


def test_a_definition_containing_itself_and_deep_nesting_end() -> None:
    data = subgraph_workflow()
    looping = data["definitions"]["subgraphs"][1]
    looping["nodes"].append({"id": 2, "type": LATENT, "mode": 0})  # contains an instance of itself
    (recipe,) = parse_workflow(json.dumps(data))
    assert recipe.width == 832
    chain = [
        {"id": f"level-{n}", "nodes": [{"id": 1, "type": f"level-{n + 1}"}], "links": []}
        for n in range(MAX_SUBGRAPH_DEPTH + 10)
    ]
    graph = workflow_to_graph({"nodes": [{"id": 1, "type": "level-0"}], "definitions": {"subgraphs": chain}})
    assert max(node_id.count(":") for node_id in graph) == MAX_SUBGRAPH_DEPTH


def test_nested_instances_that_multiply_are_refused_quickly() -> None:
    levels = [
        {"id": f"fan-{n}", "nodes": [{"id": i, "type": f"fan-{n + 1}"} for i in range(40)], "links": []}
        for n in range(6)
    ]  # 40**6 inner nodes if expanded
    data = {"nodes": [{"id": 1, "type": "fan-0"}], "links": [], "definitions": {"subgraphs": levels}}
    started = time.perf_counter()
    with pytest.raises(FormatError, match="expanded"):
        parse_workflow(json.dumps(data))
    wide = {"id": "wide", "nodes": [{"id": 1, "type": "x", "inputs": [{"name": "a"}] * 5000}], "links": []}
    many = {"nodes": [{"id": i, "type": "wide"} for i in range(2000)], "definitions": {"subgraphs": [wide]}}
    with pytest.raises(FormatError, match="expanded"):
        workflow_to_graph(many)  # few nodes, but each instance copies 5,000 inputs
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["definitions"].update(subgraphs={"not": "a list"}),
        lambda d: d["definitions"]["subgraphs"].insert(0, {"id": SAMPLER, "nodes": "x", "links": 5}),
        lambda d: d["definitions"]["subgraphs"][0].update(inputs=None, outputs=[None, 3], inputNode=[]),
        lambda d: d["definitions"]["subgraphs"][0].update(outputs=[{"linkIds": [[16], {}, None, True]}]),
        lambda d: d["definitions"]["subgraphs"][0]["links"].extend([[1, 2], {"id": True}, {"id": 9, "origin_id": -10}]),
        lambda d: d["nodes"][2].update(inputs="x", widgets_values={"text": "as a dict"}),
        lambda d: d["nodes"][2].update(properties={"proxyWidgets": [[None, 3], "x", [True, "seed"]]}),
        lambda d: d.update(definitions=[1, 2]),
    ],
)
def test_odd_subgraph_shapes_never_crash(mutate: Any) -> None:
    data = copy.deepcopy(subgraph_workflow())
    mutate(data)
    for recipe in parse_workflow(json.dumps(data)):
        json.dumps(recipe.model_dump(mode="json"))


# --- widgets converted to inputs (old frontends) -------------------------------------------------------------------


def custom_sampler_workflow(widget_inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """A custom sampler the widget table does not know, whose widget inputs are the ones `widget_inputs` lists."""
    return {
        "nodes": [
            {
                "id": 3,
                "type": "FancySampler",
                "mode": 0,
                "inputs": [
                    {"name": "model", "type": "MODEL", "link": 1},
                    {"name": "positive", "type": "CONDITIONING", "link": 2},
                    {"name": "negative", "type": "CONDITIONING", "link": 3},
                    {"name": "latent_image", "type": "LATENT", "link": 4},
                    *widget_inputs,
                ],
                "widgets_values": [123, "randomize", 25, 7.0, "euler", "normal"],
            },
            {"id": 4, "type": "CheckpointLoaderSimple", "mode": 0, "widgets_values": ["m.safetensors"]},
            {"id": 5, "type": "EmptyLatentImage", "mode": 0, "widgets_values": [512, 512, 1]},
            {"id": 6, "type": "CLIPTextEncode", "mode": 0, "widgets_values": ["a fox"]},
            {"id": 7, "type": "CLIPTextEncode", "mode": 0, "widgets_values": ["blurry"]},
            {"id": 9, "type": "PrimitiveNode", "mode": 0, "widgets_values": [8.5]},
        ],
        "links": [
            [1, 4, 0, 3, 0, "MODEL"],
            [2, 6, 0, 3, 1, "CONDITIONING"],
            [3, 7, 0, 3, 2, "CONDITIONING"],
            [4, 5, 0, 3, 3, "LATENT"],
            [9, 9, 0, 3, 5, "FLOAT"],
        ],
    }


def widget(name: str, kind: str, link_id: int | None = None) -> dict[str, Any]:
    return {"name": name, "type": kind, "widget": {"name": name}, "link": link_id}


def test_a_newer_frontend_lists_every_widget_and_positions_hold() -> None:
    listed = [widget("seed", "INT"), widget("steps", "INT"), widget("cfg", "FLOAT", 9), widget("sampler_name", "COMBO")]
    listed.append(widget("scheduler", "COMBO"))
    (recipe,) = parse_workflow(json.dumps(custom_sampler_workflow(listed)))
    assert (recipe.seed, recipe.steps, recipe.cfg_scale, recipe.sampler) == (123, 25, 8.5, "Euler")


def test_converted_widgets_of_an_old_frontend_do_not_shift_values() -> None:
    """Old frontends list only the converted widgets, in the order they were converted, while widgets_values keeps
    every widget in place: the listed names say nothing about positions, so no value goes to the wrong name."""
    converted = [widget("steps", "INT"), widget("cfg", "FLOAT", 9)]  # steps converted but unlinked, cfg linked
    (recipe,) = parse_workflow(json.dumps(custom_sampler_workflow(converted)))
    assert recipe.cfg_scale == 8.5  # from its link
    assert (recipe.steps, recipe.seed) == (None, None)  # not 123 (the seed's value, first in widgets_values)
    assert "steps" not in recipe.extra and "cfg" not in recipe.extra
    assert recipe.prompt == "a fox"  # still recognised as a sampler


def test_known_nodes_keep_their_table_with_converted_inputs() -> None:
    data = custom_sampler_workflow([widget("cfg", "FLOAT", 9)])
    data["nodes"][0]["type"] = "KSampler"
    data["nodes"][0]["widgets_values"].append(1)
    (recipe,) = parse_workflow(json.dumps(data))
    assert (recipe.seed, recipe.steps, recipe.cfg_scale, recipe.sampler) == (123, 25, 8.5, "Euler")
