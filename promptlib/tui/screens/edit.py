"""The edit modal: an entry's text, tags and main parameters, validated inline before anything is written.

It dismisses with the keyword arguments for `Library.edit` (only what changed) or, for a new entry, for
`Library.add`; None when cancelled. Untrusted text is shown escaped (``\\x1b``); a field the user leaves alone is
not written back, so control characters in it survive an edit of another field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from promptlib.entries import Entry
from promptlib.errors import ValidationError
from promptlib.textsafe import safe_text
from promptlib.tui.format import one_line
from promptlib.tui.widgets.safe_inputs import SafeInput, SafeTextArea

Validator = Callable[[dict[str, Any]], None]

TEXT_FIELDS = ("prompt", "negative_prompt", "title", "notes")
PARAM_INPUTS = ("steps", "cfg", "seed", "sampler", "schedule", "size")
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[x×*]\s*(\d{1,5})\s*$", re.IGNORECASE)
# Which form field a ValidationError message is about, by how the message starts.
_ERROR_FIELDS = (
    ("negative prompt", "negative_prompt"),
    ("prompt", "prompt"),
    ("title", "title"),
    ("notes", "notes"),
    ("tag", "tags"),
    ("steps", "steps"),
    ("cfg_scale", "cfg"),
    ("seed", "seed"),
    ("sampler", "sampler"),
    ("schedule", "schedule"),
    ("width", "size"),
    ("height", "size"),
)


def error_field(message: str) -> str:
    """The form field a ValidationError message names ('general' when none does)."""
    lowered = message.lower()
    for prefix, name in _ERROR_FIELDS:
        if lowered.startswith(prefix):
            return name
    return "tags" if " tags on one entry" in lowered else "general"


def initial_params(entry: Entry | None) -> dict[str, str]:
    """The parameter inputs' starting text."""
    params = entry.params if entry else {}

    def text(key: str) -> str:
        value = params.get(key)
        if value is None:
            return ""
        return f"{value:g}" if isinstance(value, float) else one_line(str(value))

    width, height = params.get("width"), params.get("height")
    return {
        "steps": text("steps"),
        "cfg": text("cfg_scale"),
        "seed": text("seed"),
        "sampler": text("sampler"),
        "schedule": text("schedule"),
        "size": f"{width}x{height}" if width and height else "",
    }


