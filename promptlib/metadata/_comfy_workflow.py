"""Turn a ComfyUI UI workflow (nodes + links + widgets_values) into the API graph shape the walker reads.

The UI format stores widget values by position only, so names come from a table of common nodes, else from the
node's widget inputs when they account for every value (newer frontends list every widget there; older ones list
only the widgets converted to inputs, whose values keep their place among the others, so such a partial list says
nothing about positions and is not used), else a lone string widget on a text-like node is ``text``. Reroutes and
bypassed nodes are looked through; PrimitiveNode values are inlined as the API format does.

Subgraphs (newer frontends): ``definitions.subgraphs`` holds each definition (its own ``nodes``, ``links`` with
object links, ``inputs``/``outputs`` and the ids of its boundary nodes, ``inputNode``/``outputNode``, -10/-20 by
default); a node whose ``type`` is a definition's id is an instance. Instances are expanded in place, nested ones
too, the inner nodes named ``"<instance>:<inner id>"`` as ComfyUI's own API export names them: a link from the
input boundary continues with whatever feeds the instance's input of that name (a link outside, else the value the
instance holds for a promoted widget, else the inner widget's own value), and a link from an instance's output
continues inside, from the link that reaches the output boundary. Legacy ``properties.proxyWidgets`` instances
hold their values in proxy order.

Legacy group nodes (``extra.groupNodes``, instances typed ``workflow>name`` or ``workflow/name``; see
_comfy_groups.py) are expanded the same way, their inner nodes named ``"<instance>:<index>"`` as the frontend names
them, instance inputs and outputs matched by position, the instance's widget values laid over the inner nodes'.

Muted and bypassed instances are not expanded; expansion stops at `MAX_SUBGRAPH_DEPTH`, at a definition that
contains itself, and past `MAX_NODES` nodes or `MAX_EXPANDED_WEIGHT` nodes + inputs + widget values in all (a
FormatError: nested instances multiply).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from promptlib.errors import FormatError
from promptlib.metadata._comfy_groups import GROUP_PREFIXES, INPUT_BOUNDARY, ValueLayout, read_group
from promptlib.metadata._util import as_list

_CONTROL = "?control"  # a control_after_generate widget: present in newer files, absent in very old ones
_CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
_MUTED, _BYPASSED = 2, 4
_MAX_HOPS = 256
MAX_NODES = 20_000
MAX_SUBGRAPH_DEPTH = 16
MAX_SUBGRAPHS = 1_000  # definitions read (subgraphs, and group nodes apart)
MAX_EXPANDED_WEIGHT = 1_000_000  # nodes + their inputs + widget values that expanding instances may add
_SUBGRAPH_INPUT, _SUBGRAPH_OUTPUT = -10, -20  # litegraph's ids of a definition's boundary nodes

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
_HIDDEN_PROXIES = ("$$", "control_after_generate")  # proxyWidgets entries that are no widget value


class _Link(NamedTuple):
    origin: str
    slot: int
    kind: str
    target: str | None
    target_slot: int | None


@dataclass(frozen=True)
class _Definition:
    """A subgraph or group node definition, read once however many instances it has."""

    key: str  # what an instance's type names (for groups, one of the two spellings)
    nodes: list[dict[str, Any]]
    links: dict[int, _Link]
    input_id: str
    input_names: list[str | None]
    outputs: dict[int, int]  # output slot -> the inner link that reaches it
    weight: int
    values: ValueLayout | None = None  # a group node: its instances' widget values by position


@dataclass
class _Flat:
    """A workflow with its subgraph instances expanded: nodes by global id, links per scope (instance id)."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    scope: dict[str, str] = field(default_factory=dict)  # global id -> the instance it sits in ("" at the top)
    links: dict[str, dict[int, _Link]] = field(default_factory=dict)
    expanded: dict[str, _Definition] = field(default_factory=dict)  # instance id -> its definition
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # widget values legacy instances set
    _inputs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _hosts: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def instance_input(self, instance_id: str, slot: int) -> dict[str, Any] | None:
        """The input of an instance that feeds its definition's input `slot`: by name, else by position (group
        nodes: by position only)."""
        instance, definition = self.nodes[instance_id], self.expanded[instance_id]
        slots = as_list(instance.get("inputs"))
        if definition.values is not None:
            item = slots[slot] if 0 <= slot < len(slots) else None
            return item if isinstance(item, dict) else None
        if instance_id not in self._inputs:
            by_name: dict[str, dict[str, Any]] = {}
            for item in slots:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    by_name.setdefault(item["name"], item)
            self._inputs[instance_id] = by_name
        name = definition.input_names[slot] if 0 <= slot < len(definition.input_names) else None
        if name is not None and name in self._inputs[instance_id]:
            return self._inputs[instance_id][name]
        item = slots[slot] if 0 <= slot < len(slots) else None
        return item if isinstance(item, dict) and item.get("name") in (None, name) else None

    def host_value(self, instance_id: str, item: dict[str, Any]) -> Any:
        """The value an instance holds for a promoted widget input, None when it holds none (or not knowably)."""
        widget = item.get("widget")
        name = widget.get("name") if isinstance(widget, dict) else None
        instance = self.nodes[instance_id]
        properties = instance.get("properties")
        if not isinstance(name, str) or (isinstance(properties, dict) and "proxyWidgets" in properties):
            return None  # legacy instances: their values are `overrides`
        if self.expanded[instance_id].values is not None:
            return None  # group nodes: their values are laid over the inner nodes
        if instance_id not in self._hosts:
            values = instance.get("widgets_values")
            if isinstance(values, dict):
                self._hosts[instance_id] = {str(key): value for key, value in values.items()}
            else:
                self._hosts[instance_id] = _positional(_widget_slots(instance), as_list(values))
        host = self._hosts[instance_id]
        return host.get(name) if host else None


