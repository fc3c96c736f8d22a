"""X/Y/Z grids: axis parsing, cell recipes, the composed labelled image, links to renders, animations."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promptlib.errors import ValidationError
from promptlib.render.grid import apply_axis, grid_cells, parse_axis


@pytest.mark.parametrize(
    ("text", "field", "values"),
    [
        ("seed=1,2,3", "seed", (1, 2, 3)),
        ("seed=10-13", "seed", (10, 11, 12, 13)),
        ("cfg=4-8 (+2)", "cfg", (4.0, 6.0, 8.0)),
        ("steps=10-30 [3]", "steps", (10, 20, 30)),
        ('sampler="Euler a","DPM++ 2M Karras"', "sampler", ("Euler a", "DPM++ 2M Karras")),
        ("sampler=Euler a, DPM++ 2M", "sampler", ("Euler a", "DPM++ 2M")),
        ("Size=512x512, 512×768", "size", ("512x512", "512x768")),
        ("neg=on,off", "negative", (True, False)),
        ("prompt=fox,wolf,owl", "prompt", ("fox", "wolf", "owl")),
    ],
)
def test_parse_axis(text: str, field: str, values: tuple[Any, ...]) -> None:
    axis = parse_axis(text)
    assert (axis.field, axis.values) == (field, values)
    assert len(axis.labels) == len(values)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flavour=1,2", "FIELD=VALUES"),
        ("seed", "FIELD=VALUES"),
        ("steps=ten", "not a whole number"),
        ("negative=maybe", "not on or off"),
        ("size=big", "WIDTHxHEIGHT"),
        ("seed=1-500", "limit"),
        ("seed=", "no values"),
    ],
)
def test_bad_axes_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_axis(text)


def test_axes_apply_to_recipe_fields() -> None:
    fields = {"prompt": "a fox in snow", "negative_prompt": "blurry", "sampler": "Euler", "schedule": None}
    assert apply_axis(fields, parse_axis("prompt=fox,owl"), 1)["prompt"] == "a owl in snow"
    assert apply_axis(fields, parse_axis("negative=on,off"), 1)["negative_prompt"] == ""
    assert apply_axis(fields, parse_axis("negative=on,off"), 0)["negative_prompt"] == "blurry"
    switched = apply_axis(fields, parse_axis('sampler="DPM++ 2M Karras"'), 0)
    assert (switched["sampler"], switched["schedule"]) == ("DPM++ 2M", "karras")
    sized = apply_axis(fields, parse_axis("size=64x128"), 0)
    assert (sized["width"], sized["height"]) == (64, 128)
    with pytest.raises(ValidationError, match="'cat' is not in the prompt"):
        apply_axis(fields, parse_axis("prompt=cat,dog"), 1)
    assert len(grid_cells(parse_axis("seed=1,2,3"), parse_axis("steps=2,3"), None)) == 6


def _pixels(path: Path) -> Any:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def test_grid_has_the_right_cells_size_and_links(render_lib: Any) -> None:
    grid = render_lib.grid(1, x="seed=1,2,3", y='sampler="Euler a","DPM++ 2M"')
    assert grid.grid_id is not None and not grid.cancelled
    assert len(grid.cells) == 6
    assert [(c.x, c.y) for c in grid.cells] == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
    assert [c.render.recipe["seed"] for c in grid.cells] == [1, 2, 3, 1, 2, 3]
    assert [c.render.recipe["sampler"] for c in grid.cells] == ["Euler a"] * 3 + ["DPM++ 2M"] * 3
    rows = render_lib.db.execute("SELECT id, grid_id, grid_cell FROM renders ORDER BY id")
    assert {(r[1], tuple(json.loads(r[2]))) for r in rows} == {(grid.grid_id, (c.x, c.y, 0)) for c in grid.cells}
    stored = render_lib.db.execute("SELECT prompt_id, width, height, image_path, spec FROM grids")
    assert stored[0][:3] == (1, grid.width, grid.height)
    assert json.loads(stored[0][4])["axes"][0]["field"] == "seed"
    image = _pixels(grid.path)
    assert image.shape[:2] == (grid.height, grid.width)
    assert grid.width > 3 * 64 and grid.height > 2 * 64  # cells plus label margins
    # every cell of the composed image is exactly that cell's stored render
    top, left = grid.height - 2 * 64, grid.width - 3 * 64
    for cell in grid.cells:
        region = image[top + cell.y * 64 : top + (cell.y + 1) * 64, left + cell.x * 64 : left + (cell.x + 1) * 64]
        assert np.array_equal(region, _pixels(cell.render.path))
    assert grid._repr_png_() == grid.path.read_bytes()


def test_grid_z_axis_negative_toggle_and_animation(render_lib: Any, tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "sweep.gif"
    grid = render_lib.grid(1, axes=["steps=2,3", "negative=on,off", "cfg=3,7"], animate=out, frame_ms=100)
    assert len(grid.cells) == 8
    assert {c.render.recipe["negative_prompt"] for c in grid.cells} == {"blurry", ""}
    assert {c.z for c in grid.cells} == {0, 1}
    assert grid.width > 2 * (2 * 64)  # two z slices side by side
    with Image.open(out) as gif:
        assert gif.n_frames == 8
        assert gif.size == (64, 64)
    assert grid.animation == out


def test_cancelled_grid_keeps_finished_cells_and_stores_no_grid(render_lib: Any, library_files: Any) -> None:
    from promptlib.render.renderer import RenderOptions

    cancel = threading.Event()

    def progress(p: Any) -> None:
        if p.stage == "storing" and p.job == 1:
            cancel.set()

    grid = render_lib.grid(1, x="seed=1,2,3,4", options=RenderOptions(batch_size=2), progress=progress, cancel=cancel)
    assert grid.cancelled and grid.grid_id is None
    assert len(grid.cells) == 2
    assert render_lib.db.execute("SELECT count(*) FROM grids")[0][0] == 0
    assert render_lib.db.execute("SELECT count(*) FROM renders WHERE grid_id IS NULL")[0][0] == 2
    on_disk, referenced = library_files(render_lib)
    assert on_disk == referenced


def test_grid_needs_an_axis_named_as_each_reader_gives_one(render_lib: Any) -> None:
    with pytest.raises(ValidationError, match="at least one axis") as info:
        render_lib.grid(1)
    assert str(info.value).endswith("(x='FIELD=V1,V2,…')") and "--x" not in str(info.value)
    assert info.value.cli_message().endswith("(--x FIELD=V1,V2,…)")  # what the CLI prints


def test_removing_an_entry_removes_its_grid_image_and_undo_brings_it_back(render_lib: Any, library_files: Any) -> None:
    grid = render_lib.grid(1, x="seed=1,2")
    on_disk, referenced = library_files(render_lib)
    assert grid.image_path is not None and on_disk == referenced and len(on_disk) == 3
    before = {p: render_lib.images.path(p).read_bytes() for p in on_disk}
    taken = render_lib.remove_undoable([1])
    assert library_files(render_lib) == (set(), set())  # the grid image went too: no orphan file
    render_lib.restore(taken)
    assert {p: render_lib.images.path(p).read_bytes() for p in library_files(render_lib)[0]} == before
    assert [tuple(r) for r in render_lib.db.execute("SELECT id FROM grids")] == [(grid.id,)]
    assert render_lib.doctor(deep=True) == []


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ("seed=1,2", "seed=3,4", "--x and --y both set seed"),
        ("size=64x64,128x64", "width=64,128", "--x and --y both set width"),
    ],
)
def test_two_axes_on_one_field_are_refused_before_rendering(render_lib: Any, x: str, y: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        render_lib.grid(1, x=x, y=y)
    assert render_lib.db.execute("SELECT count(*) FROM renders")[0][0] == 0
    both = render_lib.grid(1, x="prompt=lighthouse,castle", y="prompt=fog,rain", max_cell=64)  # each its own words
    assert len(both.renders) == 4


def test_a_bad_animation_target_is_refused_before_rendering(render_lib: Any, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"^an animation is written as \.webp or \.gif, not 'sweep\.mp4'$"):
        render_lib.grid(1, x="seed=1,2", animate=tmp_path / "sweep.mp4")  # worded for both readers: no --animate
    with pytest.raises(ValidationError, match=r"^the animation's folder .* does not exist$"):
        render_lib.grid(1, x="seed=1,2", animate=tmp_path / "missing" / "sweep.gif")
    assert render_lib.db.execute("SELECT count(*) FROM renders")[0][0] == 0 and not (tmp_path / "missing").exists()
    made = render_lib.grid(1, x="seed=1,2", animate=tmp_path / "sweep.gif")
    assert made.animation is not None and (made.animation.stat().st_mode & 0o777) == 0o644


def test_the_tui_form_check_takes_one_two_or_three_axes() -> None:
    from promptlib.tui.render_jobs import check_axes

    check_axes(["seed=1,2"])
    check_axes(["seed=1,2", "steps=1,2"])
    check_axes(["seed=1,2", "steps=1,2", "cfg=4,7"])
    with pytest.raises(ValidationError, match="--x and --z both set seed"):
        check_axes(["seed=1,2", "steps=1,2", "seed=3"])
