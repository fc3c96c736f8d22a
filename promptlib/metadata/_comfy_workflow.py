"""Turn a ComfyUI UI workflow (nodes + links + widgets_values) into the API graph shape the walker reads.

The UI format stores widget values by position only, so names come from a table of common nodes, then from
the node's widget inputs (newer frontends list them), then a lone string widget on a text-like node is ``text``.
Reroutes and bypassed nodes are looked through; PrimitiveNode values are inlined as the API format does.
"""

from __future__ import annotations

from typing import Any

from promptlib.errors import FormatError
from promptlib.metadata._util import as_list

_CONTROL = "?control"  # a control_after_generate widget: present in newer files, absent in very old ones
_CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
_MUTED, _BYPASSED = 2, 4
_MAX_HOPS = 256
MAX_NODES = 20_000

WIDGETS: dict[str, tuple[str, ...]] = {
    "KSampler": ("seed", _CONTROL, "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    "KSamplerAdvanced": (
        "add_noise",
        "noise_seed",
        _CONTROL,
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "start_at_step",
        "end_at_step",
        "return_with_leftover_noise",
    ),
    "SamplerCustom": ("add_noise", "noise_seed", _CONTROL, "cfg"),
    "RandomNoise": ("noise_seed", _CONTROL),
    "KSamplerSelect": ("sampler_name",),
    "BasicScheduler": ("scheduler", "steps", "denoise"),
    "KarrasScheduler": ("steps", "sigma_max", "sigma_min", "rho"),
    "ExponentialScheduler": ("steps", "sigma_max", "sigma_min"),
    "PolyexponentialScheduler": ("steps", "sigma_max", "sigma_min", "rho"),
    "SDTurboScheduler": ("steps", "denoise"),
    "AlignYourStepsScheduler": ("model_type", "steps", "denoise"),
    "BetaSamplingScheduler": ("steps", "alpha", "beta"),
    "CFGGuider": ("cfg",),
    "DualCFGGuider": ("cfg_conds", "cfg_cond2_negative"),
    "FluxGuidance": ("guidance",),
    "CLIPTextEncode": ("text",),
    "CLIPTextEncodeSDXL": ("width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g", "text_l"),
    "CLIPTextEncodeSDXLRefiner": ("ascore", "width", "height", "text"),
    "CLIPTextEncodeFlux": ("clip_l", "t5xxl", "guidance"),
    "CLIPTextEncodeSD3": ("clip_l", "clip_g", "t5xxl", "empty_padding"),
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CheckpointLoader": ("config_name", "ckpt_name"),
    "unCLIPCheckpointLoader": ("ckpt_name",),
    "ImageOnlyCheckpointLoader": ("ckpt_name",),
    "UNETLoader": ("unet_name", "weight_dtype"),
    "UnetLoaderGGUF": ("unet_name",),
    "VAELoader": ("vae_name",),
    "LoraLoader": ("lora_name", "strength_model", "strength_clip"),
    "LoraLoaderModelOnly": ("lora_name", "strength_model"),
    # ComfyUI-Custom-Scripts loaders with preview images: the name widget holds {"content", "image"}
    "CheckpointLoader|pysssss": ("ckpt_name",),
    "LoraLoader|pysssss": ("lora_name", "strength_model", "strength_clip"),
    "CLIPSetLastLayer": ("stop_at_clip_layer",),
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "EmptySD3LatentImage": ("width", "height", "batch_size"),
    "LatentUpscale": ("upscale_method", "width", "height", "crop"),
    "LatentUpscaleBy": ("upscale_method", "scale_by"),
    "ConditioningSetArea": ("width", "height", "x", "y", "strength"),
    "unCLIPConditioning": ("strength", "noise_augmentation"),
    "ControlNetApply": ("strength",),
    "ControlNetApplyAdvanced": ("strength", "start_percent", "end_percent"),
    "LatentComposite": ("x", "y", "feather"),
    # comfy_extras/nodes_primitive.py: real nodes (not the frontend's PrimitiveNode) with one "value" widget
    "PrimitiveInt": ("value", _CONTROL),
    "PrimitiveFloat": ("value",),
    "PrimitiveBoolean": ("value",),
    "PrimitiveString": ("value",),
    "PrimitiveStringMultiline": ("value",),
    "StringConcatenate": ("string_a", "string_b", "delimiter"),
    "Text Concatenate": ("delimiter", "clean_whitespace"),  # WAS: text_a..text_d are inputs only
    "CR Text Concatenate": ("separator",),
    "Lora Loader Stack (rgthree)": tuple(f"{name}_0{index}" for index in range(1, 5) for name in ("lora", "strength")),
    "KSampler Config (rgthree)": ("steps_total", "refiner_step", "cfg", "sampler_name", "scheduler"),
    "SDXL Config (rgthree)": ("steps_total", "refiner_step", "sampler_name", "scheduler"),
}
_SKIPPED_TYPES = {"Reroute", "PrimitiveNode", "Note", "MarkdownNote"}


