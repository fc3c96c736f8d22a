"""Help modals: the key bindings, and the search query language."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

QUERY_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("foggy harbour", "both words, anywhere in title, prompt, tags or notes"),
    ('"oil painting"', "the exact phrase"),
    ("lighthouse OR beacon", "either word"),
    ("cyber*", "words starting with cyber"),
    ("castle -people", "castle, but not people"),
    ("tag:landscape", "entries tagged landscape (tag:land* for a prefix)"),
    ("pack:sdxl-styles", "entries from one imported pack"),
    ('sampler:"Euler a"', "quote values that contain spaces"),
    ("steps:20-30  cfg:>=7", "numeric ranges and comparisons (also seed, width, height, clip_skip, id)"),
    ("size:512x768", "width × height"),
    ("rating:>=4  fav:yes", "rated 4 or 5 stars; favourites"),
    ("has:image  has:negative", "has renders / a negative prompt (also notes, params, lora, rating, title)"),
    ("title:castle  neg:blurry", "search one field: title, prompt, neg (negative prompt), notes"),
    ("model:sdxl  lora:detail  collection:best", "model, LoRA or collection name"),
)

QUERY_TIPS = (
    "Words are ANDed; results update as you type.",
    "A malformed query shows its error under the search bar and leaves the list as it was.",
    "Sort with s: new, old, rating, title, score (score ranks by relevance when the query has words).",
    "Press f for the filter sidebar: choosing a filter adds it to the query.",
    "Press Esc or ↓ to go from the search bar to the list.",
)


class KeysHelpScreen(ModalScreen[None]):
    """Every key binding, with what it does."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = keys

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, description in self._keys:
            table.add_row(Text(key), Text(description))
        with Vertical(classes="dialog", id="keys-help"):
            yield Static("Keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(table)
            yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)


class QueryHelpScreen(ModalScreen[None]):
    """Tips and examples for the search query language."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        examples = Table.grid(padding=(0, 2))
        examples.add_column(style="bold cyan", no_wrap=True)
        examples.add_column()
        for query, meaning in QUERY_EXAMPLES:
            examples.add_row(Text(query), Text(meaning))
        tips = Text("\n".join(f"• {tip}" for tip in QUERY_TIPS))
        with Vertical(classes="dialog", id="query-help"):
            yield Static("Search query language", classes="dialog-title")
            with VerticalScroll():
                yield Static(examples)
                yield Static(tips, id="query-tips")
            yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen[None]):
    """A titled block of (already safe) text, such as a job's report."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, title: str, body: Text) -> None:
        super().__init__()
        self._title = title
        self._body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="text-screen"):
            yield Static(Text(self._title), classes="dialog-title")
            with VerticalScroll():
                yield Static(self._body, id="text-screen-body")
            yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)
