"""InvokeAI, all three metadata generations.

- 1.x ``Dream``: a command line, ``"prompt [negative]" -s 50 -S 123 -W 512 -H 768 -C 7.5 -A k_lms ...``
- 2.x ``sd-metadata``: JSON with ``model_weights``/``model_hash`` and ``image`` (prompt: a string or a list of
  ``{prompt, weight}``; the negative prompt sits in ``[brackets]`` inside it)
- 3.x+ ``invokeai_metadata``: JSON with ``positive_prompt``, ``negative_prompt``, ``scheduler``, ``model``, ...
- 3.x+ ``invokeai_graph`` alone (workflow-editor images without a metadata node): the executed node graph
"""

from __future__ import annotations

import re
from typing import Any

from promptlib.errors import FormatError
from promptlib.limits import MAX_METADATA_CHARS
from promptlib.metadata._util import RecipeBuilder, as_list, load_json, to_float, to_int, to_text
from promptlib.metadata.chunks import ImageChunks
from promptlib.recipe import Recipe

GENERATOR = "invokeai"
# Dream switches: short and long spellings of the same option share one name.
_DREAM_OPTIONS = {
    "-s": "steps",
    "--steps": "steps",
    "-S": "seed",
    "--seed": "seed",
    "-W": "width",
    "--width": "width",
    "-H": "height",
    "--height": "height",
    "-C": "cfg_scale",
    "--cfg_scale": "cfg_scale",
    "-A": "sampler",
    "--sampler": "sampler",
    "--sampler_name": "sampler",
    "-m": "sampler",  # ldm/invoke/args.py: '-A', '-m', '--sampler'
    "--model": "model",
    "-f": "strength",
    "--strength": "strength",
    "-G": "facetool_strength",
    "--gfpgan_strength": "facetool_strength",
    "--facetool_strength": "facetool_strength",
    "-ft": "facetool",
    "--facetool": "facetool",
    "-cf": "codeformer_fidelity",
    "--codeformer_fidelity": "codeformer_fidelity",
    "-U": "upscale",
    "--upscale": "upscale",
    "-I": "init_img",
    "--init_img": "init_img",
    "-M": "init_mask",
    "--init_mask": "init_mask",
    "-v": "variation_amount",
    "--variation_amount": "variation_amount",
    "-V": "with_variations",
    "--with_variations": "with_variations",
    "-n": "iterations",
    "--iterations": "iterations",
    "-T": "fit",
    "-fit": "fit",
    "--fit": "fit",
    "-t": "log_tokenization",
    "-tm": "text_mask",
    "--text_mask": "text_mask",
}
_TYPED = ("steps", "seed", "width", "height", "cfg_scale")
_OPTION_RE = re.compile(r"--?[A-Za-z][\w-]*")
_BRACKET_RE = re.compile(r"[\[\]]")
_TOKEN_RE = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|(\S+)', re.DOTALL)
_UNESCAPE_RE = re.compile(r'\\(["\\])')
_SWITCH_RE = re.compile(r"(?:^|(?<=\s))--?[A-Za-z][\w-]*(?=\s|$)")


def parse_dream(text: str) -> Recipe:
    """Parse an InvokeAI 1.x ``Dream`` command line; raises FormatError if it holds no prompt or option."""
    if not isinstance(text, str) or not text.strip():
        raise FormatError("InvokeAI Dream text is empty")
    if len(text) > MAX_METADATA_CHARS:
        raise FormatError(f"InvokeAI Dream text is longer than {MAX_METADATA_CHARS:,} characters")
    split = _split_prompt(text)
    prompt_words: list[str] = [split[0]] if split is not None and split[0] else []
    tokens = _tokens(split[1] if split is not None else text)
    options: list[tuple[str, list[str]]] = []
    for token in tokens:
        if _OPTION_RE.fullmatch(token):
            options.append((token, []))
        elif options:
            options[-1][1].append(token)
        else:
            prompt_words.append(token)
    if not prompt_words and not options:
        raise FormatError("InvokeAI Dream text holds no prompt")
    builder = RecipeBuilder(GENERATOR, text)
    builder.prompt, builder.negative_prompt = split_negative(" ".join(prompt_words))
    for switch, values in options:
        name = _DREAM_OPTIONS.get(switch, switch.lstrip("-"))
        if name in _TYPED and values:
            builder.set(name, values[0], key=name)
        elif name == "sampler" and values:
            builder.sampler(values[0])
        elif name == "model" and values:
            builder.set_model(values[0])
        else:
            converted = [_number_or_text(value) for value in values]
            builder.add_extra(name, True if not converted else converted[0] if len(converted) == 1 else converted)
    return builder.build()


