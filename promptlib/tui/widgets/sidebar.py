"""The filter sidebar: favourites, ratings, top tags, packs, samplers, models and collections; choosing one adds a
query filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from promptlib.tui.format import dsl_filter, one_line


class FilterSidebar(Vertical):
    """Lists filters with counts; selecting one posts `FilterChosen` with its query clause."""

    @dataclass
    class FilterChosen(Message):
        clause: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clauses: dict[str, str] = {}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("Filters", classes="pane-title")
        yield OptionList(Option(Text("loading…", style="dim"), disabled=True), id="filter-options")

    def show_facets(
        self,
        *,
        tags: list[tuple[str, int]],
        packs: list[tuple[str, int]],
        samplers: list[tuple[str, int]],
        totals: dict[str, Any],
        models: list[tuple[str, int]] | None = None,
        collections: list[tuple[str, int]] | None = None,
    ) -> None:
        """Fill the list (names are untrusted: shown escaped, quoted in the clause when needed)."""
        self._clauses.clear()
        options: list[Option | None] = []

        def heading(title: str) -> None:
            if options:
                options.append(None)
            options.append(Option(Text(title, style="bold"), disabled=True))

        def item(text: str, count: int | None, clause: str) -> None:
            key = f"f{len(self._clauses)}"
            self._clauses[key] = clause
            shown = Text(text)
            if count is not None:
                shown.append(f"  {count:,}", style="dim")
            options.append(Option(shown, id=key))

        heading("Marks")
        item("♥ favourites", int(totals.get("favourites", 0)), "fav:yes")
        item("★ rated 4 or more", None, "rating:>=4")
        item("rated at all", int(totals.get("rated", 0)), "has:rating")
        for title, field, values in (
            ("Tags", "tag", tags),
            ("Packs", "pack", packs),
            ("Samplers", "sampler", samplers),
            ("Models", "model", models or []),
            ("Collections", "collection", collections or []),
        ):
            if not values:
                continue
            heading(title)
            for name, count in values:
                item(one_line(name), count, dsl_filter(field, name, quote=field == "sampler"))
        option_list = self.query_one(OptionList)
        option_list.clear_options()
        option_list.add_options(options)
        self.loaded = True

    def clause_for(self, option_id: str | None) -> str | None:
        return self._clauses.get(option_id or "")

    @property
    def clauses(self) -> list[str]:
        return list(self._clauses.values())

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        clause = self.clause_for(event.option_id)
        if clause:
            self.post_message(self.FilterChosen(clause))