def workflow_to_graph(data: Any) -> dict[str, dict[str, Any]]:
    """An API-shaped graph ``{id: {"class_type", "inputs"}}`` from a UI workflow dict; raises FormatError."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise FormatError("ComfyUI workflow has no node list")
    flat = _flatten(data)
    graph: dict[str, dict[str, Any]] = {}
    for node_id, node in flat.nodes.items():
        kind = node.get("type")
        skipped = not isinstance(kind, str) or kind in _SKIPPED_TYPES or node_id in flat.expanded
        if skipped or node.get("mode") in (_MUTED, _BYPASSED):
            continue
        assert isinstance(kind, str)
        inputs = _widget_inputs(node, kind)
        inputs.update(flat.overrides.get(node_id, {}))
        for slot in as_list(node.get("inputs")):
            if not isinstance(slot, dict) or not isinstance(slot.get("name"), str):
                continue
            source = _resolve(flat, flat.scope[node_id], slot.get("link"))
            if source is not None:
                inputs[slot["name"]] = source
        graph[node_id] = {"class_type": kind, "inputs": inputs}
    return graph


def _flatten(data: dict[str, Any]) -> _Flat:
    """The workflow's nodes with every active subgraph and group node instance expanded (nested ones too), bounded."""
    definitions = _definitions(data)
    top = _nodes(data)
    if len(top) > MAX_NODES:
        raise FormatError(f"ComfyUI workflow has more than {MAX_NODES:,} nodes")
    flat = _Flat()
    flat.links[""] = _links(data.get("links"))
    count, weight = len(top), 0
    stack: list[tuple[str, list[dict[str, Any]], tuple[str, ...]]] = [("", top, ())]
    while stack:
        scope, nodes, ancestry = stack.pop()
        prefix = f"{scope}:" if scope else ""
        for node in nodes:
            node_id = f"{prefix}{_node_id(node)}"
            flat.nodes[node_id] = node
            flat.scope[node_id] = scope
            kind = node.get("type")
            definition = definitions.get(kind) if isinstance(kind, str) else None
            if definition is None or node.get("mode") in (_MUTED, _BYPASSED):
                continue
            if definition.key in ancestry or len(ancestry) >= MAX_SUBGRAPH_DEPTH:
                continue  # a definition holding itself, or nesting past any real workflow: left as an unknown node
            count += len(definition.nodes)
            weight += definition.weight
            if count > MAX_NODES or weight > MAX_EXPANDED_WEIGHT:
                raise FormatError(
                    f"ComfyUI workflow has more than {MAX_NODES:,} nodes with its subgraphs and group nodes expanded"
                )
            flat.expanded[node_id] = definition
            flat.links[node_id] = definition.links
            _legacy_overrides(node, node_id, flat)
            stack.append((node_id, _instance_nodes(node, definition), (*ancestry, definition.key)))
    return flat


def _instance_nodes(instance: dict[str, Any], definition: _Definition) -> list[dict[str, Any]]:
    """The inner nodes of one instance: a group node's with the instance's widget values laid over theirs."""
    if definition.values is None:
        return definition.nodes
    values = definition.values.split(instance.get("widgets_values"))
    if not values:
        return definition.nodes
    return [
        {**node, "widgets_values": values[node["id"]]} if node["id"] in values else node for node in definition.nodes
    ]


