"""The ``--json`` keys of render, rerun, verify, grid and bench render (docs/JSON.md), on the tiny random model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests import json_shapes as shape
from tests.json_shapes import assert_shape, keys

TINY = ["--model", "random:sd15-tiny", "--size", "64x64", "--steps", "2"]


def _ok(result: Any) -> Any:
    assert result.code == 0, result.err
    return result.json()


def test_render_rerun_verify_and_grid_print_renders_in_one_shape(cli: Any) -> None:
    fox = _ok(cli("add", "a red fox in snow", "--json"))["id"]
    lost = _ok(cli("add", "a heron <lora:not_here:0.5>", "--json"))["id"]  # cannot render: listed in failed
    result = cli("render", str(fox), str(lost), *TINY, "--json")
    assert result.code == 1, result.err  # one entry could not render
    run = result.json()
    assert_shape(run, shape.RENDER_RUN)
    assert len(run["renders"]) == 1 and len(run["failed"]) == 1
    render = run["renders"][0]
    assert_shape(render, shape.RENDER)
    assert_shape(run["failed"][0], shape.FAILED_ENTRY)
    assert run["failed"][0]["prompt_id"] == lost and "LoRA" in run["failed"][0]["reason"]
    assert Path(render["image_path"]).is_absolute() and Path(render["image_path"]).is_file()

    shown = _ok(cli("show", str(fox), "--json"))["renders"]
    assert shown == [render]  # the same object, key for key, as show prints it

    rerun = _ok(cli("rerun", str(render["id"]), "--json"))
    assert_shape(rerun, shape.RERUN)
    assert rerun["image_sha256"] == render["image_sha256"] and rerun["rerun_of"] == render["id"]

    verdict = _ok(cli("verify", str(render["id"]), "--json"))
    assert_shape(verdict, shape.VERIFY)

    grid = _ok(cli("grid", str(fox), "--x", "seed=1,2", *TINY, "--json"))
    assert_shape(grid, shape.GRID)
    assert Path(grid["image_path"]).is_file() and isinstance(grid["id"], int)
    assert_shape(grid["axes"][0], shape.GRID_AXIS)
    assert [keys(cell) for cell in grid["cells"]] == [shape.GRID_CELL] * 2


def test_verify_names_each_changed_fingerprint_field_with_stored_and_current(cli: Any, tmp_path: Path) -> None:
    from promptlib.library import Library

    fox = _ok(cli("add", "a red fox in snow", "--json"))["id"]
    render = _ok(cli("render", str(fox), *TINY, "--json"))["renders"][0]
    with Library.open(tmp_path / "cli-lib") as lib, lib.db.write() as conn:
        conn.execute("UPDATE renders SET environment = json_set(environment, '$.torch', '0.1') WHERE id = ?",
                     (render["id"],))  # fmt: skip
    verdict = cli("verify", str(render["id"]), "--json").json()
    assert_shape(verdict, shape.VERIFY)
    assert_shape(verdict["fingerprint_diff"]["torch"], shape.FINGERPRINT_CHANGE)


def test_bench_render_prints_meta_rows_and_goals(cli: Any) -> None:
    report = _ok(cli(
        "bench", "render", "--random-weights", "--tiny", "--batch", "1", "--steps", "2", "--repeats", "1",
        "--variants", "plain", "--json",
    ))  # fmt: skip
    assert_shape(report, shape.BENCH_RENDER)
    assert [keys(row) for row in report["rows"]] == [shape.BENCH_RENDER_ROW]
