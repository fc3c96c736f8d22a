"""Generators' parameter files: A1111 infotext .txt and ComfyUI graph .json, read into entries with their recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptlib.errors import FormatError
from promptlib.library import Library
from promptlib.packs.formats import a1111_infotext, comfyui_graph, detect_format
from tests.packs.conftest import A1111_INFOTEXT, COMFY_API_JSON, COMFY_REQUEST_JSON, COMFY_WORKFLOW_JSON


def test_infotext_file_holds_one_entry_per_parameter_line() -> None:
    pack, warnings = a1111_infotext.read_with_warnings(A1111_INFOTEXT, source="00012-1234567.txt")
    assert warnings == []
    first, fox, lake = pack.entries
    assert first.title == "00012-1234567"
    assert first.prompt == "a lighthouse on a cliff, (storm:1.2), <lora:film_grain:0.6>"
    assert first.negative_prompt == "blurry, lowres"
    p = first.params
    assert (p.steps, p.sampler, p.schedule, p.cfg_scale, p.seed) == (28, "DPM++ 2M", "karras", 6.5, 1234567)
    assert (p.width, p.height, p.model, p.model_hash) == (512, 768, "v1-5-pruned-emaonly", "6ce0161689")
    assert [(lora.name, lora.weight, lora.hash) for lora in p.loras] == [("film_grain", 0.6, "0a1b2c3d4e5f")]
    assert p.extra["Template"] == "a {lighthouse|windmill} on a cliff"  # the template lines stay with their text
    assert fox.prompt == "a red fox in the snow,\ngolden hour" and fox.negative_prompt == ""
    assert (fox.params.sampler, fox.params.seed, fox.params.model) == ("Euler a", 42, "sdxl_base")
    assert (lake.prompt, lake.negative_prompt) == ("a misty lake at dawn", "people")
    assert (lake.params.schedule, lake.params.clip_skip, lake.params.width) == ("karras", 2, 1024)


def test_text_after_the_last_parameter_line_is_a_prompt_without_parameters() -> None:
    data = b"a cat\nSteps: 20, Sampler: Euler, Seed: 1\n\na dog on a beach\nNegative prompt: rain\n"
    pack = a1111_infotext.read(data, source="notes.txt")
    assert [(e.prompt, e.negative_prompt, e.params.steps) for e in pack.entries] == [
        ("a cat", "", 20),
        ("a dog on a beach", "rain", None),
    ]


def test_a_parameter_line_without_a_prompt_is_skipped_with_a_warning() -> None:
    pack, warnings = a1111_infotext.read_with_warnings(b"a cat\nSteps: 5, Seed: 1\nSteps: 9, Seed: 2\n", source="x")
    assert [e.params.steps for e in pack.entries] == [5]
    assert len(warnings) == 1 and warnings[0].startswith("x: line 3:")


@pytest.mark.parametrize(
    "text",
    [
        "portrait, style: anime, mood: dark, light: soft\nlandscape, time: dusk, weather: rain, lens: wide\n",
        "Steps: 20, Sampler: Euler\n",  # parameters with no prompt before them
        "walk the dog\nsteps: 20, then rest\n",  # A1111 writes "Steps" capitalised, with a number
    ],
)
def test_prompt_lists_that_mention_parameters_are_not_infotext(text: str) -> None:
    assert not a1111_infotext.detect(text.encode())
    assert detect_format(text.encode(), filename="prompts.txt") == "prompts_from_file"


@pytest.mark.parametrize(
    "data", [COMFY_API_JSON, COMFY_WORKFLOW_JSON, COMFY_REQUEST_JSON], ids=["api", "workflow", "request"]
)
def test_each_comfyui_graph_form_gives_the_same_entry(data: bytes) -> None:
    (entry,) = comfyui_graph.read(data, source="castle.json").entries
    assert entry.title == "castle"
    assert (entry.prompt, entry.negative_prompt) == ("a castle in the clouds", "watermark, text")
    p = entry.params
    assert (p.sampler, p.schedule, p.steps, p.cfg_scale, p.seed) == ("DPM++ 2M", "karras", 24, 6.0, 156680208700286)
    assert (p.width, p.height, p.model) == (512, 768, "dreamshaper_8")  # named as image imports name it


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (json.dumps({"1": {"class_type": "SaveImage", "inputs": {}}}), "no sampler whose prompt"),
        (json.dumps({"nodes": [], "links": [], "last_node_id": 0}), "no sampler whose prompt"),
        ('{"3": {"class_type": "KSampler", "inputs": ', "not valid JSON|JSON"),
    ],
    ids=["no-sampler", "empty-workflow", "truncated"],
)
def test_graphs_without_a_usable_sampler_are_one_line_errors(data: str, message: str) -> None:
    with pytest.raises(FormatError, match=message) as caught:
        comfyui_graph.read(data.encode(), source="g.json")
    assert str(caught.value).startswith("g.json: ") and "\n" not in str(caught.value)


def test_a_large_workflow_is_detected_from_its_start() -> None:
    workflow = json.loads(COMFY_WORKFLOW_JSON)
    workflow["extra"]["notes"] = "x" * 400_000  # past what detectors read, after the nodes
    assert detect_format(json.dumps(workflow).encode()) == "comfyui_graph"


def test_importing_a_folder_of_parameter_files(tmp_path: Path, lib: Library) -> None:
    """An orphan A1111 .txt used to become one entry per line (its parameter line a prompt); a sidecar beside its
    image is still only read when the image carries no parameters."""
    folder = tmp_path / "outputs"
    folder.mkdir()
    (folder / "00012-1234567.txt").write_bytes(A1111_INFOTEXT)
    (folder / "castle_api.json").write_bytes(COMFY_API_JSON)
    (folder / "castle_workflow.json").write_bytes(COMFY_WORKFLOW_JSON)
    summary = lib.import_paths([folder])
    assert summary.failed == [] and summary.warnings == []
    assert (summary.imported, summary.duplicates) == (4, 1)  # the workflow is the API graph again
    entries = lib.get_many(summary.ids)
    assert sorted(e.prompt for e in entries) == sorted(
        [
            "a lighthouse on a cliff, (storm:1.2), <lora:film_grain:0.6>",
            "a red fox in the snow,\ngolden hour",
            "a misty lake at dawn",
            "a castle in the clouds",
        ]
    )
    castle = next(e for e in entries if e.prompt == "a castle in the clouds")
    assert castle.source["format"] == "comfyui_graph" and castle.pack is None  # in no pack, like an image
    assert castle.params["seed"] == 156680208700286
    assert lib.count('sampler:"DPM++ 2M" seed:156680208700286') == 1
    again = lib.import_paths([folder])
    assert (again.imported, again.duplicates) == (0, 5)


def test_a_pack_option_puts_parameter_files_in_that_pack(tmp_path: Path, lib: Library) -> None:
    path = tmp_path / "castle.json"
    path.write_bytes(COMFY_REQUEST_JSON)
    report = lib.import_path(path, pack="comfy")
    (entry,) = lib.get_many(report.ids)
    assert entry.pack == "comfy"