def workflow_to_graph(data: Any) -> dict[str, dict[str, Any]]:
    """An API-shaped graph ``{id: {"class_type", "inputs"}}`` from a UI workflow dict; raises FormatError."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise FormatError("ComfyUI workflow has no node list")
    raw_nodes = [node for node in data["nodes"] if isinstance(node, dict) and _node_id(node) is not None]
    if len(raw_nodes) > MAX_NODES:
        raise FormatError(f"ComfyUI workflow has more than {MAX_NODES:,} nodes")
    nodes = {str(_node_id(node)): node for node in raw_nodes}
    links = _links(data.get("links"))
    graph: dict[str, dict[str, Any]] = {}
    for node_id, node in nodes.items():
        kind = node.get("type")
        if not isinstance(kind, str) or kind in _SKIPPED_TYPES or node.get("mode") in (_MUTED, _BYPASSED):
            continue
        inputs = _widget_inputs(node, kind)
        for slot in as_list(node.get("inputs")):
            if not isinstance(slot, dict) or not isinstance(slot.get("name"), str):
                continue
            source = _resolve(slot.get("link"), nodes=nodes, links=links)
            if source is not None:
                inputs[slot["name"]] = source
        graph[node_id] = {"class_type": kind, "inputs": inputs}
    return graph


def _node_id(node: dict[str, Any]) -> int | str | None:
    value = node.get("id")
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def _links(raw: Any) -> dict[int, tuple[str, int, str]]:
    """Link id -> (origin node id, origin slot, type); accepts the list and the object link forms."""
    out: dict[int, tuple[str, int, str]] = {}
    for link in raw if isinstance(raw, list) else []:
        if isinstance(link, list) and len(link) >= 5:
            link_id, origin, slot, kind = link[0], link[1], link[2], link[5] if len(link) > 5 else ""
        elif isinstance(link, dict):
            link_id, origin, slot, kind = (
                link.get("id"),
                link.get("origin_id"),
                link.get("origin_slot"),
                link.get("type"),
            )
        else:
            continue
        if isinstance(link_id, int) and isinstance(origin, int | str) and isinstance(slot, int):
            out[link_id] = (str(origin), slot, kind if isinstance(kind, str) else "")
    return out


def _resolve(link_id: Any, *, nodes: dict[str, dict[str, Any]], links: dict[int, tuple[str, int, str]]) -> Any:
    """What feeds an input: ``[node_id, slot]``, an inlined primitive value, or None (unconnected/muted)."""
    for _hop in range(_MAX_HOPS):
        if not isinstance(link_id, int) or link_id not in links:
            return None
        origin, slot, kind = links[link_id]
        node = nodes.get(origin)
        if node is None:
            return None
        node_type = node.get("type")
        if node_type == "PrimitiveNode":
            values = node.get("widgets_values")
            return values[0] if isinstance(values, list) and values else None
        if node_type == "Reroute" or node.get("mode") == _BYPASSED:
            link_id = _passthrough(node, kind)
            continue
        if node.get("mode") == _MUTED:
            return None
        return [origin, slot]
    return None  # a reroute cycle or an absurdly long chain


def _passthrough(node: dict[str, Any], kind: str) -> Any:
    """The input link a reroute or bypassed node passes on: the first one of the same type, else the first."""
    slots = [slot for slot in as_list(node.get("inputs")) if isinstance(slot, dict) and slot.get("link") is not None]
    for slot in slots:
        if not kind or slot.get("type") in (kind, "*"):
            return slot.get("link")
    return slots[0].get("link") if slots else None


def _widget_inputs(node: dict[str, Any], kind: str) -> dict[str, Any]:
    values = node.get("widgets_values")
    if isinstance(values, dict):
        return {str(key): value for key, value in values.items()}
    if not isinstance(values, list):
        return {}
    rows = [value for value in values if isinstance(value, dict) and isinstance(value.get("lora"), str)]
    if rows and kind not in WIDGETS:  # rgthree Power Lora Loader: a dict per LoRA, named lora_1.. in API graphs
        return {f"lora_{index}": row for index, row in enumerate(rows, 1)}
    names = WIDGETS.get(kind)
    if names is None:
        widget_names = [
            slot["widget"]["name"]
            for slot in as_list(node.get("inputs"))
            if isinstance(slot, dict)
            and isinstance(slot.get("widget"), dict)
            and isinstance(slot["widget"].get("name"), str)
        ]
        names = tuple(_with_controls(widget_names))
    if not names:
        strings = [value for value in values if isinstance(value, str)]
        text_like = any(word in kind.lower() for word in ("text", "prompt", "string"))
        return {"text": strings[0]} if text_like and len(strings) == 1 else {}
    out: dict[str, Any] = {}
    index = 0
    for name in names:
        if index >= len(values):
            break
        if name == _CONTROL:
            control = values[index]
            if isinstance(control, bool) or (isinstance(control, str) and control in _CONTROL_VALUES):
                index += 1
            continue
        out[name] = values[index]
        index += 1
    return out


def _with_controls(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        out.append(name)
        if "seed" in name.lower():
            out.append(_CONTROL)
    return out
