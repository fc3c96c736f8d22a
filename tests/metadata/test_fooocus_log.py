"""Fooocus's log.html: the parameters of images saved without metadata (Fooocus's default), found beside them."""

from __future__ import annotations

import io
import json
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image

from promptlib.library import Library
from promptlib.metadata.fooocus import parse_log

# (label, key, value) as Fooocus 2.5 logs them
META: list[tuple[str, str, Any]] = [
    ("Prompt", "prompt", "a cat & a dog <3"),
    ("Negative Prompt", "negative_prompt", "blurry"),
    ("Fooocus V2 Expansion", "prompt_expansion", "a cat & a dog, intricate"),
    ("Styles", "styles", "['Fooocus V2', 'Fooocus Enhance']"),
    ("Performance", "performance", "Speed"),
    ("Steps", "steps", 30),
    ("Resolution", "resolution", "(1152, 896)"),
    ("Guidance Scale", "guidance_scale", 4.0),
    ("Base Model", "base_model", "juggernautXL_v8Rundiffusion.safetensors"),
    ("Sampler", "sampler", "dpmpp_2m_sde_gpu"),
    ("Scheduler", "scheduler", "karras"),
    ("Seed", "seed", "1234567890"),
    ("LoRA [offset.safetensors] weight", "lora_combined_1", "offset.safetensors : 0.1"),
    ("Version", "version", "Fooocus v2.5.5"),
]


def block(name: str, meta: list[tuple[str, str, Any]], *, button: bool = True) -> str:
    """One image's block as Fooocus's private_logger writes it (newer versions add the clipboard button)."""
    item = f'<div id="{name.replace(".", "_")}" class="image-container"><hr><table><tr>\n'
    item += f'<td><a href="{name}" target="_blank"><img src=\'{name}\' onerror="this.closest(\'.image-container\')'
    item += f".style.display='none';\" loading='lazy'/></a><div>{name}</div></td><td><table class='metadata'>"
    for label, _key, value in meta:
        item += (
            f"<tr><td class='label'>{label}</td><td class='value'>{str(value).replace(chr(10), ' </br> ')}</td></tr>\n"
        )
    item += "</table>"
    if button:
        quoted = urllib.parse.quote(json.dumps({key: value for _label, key, value in meta}, indent=0), safe="")
        item += f"</br><button onclick=\"to_clipboard('{quoted}')\">Copy to Clipboard</button>"
    return item + "</td></tr></table></div>\n\n"


def log(*blocks: str) -> str:
    return "<html><head><title>Fooocus Log 2024-05-01</title></head><body>" + "".join(blocks) + "</body></html>"


def png(*, parameters: str | None = None) -> bytes:
    out = io.BytesIO()
    info = None
    if parameters is not None:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("parameters", parameters)
    Image.new("RGB", (16, 12), (200, 30, 30)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def test_a_log_gives_each_image_its_recipe_from_the_clipboard_json() -> None:
    second = [(label, key, "a red fox\non snow" if key == "prompt" else value) for label, key, value in META]
    recipes = parse_log(log(block("2024-05-01_10-00-00_1234.png", META), block("2024-05-01_10-01-00_99.png", second)))
    assert sorted(recipes) == ["2024-05-01_10-00-00_1234.png", "2024-05-01_10-01-00_99.png"]
    first = recipes["2024-05-01_10-00-00_1234.png"]
    assert (first.prompt, first.negative_prompt) == ("a cat & a dog <3", "blurry")
    assert (first.seed, first.steps, first.cfg_scale, first.width, first.height) == (1234567890, 30, 4.0, 1152, 896)
    assert (first.sampler, first.schedule, first.model) == ("DPM++ 2M SDE", "karras", "juggernautXL_v8Rundiffusion")
    assert [(lora.name, lora.weight) for lora in first.loras] == [("offset", 0.1)]
    assert first.extra["styles"] == "['Fooocus V2', 'Fooocus Enhance']" and first.generator == "fooocus"
    assert recipes["2024-05-01_10-01-00_99.png"].prompt == "a red fox\non snow"


def test_an_older_log_without_the_button_is_read_from_its_table() -> None:
    old = [(label, key, value) for label, key, value in META if not label.startswith("LoRA [")]
    old += [("LoRA 1", "", "offset.safetensors : 0.25")]
    recipe = parse_log(log(block("00001.png", old, button=False)))["00001.png"]
    assert (recipe.prompt, recipe.seed, recipe.cfg_scale, recipe.schedule) == (
        "a cat & a dog <3",
        1234567890,
        4.0,
        "karras",
    )
    assert [(lora.name, lora.weight) for lora in recipe.loras] == [("offset", 0.25)]


def test_broken_blocks_are_left_out_and_never_raise() -> None:
    text = log(
        "<div class=\"image-container\"><td class='label'>Prompt</td><td class='value'>no image</td></div>",
        block("good.png", META),
        "<div class='image-container'><img src='bad.png'><button onclick=\"to_clipboard('%7Bnot json')\">",
        "<td class='value'>" + "x" * 10_000,  # an unclosed cell to the end
    )
    assert list(parse_log(text)) == ["good.png"]
    assert parse_log("") == {} and parse_log("<div class='image-container'>") == {}


def test_importing_a_fooocus_folder_takes_recipes_from_its_log(tmp_path: Path, lib: Library) -> None:
    folder = tmp_path / "outputs" / "2024-05-01"
    folder.mkdir(parents=True)
    (folder / "2024-05-01_10-00-00_1234.png").write_bytes(png())
    (folder / "not-in-the-log.png").write_bytes(png())
    (folder / "own-metadata.png").write_bytes(png(parameters="a lighthouse\nSteps: 9, Sampler: Euler, Seed: 3"))
    (folder / "log.html").write_text(
        log(block("2024-05-01_10-00-00_1234.png", META), block("own-metadata.png", META)), encoding="utf-8"
    )
    summary = lib.import_paths([tmp_path / "outputs"])
    assert summary.images_imported == 2 and summary.skipped == 1  # the log itself is not an import source
    assert [f["path"].rsplit("/", 1)[-1] for f in summary.failed] == ["not-in-the-log.png"]
    entries = {e.prompt: e for e in lib.get_many(summary.ids)}
    assert set(entries) == {"a cat & a dog <3", "a lighthouse"}  # an image's own metadata comes first
    logged = entries["a cat & a dog <3"]
    assert logged.params["seed"] == 1234567890 and logged.renders[0].width == 16


def test_the_log_inside_a_zip_is_read_too(tmp_path: Path, lib: Library) -> None:
    archive = tmp_path / "fooocus.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("2024-05-01/a.png", png())
        out.writestr("2024-05-01/log.html", log(block("a.png", META)))
    summary = lib.import_paths([archive])
    assert summary.failed == [] and summary.images_imported == 1
    (entry,) = lib.get_many(summary.ids)
    assert entry.prompt == "a cat & a dog <3" and entry.params["steps"] == 30
