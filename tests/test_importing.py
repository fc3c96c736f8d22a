"""`import` over files, folders and zips: detection by content, one failure never stops the run."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from promptlib.library import Library
from promptlib.seeds import seed_pack_path
from tests.conftest import CliResult
from tests.packs.conftest import COMFY_API_JSON

STYLES_CSV = 'name,prompt,negative_prompt\nnoir,"film noir {prompt}",color\n'


def test_folders_are_walked_recursively_and_formats_detected_by_content(lib: Library, tmp_path: Path) -> None:
    root = tmp_path / "stuff"
    (root / "deep" / "deeper").mkdir(parents=True)
    (root / "styles.txt").write_text(STYLES_CSV)
    (root / "deep" / "prompts.weird").write_text('{"prompt": "a cat"}\n{"prompt": "a dog", "steps": 9}\n')
    (root / "deep" / "deeper" / "list.csv").write_text('--prompt "a bird" --steps 12\nplain prompt line\n')
    (root / ".hidden.jsonl").write_text('{"prompt": "secret"}\n')
    (root / "notes.bin").write_bytes(b"\x00\x01garbage")
    summary = lib.import_paths([root])
    assert summary.imported == 4 and summary.styles_imported == 1
    assert [f["path"] for f in summary.failed] == [str(root / "notes.bin")]
    assert {e.prompt for e in lib.entries()} == {"a cat", "a dog", "a bird", "plain prompt line"}
    again = lib.import_paths([root])
    assert (again.imported, again.duplicates, again.styles_duplicates) == (0, 4, 1)


def test_documents_code_and_image_sidecars_in_folders_and_zips_are_skipped(lib: Library, tmp_path: Path) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    root = tmp_path / "outputs"
    root.mkdir()
    (root / "README.md").write_text("# My renders\n\nSome notes\n")
    (root / "LICENSE.txt").write_text("MIT License\n\nPermission is hereby granted\n")
    (root / "00001-123.png").write_bytes(buf.getvalue())
    (root / "00001-123.txt").write_text("a castle\nSteps: 20, Seed: 123\n")  # A1111's sidecar of the PNG
    (root / "settings.yaml").write_text("steps: 20\n")
    (root / "prompts.txt").write_text("a lighthouse\nan owl\n")  # a prompt list: still imported
    (root / "fake.png").write_text("not an image at all\n")
    summary = lib.import_paths([root])
    # the PNG has no parameters inside: its A1111 sidecar gives them, and is not read as a prompt list itself
    assert {e.prompt for e in lib.entries()} == {"a lighthouse", "an owl", "a castle"}
    assert lib.search("castle").hits[0].entry.params["seed"] == 123
    assert summary.skipped == 4
    assert [(f["path"], f["reason"]) for f in summary.failed] == [
        (str(root / "fake.png"), "named like an image, but its content is not a PNG, JPEG or WEBP image")
    ]
    archive = tmp_path / "outputs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(root.iterdir()):
            z.write(path, "outputs/" + path.name)
    again = lib.import_paths([archive])
    assert again.skipped == 4 and len(again.failed) == 1 and again.imported == 0  # the rest is already present


# Easy Diffusion's default "txt" metadata beside an image (its labels; a prompt may run over several lines)
EASYDIFFUSION_TXT = """Prompt: a harbour at night,
neon reflections
Negative Prompt: blurry
Seed: 1234
Stable Diffusion model: sd-v1-5.safetensors
Clip Skip: False
VAE model: None
Sampler: euler_a
Width: 512
Height: 768
Steps: 25
Guidance Scale: 7.5
LoRA model: None
Use Face Correction: GFPGANv1.4
"""


def test_sidecars_of_easy_diffusion_and_comfyui_give_images_their_recipes(lib: Library, tmp_path: Path) -> None:
    """Easy Diffusion saves parameters beside its images by default ("txt"; "json" optional): such a .txt used to be
    read as A1111 text (its "Steps: 25" line), the prompt holding every label. A .json sidecar is not imported on
    its own either: it gives its image the recipe."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    root = tmp_path / "easy"
    root.mkdir()
    for name in ("harbour", "owl", "graph"):
        (root / f"{name}.png").write_bytes(buf.getvalue() + name.encode())  # distinct files, still valid PNGs
    (root / "harbour.txt").write_text(EASYDIFFUSION_TXT)
    owl = {"prompt": "an owl", "seed": 7, "num_inference_steps": 30, "guidance_scale": 6, "sampler_name": "dpm2"}
    (root / "owl.json").write_text(json.dumps(owl))
    (root / "graph.json").write_bytes(COMFY_API_JSON)  # e.g. a prompt-logger node's sidecar
    summary = lib.import_paths([root])
    assert summary.failed == [] and (summary.images_imported, summary.skipped) == (3, 3)
    entries = {e.prompt: e for e in lib.get_many(summary.ids)}
    assert set(entries) == {"a harbour at night,\nneon reflections", "an owl", "a castle in the clouds"}
    harbour = entries["a harbour at night,\nneon reflections"].params
    assert (harbour["seed"], harbour["steps"], harbour["cfg_scale"], harbour["sampler"]) == (1234, 25, 7.5, "Euler a")
    assert (harbour["width"], harbour["height"], harbour["model"], harbour["clip_skip"]) == (512, 768, "sd-v1-5", None)
    assert entries["an owl"].params["steps"] == 30 and entries["a castle in the clouds"].params["steps"] == 24


