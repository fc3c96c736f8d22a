"""ComfyUI graphs saved as JSON files of their own: a workflow (the UI's Save or Export: ``nodes``, ``links``,
``widgets_values``, subgraph definitions), the API format (Export (API): ``{id: {class_type, inputs}}``), or the
body of a ``POST /prompt`` request (``{"prompt": graph, "extra_data": ...}``).

Each sampler of the graph becomes one entry titled after the file, its prompt, negative prompt and parameters found
by the same graph walk as an image's ``prompt`` and ``workflow`` chunks (`promptlib.metadata.comfyui`); the API
graph is preferred where a request carries both. Read only: a graph is a program, not a list of prompts.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from promptlib.errors import FormatError
from promptlib.packs.formats._common import (
    cap_warnings,
    check_size,
    decode_json_text,
    load_json,
    recipe_entry,
    sniff_text,
)
from promptlib.packs.schema import PackEntry, PackFile

if TYPE_CHECKING:
    from promptlib.recipe import Recipe

# Looked for in the start of the file (a workflow is often larger than what detectors read, so it is not parsed):
# API nodes have a class_type and inputs; a workflow's nodes carry widget values or the graph its last node id.
_API_NODE = re.compile(r'"class_type"\s*:\s*"')
_WORKFLOW = re.compile(r'"nodes"\s*:\s*\[')
_WORKFLOW_MARK = re.compile(r'"(last_node_id|widgets_values|last_link_id)"\s*:')


def detect(data: bytes) -> bool:
    """True for a JSON object that looks like a ComfyUI workflow or API-format graph (by its start)."""
    text = sniff_text(data)
    if text is None or not text.lstrip().startswith("{"):
        return False
    if _WORKFLOW.search(text) and _WORKFLOW_MARK.search(text):
        return True
    return _API_NODE.search(text) is not None and '"inputs"' in text


def graph_recipes(text: str) -> list[Recipe]:
    """The recipes of a ComfyUI graph file's text (any of the three forms); raises FormatError when it is not one."""
    from promptlib.metadata._util import load_json as load_metadata_json

    return _recipes(load_metadata_json(text, what="ComfyUI graph"), text)


def _recipes(value: Any, text: str) -> list[Recipe]:
    from promptlib.metadata.comfyui import parse_prompt_graph, parse_workflow

    if not isinstance(value, dict):
        raise FormatError("not a ComfyUI graph: the file is not a JSON object")
    request = value.get("prompt")
    if isinstance(request, dict):  # a POST /prompt body: the API graph, the UI's workflow beside it
        recipes = parse_prompt_graph(json.dumps(request))
        extra = value.get("extra_data")
        pnginfo = extra.get("extra_pnginfo") if isinstance(extra, dict) else None
        workflow = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
        if not recipes and isinstance(workflow, dict):
            recipes = parse_workflow(json.dumps(workflow))
        return recipes
    if isinstance(value.get("nodes"), list):
        return parse_workflow(text)
    return parse_prompt_graph(text)


def read_with_warnings(data: bytes, *, source: str) -> tuple[PackFile, list[str]]:
    """Read one entry per sampler of the graph into `PackFile.entries`.

    Raises UnsafeInputError when `data` is over the size limit, and FormatError when it is not safe JSON, not a
    ComfyUI graph, or a graph with no sampler whose prompt can be followed.
    """
    check_size(data, source=source)
    text = decode_json_text(data, source=source).removeprefix("\ufeff")
    value = load_json(text, source=source)
    try:
        recipes = _recipes(value, text)
    except FormatError as exc:
        raise FormatError(f"{source}: {exc}") from exc
    if not recipes:
        raise FormatError(f"{source}: a ComfyUI graph with no sampler whose prompt promptlib can follow")
    warnings: list[str] = []
    title = PurePath(source).stem
    entries: list[PackEntry] = []
    for n, recipe in enumerate(recipes, start=1):
        entry = recipe_entry(recipe, title=title, where=f"sampler {n}", source=source, warnings=warnings)
        if entry is not None:
            entries.append(entry)
    return PackFile(entries=entries), cap_warnings(warnings, source=source)


def read(data: bytes, *, source: str) -> PackFile:
    """`read_with_warnings` without the warnings; raises what it raises."""
    return read_with_warnings(data, source=source)[0]