def _split_prompt(text: str) -> tuple[str, str] | None:
    """(prompt, switches) split at the first known switch, the prompt verbatim; None if there is no such switch.

    InvokeAI wrote the prompt in double quotes without escaping the quotes inside (1.x) or bare (2.x), so a
    shell-like split would mangle prompts holding quotes or apostrophes.
    """
    body = text.strip()
    quoted = body.startswith('"')
    for match in _SWITCH_RE.finditer(body):
        if match.group() not in _DREAM_OPTIONS:
            continue
        end = match.start()
        while end > 0 and body[end - 1].isspace():
            end -= 1
        if not quoted:
            return body[:end], body[match.start() :]
        if end >= 2 and body[end - 1] == '"':  # else the switch is inside the quoted prompt
            return _UNESCAPE_RE.sub(r"\1", body[1 : end - 1]), body[match.start() :]
    return None


def _tokens(text: str) -> list[str]:
    """Shell-like words: double- or single-quoted strings (``\\"`` escapes) or runs of non-space (linear time)."""
    words: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        double, single, bare = match.groups()
        if double is not None:
            words.append(_UNESCAPE_RE.sub(r"\1", double))
        else:
            words.append(single if single is not None else bare)
    return words


def split_negative(prompt: str) -> tuple[str, str]:
    """Split InvokeAI's ``"positive [negative]"`` prompt: top-level ``[...]`` groups form the negative prompt."""
    positive: list[str] = []
    negative: list[str] = []
    depth = 0
    start = 0
    for match in _BRACKET_RE.finditer(prompt):  # jump between brackets instead of walking every character
        index, char = match.start(), match.group()
        if char == "[":
            if depth == 0:
                positive.append(prompt[start:index])
                start = index + 1
            depth += 1
        elif char == "]" and depth > 0:
            depth -= 1
            if depth == 0:
                negative.append(prompt[start:index].strip())
                start = index + 1
    positive.append(prompt[start - 1 if depth else start :])  # an unclosed "[" stays in the prompt
    text = re.sub(r"[ \t]{2,}", " ", "".join(positive)).strip()
    return text, ", ".join(part for part in negative if part)


def _number_or_text(value: str) -> Any:
    number = to_int(value)
    if number is not None and re.fullmatch(r"[+-]?\d+", value.strip()):
        return number
    decimal = to_float(value)
    return value if decimal is None else decimal


def parse_sd_metadata(text: str) -> Recipe:
    """Parse InvokeAI 2.x ``sd-metadata`` JSON; raises FormatError if it is not such a JSON object."""
    data = load_json(text, what="InvokeAI sd-metadata")
    if not isinstance(data, dict):
        raise FormatError("InvokeAI sd-metadata is not a JSON object")
    image = data.get("image")
    if not isinstance(image, dict):
        images = data.get("images")
        image = images[0] if isinstance(images, list) and images and isinstance(images[0], dict) else None
    if image is None:
        raise FormatError("InvokeAI sd-metadata has no image section")
    builder = RecipeBuilder(GENERATOR, text)
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        parts = [item for item in prompt if isinstance(item, dict) and isinstance(item.get("prompt"), str)]
        if len(parts) > 1:
            builder.add_extra("prompt_weights", [[p["prompt"], p.get("weight")] for p in parts])
        prompt = "\n".join(p["prompt"] for p in parts)
    builder.prompt, builder.negative_prompt = split_negative(prompt if isinstance(prompt, str) else "")
    # 2.x wrote the model name as "model_id" (ldm/invoke/args.py metadata_dumps), later as "model_weights"
    model_key = "model_weights" if to_text(data.get("model_weights")) else "model_id"
    builder.set_model(data.get(model_key), key=model_key)
    builder.set("model_hash", data.get("model_hash"), key="model_hash")
    for field in _TYPED:
        builder.set(field, image.get(field), key=field)
    builder.sampler(image.get("sampler"))
    for key, value in data.items():
        if key not in ("image", "images", model_key, "model_hash"):
            builder.add_extra(key, value)
    for key, value in image.items():
        if key not in (*_TYPED, "prompt", "sampler"):
            builder.add_extra(key, value)
    return builder.build()


