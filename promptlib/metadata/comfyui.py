"""ComfyUI: recipes from the ``prompt`` chunk (API graph) or, when that is absent or unusable, ``workflow``.

Each sampler node (found by its inputs: a latent plus conditioning or a guider plus sampling parameters, so
custom-pack samplers count too) becomes one recipe. From it the walker follows links back to the text encoders
behind positive/negative (through combine/concat/area/ControlNet nodes and string nodes), the model loader and
LoRA loaders behind ``model``, the latent source for the size, CLIPSetLastLayer for clip skip, and forward to
the VAEDecode for the VAE. Every walk is iterative with a visit budget, so cycles and deep graphs are harmless.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from promptlib.errors import FormatError
from promptlib.limits import MAX_METADATA_CHARS, MAX_PROMPT_CHARS
from promptlib.metadata._comfy_workflow import MAX_NODES, workflow_to_graph
from promptlib.metadata._util import RecipeBuilder, load_json, looks_like_json_object, parse_size, to_float, to_int
from promptlib.metadata.chunks import ImageChunks
from promptlib.recipe import Recipe

GENERATOR = "comfyui"
MAX_SAMPLERS = 64
_BUDGET = 4096  # nodes one walk may visit
_MAX_HOPS = 256  # links one chain (reroute-like passthroughs, scalar lookups) may follow
_MAX_NESTING = 32  # string-concatenation nodes evaluated inside one another (each level is two stack frames)
# Characters that concatenations may build (doubling chains): per prompt walk (a longer prompt is refused when stored
# anyway) and per graph (64 samplers × 2 walks must not add up to gigabytes).
_TEXT_BUDGET = MAX_PROMPT_CHARS
_GRAPH_TEXT_BUDGET = MAX_METADATA_CHARS
Graph = dict[str, dict[str, Any]]

_VALUE_NAMES = ("value", "Value", "int", "float", "number", "string", "text", "seed", "INT", "FLOAT", "STRING")
_MODEL_FILE_KEYS = ("ckpt_name", "unet_name", "base_ckpt_name", "model_name", "model_path")
# Model-strength input names of LoRA loaders and stacks (core, Efficiency, Comfyroll, ...), most specific first.
_LORA_WEIGHT_KEYS = (
    "strength_model",
    "lora_model_strength",
    "model_weight",
    "lora_wt",
    "model_str",
    "strength",
    "lora_strength",
    "weight",
)
# lora_name, lora_name_2 (core, Efficiency, Comfyroll) and lora_01 (rgthree Lora Loader Stack), not a bare "lora" link.
_LORA_NAME_RE = re.compile(r"(?:lora_name|lora(?=_\d))(_\d+)?")
_RGTHREE_STACK = "Lora Loader Stack (rgthree)"  # skips a LoRA whose strength is 0 (rgthree py/lora_stack.py)
# The input each output slot passes on, for nodes with several scalar outputs: a link is [node_id, slot], and
# matching by input name alone sends a KSampler's `steps` nowhere (rgthree py/ksampler_config.py, sdxl_config.py).
_OUTPUT_INPUTS: dict[str, tuple[str, ...]] = {
    "KSampler Config (rgthree)": ("steps_total", "refiner_step", "cfg", "sampler_name", "scheduler"),
    "SDXL Config (rgthree)": ("steps_total", "refiner_step", "sampler_name", "scheduler"),
}
_NO_FOLLOW = frozenset(
    [
        "clip",
        "model",
        "vae",
        "image",
        "images",
        "pixels",
        "mask",
        "control_net",
        "controlnet",
        "clip_vision",
        "clip_vision_output",
        "style_model",
        "samples",
        "latent",
        "latent_image",
        "upscale_model",
        "ipadapter",
        "unet",
        "noise",
        "sigmas",
        "sampler",
        "guider",
        "gligen_textbox_model",
        "image_embeds",
        "insightface",
    ]
)
_NOT_TEXT = frozenset({"delimiter", "separator", "clip_name", "mode", "wildcard_mode"})
_SAMPLER_INPUTS = ("steps", "sigmas", "sampler_name", "sampler", "seed", "noise_seed", "noise", "cfg")
_CONSUMED = frozenset({"seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "control_after_generate"})
_CAMEL_RE = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass(frozen=True)
class _Joiner:
    """How a string-concatenation node builds its output, so the prompt keeps its real delimiter."""

    parts: tuple[str, ...]  # the inputs joined, in this order
    delimiter: str  # the input holding the delimiter
    default: str  # the delimiter when that input is absent
    drop_empty: bool = False  # empty pieces are left out rather than joined
    strip_switch: str | None = None  # an input that strips each piece unless it is "false"
    escaped_newline: bool = False  # a typed "\\n" delimiter means a newline


_JOINERS: dict[str, _Joiner] = {
    # Comfy-Org/ComfyUI comfy_extras/nodes_string.py: delimiter.join((string_a, string_b))
    "StringConcatenate": _Joiner(("string_a", "string_b"), "delimiter", ""),
    # WASasquatch/was-node-suite-comfyui WAS_Text_Concatenate: the non-empty text_a..text_d, stripped by default
    "Text Concatenate": _Joiner(
        ("text_a", "text_b", "text_c", "text_d"),
        "delimiter",
        ", ",
        drop_empty=True,
        strip_switch="clean_whitespace",
        escaped_newline=True,
    ),
    # Suzie1/ComfyUI_Comfyroll_CustomNodes CR_TextConcatenate: text1 + separator + text2
    "CR Text Concatenate": _Joiner(("text1", "text2"), "separator", ""),
}


@dataclass
class _TextWalk:
    """One prompt walk, shared with the concatenations it evaluates: one visit budget, one text budget, one cache."""

    role: str
    visits: int = 0
    chars: int = 0
    joined: dict[str, str | None] = field(default_factory=dict)
    clip_skip: int | None = None
    guidance: Any = None


def parse_prompt_graph(text: str) -> list[Recipe]:
    """Recipes from a ``prompt`` chunk (API graph ``{id: {class_type, inputs}}``), one per sampler.

    Raises FormatError if the text is not JSON, nests too deeply or is not a node graph.
    """
    data = load_json(text, what="ComfyUI prompt chunk")
    if not isinstance(data, dict):
        raise FormatError("ComfyUI prompt chunk is not a node graph")
    graph: Graph = {}
    for node_id, node in data.items():
        if isinstance(node, dict) and isinstance(node.get("class_type"), str):
            inputs = node.get("inputs")
            graph[str(node_id)] = {
                "class_type": node["class_type"],
                "inputs": inputs if isinstance(inputs, dict) else {},
            }
    if not graph:
        raise FormatError("ComfyUI prompt chunk is not a node graph")
    if len(graph) > MAX_NODES:
        raise FormatError(f"ComfyUI prompt chunk has more than {MAX_NODES:,} nodes")
    return recipes_from_graph(graph, raw=text, source="prompt")


def parse_workflow(text: str) -> list[Recipe]:
    """Recipes from a ``workflow`` chunk (UI graph: nodes, links, widgets_values); raises FormatError."""
    return recipes_from_graph(
        workflow_to_graph(load_json(text, what="ComfyUI workflow chunk")), raw=text, source="workflow"
    )


def recipes_from_graph(graph: Graph, *, raw: str, source: str) -> list[Recipe]:
    """One recipe per sampler node of an API-shaped graph, earliest stage first; [] if there is no sampler."""
    walker = _Walker(graph)
    samplers = [node_id for node_id in graph if walker.is_sampler(node_id)][:MAX_SAMPLERS]
    samplers.sort(key=lambda node_id: (walker.stage(node_id), _natural(node_id)))
    recipes: list[Recipe] = []
    for node_id in samplers:
        try:
            recipes.append(walker.recipe(node_id, raw=raw, source=source))
        except FormatError:
            continue  # one unusable sampler should not hide the others
    return recipes


def read(chunks: ImageChunks) -> list[Recipe]:
    """Recipes from an image's ComfyUI chunks, else []; FormatError only when the chunks exist and are unusable."""
    error: FormatError | None = None
    for key, parse in (("prompt", parse_prompt_graph), ("workflow", parse_workflow)):
        text = chunks.text.get(key)
        if not looks_like_json_object(text):
            continue  # Easy Diffusion also writes a plain-text "prompt" chunk
        assert text is not None
        try:
            recipes = parse(text)
        except FormatError as exc:
            error = error or exc
            continue
        if recipes:
            return recipes
    if error is not None:
        raise error
    return []


