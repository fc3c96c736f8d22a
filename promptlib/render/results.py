"""What the rendering methods of `Library` return and report: progress events, stored renders (which display
inline in Jupyter), a run's outcome, verify's verdict and a grid. Plain dataclasses, import-light."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from PIL import Image

    from promptlib.entries import RenderInfo


@dataclass(frozen=True)
class RenderProgress:
    """One progress event. A *job* is one batch of compatible images rendered together; `step` counts the
    denoising steps (UNet evaluations) of the current job. Sent on the rendering thread."""

    job: int  # 1-based index of the current batch (0 before the first starts)
    jobs: int  # batches in the run
    step: int
    steps: int
    images_done: int  # rendered and decoded
    images_total: int
    images_stored: int  # written to the library (storing runs on a writer thread)
    it_per_s: float  # denoising iterations per second of the current batch
    stage: str  # "loading", "denoising", "decoding", "storing", "done"
    message: str = ""


@dataclass(frozen=True)
class Rendered:
    """A stored render with its image file; shows itself inline in Jupyter."""

    info: RenderInfo
    path: Path

    @property
    def id(self) -> int:
        return self.info.id

    @property
    def sha256(self) -> str:
        return self.info.image_sha256

    @property
    def recipe(self) -> dict[str, Any]:
        return self.info.recipe

    def image(self) -> Image.Image:
        """The image, decoded with Pillow."""
        from PIL import Image

        with Image.open(self.path) as img:
            img.load()
            return img.copy()

    def _repr_png_(self) -> bytes:
        return self.path.read_bytes()

    def to_json(self) -> dict[str, Any]:
        """The render in the shape `show --json` gives an entry's renders, ``image_path`` absolute."""
        return self.info.to_json() | {"image_path": str(self.path)}


@dataclass(frozen=True)
class RenderFailure:
    """An image of a run that could not be rendered: its entry and the one-line reason (`cli_error`: the reason
    in the CLI's words, when it names a switch such as ``--allow-pickle``; see `promptlib.errors.Switch`)."""

    entry_id: int
    error: str
    cli_error: str | None = None

    def to_json(self, *, cli: bool = False) -> dict[str, Any]:
        """``prompt_id`` and ``reason``; with `cli`, the reason as the CLI words it."""
        reason = self.cli_error if cli and self.cli_error is not None else self.error
        return {"prompt_id": self.entry_id, "reason": reason}


@dataclass
class RenderRun(Sequence[Rendered]):
    """The renders one call stored, in job order. ``cancelled`` when the cancel event (or Ctrl-C) stopped it early:
    everything finished before that is stored, nothing half-done is. ``failed`` lists the images that could not be
    rendered (one per image, with its entry and reason) while the others were."""

    renders: list[Rendered] = field(default_factory=list)
    cancelled: bool = False
    images_total: int = 0
    seconds: float = 0.0
    failed: list[RenderFailure] = field(default_factory=list)

    @overload
    def __getitem__(self, index: int) -> Rendered: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Rendered]: ...
    def __getitem__(self, index: int | slice) -> Rendered | Sequence[Rendered]:
        return self.renders[index]

    def __len__(self) -> int:
        return len(self.renders)

    def __iter__(self) -> Iterator[Rendered]:
        return iter(self.renders)

    def _repr_html_(self) -> str:
        cells = "".join(
            f'<img title="render {r.id}" style="max-width:256px;margin:2px" '
            f'src="data:image/png;base64,{base64.b64encode(r.path.read_bytes()).decode()}"/>'
            for r in self.renders[:64]
        )
        more = f"<p>… and {len(self.renders) - 64} more</p>" if len(self.renders) > 64 else ""
        return f"<div>{cells}</div>{more}"

    def to_json(self, *, cli: bool = False) -> dict[str, Any]:
        """What ``promptlib render --json`` prints (`cli`: failure reasons in the CLI's words)."""
        return {
            "renders": [r.to_json() for r in self.renders],
            "cancelled": self.cancelled,
            "images_total": self.images_total,
            "seconds": round(self.seconds, 3),
            "failed": [f.to_json(cli=cli) for f in self.failed],
        }


@dataclass(frozen=True)
class VerifyReport:
    """`Library.verify`'s verdict: ``identical``, or the pixel drift and the fingerprint fields that differ."""

    render_id: int
    verdict: str  # "identical" or "drift"
    max_abs_diff: int
    mean_abs_diff: float
    psnr: float | None  # dB; None when identical (infinite)
    changed_fraction: float
    fingerprint_diff: dict[str, tuple[Any, Any]]
    stored_sha256: str
    new_sha256: str

    @property
    def identical(self) -> bool:
        return self.verdict == "identical"

    def summary(self) -> str:
        """One line: the verdict, the drift figures and the fingerprint fields that differ."""
        if self.identical:
            text = f"render {self.render_id}: identical"
        else:
            text = (
                f"render {self.render_id}: drift (max abs diff {self.max_abs_diff}, PSNR {self.psnr} dB, "
                f"{self.changed_fraction:.2%} of values changed)"
            )
        if self.fingerprint_diff:
            text += "; environment differs in " + ", ".join(self.fingerprint_diff)
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "render_id": self.render_id,
            "verdict": self.verdict,
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": self.mean_abs_diff,
            "psnr": self.psnr,
            "changed_fraction": self.changed_fraction,
            "fingerprint_diff": {k: {"stored": a, "current": b} for k, (a, b) in self.fingerprint_diff.items()},
            "stored_pixels_sha256": self.stored_sha256,
            "new_pixels_sha256": self.new_sha256,
        }


@dataclass(frozen=True)
class GridCell:
    x: int
    y: int
    z: int
    render: Rendered

    def to_json(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "z": self.z} | self.render.to_json()


@dataclass(frozen=True)
class GridResult:
    """A stored X/Y/Z grid: the labelled image and every cell's render. ``grid_id`` is None when the run was
    cancelled before the grid was complete (the finished cells are still stored as renders)."""

    grid_id: int | None
    path: Path | None
    width: int
    height: int
    axes: list[dict[str, Any]]
    cells: list[GridCell]
    animation: Path | None = None
    cancelled: bool = False

    @property
    def id(self) -> int | None:
        return self.grid_id

    @property
    def image_path(self) -> Path | None:
        return self.path

    @property
    def renders(self) -> list[Rendered]:
        """Every cell's render, in sweep order (x fastest)."""
        return [cell.render for cell in self.cells]

    def _repr_png_(self) -> bytes | None:
        return self.path.read_bytes() if self.path is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.grid_id,
            "image_path": str(self.path) if self.path else None,
            "width": self.width,
            "height": self.height,
            "axes": self.axes,
            "cells": [c.to_json() for c in self.cells],
            "animation": str(self.animation) if self.animation else None,
            "cancelled": self.cancelled,
        }