def parse_invokeai_metadata(text: str) -> Recipe:
    """Parse InvokeAI 3.x+ ``invokeai_metadata`` JSON; raises FormatError if it is not such a JSON object."""
    data = load_json(text, what="InvokeAI metadata")
    if not isinstance(data, dict):
        raise FormatError("InvokeAI metadata is not a JSON object")
    builder = RecipeBuilder(GENERATOR, text)
    builder.prompt = (to_text(data.get("positive_prompt")) or "").strip()
    builder.negative_prompt = (to_text(data.get("negative_prompt")) or "").strip()
    for field in (*_TYPED, "clip_skip"):
        builder.set(field, data.get(field), key=field)
    builder.sampler(data.get("scheduler"), key="scheduler")
    model = data.get("model")
    if isinstance(model, dict):
        builder.set_model(model.get("model_name") or model.get("name"))
        builder.set("model_hash", model.get("hash"), key="model")
    else:
        builder.set_model(model)
    vae = data.get("vae")
    builder.set("vae", (vae.get("model_name") or vae.get("name")) if isinstance(vae, dict) else vae, key="vae")
    for entry in as_list(data.get("loras")):
        if isinstance(entry, dict):
            ref = entry.get("lora", entry.get("model"))
            if isinstance(ref, dict):
                name = ref.get("model_name") or ref.get("name") or ref.get("key")
                builder.lora(name, entry.get("weight"), hash=ref.get("hash"))
    consumed = {*_TYPED, "clip_skip", "positive_prompt", "negative_prompt", "scheduler", "model", "loras"}
    for key, value in data.items():
        if key not in consumed and not (key == "vae" and builder.has("vae")):
            builder.add_extra(key, value)
    if isinstance(model, dict):
        builder.add_extra("model_info", model)
    return builder.build()


# Denoise-node inputs per role: SD/SDXL (denoise_latents), FLUX (flux_denoise), SD3 and others.
_GRAPH_INPUTS = {
    "positive": ("positive_conditioning", "positive_text_conditioning"),
    "negative": ("negative_conditioning", "negative_text_conditioning"),
    "model": ("unet", "transformer"),
}
_MAX_GRAPH_HOPS = 64


