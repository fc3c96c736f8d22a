"""X/Y/Z comparison grids (A1111's "X/Y/Z plot") and sweep animations.

An axis is ``FIELD=V1,V2,…`` over any recipe field (``seed=1,2,3``, ``sampler="Euler a","DPM++ 2M"``,
``cfg=4-10 (+2)``, ``size=512x512,512x768``), prompt search/replace (``prompt=cat,dog,fox``: the first value is
searched for and each value replaces it) or the negative prompt on/off (``negative=on,off``). The grid image is
composed on the CPU as each batch of cells arrives (`GridCanvas`), so no more than one batch of cells is ever on
the GPU; with a z axis, one labelled grid per z value is laid out side by side.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.errors import Switch, ValidationError
from promptlib.recipe import canonical_sampler
from promptlib.render.results import GridCell, GridResult

if TYPE_CHECKING:
    import threading
    from collections.abc import Mapping

    import numpy as np
    from PIL import Image, ImageFont

    from promptlib.library import Library
    from promptlib.recipe import Recipe
    from promptlib.render.jobs import ProgressCallback
    from promptlib.render.renderer import ImageResult, RenderOptions
    from promptlib.render.results import Rendered

MAX_AXIS_VALUES = 64
MAX_CELLS = 1024
_X_AXIS = Switch("x='FIELD=V1,V2,…'", "--x FIELD=V1,V2,…")  # how an axis is given (see `promptlib.errors.Switch`)

# Axis field → (recipe field it sets, value type). "prompt" and "negative" are handled specially.
FIELDS: dict[str, tuple[str, type]] = {
    "seed": ("seed", int),
    "steps": ("steps", int),
    "cfg": ("cfg_scale", float),
    "cfg_scale": ("cfg_scale", float),
    "sampler": ("sampler", str),
    "schedule": ("schedule", str),
    "width": ("width", int),
    "height": ("height", int),
    "size": ("size", str),
    "clip_skip": ("clip_skip", int),
    "model": ("model", str),
    "vae": ("vae", str),
    "dtype": ("dtype", str),
    "prompt": ("prompt", str),
    "negative": ("negative", str),
}
ALIASES = {"cfg scale": "cfg", "clip skip": "clip_skip", "prompt s/r": "prompt", "neg": "negative", "sr": "prompt"}
_ON = {"on", "yes", "true", "1", "with"}
_OFF = {"off", "no", "false", "0", "without"}
_RANGE = re.compile(
    r"^\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*(?:\(\s*\+\s*(\d+(?:\.\d+)?)\s*\)|\[\s*(\d+)\s*\])?\s*$"
)


@dataclass(frozen=True)
class Axis:
    """One grid axis: the field it sweeps and its values (typed), with display labels."""

    field: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "values": list(self.values), "labels": list(self.labels)}


def _split_values(text: str) -> list[str]:
    if not text.strip():
        return []
    rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
    if len(rows) != 1:
        raise ValidationError(f"axis values {text!r} must be on one line")
    return [v.strip() for v in rows[0] if v.strip()]


def _expand_range(item: str, kind: type) -> list[Any] | None:
    match = _RANGE.match(item)
    if match is None or kind not in (int, float):
        return None
    start, stop = float(match.group(1)), float(match.group(2))
    if match.group(4):  # a-b [n]: n values evenly spaced
        count = int(match.group(4))
        if count < 1:
            raise ValidationError(f"range {item!r} needs at least one value")
        values = [start + (stop - start) * i / max(count - 1, 1) for i in range(count)]
    else:
        step = float(match.group(3) or 1)
        if step <= 0:
            raise ValidationError(f"range {item!r} needs a positive step")
        values, value = [], start
        direction = 1 if stop >= start else -1
        while (value - stop) * direction <= 1e-9 and len(values) <= MAX_AXIS_VALUES:
            values.append(value)
            value += step * direction
    return [kind(round(v)) if kind is int else round(v, 6) for v in values]


def _typed(name: str, raw: str, kind: type) -> Any:
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ValidationError(f"axis {name}: {raw!r} is not a whole number") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ValidationError(f"axis {name}: {raw!r} is not a number") from None
    return raw


def parse_axis(text: str) -> Axis:
    """Parse ``FIELD=V1,V2,…`` (quotes allowed around values; numeric ranges ``1-5``, ``1-9 (+2)``, ``0-1 [5]``).

    Raises ValidationError naming the problem: unknown field, bad value, too many values."""
    name, sep, rest = text.partition("=")
    key = ALIASES.get(name.strip().lower(), name.strip().lower().replace(" ", "_"))
    if not sep or key not in FIELDS:
        known = ", ".join(sorted(FIELDS))
        raise ValidationError(f"axis {text!r} is not FIELD=VALUES with FIELD one of: {known}")
    _, kind = FIELDS[key]
    raw_values = _split_values(rest)
    if not raw_values:
        raise ValidationError(f"axis {key} has no values")
    values: list[Any] = []
    for item in raw_values:
        expanded = _expand_range(item, kind)
        values += expanded if expanded is not None else [_typed(key, item, kind)]
    if len(values) > MAX_AXIS_VALUES:
        raise ValidationError(f"axis {key} has {len(values)} values; the limit is {MAX_AXIS_VALUES}")
    labels = [str(v) for v in values]
    if key == "negative":
        flags = []
        for value in values:
            low = str(value).lower()
            if low not in _ON | _OFF:
                raise ValidationError(f"axis negative: {value!r} is not on or off")
            flags.append(low in _ON)
        values, labels = flags, ["negative on" if f else "negative off" for f in flags]
    elif key == "size":
        sizes = []
        for value in values:
            try:
                w, h = (int(p) for p in str(value).lower().replace("×", "x").split("x"))
            except ValueError:
                raise ValidationError(f"axis size: {value!r} is not WIDTHxHEIGHT") from None
            sizes.append(f"{w}x{h}")
        values = labels = sizes
    elif key == "sampler":
        labels = [str(v) for v in values]
    if key != "prompt":
        labels = [f"{key}: {label}" if key not in ("negative",) else label for label in labels]
    return Axis(key, tuple(values), tuple(labels))


def apply_axis(fields: dict[str, Any], axis: Axis, index: int) -> dict[str, Any]:
    """`fields` (recipe field values: prompt, negative_prompt, sampler, …) with `axis` at `index` applied.

    Raises ValidationError when a prompt search/replace term is not in the prompt."""
    out = dict(fields)
    value = axis.values[index]
    if axis.field == "prompt":
        search = str(axis.values[0])
        prompt = str(out.get("prompt", ""))
        if search not in prompt:
            raise ValidationError(f"prompt search/replace: {search!r} is not in the prompt")
        out["prompt"] = prompt.replace(search, str(value))
    elif axis.field == "negative":
        out["negative_prompt"] = out.get("negative_prompt", "") if value else ""
    elif axis.field == "sampler":
        out["sampler"], folded = canonical_sampler(str(value), None)
        out["schedule"] = folded
        out.pop("scheduler_config", None)
    elif axis.field == "schedule":
        out["schedule"] = None if str(value).lower() in ("automatic", "auto", "none") else value
        out.pop("scheduler_config", None)
    elif axis.field == "size":
        out["width"], out["height"] = (int(p) for p in str(value).split("x"))
    elif axis.field == "vae":
        out["vae"] = None if str(value).lower() in ("none", "default", "") else value
    elif axis.field == "model":
        out["model"] = value
        out.pop("model_hash", None)
    else:
        recipe_field, _ = FIELDS[axis.field]
        out[recipe_field] = value
    return out


def check_axes_apart(axes: Sequence[Axis | None]) -> None:
    """Raise ValidationError when two axes set the same recipe field (the later would silently win, and the
    earlier's labels would lie). Prompt search/replace axes may repeat: each replaces its own words."""
    seen: dict[str, str] = {}
    for name, axis in zip("xyz", axes, strict=False):  # one, two or three axes
        if axis is None or axis.field == "prompt":
            continue
        touched = {"width", "height"} if axis.field == "size" else {axis.field}
        for field in touched:
            if field in seen:
                raise ValidationError(f"--{seen[field]} and --{name} both set {field}: one axis per field")
            seen[field] = name


def grid_cells(x: Axis | None, y: Axis | None, z: Axis | None) -> list[tuple[int, int, int]]:
    """Every cell position ``(x, y, z)`` in sweep order (x fastest); raises ValidationError past MAX_CELLS."""
    nx, ny, nz = (len(a.values) if a else 1 for a in (x, y, z))
    if nx * ny * nz > MAX_CELLS:
        raise ValidationError(f"the grid has {nx * ny * nz} cells; the limit is {MAX_CELLS}")
    return [(i, j, k) for k in range(nz) for j in range(ny) for i in range(nx)]


# --- composing the image ----------------------------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _fit(text: str, font: Any, width: int) -> str:
    """`text` shortened with an ellipsis to fit `width` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


class GridCanvas:
    """The labelled grid image, filled cell by cell on the CPU. Cells larger than `max_cell` are downscaled."""

    def __init__(
        self,
        *,
        x: Axis | None,
        y: Axis | None,
        z: Axis | None,
        cell_width: int,
        cell_height: int,
        max_cell: int | None = None,
    ) -> None:
        from PIL import Image, ImageDraw

        self.x, self.y, self.z = x, y, z
        scale = min(1.0, max_cell / max(cell_width, cell_height)) if max_cell else 1.0
        self.cw, self.ch = max(1, round(cell_width * scale)), max(1, round(cell_height * scale))
        self.nx, self.ny, self.nz = (len(a.values) if a else 1 for a in (x, y, z))
        self.font_size = max(10, min(32, self.cw // 8))
        self.font = _font(self.font_size)
        line = self.font_size + self.font_size // 2
        label_w = max((self.font.getlength(t) for t in (y.labels if y else ())), default=0)
        self.left = int(min(label_w, 3 * self.cw)) + self.font_size if y else 0
        self.top = (line if x else 0) + (line if z else 0)
        self.gap = self.font_size if z else 0
        self.slice_w = self.left + self.nx * self.cw
        width = self.nz * self.slice_w + (self.nz - 1) * self.gap
        height = self.top + self.ny * self.ch
        self.image = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(self.image)
        for k in range(self.nz):
            ox = k * (self.slice_w + self.gap)
            if z:
                title = _fit(z.labels[k], self.font, self.slice_w)
                draw.text((ox + self.slice_w / 2, line / 2), title, fill="black", font=self.font, anchor="mm")
            if x:
                for i, label in enumerate(x.labels):
                    cx = ox + self.left + i * self.cw + self.cw / 2
                    draw.text(
                        (cx, self.top - line / 2), _fit(label, self.font, self.cw - 4), fill="black", font=self.font,
                        anchor="mm",
                    )  # fmt: skip
            if y:
                for j, label in enumerate(y.labels):
                    cy = self.top + j * self.ch + self.ch / 2
                    text = _fit(label, self.font, self.left - self.font_size // 2)
                    draw.text(
                        (ox + self.left - self.font_size // 2, cy), text, fill="black", font=self.font, anchor="rm"
                    )

    def paste(self, cell: tuple[int, int, int], pixels: np.ndarray[Any, Any]) -> None:
        """Put one cell's pixels (H×W×3 uint8) in place, centred and downscaled to the cell box."""
        from PIL import Image

        img = Image.fromarray(pixels, "RGB")
        if img.width > self.cw or img.height > self.ch:
            img.thumbnail((self.cw, self.ch), Image.Resampling.LANCZOS)
        i, j, k = cell
        ox = k * (self.slice_w + self.gap) + self.left + i * self.cw + (self.cw - img.width) // 2
        oy = self.top + j * self.ch + (self.ch - img.height) // 2
        self.image.paste(img, (ox, oy))

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.image.save(buf, format="PNG", compress_level=6)
        return buf.getvalue()


def check_animation_target(out: Path) -> None:
    """Raise ValidationError unless `out` is a .webp or .gif in a folder that exists (checked before rendering)."""
    if out.suffix.lower() not in (".webp", ".gif"):
        raise ValidationError(f"an animation is written as .webp or .gif, not {out.name!r}")
    if not out.parent.is_dir():
        raise ValidationError(f"the animation's folder {out.parent} does not exist")


def write_animation(frames: Iterator[Image.Image], out: Path, *, frame_ms: int = 500) -> Path:
    """Write `frames` as an animated WebP or GIF (chosen by `out`'s suffix), atomically. Raises ValidationError
    for another suffix or when there are no frames."""
    import os
    import tempfile

    check_animation_target(out)
    suffix = out.suffix.lower()
    images = list(frames)
    if not images:
        raise ValidationError("no frames to animate")
    first, rest = images[0], images[1:]
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}-", suffix=suffix)
    os.close(fd)
    Path(tmp).chmod(0o644)  # a file for the user's viewers, like any they save (mkstemp makes it 0600)
    try:
        options: dict[str, Any] = {"save_all": True, "append_images": rest, "duration": frame_ms, "loop": 0}
        if suffix == ".webp":
            options |= {"quality": 90, "method": 4}
        first.save(tmp, format=suffix[1:].upper(), **options)
        Path(tmp).replace(out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def axes_json(axes: Sequence[Axis | None]) -> list[dict[str, Any]]:
    names = ("x", "y", "z")
    return [{"axis": names[n]} | a.to_json() for n, a in enumerate(axes) if a is not None]


# --- rendering and storing a grid ---------------------------------------------------------------------------------


def render_grid(
    lib: Library,
    entry_id: int,
    *,
    x: str | None,
    y: str | None = None,
    z: str | None = None,
    overrides: Mapping[str, Any],
    options: RenderOptions,
    animate: Path | None = None,
    frame_ms: int = 500,
    max_cell: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> GridResult:
    """Render an X/Y/Z grid of `entry_id`, store every cell as a render linked to
    the grid and the labelled grid image; with `animate`, also write the cells as frames of a WebP/GIF."""
    from promptlib.render.jobs import RenderJob
    from promptlib.render.recipes import entry_fields, finish_recipe
    from promptlib.render.service import Models, run_jobs

    axes = [parse_axis(a) if a else None for a in (x, y, z)]
    if all(a is None for a in axes):
        raise _X_AXIS.error(ValidationError, lambda how: f"a grid needs at least one axis ({how})")
    check_axes_apart(axes)
    if animate is not None:
        check_animation_target(animate)
    ax, ay, az = axes
    models = Models(lib, options)
    entry = lib.get(entry_id)
    base = entry_fields(entry, overrides, lib)
    jobs: list[RenderJob] = []
    for cell in grid_cells(ax, ay, az):
        fields = dict(base)
        for axis, index in zip(axes, cell, strict=True):
            if axis is not None:
                fields = apply_axis(fields, axis, index)
        facts = models.facts(str(fields["model"]))
        jobs.append(
            RenderJob(
                entry_id, finish_recipe(fields, facts, device=models.device, options=models.options), grid_cell=cell
            )
        )
    cell_w = max(int(j.recipe.width or 0) for j in jobs)
    cell_h = max(int(j.recipe.height or 0) for j in jobs)
    canvas = GridCanvas(x=ax, y=ay, z=az, cell_width=cell_w, cell_height=cell_h, max_cell=max_cell)
    cells: dict[tuple[int, int, int], Rendered] = {}

    def on_stored(result: ImageResult, rendered: Rendered) -> None:
        job = result.tag
        assert job.grid_cell is not None
        canvas.paste(job.grid_cell, result.pixels)  # on the writer thread: cells leave memory batch by batch
        cells[job.grid_cell] = rendered

    outcome = run_jobs(lib, jobs, models, progress=progress, cancel=cancel, on_stored=on_stored)
    ordered = [GridCell(c[0], c[1], c[2], cells[c]) for c in grid_cells(ax, ay, az) if c in cells]
    spec = axes_json(axes)
    if outcome.cancelled:
        return GridResult(None, None, canvas.image.width, canvas.image.height, spec, ordered, cancelled=True)
    grid_id, path = _store_grid(lib, entry_id, canvas, spec, ordered, base_recipe=jobs[0].recipe)
    animation = None
    if animate is not None:
        frames = (_frame(cell.render.path, max_cell) for cell in ordered)
        animation = write_animation(frames, animate, frame_ms=frame_ms)
    return GridResult(grid_id, path, canvas.image.width, canvas.image.height, spec, ordered, animation)


def _frame(path: Path, max_cell: int | None) -> Any:
    from PIL import Image

    with Image.open(path) as img:
        frame = img.convert("RGB")
    if max_cell:
        frame.thumbnail((max_cell, max_cell))
    return frame


def _store_grid(
    lib: Library,
    entry_id: int,
    canvas: Any,
    axes: list[dict[str, Any]],
    cells: list[GridCell],
    *,
    base_recipe: Recipe,
) -> tuple[int, Path]:
    """The grid image file first, then in one transaction its row and every cell's link to it."""
    import json
    from datetime import UTC, datetime

    from promptlib.metadata.writer import embed_recipe
    from promptlib.store.db import sql_datetime

    spec = {"axes": axes, "cells": len(cells)}
    png = embed_recipe(canvas.png(), base_recipe.model_copy(update={"extra": {**base_recipe.extra, "grid": spec}}))
    with lib.images.writing():  # from the file to its row's commit: `doctor --fix` elsewhere must not delete it
        stored = lib.images.put(png, ext="png")
        with lib.db.write() as conn:
            cur = conn.execute(
                "INSERT INTO grids(prompt_id, spec, image_sha256, image_path, width, height, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry_id,
                    json.dumps(spec),
                    stored.sha256,
                    stored.relpath,
                    canvas.image.width,
                    canvas.image.height,
                    sql_datetime(datetime.now(UTC)),
                ),
            )
            grid_id = int(cur.lastrowid or 0)
            conn.executemany(
                "UPDATE renders SET grid_id = ?, grid_cell = ? WHERE id = ?",
                [(grid_id, json.dumps([c.x, c.y, c.z]), c.render.id) for c in cells],
            )
    return grid_id, lib.path / stored.relpath
