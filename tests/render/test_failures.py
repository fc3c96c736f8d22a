"""A run over many entries goes on when some cannot render (a LoRA or model that is missing, an entry without a
model): those are listed with their one-line reason, the others are rendered and stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from promptlib.errors import NotFoundError
from promptlib.library import Library

pytest.importorskip("diffusers")

TINY = {"steps": 2, "width": 64, "height": 64, "seed": 1}


@pytest.fixture
def lib(tmp_path: Path, model_dir: Path) -> Any:
    home = tmp_path / "lib"
    home.mkdir()
    (home / "config.toml").write_text(f'[render]\nmodel_dirs = ["{model_dir}"]\n')
    with Library.open(home) as library:
        yield library


def test_entries_that_cannot_render_are_listed_and_the_rest_are_stored(lib: Library) -> None:
    good = lib.add("a cat", params={"model": "tiny-sd15", **TINY}).id
    lora = lib.add("a dog <lora:not_there:0.5>", params={"model": "tiny-sd15", **TINY}).id  # fails when loading
    random_lora = lib.add("a fox <lora:x:1>", params={"model": "random:sd15-tiny", **TINY}).id  # fails when hashed
    no_model = lib.add("a bird", params=TINY).id  # fails when its recipe is built
    also_good = lib.add("an owl", params={"model": "random:sd15-tiny", **TINY}).id
    run = lib.render([good, lora, random_lora, no_model, also_good], n=2)
    assert sorted({r.info.prompt_id for r in run}) == [good, also_good] and len(run) == 4
    reasons = {f.entry_id: f.error for f in run.failed}
    assert set(reasons) == {lora, random_lora, no_model} and len(run.failed) == 5  # two images each, one recipe
    assert "LoRA 'not_there' not found" in reasons[lora]
    assert "random-weight model takes no VAE or LoRA" in reasons[random_lora]
    assert "names no model: pass model=…" in reasons[no_model]
    cli_reasons = {f["prompt_id"]: f["reason"] for f in run.to_json(cli=True)["failed"]}
    assert "names no model: pass --model," in cli_reasons[no_model]  # as `promptlib render` prints it
    assert run.to_json()["failed"][0].keys() == {"prompt_id", "reason"}
    assert lib.count("has:image") == 2  # nothing was stored for the others


def test_when_nothing_can_render_the_first_error_is_raised(lib: Library) -> None:
    entry = lib.add("a dog <lora:not_there:0.5>", params={"model": "tiny-sd15", **TINY}).id
    with pytest.raises(NotFoundError, match="LoRA 'not_there' not found"):
        lib.render(entry)


def test_the_cli_reports_what_was_not_rendered_and_exits_1(cli: Any, tmp_path: Path) -> None:
    good = cli("add", "a cat", "--json").json()["id"]
    bad = cli("add", "a dog <lora:not_there:0.5>", "--json").json()["id"]
    result = cli("render", f"{good},{bad}", "--model", "random:sd15-tiny", "--size", "64x64", "--steps", "2")
    assert result.code == 1
    assert f"not rendered (1 image(s), #{bad}): a random-weight model takes no VAE or LoRA" in " ".join(
        result.err.split()
    )
    assert "1 render(s)" in result.out


def test_a_failure_names_the_opt_in_as_its_reader_spells_it(cli: Any, tmp_path: Path) -> None:
    import pickle

    checkpoint = tmp_path / "old-model.ckpt"
    checkpoint.write_bytes(pickle.dumps({"state_dict": {}}))
    good = cli("add", "a cat", "--model", "random:sd15-tiny", "--json").json()["id"]
    bad = cli("add", "a dog", "--model", str(checkpoint), "--json").json()["id"]
    result = cli("render", f"{good},{bad}", "--size", "64x64", "--steps", "2", "--json")
    assert result.code == 1, result.err
    reason = result.json()["failed"][0]["reason"]
    assert "pass --allow-pickle if you trust" in reason and "allow_pickle=True" not in reason
    assert "pass --allow-pickle if you trust" in " ".join(result.err.split())
    with Library.open(tmp_path / "cli-lib") as library:  # from Python: the keyword argument, not the option
        run = library.render([good, bad], steps=2, size=(64, 64))
    assert "pass allow_pickle=True if you trust" in run.failed[0].error
    assert run.to_json()["failed"][0]["reason"] == run.failed[0].error


def test_a_tui_render_job_says_what_was_not_rendered(tmp_path: Path) -> None:
    import threading

    from promptlib.tui.render_jobs import render_job
    from promptlib.tui.screens.render_dialog import RenderRequest

    with Library.open(tmp_path / "tui-lib") as library:
        params = {"model": "random:sd15-tiny", **TINY}
        good = library.add("a cat", params=params).id
        bad = library.add("a dog <lora:x:1>", params=params).id
        job = render_job([good, bad], RenderRequest())
        result = job.run(library, lambda *_: None, threading.Event())
    assert result.summary == "1 render stored; 1 not rendered: a random-weight model takes no VAE or LoRA"
    assert len(result.render_ids) == 1


def test_render_of_a_query_with_a_limit_takes_the_top_search_results(tmp_path: Path) -> None:
    with Library.open(tmp_path / "order") as library:
        params = {"model": "random:sd15-tiny", **TINY}
        weak = library.add("a lighthouse on a cliff, sea, storm, night, clouds, rain", params=params).id
        strong = library.add("lighthouse lighthouse", params=params).id
        assert [h.entry.id for h in library.search("lighthouse").hits] == [strong, weak]
        run = library.render("lighthouse", limit=1)
        assert [r.info.prompt_id for r in run] == [strong]  # not the lowest id
