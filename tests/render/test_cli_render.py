"""The render commands through the real console-script entry point: render, rerun, verify, grid, schedulers and
bench render (on the CPU with the tiny random model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

TINY = ["--model", "random:sd15-tiny", "--size", "64x64", "--steps", "2"]


@pytest.fixture
def entry(cli: Any) -> int:
    result = cli("add", "a red fox in snow", "-n", "blurry", "--json")
    assert result.code == 0, result.err
    return int(result.json()["id"])


def test_render_json_lists_what_was_stored(cli: Any, entry: int) -> None:
    result = cli("render", str(entry), *TINY, "--n", "3", "--batch", "2", "--seed", "5", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert not data["cancelled"]
    renders = data["renders"]
    assert [r["recipe"]["seed"] for r in renders] == [5, 6, 7]
    for render in renders:
        assert {"id", "image_path", "image_sha256", "recipe"} <= set(render)
        assert Path(render["image_path"]).is_file()
        assert render["recipe"]["model"] == "random:sd15-tiny"


def test_rerun_and_verify_commands(cli: Any, entry: int) -> None:
    first = cli("render", str(entry), *TINY, "--json").json()["renders"][0]
    rerun = cli("rerun", str(first["id"]), "--json")
    assert rerun.code == 0, rerun.err
    assert rerun.json()["identical_to_original"] is True
    assert rerun.json()["image_sha256"] == first["image_sha256"]
    verify = cli("verify", str(first["id"]), "--json")
    assert verify.code == 0 and verify.json()["verdict"] == "identical"


def test_verify_exits_3_and_reports_drift(cli: Any, entry: int, tmp_path: Path) -> None:
    from promptlib.library import Library

    first = cli("render", str(entry), *TINY, "--json").json()["renders"][0]
    with Library.open(tmp_path / "cli-lib") as lib, lib.db.write() as conn:
        conn.execute("UPDATE renders SET recipe = json_set(recipe, '$.steps', 3) WHERE id = ?", (first["id"],))
    result = cli("verify", str(first["id"]), "--json")
    assert result.code == 3
    data = result.json()
    assert data["verdict"] == "drift" and data["max_abs_diff"] > 0 and data["psnr"] > 0
    plain = cli("verify", str(first["id"]))
    assert plain.code == 3 and "drift" in plain.out


def test_grid_command_json_and_animation(cli: Any, entry: int, tmp_path: Path) -> None:
    out = tmp_path / "sweep.webp"
    result = cli(
        "grid", str(entry), "--x", "seed=1,2", "--y", 'sampler="Euler a","DPM++ 2M Karras"', *TINY,
        "--animate", str(out), "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    data = result.json()
    assert Path(data["image_path"]).is_file()
    assert len(data["cells"]) == 4
    assert [(c["x"], c["y"]) for c in data["cells"]] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert data["cells"][3]["recipe"]["schedule"] == "karras"
    assert out.is_file() and data["animation"] == str(out)


def test_bad_input_is_one_line_error(cli: Any, entry: int) -> None:
    result = cli("grid", str(entry), "--x", "flavour=1,2", *TINY)
    assert result.code == 2
    assert result.err.strip().startswith("error:") and len(result.err.strip().splitlines()) == 1
    missing = cli("render", "999", *TINY)
    assert missing.code == 4 and "no prompt with id 999" in missing.err


def test_render_takes_entry_ids_as_separate_arguments(cli: Any, entry: int) -> None:
    other = int(cli("add", "a heron at dawn", "--json").json()["id"])
    result = cli("render", str(entry), str(other), *TINY, "--seed", "1", "--json")
    assert result.code == 0, result.err
    assert sorted(r["prompt_id"] for r in result.json()["renders"]) == [entry, other]
    missing = cli("render", str(entry), "999", *TINY)  # read as ids, not as a query of two numbers
    assert missing.code == 4 and "no prompt with id 999" in missing.err
    mixed = cli("render", str(entry), "fox", *TINY)
    assert mixed.code == 2 and len(mixed.err.strip().splitlines()) == 1
    assert "'fox' is not an entry id" in mixed.err and "promptlib render 'foggy harbour'" in mixed.err
    query = cli("render", "fox snow", *TINY, "--json")  # one quoted argument with spaces stays a query
    assert [r["prompt_id"] for r in query.json()["renders"]] == [entry]


def test_schedulers_command_prints_the_registry(cli: Any) -> None:
    table = cli("schedulers")
    assert table.code == 0
    for name in ("DPM++ 2M Karras", "DPMSolverMultistepScheduler", "use_karras_sigmas=True", "Heun"):
        assert name in table.out
    rows = cli("schedulers", "--json").json()
    heun = next(r for r in rows if r["name"] == "Heun")
    assert heun["unet_calls_per_step"] == 2 and heun["class"] == "HeunDiscreteScheduler"


def test_bench_render_measures_plain_and_product_and_survives_a_failing_option(cli: Any) -> None:
    result = cli(
        "bench", "render", "--random-weights", "--tiny", "--batch", "2", "--steps", "2", "--repeats", "1",
        "--variants", "plain,eager,default,cuda-graphs", "--json",
    )  # fmt: skip
    assert result.code == 1, result.err  # partly done: one case failed, the others were measured
    report = result.json()
    rows = {(r["variant"], r["batch"]): r for r in report["rows"]}
    assert set(rows) == {(v, 2) for v in ("plain", "eager", "default", "cuda-graphs")}
    for variant in ("plain", "eager", "default"):
        row = rows[(variant, 2)]
        assert row["error"] is None
        assert row["seconds_per_image"] > 0 and row["images_per_second"] > 0 and row["unet_calls"] == 2
    assert "CUDA" in rows[("cuda-graphs", 2)]["error"]  # no GPU here: that case fails alone
    assert rows[("eager", 2)]["extra"]["batch_vs_single"]["max_abs_diff"] <= 1
    assert report["meta"]["torch"]


def test_bench_render_pack_scenario_goes_through_the_library(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = cli(
        "bench", "render", "--random-weights", "--tiny", "--scenario", "pack", "--pack-images", "4",
        "--variants", "default", "--out", str(out), "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    row = result.json()["rows"][0]
    assert row["scenario"] == "pack" and row["error"] is None
    assert row["extra"]["images"] == 4 and row["images_per_second"] > 0
    assert json.loads(out.read_text())["rows"][0]["scenario"] == "pack"


def test_bench_render_finds_and_loads_a_model_as_render_does(cli: Any, model_dir: Path, tmp_path: Path) -> None:
    import pickle

    from promptlib.render import bench

    home = tmp_path / "cli-lib"  # the library folder the cli fixture points PROMPTLIB_HOME at
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(f'[render]\nmodel_dirs = ["{model_dir}"]\n')
    once = ("bench", "render", "--tiny", "--steps", "2", "--repeats", "1", "--variants", "default", "--json")
    named = cli(*once, "--model", "tiny-sd15")  # a name found in [render] model_dirs, as `render` finds it
    assert named.code == 0, named.err
    assert [r["error"] for r in named.json()["rows"]] == [None]
    pack = cli(*once, "--model", "tiny-sd15", "--scenario", "pack", "--pack-images", "2", "--pack-batch", "2")
    assert pack.code == 0 and pack.json()["rows"][0]["extra"]["images"] == 2, pack.out + pack.err
    checkpoint = tmp_path / "old-model.ckpt"
    checkpoint.write_bytes(pickle.dumps({"state_dict": {}}))
    for scenario in ((), ("--scenario", "pack")):
        refused = cli(*once, "--model", str(checkpoint), *scenario)
        error = refused.json()["rows"][0]["error"]
        assert refused.code == 1 and "pass --allow-pickle if you trust" in error and "allow_pickle=True" not in error
        opted_in = cli(*once, "--model", str(checkpoint), "--allow-pickle", *scenario)
        assert opted_in.code == 1 and "--allow-pickle" not in opted_in.json()["rows"][0]["error"]  # no model inside
    config = bench.BenchConfig(model=str(checkpoint), size_preset="tiny", steps=2, repeats=1, variants=("default",))
    report = bench.run(config, on_row=None)  # from Python: the keyword argument, not the option
    assert "pass allow_pickle=True if you trust" in report["rows"][0]["error"]


def test_render_commands_have_help_with_examples(cli: Any) -> None:
    for command in (["render"], ["rerun"], ["verify"], ["grid"], ["schedulers"], ["bench", "render"]):
        result = cli(*command, "--help")
        assert result.code == 0
        assert "Usage" in result.out
    assert "promptlib grid 12 --x seed=1,2,3" in cli("grid", "--help").out


def test_pickle_and_download_opt_ins_are_real_options(cli: Any, entry: int, tmp_path: Path) -> None:
    checkpoint = tmp_path / "old-model.ckpt"
    import pickle

    checkpoint.write_bytes(pickle.dumps({"state_dict": {}}))
    refused = cli("render", str(entry), "--model", str(checkpoint), "--size", "64x64", "--steps", "2")
    assert refused.code != 0 and "pass --allow-pickle" in refused.err
    opted_in = cli("render", str(entry), "--model", str(checkpoint), "--allow-pickle", "--size", "64x64")
    assert opted_in.code != 0 and "--allow-pickle" not in opted_in.err  # past the refusal: this file is no model
    assert "No such option" not in opted_in.err
    for command in ("render", "grid", "rerun", "verify", "bench render"):
        text = cli(*command.split(), "--help").out
        assert "--allow-pickle" in text and "--allow-download" in text, command


@pytest.mark.parametrize("size", ["0x0", "-64x64", "64x4", "64by64"])
def test_a_size_that_cannot_render_is_a_usage_error(cli: Any, entry: int, size: str) -> None:
    result = cli("render", str(entry), "--model", "random:sd15-tiny", "--size", size)
    assert result.code == 2 and "--size" in result.err
    assert cli("show", str(entry), "--json").json()["renders"] == []


def test_render_vae_dtype_option(cli: Any, entry: int) -> None:
    tiny_xl = ["--model", "random:sdxl-tiny", "--size", "64x64", "--steps", "2"]
    result = cli("render", str(entry), *tiny_xl, "--vae-dtype", "bf16", "--json")
    assert result.code == 0, result.err
    assert result.json()["renders"][0]["environment"]["vae_dtype"] == "bf16"
    bad = cli("render", str(entry), *tiny_xl, "--vae-dtype", "fp8")
    assert bad.code == 2 and bad.err.strip().startswith("error:") and "VAE dtype 'fp8'" in bad.err
    assert len(bad.err.strip().splitlines()) == 1
