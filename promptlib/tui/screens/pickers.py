"""Choosing a style to apply, or a collection to add to."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from promptlib.entries import StyleInfo
from promptlib.tui.format import one_line
from promptlib.tui.widgets.safe_inputs import SafeInput


class StylePickerScreen(ModalScreen[str | None]):
    """A list of style templates; dismisses with the chosen style's name."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, styles: list[StyleInfo]) -> None:
        super().__init__()
        self._styles = styles

    def compose(self) -> ComposeResult:
        options = []
        for n, style in enumerate(self._styles):
            shown = Text(one_line(style.name), style="bold")
            shown.append("\n")
            shown.append(one_line(style.prompt)[:120] or "(no prompt template)", style="dim")
            options.append(Option(shown, id=f"s{n}"))
        with Vertical(classes="dialog", id="style-picker"):
            yield Static("Apply a style", classes="dialog-title")
            if options:
                yield OptionList(*options, id="styles")
            else:
                yield Static(Text("No styles in this library yet: import a styles file first.", style="dim"))
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = int((event.option_id or "s0")[1:])
        self.dismiss(self._styles[index].name)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)


class CollectionScreen(ModalScreen[str | None]):
    """Type a collection name (new or existing) or pick one; dismisses with the name."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, collections: list[tuple[str, int]]) -> None:
        super().__init__()
        self._collections = collections

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="collection-picker"):
            yield Static("Add to collection", classes="dialog-title")
            yield SafeInput(placeholder="collection name", id="collection-name")
            if self._collections:
                yield OptionList(
                    *[
                        Option(Text(f"{one_line(name)}  ({count})"), id=f"c{n}")
                        for n, (name, count) in enumerate(self._collections)
                    ],
                    id="collections",
                )
            with Horizontal(classes="buttons"):
                yield Button("Add", id="add", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = int((event.option_id or "c0")[1:])
        self.dismiss(self._collections[index][0])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._finish()

    def _finish(self) -> None:
        name = self.query_one("#collection-name", Input).value.strip()
        if name:
            self.dismiss(name)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add":
            self._finish()
        else:
            self.dismiss(None)
