"""The search bar: a query-language input, the query error line under it, and a button for the query help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Static

from promptlib.tui.format import one_line
from promptlib.tui.widgets.safe_inputs import SafeInput


class SearchInput(SafeInput):
    """An Input where ``?`` opens the query help instead of typing (the query language has no use for it)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "query_help", "Query help", priority=True),
        Binding("down", "to_list", "To list", show=False),
    ]

    @dataclass
    class HelpRequested(Message):
        pass

    @dataclass
    class LeaveRequested(Message):
        pass

    def action_query_help(self) -> None:
        self.post_message(self.HelpRequested())

    def action_to_list(self) -> None:
        self.post_message(self.LeaveRequested())


class SearchBar(Vertical):
    """Query input + error line. Posts nothing of its own: the screen listens to the input's Changed events."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="search-row"):
            yield SearchInput(
                placeholder='search: words "phrases" -not tag:x sampler:"Euler a" steps:20-30 rating:>=4 fav:yes',
                id="search-input",
            )
            yield Static("lexical", id="search-mode")
            yield Button("?", id="search-help-button", tooltip="Query language help")
        yield Static("", id="search-error")

    @property
    def input(self) -> SearchInput:
        return self.query_one(SearchInput)

    error_text = ""  # the error shown now (escaped), empty when none

    def show_mode(self, mode: str) -> None:
        """lexical, hybrid or semantic (ctrl+o cycles)."""
        self.query_one("#search-mode", Static).update(Text(mode, style="bold" if mode != "lexical" else "dim"))

    def show_error(self, message: str) -> None:
        """Show a query error under the bar (the text may echo the query, so it is escaped)."""
        self.error_text = one_line(message)
        error = self.query_one("#search-error", Static)
        error.update(Text(self.error_text))
        error.add_class("visible")

    def clear_error(self) -> None:
        self.error_text = ""
        error = self.query_one("#search-error", Static)
        error.update("")
        error.remove_class("visible")

    def add_filter(self, clause: str) -> None:
        """Append a DSL clause to the query unless it is already there."""
        current = self.input.value.strip()
        if f" {clause} " in f" {current} ":
            return
        self.input.value = f"{current} {clause}".strip()
        self.input.cursor_position = len(self.input.value)
