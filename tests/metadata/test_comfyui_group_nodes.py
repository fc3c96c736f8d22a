"""ComfyUI UI workflows with legacy group nodes (``extra.groupNodes``, instances typed ``workflow>name``)."""

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

KSAMPLER_VALUES = [1, "randomize", 20, 7.0, "euler", "normal", 1]


def sampler_group() -> dict[str, Any]:
    """A group made of two prompts, a latent, a reroute, a note and a KSampler, as the frontend stores one: nodes in
    execution order, links by node index (the one from outside with a null origin), the sampler's output in
    `external` because it is also linked outside."""
    return {
        "nodes": [
            {
                "id": 6,
                "type": "CLIPTextEncode",
                "inputs": [{"name": "clip", "type": "CLIP", "link": None}],
                "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [], "slot_index": 0}],
                "widgets_values": ["a lighthouse at dusk"],
                "index": 0,
            },
            {
                "id": 7,
                "type": "CLIPTextEncode",
                "inputs": [{"name": "clip", "type": "CLIP", "link": None}],
                "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": []}],
                "widgets_values": ["blurry"],
                "index": 1,
            },
            {
                "id": 5,
                "type": "EmptyLatentImage",
                "outputs": [{"name": "LATENT", "type": "LATENT", "links": []}],
                "widgets_values": [512, 512, 1],
                "index": 2,
            },
            {
                "id": 12,
                "type": "Reroute",
                "inputs": [{"name": "", "type": "*", "link": None}],
                "outputs": [{"name": "", "type": "LATENT", "links": []}],
                "index": 3,
            },
            {"id": 13, "type": "Note", "widgets_values": ["made with a group node"], "index": 4},
            {
                "id": 3,
                "type": "KSampler",
                "inputs": [
                    {"name": "model", "type": "MODEL", "link": None},
                    {"name": "positive", "type": "CONDITIONING", "link": None},
                    {"name": "negative", "type": "CONDITIONING", "link": None},
                    {"name": "latent_image", "type": "LATENT", "link": None},
                ],
                "outputs": [{"name": "LATENT", "type": "LATENT", "links": []}],
                "widgets_values": list(KSAMPLER_VALUES),
                "index": 5,
            },
        ],
        "links": [
            [None, 1, 0, 0, 4, "CLIP"],  # from the checkpoint outside: dropped, as the frontend drops it
            [0, 0, 5, 1, 6, "CONDITIONING"],
            [1, 0, 5, 2, 7, "CONDITIONING"],
            [2, 0, 3, 0, 5, "LATENT"],
            [3, 0, 5, 3, 12, "LATENT"],
        ],
        "external": [[5, 0, "LATENT"]],
    }


def instance(node_id: int, *, values: list[Any], kind: str = "workflow>Sampler", mode: int = 0) -> dict[str, Any]:
    """A group node instance: its inputs are the inner inputs not linked inside (clip, clip, model), its output the
    sampler's LATENT; its widget values are the inner nodes' in turn (the note and the reroute have none)."""
    return {
        "id": node_id,
        "type": kind,
        "mode": mode,
        "inputs": [
            {"name": "clip", "type": "CLIP", "link": 5},
            {"name": "CLIPTextEncode clip", "type": "CLIP", "link": 6},
            {"name": "model", "type": "MODEL", "link": 1},
        ],
        "outputs": [{"name": "LATENT", "type": "LATENT", "links": [2]}],
        "widgets_values": values,
    }


INSTANCE_VALUES = ["a red barn", "blurry, lowres", 832, 1216, 1, 42, "fixed", 30, 6.5, "dpmpp_2m", "karras", 1]


def group_workflow(*instances: dict[str, Any]) -> dict[str, Any]:
    """A workflow-only file whose sampler sits in a group node; the loaders and the VAE decode are outside it."""
    nodes: list[dict[str, Any]] = [
        {"id": 4, "type": "CheckpointLoaderSimple", "mode": 0, "widgets_values": ["juggernautXL.safetensors"]},
        {"id": 9, "type": "VAELoader", "mode": 0, "widgets_values": ["sdxl_vae.safetensors"]},
        {"id": 8, "type": "VAEDecode", "inputs": [{"name": "samples", "link": 2}, {"name": "vae", "link": 3}]},
    ]
    nodes += instances or (instance(10, values=list(INSTANCE_VALUES)),)
    return {
        "last_node_id": 10,
        "last_link_id": 6,
        "nodes": nodes,
        "links": [
            [1, 4, 0, 10, 2, "MODEL"],
            [2, 10, 0, 8, 0, "LATENT"],
            [3, 9, 0, 8, 1, "VAE"],
            [5, 4, 1, 10, 0, "CLIP"],
            [6, 4, 1, 10, 1, "CLIP"],
        ],
        "groups": [],
        "config": {},
        "extra": {"groupNodes": {"Sampler": sampler_group()}},
        "version": 0.4,
    }