def parse_invokeai_graph(text: str) -> list[Recipe]:
    """A recipe from an ``invokeai_graph`` chunk (3.x+ workflow-editor images carry it without invokeai_metadata).

    The first-pass denoise node gives steps, CFG and scheduler; edges lead to its prompt encoders, noise (seed,
    size) and model loader (LoRAs on the way). Returns [] for a graph without a denoise node; raises
    FormatError if the text is not a graph.
    """
    data = load_json(text, what="InvokeAI graph")
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, dict):
        raise FormatError("InvokeAI graph has no node table")
    graph = _InvokeGraph(nodes, as_list(data.get("edges")))
    denoise = next(
        (
            node_id
            for node_id, node in graph.nodes.items()
            if graph.source(node_id, _GRAPH_INPUTS["positive"]) is not None
            and not to_float(node.get("denoise_start"))  # a hires/refiner pass starts part-way
        ),
        None,
    )
    if denoise is None:
        return []
    node = graph.nodes[denoise]
    builder = RecipeBuilder(GENERATOR, text)
    builder.prompt = graph.prompt(graph.source(denoise, _GRAPH_INPUTS["positive"]))
    builder.negative_prompt = graph.prompt(graph.source(denoise, _GRAPH_INPUTS["negative"]))
    noise = graph.source(denoise, ("noise",))
    for field in ("seed", "width", "height"):  # FLUX's denoiser holds them itself, SD's noise node otherwise
        value = graph.value(denoise, field)
        builder.set(field, graph.value(noise, field) if value is None and noise is not None else value, key=field)
    steps = graph.value(denoise, "steps")
    builder.set("steps", graph.value(denoise, "num_steps") if steps is None else steps, key="steps")
    builder.set("cfg_scale", graph.value(denoise, "cfg_scale"), key="cfg_scale")
    builder.sampler(graph.value(denoise, "scheduler"), key="scheduler")
    builder.add_extra("guidance", graph.value(denoise, "guidance"))
    current = graph.source(denoise, _GRAPH_INPUTS["model"])
    loras: list[tuple[Any, Any, Any]] = []
    for _hop in range(_MAX_GRAPH_HOPS):
        if current is None:
            break
        model = graph.nodes[current].get("model")
        lora = graph.nodes[current].get("lora")
        if isinstance(lora, dict):
            loras.append((lora.get("model_name") or lora.get("name"), graph.value(current, "weight"), lora.get("hash")))
        if isinstance(model, dict):
            builder.set_model(model.get("model_name") or model.get("name"))
            builder.set("model_hash", model.get("hash"), key="model")
            break
        current = graph.source(current, _GRAPH_INPUTS["model"])
    for name, weight, digest in reversed(loras):  # walked from the denoiser back: the last one was applied first
        builder.lora(name, 1.0 if weight is None else weight, hash=digest)
    builder.add_extra("node_type", node.get("type"))
    builder.add_extra("graph", "invokeai_graph")
    return [builder.build()]


class _InvokeGraph:
    """An InvokeAI graph: ``nodes`` by id, fields inline, and ``edges`` from one node's output to another's input."""

    def __init__(self, nodes: dict[str, Any], edges: list[Any]) -> None:
        self.nodes = {str(key): node for key, node in nodes.items() if isinstance(node, dict)}
        self.inbound: dict[tuple[str, str], tuple[str, str]] = {}
        for edge in edges:
            source = edge.get("source") if isinstance(edge, dict) else None
            destination = edge.get("destination") if isinstance(edge, dict) else None
            if isinstance(source, dict) and isinstance(destination, dict):
                origin, target = str(source.get("node_id")), str(destination.get("node_id"))
                if origin in self.nodes and target in self.nodes:
                    self.inbound.setdefault((target, str(destination.get("field"))), (origin, str(source.get("field"))))

    def source(self, node_id: str, fields: tuple[str, ...]) -> str | None:
        """The node feeding one of `fields` of a node."""
        return next((self.inbound[(node_id, f)][0] for f in fields if (node_id, f) in self.inbound), None)

    def prompt(self, node_id: str | None) -> str:
        """The prompt text of an encoder node (compel, sdxl_compel_prompt, flux_text_encoder...), else ""."""
        return (to_text(self.value(node_id, "prompt")) or "") if node_id is not None else ""

    def value(self, node_id: str, field: str) -> Any:
        """A field's value: inline, else the output of a node feeding it (a primitive, a random integer...)."""
        for _hop in range(_MAX_GRAPH_HOPS):
            value = self.nodes[node_id].get(field)
            if value is not None or (node_id, field) not in self.inbound:
                return value if isinstance(value, str | int | float) and not isinstance(value, bool) else None
            node_id, output = self.inbound[(node_id, field)]
            field = output if output in self.nodes[node_id] else "value"
        return None


def read(chunks: ImageChunks) -> list[Recipe]:
    """Recipes from an image's InvokeAI chunks (newest generation first), else []; FormatError if all are bad."""
    error: FormatError | None = None
    for key, parse in (
        ("invokeai_metadata", parse_invokeai_metadata),
        ("sd-metadata", parse_sd_metadata),
        ("Dream", parse_dream),
    ):
        text = chunks.text.get(key)
        if text is None:
            continue
        try:
            return [parse(text)]
        except FormatError as exc:
            error = error or exc
    graph = chunks.text.get("invokeai_graph")
    if graph is not None:
        try:
            return parse_invokeai_graph(graph)
        except FormatError as exc:
            error = error or exc
    if error is not None:
        raise error
    return []