class EditScreen(ModalScreen[dict[str, Any] | None]):
    """Edit `entry`, or compose a new one when `entry` is None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, entry: Entry | None, *, validate: Validator) -> None:
        super().__init__()
        self.entry = entry
        self._validate = validate
        self._shown: dict[str, str] = {
            "prompt": safe_text(entry.prompt) if entry else "",
            "negative_prompt": safe_text(entry.negative_prompt) if entry else "",
            "title": one_line(entry.title) if entry else "",
            "notes": safe_text(entry.notes) if entry else "",
            "tags": one_line(", ".join(entry.tags)) if entry else "",
            **initial_params(entry),
        }

    def compose(self) -> ComposeResult:
        heading = f"Edit #{self.entry.id}" if self.entry else "New entry"
        with Vertical(classes="dialog", id="edit-dialog"):
            yield Static(heading, classes="dialog-title")
            with VerticalScroll(id="edit-fields"):
                yield from self._field("title", "Title", SafeInput(self._shown["title"], id="title", compact=True))
                yield from self._field(
                    "prompt", "Prompt", SafeTextArea(self._shown["prompt"], id="prompt", compact=True)
                )
                yield from self._field(
                    "negative_prompt",
                    "Negative prompt",
                    SafeTextArea(self._shown["negative_prompt"], id="negative_prompt", compact=True),
                )
                yield from self._field(
                    "tags", "Tags (comma separated)", SafeInput(self._shown["tags"], id="tags", compact=True)
                )
                with Grid(id="param-grid"):
                    for name, title, hint in (
                        ("steps", "Steps", "e.g. 30"),
                        ("cfg", "CFG scale", "e.g. 7"),
                        ("seed", "Seed", "e.g. 1234"),
                        ("sampler", "Sampler", "e.g. DPM++ 2M"),
                        ("schedule", "Schedule", "e.g. karras"),
                        ("size", "Size", "e.g. 512x768"),
                    ):
                        with Vertical(classes="param"):
                            yield from self._field(
                                name, title, SafeInput(self._shown[name], placeholder=hint, id=name, compact=True)
                            )
                yield from self._field("notes", "Notes", SafeTextArea(self._shown["notes"], id="notes", compact=True))
            yield Static("", id="error-general", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def _field(self, name: str, title: str, widget: Input | TextArea) -> ComposeResult:
        yield Label(title, classes="field-label")
        if isinstance(widget, TextArea):
            widget.soft_wrap = True
            widget.show_line_numbers = False
        yield widget
        yield Static("", id=f"error-{name}", classes="field-error")

    def on_mount(self) -> None:
        self.query_one("#prompt", TextArea).focus()

    # --- reading the form ---------------------------------------------------------------------------------------

    def _value(self, name: str) -> str:
        widget = self.query_one(f"#{name}")
        if isinstance(widget, TextArea):
            return widget.text
        assert isinstance(widget, Input)
        return widget.value

    def _changed(self, name: str) -> bool:
        return self._value(name) != self._shown[name]

    def _text(self, name: str) -> str:
        """The field's value to write: the original (unescaped) text when the user left the field alone."""
        if self.entry is not None and not self._changed(name):
            return str(getattr(self.entry, name))
        return self._value(name)

    def _parse_params(self, errors: dict[str, str]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, key, kind in (("steps", "steps", int), ("cfg", "cfg_scale", float), ("seed", "seed", int)):
            raw = self._value(name).strip()
            if not raw:
                params[key] = None
                continue
            try:
                params[key] = kind(raw)
            except ValueError:
                errors[name] = f"{raw!r} is not {'a whole number' if kind is int else 'a number'}"
        for name in ("sampler", "schedule"):
            params[name] = self._value(name).strip() or None
        size = self._value("size").strip()
        match = _SIZE.match(size)
        if not size:
            params["width"] = params["height"] = None
        elif match:
            params["width"], params["height"] = int(match.group(1)), int(match.group(2))
        else:
            errors["size"] = f"{size!r} is not WIDTHxHEIGHT, e.g. 512x768"
        return params

    def _param_changes(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.entry is None:
            return {k: v for k, v in params.items() if v is not None}
        names: dict[str, tuple[str, ...]] = {
            "steps": ("steps",),
            "cfg": ("cfg_scale",),
            "seed": ("seed",),
            "sampler": ("sampler",),
            "schedule": ("schedule",),
            "size": ("width", "height"),
        }
        return {key: params[key] for name, keys in names.items() if self._changed(name) for key in keys}

    def collect(self) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """(the changes, {}) when the form is valid, else (None, {field: error})."""
        errors: dict[str, str] = {}
        params = self._parse_params(errors)
        tags = [t.strip() for t in self._value("tags").split(",") if t.strip()]
        tags_value = list(self.entry.tags) if self.entry and not self._changed("tags") else tags
        fields: dict[str, Any] = {name: self._text(name) for name in TEXT_FIELDS}
        if not errors:
            try:
                self._validate(
                    fields | {"tags": tags_value, "params": {k: v for k, v in params.items() if v is not None}}
                )
            except ValidationError as exc:
                errors[error_field(str(exc))] = str(exc)
        if errors:
            return None, errors
        if self.entry is None:
            param_values = self._param_changes(params)
            return fields | {"tags": tags_value, "params": param_values or None}, {}
        changes: dict[str, Any] = {name: fields[name] for name in TEXT_FIELDS if self._changed(name)}
        if self._changed("tags"):
            changes["tags"] = tags_value
        param_changes = self._param_changes(params)
        if param_changes:
            changes["params"] = param_changes
        return changes, {}

    def show_errors(self, errors: dict[str, str]) -> None:
        for widget in self.query(".field-error").results(Static):
            widget.update("")
            widget.remove_class("visible")
        for name, message in errors.items():
            widget = self.query_one(f"#error-{name}", Static)
            widget.update(Text(one_line(message)))
            widget.add_class("visible")

    @property
    def errors_shown(self) -> dict[str, str]:
        """Field → error text currently shown (for tests)."""
        out: dict[str, str] = {}
        for widget in self.query(".field-error.visible").results(Static):
            out[(widget.id or "").removeprefix("error-")] = str(widget.render())
        return out

    # --- actions ------------------------------------------------------------------------------------------------

    def action_save(self) -> None:
        changes, errors = self.collect()
        self.show_errors(errors)
        if changes is not None:
            self.dismiss(changes)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()
