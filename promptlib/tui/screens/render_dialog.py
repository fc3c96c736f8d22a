"""The render dialog: how many images of the selected entries, and which recipe fields to override.

Blank fields keep the entry's own recipe. It dismisses with a `RenderRequest` (validated here, so a typo never
reaches the queue) or None when cancelled. The grid dialog asks for axes instead (``--x seed=1,2,3`` style).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

_SIZE = re.compile(r"^\s*(\d{1,5})\s*[x×*]\s*(\d{1,5})\s*$", re.IGNORECASE)
RENDER_FIELDS = (
    ("n", "images", "1"),
    ("seed", "seed", "recipe's, or 'random'"),
    ("sampler", "sampler", "e.g. Euler a, DPM++ 2M Karras"),
    ("steps", "steps", "recipe's"),
    ("cfg", "CFG", "recipe's"),
    ("size", "size", "WxH, e.g. 512x768"),
    ("model", "model", "config's default"),
)
GRID_FIELDS = (
    ("x", "X axis", "seed=1,2,3"),
    ("y", "Y axis", 'sampler="Euler a","DPM++ 2M"'),
    ("z", "Z axis", "optional, e.g. cfg=5,7.5"),
)


@dataclass(frozen=True)
class RenderRequest:
    """What to render: `n` images per entry with recipe `overrides` (recipe field names)."""

    n: int = 1
    overrides: dict[str, Any] = field(default_factory=dict)
    model: str | None = None

    def describe(self) -> str:
        parts = [f"{self.n} image{'s' if self.n != 1 else ''}"]
        parts += [f"{key}={value}" for key, value in self.overrides.items()]
        if self.model:
            parts.append(f"model={self.model}")
        return ", ".join(parts)


def parse_render_form(values: dict[str, str]) -> RenderRequest:
    """Form text → RenderRequest; raises ValueError naming the field."""
    text = {key: value.strip() for key, value in values.items()}
    overrides: dict[str, Any] = {}
    n = 1
    if text.get("n"):
        if not text["n"].isdigit() or not 1 <= int(text["n"]) <= 64:
            raise ValueError("images must be a whole number from 1 to 64")
        n = int(text["n"])
    if text.get("seed"):
        if text["seed"].lower() == "random":
            overrides["seed"] = "random"
        elif re.fullmatch(r"-?\d{1,20}", text["seed"]) and -1 <= int(text["seed"]) < 2**64:
            overrides["seed"] = int(text["seed"])
        else:
            raise ValueError("seed must be a whole number or 'random'")
    if text.get("sampler"):
        overrides["sampler"] = text["sampler"]
    if text.get("steps"):
        if not text["steps"].isdigit() or not 1 <= int(text["steps"]) <= 500:
            raise ValueError("steps must be a whole number from 1 to 500")
        overrides["steps"] = int(text["steps"])
    if text.get("cfg"):
        try:
            cfg = float(text["cfg"])
        except ValueError:
            raise ValueError("CFG must be a number such as 7 or 7.5") from None
        if not 0 <= cfg <= 50:
            raise ValueError("CFG must be between 0 and 50")
        overrides["cfg_scale"] = cfg
    if text.get("size"):
        match = _SIZE.match(text["size"])
        if not match:
            raise ValueError("size must look like 512x768")
        width, height = int(match[1]), int(match[2])
        if width % 8 or height % 8 or not (64 <= width <= 4096 and 64 <= height <= 4096):
            raise ValueError("size: width and height must be multiples of 8 from 64 to 4096")
        overrides["width"], overrides["height"] = width, height
    return RenderRequest(n=n, overrides=overrides, model=text.get("model") or None)


class _FormScreen(ModalScreen[Any]):
    """A small form of labelled inputs with an error line and OK / Cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    FIELDS: tuple[tuple[str, str, str], ...] = ()
    TITLE = ""
    OK = "OK"

    def __init__(self, subject: str, initial: dict[str, str] | None = None) -> None:
        super().__init__()
        self.subject = subject
        self.initial = initial or {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="form-dialog"):
            yield Static(Text(self.TITLE, style="bold"), classes="dialog-title")
            yield Static(Text(self.subject, style="dim"), id="form-subject")
            with Grid(classes="form-grid"):
                for name, label, hint in self.FIELDS:
                    yield Label(label)
                    yield Input(value=self.initial.get(name, ""), placeholder=hint, id=f"form-{name}")
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button(self.OK, id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#form-{name}", Input).value for name, _, _ in self.FIELDS}

    def show_error(self, message: str) -> None:
        self.query_one("#form-error", Static).update(Text(message, style="bold red"))

    def parse(self, values: dict[str, str]) -> Any:
        raise NotImplementedError

    def submit(self) -> None:
        try:
            result = self.parse(self.values())
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.dismiss(result)

    def on_input_submitted(self) -> None:
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class RenderDialog(_FormScreen):
    """Dismisses with a RenderRequest, or None."""

    FIELDS = RENDER_FIELDS
    TITLE = "Render"
    OK = "Queue render"

    def parse(self, values: dict[str, str]) -> RenderRequest:
        return parse_render_form(values)


@dataclass(frozen=True)
class GridRequest:
    """Axis specs as the CLI takes them (``seed=1,2,3``); parsed and checked by the renderer's grid code."""

    axes: tuple[str, ...]


class GridDialog(_FormScreen):
    """Dismisses with a GridRequest (checked with `check`, the renderer's axis parser), or None."""

    FIELDS = GRID_FIELDS
    TITLE = "Grid"
    OK = "Queue grid"

    def __init__(self, subject: str, check: Any, initial: dict[str, str] | None = None) -> None:
        super().__init__(subject, initial)
        self.check = check

    def parse(self, values: dict[str, str]) -> GridRequest:
        axes = tuple(values[name].strip() for name in ("x", "y", "z") if values[name].strip())
        if not axes:
            raise ValueError("give at least the X axis, e.g. seed=1,2,3")
        try:
            self.check(axes)
        except Exception as exc:  # the parser's one-line message is what the user needs
            raise ValueError(str(exc).splitlines()[0]) from None
        return GridRequest(axes)
