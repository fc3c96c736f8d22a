"""A yes/no question."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from promptlib.entries import Entry
from promptlib.tui.format import one_line


def delete_question(entry: Entry) -> Text:
    """ "Delete #12 Title?" with the start of the prompt (escaped) and what deleting does."""
    question = Text(f"Delete #{entry.id}", style="bold")
    if entry.title:
        question.append(f" {one_line(entry.title)}", style="bold")
    question.append("?\n\n")
    question.append(one_line(entry.prompt)[:200], style="dim")
    question.append("\n\nIts renders are deleted too; u brings the text, tags and parameters back.")
    return question


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True for yes (y, or the yes button) and False for no (n, Esc)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: Text, *, yes: str = "Yes") -> None:
        super().__init__()
        self._question = question
        self._yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm"):
            yield Static(self._question, id="confirm-question")
            with Horizontal(classes="buttons"):
                yield Button(self._yes, id="yes", variant="error")
                yield Button("Cancel", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