def test_zips_are_read_member_by_member_and_unsafe_members_refused(lib: Library, tmp_path: Path) -> None:
    archive = tmp_path / "mixed.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/styles.csv", STYLES_CSV)
        z.writestr("b/p.jsonl", '{"prompt": "zipped"}\n')
        z.writestr("../escape.jsonl", '{"prompt": "escaped"}\n')
        z.writestr("bomb.jsonl", b"\n" * 5_000_000)
    summary = lib.import_paths([archive])
    assert summary.imported == 1 and summary.styles_imported == 1
    reasons = {f["path"].split("!")[-1]: f["reason"] for f in summary.failed}
    assert "unsafe path" in reasons["../escape.jsonl"] and "zip bomb" in reasons["bomb.jsonl"]
    assert not (tmp_path / "escape.jsonl").exists()


def test_a_zipped_native_pack_is_imported_as_a_pack(lib: Library, tmp_path: Path) -> None:
    target = tmp_path / "seed.zip"
    with zipfile.ZipFile(target, "w") as z:
        for path in seed_pack_path().rglob("*.json"):
            z.write(path, "starter/" + path.relative_to(seed_pack_path()).as_posix())
    summary = lib.import_paths([target])
    assert summary.imported >= 200 and summary.failed == []
    assert lib.stats()["packs"] == 1


def test_import_json_shape_and_exit_code(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    (tmp_path / "ok.jsonl").write_text('{"prompt": "a cat"}\n')
    (tmp_path / "bad.json").write_text('{"name": NaN}')
    cli("init", "--empty")
    result = cli("import", str(tmp_path / "ok.jsonl"), str(tmp_path / "bad.json"), str(tmp_path / "nope"), "--json")
    data = json.loads(result.out)
    assert set(data) >= {"imported", "duplicates", "failed", "ids"}
    assert data["imported"] == 1 and len(data["ids"]) == 1
    assert {f["path"] for f in data["failed"]} == {str(tmp_path / "bad.json"), str(tmp_path / "nope")}
    assert all("\n" not in f["reason"] for f in data["failed"])
    assert result.code == 1  # partly done: the rest was imported, the failures are listed (docs/JSON.md)
    again = cli("import", str(tmp_path / "ok.jsonl"), "--json")  # nothing failed: duplicates are no failure
    assert again.code == 0 and again.json()["duplicates"] == 1
    only_bad = cli("import", str(tmp_path / "nope"))
    assert only_bad.code == 4 and "no such file" in only_bad.err