@pytest.mark.parametrize("kind", ["workflow>Sampler", "workflow/Sampler"])  # frontend >= 1.2.63, and before
def test_the_sampler_inside_a_group_node_gives_the_recipe(kind: str) -> None:
    (recipe,) = parse_workflow(json.dumps(group_workflow(instance(10, values=list(INSTANCE_VALUES), kind=kind))))
    assert (recipe.prompt, recipe.negative_prompt) == ("a red barn", "blurry, lowres")  # the instance's values
    assert (recipe.seed, recipe.steps, recipe.cfg_scale) == (42, 30, 6.5)
    assert (recipe.sampler, recipe.schedule) == ("DPM++ 2M", "karras")
    assert (recipe.width, recipe.height) == (832, 1216)  # through the reroute inside; the note took no values
    assert recipe.model == "juggernautXL"  # a link into the group
    assert recipe.vae == "sdxl_vae.safetensors"  # found forward, through the group's output
    assert recipe.extra["node_id"] == "10:5"  # inner nodes named by index, as the frontend's API export names them


def test_links_into_and_out_of_the_group() -> None:
    graph = workflow_to_graph(group_workflow())
    assert graph["10:5"]["inputs"]["model"] == ["4", 0]  # instance input 2 (model) -> the sampler's model
    assert graph["10:0"]["inputs"]["clip"] == ["4", 1] and graph["10:1"]["inputs"]["clip"] == ["4", 1]
    assert graph["10:5"]["inputs"]["positive"] == ["10:0", 0]  # links inside, by index
    assert graph["10:5"]["inputs"]["latent_image"] == ["10:2", 0]  # the reroute looked through
    assert graph["8"]["inputs"]["samples"] == ["10:5", 0]  # the instance's only output is the sampler's
    assert "10" not in graph and "10:4" not in graph  # neither the instance nor the note is a node of the graph


def test_an_image_with_only_a_workflow_chunk() -> None:
    chunks = ImageChunks("x.png", "PNG", 832, 1216, text={"workflow": json.dumps(group_workflow())})
    (recipe,) = read(chunks)
    assert recipe.prompt == "a red barn" and recipe.extra["graph"] == "workflow"


def test_two_instances_keep_their_own_values() -> None:
    second = instance(30, values=["a green field", "", 512, 768, 1, 7, "fixed", 25, 5.0, "euler", "normal", 1])
    recipes = parse_workflow(json.dumps(group_workflow(instance(10, values=list(INSTANCE_VALUES)), second)))
    assert sorted((r.extra["node_id"], r.prompt, r.seed, r.height) for r in recipes) == [
        ("10:5", "a red barn", 42, 1216),
        ("30:5", "a green field", 7, 768),
    ]


@pytest.mark.parametrize("values", [[], INSTANCE_VALUES[:-1], [*INSTANCE_VALUES, "extra"], {"seed": 42}, None])
def test_values_that_do_not_fit_the_group_leave_the_definitions_own(values: Any) -> None:
    (recipe,) = parse_workflow(json.dumps(group_workflow(instance(10, values=values))))
    assert (recipe.prompt, recipe.seed, recipe.steps, recipe.width) == ("a lighthouse at dusk", 1, 20, 512)