def _definitions(data: dict[str, Any]) -> dict[str, _Definition]:
    """Definitions by the type their instances have: subgraphs by id, from ``definitions.subgraphs`` (and any
    nested there), then group nodes by both spellings of their type, from ``extra.groupNodes``; at most
    MAX_SUBGRAPHS of each."""
    out: dict[str, _Definition] = {}
    containers = [data]
    while containers and len(out) < MAX_SUBGRAPHS:
        holder = containers.pop().get("definitions")
        for item in as_list(holder.get("subgraphs") if isinstance(holder, dict) else None):
            if len(out) >= MAX_SUBGRAPHS:
                break
            if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"] not in out:
                out[item["id"]] = _definition(item)
                containers.append(item)
    extra = data.get("extra")
    groups = extra.get("groupNodes") if isinstance(extra, dict) else None
    if isinstance(groups, dict):
        for name, item in list(groups.items())[:MAX_SUBGRAPHS]:
            if isinstance(item, dict):
                definition = _group_definition(f"{GROUP_PREFIXES[0]}{name}", item)
                for prefix in GROUP_PREFIXES:
                    out.setdefault(f"{prefix}{name}", definition)
    return out


def _group_definition(key: str, item: dict[str, Any]) -> _Definition:
    parts = read_group(item)
    links = {link_id: _Link(*link) for link_id, link in parts.links.items()}
    weight = _weight(parts.nodes)
    return _Definition(key, parts.nodes, links, INPUT_BOUNDARY, [], parts.outputs, weight, parts.values)


def _definition(item: dict[str, Any]) -> _Definition:
    nodes = _nodes(item)
    links = _links(item.get("links"))
    output_id = _io_id(item.get("outputNode"), _SUBGRAPH_OUTPUT)
    outputs: dict[int, int] = {}
    for link_id, link in links.items():
        if link.target == output_id and link.target_slot is not None:
            outputs.setdefault(link.target_slot, link_id)
    for slot, output in enumerate(as_list(item.get("outputs"))):
        known = as_list(output.get("linkIds")) if isinstance(output, dict) else []
        ids = [link_id for link_id in known if _is_int(link_id) and link_id in links]
        if ids:
            outputs.setdefault(slot, ids[0])
    names = [
        entry["name"] if isinstance(entry, dict) and isinstance(entry.get("name"), str) else None
        for entry in as_list(item.get("inputs"))
    ]
    input_id = _io_id(item.get("inputNode"), _SUBGRAPH_INPUT)
    return _Definition(str(item["id"]), nodes, links, input_id, names, outputs, _weight(nodes))


def _weight(nodes: list[dict[str, Any]]) -> int:
    return sum(1 + len(as_list(node.get("inputs"))) + _size(node.get("widgets_values")) for node in nodes)


def _io_id(node: Any, default: int) -> str:
    value = node.get("id") if isinstance(node, dict) else None
    return str(value) if isinstance(value, int | str) and not isinstance(value, bool) else str(default)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, list | dict) else 0


def _nodes(graph: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for node in as_list(graph.get("nodes")) if isinstance(node, dict) and _node_id(node) is not None]


def _legacy_overrides(instance: dict[str, Any], instance_id: str, flat: _Flat) -> None:
    """Values a legacy instance holds by ``properties.proxyWidgets`` position, for the inner widgets they name."""
    properties = instance.get("properties")
    entries = properties.get("proxyWidgets") if isinstance(properties, dict) else None
    values = instance.get("widgets_values")
    if not isinstance(entries, list) or not isinstance(values, list):
        return
    for entry, value in zip(entries, values, strict=False):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], str)) or value is None:
            continue
        inner, widget = entry
        if isinstance(inner, int | str) and not isinstance(inner, bool) and not widget.startswith(_HIDDEN_PROXIES):
            flat.overrides.setdefault(f"{instance_id}:{inner}", {})[widget] = value