def _natural(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() and len(node_id) < 18 else (1 << 62, node_id)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _camel_words(name: str) -> str:
    return _CAMEL_RE.sub(" ", name)


class _Walker:
    """Bounded walks over one API-shaped graph, upstream (inputs) and downstream (consumers)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._consumers: dict[str, list[tuple[str, str]]] | None = None
        self.text_chars = 0  # built by concatenations over all walks (`_GRAPH_TEXT_BUDGET`)

    # --- basics ---

    def target(self, value: Any) -> str | None:
        """The node id a link ``[node_id, output_index]`` points at, else None."""
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int) and not isinstance(value[1], bool):
            node_id = value[0]
            if isinstance(node_id, str | int) and not isinstance(node_id, bool) and str(node_id) in self.graph:
                return str(node_id)
        return None

    def inputs(self, node_id: str) -> dict[str, Any]:
        inputs: dict[str, Any] = self.graph[node_id]["inputs"]
        return inputs

    def kind(self, node_id: str) -> str:
        kind: str = self.graph[node_id]["class_type"]
        return kind

    def scalar(self, value: Any, names: tuple[str, ...] = ()) -> Any:
        """A literal input value, or the value a linked node (primitive, seed/int/string node) provides.

        A link into a node of `_OUTPUT_INPUTS` follows the input behind its output slot; others match by name.
        """
        for _hop in range(_MAX_HOPS):
            node_id = self.target(value)
            if node_id is None:
                return _literal(value)
            inputs = self.inputs(node_id)
            passed = _OUTPUT_INPUTS.get(self.kind(node_id), ())
            slot: int = value[1]
            if 0 <= slot < len(passed) and passed[slot] in inputs:
                value = inputs[passed[slot]]
                continue
            name = next((n for n in (*names, *_VALUE_NAMES) if n in inputs), None)
            if name is not None:
                value = inputs[name]
                continue
            scalars = [v for v in inputs.values() if _is_scalar(v)]
            links = [v for v in inputs.values() if self.target(v) is not None]
            if len(scalars) == 1:
                return scalars[0]
            if not scalars and len(links) == 1:
                value = links[0]
                continue
            return None
        return None

    def consumers(self) -> dict[str, list[tuple[str, str]]]:
        if self._consumers is None:
            self._consumers = {}
            for node_id, node in self.graph.items():
                for name, value in node["inputs"].items():
                    source = self.target(value)
                    if source is not None:
                        self._consumers.setdefault(source, []).append((node_id, name))
        return self._consumers

    # --- samplers ---

    def is_sampler(self, node_id: str) -> bool:
        inputs = self.inputs(node_id)
        if self.target(inputs.get("latent_image")) is None:
            return False
        conditioned = any(self.target(inputs.get(name)) is not None for name in ("positive", "guider", "conditioning"))
        return conditioned and any(name in inputs for name in _SAMPLER_INPUTS)

    def stage(self, node_id: str) -> int:
        """How many samplers feed this one's latent (0 for a first pass), for ordering."""
        seen: set[str] = set()
        queue = deque([node_id])
        count = 0
        while queue and len(seen) < _BUDGET:
            current = queue.popleft()
            for name, value in self.inputs(current).items():
                source = self.target(value)
                if source is None or source in seen or not ("latent" in name or "samples" in name):
                    continue
                seen.add(source)
                count += self.is_sampler(source)
                queue.append(source)
        return count

    def recipe(self, node_id: str, *, raw: str, source: str) -> Recipe:
        inputs = self.inputs(node_id)
        kind = self.kind(node_id)
        builder = RecipeBuilder(GENERATOR, raw)
        guider = self._linked_inputs(inputs.get("guider"))
        sigmas = self._sigmas(inputs.get("sigmas"))
        noise = self._linked_inputs(inputs.get("noise"))
        sampler_node = self.target(inputs.get("sampler"))

        seed = self.scalar(inputs.get("seed", inputs.get("noise_seed")), ("seed", "noise_seed"))
        if seed is None and noise:
            seed = self.scalar(noise.get("noise_seed", noise.get("seed")), ("noise_seed", "seed"))
        builder.set("seed", seed, key="seed")
        builder.set("steps", self.scalar(inputs.get("steps", sigmas.get("steps")), ("steps",)), key="steps")
        cfg = inputs.get("cfg", guider.get("cfg", guider.get("cfg_conds")))
        builder.set("cfg_scale", self.scalar(cfg, ("cfg",)), key="cfg")

        name = self.scalar(inputs.get("sampler_name"), ("sampler_name",))
        if name is None and sampler_node is not None:
            selected = self.inputs(sampler_node)
            name = self.scalar(selected.get("sampler_name"), ("sampler_name",))
            if name is None and self.kind(sampler_node).startswith("Sampler"):
                name = _camel_words(self.kind(sampler_node).removeprefix("Sampler"))
        schedule = self.scalar(inputs.get("scheduler", sigmas.get("scheduler")), ("scheduler",))
        if schedule is None and sigmas.get("__class__", "").endswith("Scheduler"):
            schedule = _camel_words(str(sigmas["__class__"]).removesuffix("Scheduler")).lower()
        if isinstance(name, str):
            name = name.removeprefix("sample_")  # early ComfyUI spelled samplers "sample_dpmpp_2m"
        builder.sampler(name, schedule, key="sampler_name")
        denoise = inputs.get("denoise", sigmas.get("denoise"))
        if denoise is not None:
            builder.add_extra("denoise", self.scalar(denoise, ("denoise",)))

        positive = inputs.get("positive", guider.get("positive", guider.get("conditioning", guider.get("cond1"))))
        negative = inputs.get("negative", guider.get("negative"))
        texts, clip_skip, guidance = self.texts(positive, "positive")
        builder.prompt = "\n".join(texts)
        negative_texts, negative_skip, _ = self.texts(negative, "negative")
        builder.negative_prompt = "\n".join(negative_texts)
        self._model(inputs.get("model", guider.get("model")), builder)
        if clip_skip or negative_skip:
            builder.set("clip_skip", clip_skip or negative_skip, key="stop_at_clip_layer")
        if guidance is not None:
            builder.add_extra("guidance", guidance)
        size = self.size(inputs.get("latent_image"))
        if size is not None:
            builder.set("width", size[0], key="width")
            builder.set("height", size[1], key="height")
        vae = self.vae(node_id)
        if vae is not None and not builder.has("vae"):
            builder.set("vae", vae, key="vae_name")
        for key, value in inputs.items():
            if key not in _CONSUMED and key != "denoise" and _is_scalar(value):
                builder.add_extra(key, value)
        builder.add_extra("node_id", node_id)
        builder.add_extra("class_type", kind)
        builder.add_extra("graph", source)
        return builder.build()

    def _linked_inputs(self, value: Any) -> dict[str, Any]:
        node_id = self.target(value)
        return dict(self.inputs(node_id)) if node_id is not None else {}

    def _sigmas(self, value: Any) -> dict[str, Any]:
        """Inputs of the scheduler node behind a ``sigmas`` link (through SplitSigmas and the like)."""
        for _hop in range(_MAX_HOPS):
            node_id = self.target(value)
            if node_id is None:
                return {}
            inputs = self.inputs(node_id)
            if "sigmas" in inputs and self.target(inputs["sigmas"]) is not None:
                value = inputs["sigmas"]
                continue
            return {**inputs, "__class__": self.kind(node_id)}
        return {}

    # --- upstream walks ---

    def texts(self, start: Any, role: str) -> tuple[list[str], int | None, Any]:
        """Prompt texts behind a conditioning link, plus clip skip and Flux guidance met on the way."""
        if isinstance(start, str):
            return ([start.strip()] if start.strip() else []), None, None
        walk = _TextWalk(role)
        found = self._texts(start, walk, depth=0)
        return found, walk.clip_skip, walk.guidance

    def _texts(self, start: Any, walk: _TextWalk, *, depth: int) -> list[str]:
        other = "negative" if walk.role == "positive" else "positive"
        found: list[str] = []
        # The stack holds node ids to expand and texts to emit, so texts come out in input order.
        stack: list[tuple[str, str]] = [("node", node_id)] if (node_id := self.target(start)) is not None else []
        seen: set[str] = set()
        while stack and walk.visits < _BUDGET:
            what, item = stack.pop()
            if what == "text":
                if item not in found:
                    found.append(item)
                continue
            if item in seen or self.kind(item) == "ConditioningZeroOut":
                continue  # a zeroed-out conditioning carries no text, whatever feeds it
            seen.add(item)
            walk.visits += 1
            joined = self._joined(item, walk, depth=depth)
            if joined is not None:
                if joined.strip():
                    stack.append(("text", joined.strip()))
                continue
            inputs = self.inputs(item)
            wildcard_done = isinstance(inputs.get("populated_text"), str) and inputs["populated_text"].strip()
            children: list[tuple[str, str]] = []
            for name, value in inputs.items():
                lower = name.lower()
                if other in lower or (lower == "wildcard_text" and wildcard_done):
                    continue
                if isinstance(value, str):
                    text = value.strip()
                    if text and lower not in _NOT_TEXT and (walk.role in lower or _is_text_name(lower)):
                        children.append(("text", text))
                    continue
                if lower == "guidance" and walk.guidance is None:
                    walk.guidance = to_float(self.scalar(value, ("guidance",)))
                linked = self.target(value)
                if linked is None:
                    continue
                if lower == "clip":
                    walk.clip_skip = walk.clip_skip or self._clip_skip(value)
                elif lower not in _NO_FOLLOW:
                    children.append(("node", linked))
            stack.extend(reversed(children))
        return found

    def _joined(self, node_id: str, walk: _TextWalk, *, depth: int) -> str | None:
        """The output of a known string-concatenation node, built as the node builds it; None for other nodes.

        Also None past `_MAX_NESTING`, on a cycle or beyond the walk's text budget: the caller then walks the
        node like any other, keeping its pieces (newline-joined) but not its delimiter.
        """
        joiner = _JOINERS.get(self.kind(node_id))
        if joiner is None or depth >= _MAX_NESTING:
            return None
        if node_id in walk.joined:
            return walk.joined[node_id]
        walk.joined[node_id] = None  # a link back to this node while it is being built reads as unknown
        inputs = self.inputs(node_id)
        delimiter = _as_text(self.scalar(inputs.get(joiner.delimiter, joiner.default), (joiner.delimiter,)))
        if delimiter is None:
            return None
        pieces: list[str] = []
        for name in joiner.parts:
            value = inputs.get(name, "")
            if self.target(value) is not None:
                text = "\n".join(self._texts(value, walk, depth=depth + 1))
                raw = self.scalar(value)  # the walk strips texts; a string node passes its spaces on
                pieces.append(raw if isinstance(raw, str) and raw.strip() == text else text)
            else:
                pieces.append(_as_text(value) or "")
        if joiner.strip_switch is not None:
            switch = self.scalar(inputs.get(joiner.strip_switch, "true"), (joiner.strip_switch,))
            if switch not in ("false", False):
                pieces = [piece.strip() for piece in pieces]
        if joiner.drop_empty:
            pieces = [piece for piece in pieces if piece]
        if joiner.escaped_newline and delimiter == "\\n":
            delimiter = "\n"
        size = sum(len(piece) for piece in pieces) + len(delimiter) * max(len(pieces) - 1, 0)
        if walk.chars + size > _TEXT_BUDGET or self.text_chars + size > _GRAPH_TEXT_BUDGET:
            return None  # nodes that double one another's output must not build gigabytes
        walk.chars += size
        self.text_chars += size
        walk.joined[node_id] = joined = delimiter.join(pieces)
        return joined

    def _clip_skip(self, value: Any) -> int | None:
        for _hop in range(_MAX_HOPS):
            node_id = self.target(value)
            if node_id is None:
                return None
            inputs = self.inputs(node_id)
            for key in ("stop_at_clip_layer", "clip_skip"):
                layer = to_int(self.scalar(inputs.get(key), (key,)))
                if layer is not None and layer != 0:
                    return abs(layer)
            value = inputs.get("clip")
        return None

    def _model(self, start: Any, builder: RecipeBuilder) -> None:
        """Checkpoint (or UNet) name and LoRAs behind a ``model`` link, in the order they are applied."""
        stack = [node_id] if (node_id := self.target(start)) is not None else []
        seen: set[str] = set()
        groups: list[list[tuple[str, Any]]] = []
        while stack and len(seen) < _BUDGET:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            inputs = self.inputs(current)
            groups.append(self._loras(current))
            if not builder.has("model"):
                for key in _MODEL_FILE_KEYS:
                    name = self.scalar(inputs.get(key), (key,))
                    if isinstance(name, str) and name.strip() and name.strip().lower() != "none":
                        builder.set_model(name, key=key)
                        break
            vae = self.scalar(inputs.get("vae_name"), ("vae_name",))
            if isinstance(vae, str) and vae.strip().lower() not in ("", "none", "baked vae"):
                builder.set("vae", vae, key="vae_name")
            clip_skip = to_int(self.scalar(inputs.get("clip_skip"), ("clip_skip",)))
            if clip_skip:
                builder.set("clip_skip", abs(clip_skip), key="clip_skip")
            for key, value in inputs.items():
                linked = self.target(value)
                if linked is not None and ("model" in key.lower() or key == "lora_stack"):
                    stack.append(linked)
        for group in reversed(groups):  # walked from the sampler upwards: the last group was applied first
            for name, weight in group:
                builder.lora(name, weight)

    def _loras(self, node_id: str) -> list[tuple[str, Any]]:
        inputs = self.inputs(node_id)
        found: list[tuple[str, Any]] = []
        for key, value in inputs.items():
            if isinstance(value, dict) and isinstance(value.get("lora"), str):
                # rgthree Power Lora Loader rows: applied when on and either strength (model, clip) is not 0
                strength, strength_clip = to_float(value.get("strength", 1.0)), to_float(value.get("strengthTwo"))
                if value.get("on", True) is not False and not (strength == 0 and strength_clip in (None, 0)):
                    found.append((value["lora"], value.get("strength", 1.0)))
                continue
            match = _LORA_NAME_RE.fullmatch(key)
            name = self.scalar(value, (key,)) if match else None
            if not isinstance(name, str) or name.strip().lower() in ("", "none"):
                continue
            suffix = (match.group(1) or "") if match else ""
            switch = inputs.get(f"switch{suffix}")
            if switch is False or (isinstance(switch, str) and switch.lower() == "off"):
                continue
            weight: Any = 1.0
            for weight_key in _LORA_WEIGHT_KEYS:
                if f"{weight_key}{suffix}" in inputs:
                    weight = self.scalar(inputs[f"{weight_key}{suffix}"], (weight_key,))
                    break
            if self.kind(node_id) == _RGTHREE_STACK and to_float(weight) == 0:
                continue
            found.append((name, weight))
        return found

    def size(self, start: Any) -> tuple[int, int] | None:
        """Width/height of the latent behind a ``latent_image`` link (empty latent, upscale, scale_by)."""
        factor = 1.0
        value = start
        for _hop in range(_MAX_HOPS):
            node_id = self.target(value)
            if node_id is None:
                return None
            inputs = self.inputs(node_id)
            width = to_int(self.scalar(inputs.get("width", inputs.get("empty_latent_width")), ("width",)))
            height = to_int(self.scalar(inputs.get("height", inputs.get("empty_latent_height")), ("height",)))
            if width and height:
                return _scaled(width, factor), _scaled(height, factor)
            for key in ("dimensions", "resolution"):
                text = self.scalar(inputs.get(key), (key,))
                match = re.search(r"(\d{1,5})\s*[x×]\s*(\d{1,5})", text) if isinstance(text, str) else None
                if match:
                    dims = parse_size(f"{match.group(1)}x{match.group(2)}")
                    if dims:
                        return _scaled(dims[0], factor), _scaled(dims[1], factor)
            scale = to_float(self.scalar(inputs.get("scale_by"), ("scale_by",)))
            if scale:
                factor *= scale
            value = next(
                (
                    item
                    for key, item in inputs.items()
                    if self.target(item) is not None and ("latent" in key.lower() or "samples" in key.lower())
                ),
                None,
            )
        return None

    # --- downstream: the VAE that decodes this sampler's output ---

    def vae(self, node_id: str) -> str | None:
        consumers = self.consumers()
        queue = deque([node_id])
        seen = {node_id}
        while queue and len(seen) < _BUDGET:
            current = queue.popleft()
            for consumer, name in consumers.get(current, []):
                if consumer in seen or not ("latent" in name or "samples" in name):
                    continue
                inputs = self.inputs(consumer)
                if self.target(inputs.get("vae")) is not None:
                    return self._vae_name(inputs["vae"])
                seen.add(consumer)
                queue.append(consumer)
        return None

    def _vae_name(self, value: Any) -> str | None:
        for _hop in range(_MAX_HOPS):
            node_id = self.target(value)
            if node_id is None:
                return None
            inputs = self.inputs(node_id)
            name = self.scalar(inputs.get("vae_name"), ("vae_name",))
            if isinstance(name, str):
                return None if name.strip().lower() in ("", "none", "baked vae") else name.strip()
            if any(key in inputs for key in _MODEL_FILE_KEYS):
                return None  # the checkpoint's own (baked-in) VAE
            value = inputs.get("vae")
        return None


def _scaled(value: int, factor: float) -> int:
    """`value` times an upscale factor; 0 (rejected later by Recipe) when the product is not a finite number."""
    if factor == 1.0:
        return value
    try:
        return round(value * factor)
    except (OverflowError, ValueError):
        return 0


def _literal(value: Any) -> Any:
    """A scalar input as is; a file-name combo with preview images (``{"content": name, "image": ...}``, pysssss and
    Efficiency loaders) as its name; None for anything else."""
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return value if _is_scalar(value) else None


def _as_text(value: Any) -> str | None:
    """A STRING input as ComfyUI hands it to a node (validation turns scalars into str); None for non-scalars."""
    return str(value) if _is_scalar(value) else None


def _is_text_name(name: str) -> bool:
    return any(word in name for word in ("text", "prompt", "string")) or name in ("t5xxl", "clip_l", "clip_g", "value")