def test_a_converted_widget_fed_from_outside_and_the_values_before_it() -> None:
    """An inner widget converted to an input becomes an instance input after all plain ones; on the instance its
    value moves after all the others, so the sampler keeps its stored values, while the nodes before it get the
    instance's and the seed comes from outside."""
    data = group_workflow()
    sampler = data["extra"]["groupNodes"]["Sampler"]["nodes"][5]
    sampler["inputs"].append({"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": None})
    node = data["nodes"][3]
    node["inputs"].append({"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 7})
    node["widgets_values"] = ["a red barn", "blurry, lowres", 832, 1216, 1, "randomize", 30, 6.5, "dpmpp_2m", "karras"]
    node["widgets_values"] += [1, 42]
    data["nodes"].append({"id": 20, "type": "PrimitiveNode", "mode": 0, "widgets_values": [777, "fixed"]})
    data["links"].append([7, 20, 0, 10, 3, "INT"])
    (recipe,) = parse_workflow(json.dumps(data))
    assert (recipe.prompt, recipe.width, recipe.height) == ("a red barn", 832, 1216)
    assert (recipe.seed, recipe.steps, recipe.sampler) == (777, 20, "Euler")


def test_an_unlinked_primitive_inside_adds_no_values() -> None:
    data = group_workflow()
    group = data["extra"]["groupNodes"]["Sampler"]
    group["nodes"].insert(
        0, {"type": "PrimitiveNode", "outputs": [{"type": "*", "links": None}], "widgets_values": [5]}
    )
    group["links"] = [[None if o is None else o + 1, s, t + 1, ts, *rest] for o, s, t, ts, *rest in group["links"]]
    group["external"] = [[6, 0, "LATENT"]]
    (recipe,) = parse_workflow(json.dumps(data))
    assert (recipe.prompt, recipe.seed, recipe.extra["node_id"]) == ("a red barn", 42, "10:6")


@pytest.mark.parametrize("mode", [2, 4])
def test_muted_and_bypassed_instances_are_not_expanded(mode: int) -> None:
    assert parse_workflow(json.dumps(group_workflow(instance(10, values=INSTANCE_VALUES, mode=mode)))) == []


def test_hidden_inputs_and_shown_outputs_follow_the_groups_config() -> None:
    """`config` may hide an instance input (the next inner input takes its place) or show an output linked inside."""
    data = group_workflow()
    group = data["extra"]["groupNodes"]["Sampler"]
    group["config"] = {"1": {"input": {"clip": {"visible": False}}}, "0": {"output": {"0": {"visible": True}}}}
    node = data["nodes"][3]
    node["inputs"] = [node["inputs"][0], node["inputs"][2]]  # clip, model
    node["outputs"] = [{"name": "CONDITIONING", "links": [11]}, {"name": "LATENT", "links": [2]}]
    data["links"] = [[1, 4, 0, 10, 1, "MODEL"], [2, 10, 1, 8, 0, "LATENT"], [3, 9, 0, 8, 1, "VAE"], [5, 4, 1, 10, 0]]
    graph = workflow_to_graph(data)
    assert graph["10:5"]["inputs"]["model"] == ["4", 0] and "clip" not in graph["10:1"]["inputs"]
    assert graph["8"]["inputs"]["samples"] == ["10:5", 0]


def test_a_group_containing_itself_and_deep_nesting_end() -> None:
    data = group_workflow()
    data["extra"]["groupNodes"]["Sampler"]["nodes"].append({"type": "workflow/Sampler", "index": 6})
    (recipe,) = parse_workflow(json.dumps(data))
    assert recipe.prompt == "a red barn"
    chain = {f"g{n}": {"nodes": [{"type": f"workflow>g{n + 1}"}], "links": []} for n in range(MAX_SUBGRAPH_DEPTH + 10)}
    graph = workflow_to_graph({"nodes": [{"id": 1, "type": "workflow>g0"}], "extra": {"groupNodes": chain}})
    assert max(node_id.count(":") for node_id in graph) == MAX_SUBGRAPH_DEPTH


def test_nested_group_nodes_that_multiply_are_refused_quickly() -> None:
    fan = {f"f{n}": {"nodes": [{"type": f"workflow>f{n + 1}"}] * 40, "links": []} for n in range(6)}  # 40**6 nodes
    started = time.perf_counter()
    with pytest.raises(FormatError, match="group nodes expanded"):
        workflow_to_graph({"nodes": [{"id": 1, "type": "workflow>f0"}], "extra": {"groupNodes": fan}})
    wide = {"nodes": [{"type": "x", "inputs": [{"name": "a"}] * 5000}], "links": []}
    many = {"nodes": [{"id": i, "type": "workflow>wide"} for i in range(2000)], "extra": {"groupNodes": {"wide": wide}}}
    with pytest.raises(FormatError, match="group nodes expanded"):
        workflow_to_graph(many)  # few nodes, but each instance copies 5,000 inputs
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["extra"].update(groupNodes=[1, 2]),
        lambda d: d["extra"]["groupNodes"].update(Sampler={"nodes": "x", "links": 5, "external": {}, "config": []}),
        lambda d: d["extra"]["groupNodes"]["Sampler"]["links"].extend([[1], [True, 0, 5, 0], [0, 0, 99, 0], "x"]),
        lambda d: d["extra"]["groupNodes"]["Sampler"]["links"].extend([[5, 0, 0, 0], [0, 0, 0, 0], [-1, 0, 5, 1]]),
        lambda d: d["extra"]["groupNodes"]["Sampler"].update(external=[[None], [5, "0"], 3], config={"5": 1}),
        lambda d: d["extra"]["groupNodes"]["Sampler"].update(config={"0": {"input": [], "output": {"0": None}}}),
        lambda d: d["extra"]["groupNodes"]["Sampler"]["nodes"].extend([None, {"type": 5}, {"inputs": [None, 3]}]),
        lambda d: d["nodes"][3].update(inputs=[None, "x", {"link": 6}], outputs=None, widgets_values="abc"),
        lambda d: d["nodes"][3].update(type="workflow>"),
        lambda d: d.update(extra="x"),
    ],
)
def test_odd_group_node_shapes_never_crash(mutate: Any) -> None:
    data = copy.deepcopy(group_workflow())
    mutate(data)
    for recipe in parse_workflow(json.dumps(data)):
        json.dumps(recipe.model_dump(mode="json"))