def _node_id(node: dict[str, Any]) -> int | str | None:
    value = node.get("id")
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def _links(raw: Any) -> dict[int, _Link]:
    """Link id -> its ends and type; accepts the list and the object link forms."""
    out: dict[int, _Link] = {}
    for link in raw if isinstance(raw, list) else []:
        if isinstance(link, list) and len(link) >= 5:
            link_id, origin, slot, target, target_slot = link[:5]
            kind = link[5] if len(link) > 5 else ""
        elif isinstance(link, dict):
            link_id, origin, slot, kind = (
                link.get("id"),
                link.get("origin_id"),
                link.get("origin_slot"),
                link.get("type"),
            )
            target, target_slot = link.get("target_id"), link.get("target_slot")
        else:
            continue
        if _is_int(link_id) and isinstance(origin, int | str) and not isinstance(origin, bool) and _is_int(slot):
            out[link_id] = _Link(
                str(origin),
                slot,
                kind if isinstance(kind, str) else "",
                str(target) if isinstance(target, int | str) and not isinstance(target, bool) else None,
                target_slot if _is_int(target_slot) else None,
            )
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _resolve(flat: _Flat, scope: str, link_id: Any) -> Any:
    """What feeds an input: ``[node_id, slot]``, an inlined primitive value, or None (unconnected/muted)."""
    for _hop in range(_MAX_HOPS):
        table = flat.links.get(scope, {})
        link = table.get(link_id) if _is_int(link_id) else None
        if link is None:
            return None
        definition = flat.expanded.get(scope)
        if definition is not None and link.origin == definition.input_id:
            # from the subgraph's input boundary: on with what feeds the instance's matching input
            item = flat.instance_input(scope, link.slot)
            if item is None:
                return None
            if item.get("link") is not None:
                scope, link_id = flat.scope[scope], item.get("link")
                continue
            return flat.host_value(scope, item)
        node_id = f"{scope}:{link.origin}" if scope else link.origin
        node = flat.nodes.get(node_id)
        if node is None:
            return None
        inner = flat.expanded.get(node_id)
        if inner is not None:  # an instance's output: on inside, from the link that reaches its output boundary
            scope, link_id = node_id, inner.outputs.get(link.slot)
            continue
        node_type = node.get("type")
        if node_type == "PrimitiveNode":
            values = node.get("widgets_values")
            return values[0] if isinstance(values, list) and values else None
        if node_type == "Reroute" or node.get("mode") == _BYPASSED:
            link_id = _passthrough(node, link.kind)
            continue
        if node.get("mode") == _MUTED:
            return None
        return [node_id, link.slot]
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
    if names is not None:
        return _by_table(names, values)
    slots = _widget_slots(node)
    listed = _positional(slots, values)
    if listed is not None and (listed or not values):
        return listed
    # An older frontend lists only the widgets converted to inputs: their names, but not where their values sit.
    # Named without a value, they still say what the node is (a sampler has steps); links may fill them in.
    out: dict[str, Any] = {name: None for name, _seed, _integer in slots}
    strings = [value for value in values if isinstance(value, str)]
    text_like = any(word in kind.lower() for word in ("text", "prompt", "string"))
    if text_like and len(strings) == 1 and out.get("text") is None:
        out["text"] = strings[0]
    return out


def _by_table(names: tuple[str, ...], values: list[Any]) -> dict[str, Any]:
    """Widget values named by a `WIDGETS` row; a control widget is skipped only where its value is there."""
    out: dict[str, Any] = {}
    index = 0
    for name in names:
        if index >= len(values):
            break
        if name == _CONTROL:
            if _is_control(values[index], seed=True):
                index += 1
            continue
        out[name] = values[index]
        index += 1
    return out


def _widget_slots(node: dict[str, Any]) -> list[tuple[str, bool, bool]]:
    """(widget name, seed-like, INT) for each input of `node` that carries a widget, in order."""
    out = []
    for slot in as_list(node.get("inputs")):
        widget = slot.get("widget") if isinstance(slot, dict) else None
        name = widget.get("name") if isinstance(widget, dict) else None
        if isinstance(name, str):
            out.append((name, "seed" in name.lower(), slot.get("type") == "INT"))
    return out


def _positional(slots: list[tuple[str, bool, bool]], values: list[Any]) -> dict[str, Any] | None:
    """Values by widget name when `slots` account for every value in order (a control value may follow a seed or
    INT widget); None when they do not, for then positions cannot be trusted."""
    out: dict[str, Any] = {}
    index = 0
    for name, seed, integer in slots:
        if index >= len(values):
            return None
        out[name] = values[index]
        index += 1
        if (seed or integer) and index < len(values) and _is_control(values[index], seed=seed):
            index += 1
    return out if index == len(values) else None


def _is_control(value: Any, *, seed: bool) -> bool:
    """A control_after_generate value (very old files wrote a bool after seeds)."""
    return (isinstance(value, str) and value in _CONTROL_VALUES) or (seed and isinstance(value, bool))
