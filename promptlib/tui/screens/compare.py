"""Two renders side by side, with every recipe field listed and the ones that differ highlighted."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from promptlib.entries import RenderInfo
from promptlib.recipe import PARAM_FIELDS
from promptlib.tui.format import param_value, render_line
from promptlib.tui.widgets.preview import make_preview

# Shown first, in this order; any other recipe key follows alphabetically.
FIELD_ORDER = ("prompt", "negative_prompt", *PARAM_FIELDS)


def recipe_rows(left: dict[str, Any], right: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(field, left value, right value, differs) for every field either recipe sets."""
    keys = [k for k in FIELD_ORDER if k in left or k in right]
    keys += sorted((set(left) | set(right)) - set(FIELD_ORDER))
    rows = []
    for key in keys:
        a, b = left.get(key), right.get(key)
        if a in (None, "", [], {}) and b in (None, "", [], {}):
            continue
        rows.append((key, "—" if a is None else param_value(a), "—" if b is None else param_value(b), a != b))
    return rows


def difference_table(left: RenderInfo, right: RenderInfo) -> Table:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    table.add_column("field", style="dim", no_wrap=True)
    table.add_column(f"render #{left.id}", overflow="fold")
    table.add_column(f"render #{right.id}", overflow="fold")
    for key, a, b, differs in recipe_rows(left.recipe, right.recipe):
        style = "bold yellow" if differs else ""
        table.add_row(Text(key), Text(a, style=style), Text(b, style=style))
    return table


class CompareScreen(ModalScreen[None]):
    """Esc closes. Differences are in bold yellow; equal fields are plain."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, left: tuple[RenderInfo, str], right: tuple[RenderInfo, str]) -> None:
        super().__init__()
        self.left, self.right = left, right

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="compare"):
            yield Static(Text("Compare renders   (Esc closes; differences in yellow)", style="bold"))
            with Horizontal(id="compare-images"):
                for render, path in (self.left, self.right):
                    with Vertical(classes="compare-side"):
                        yield Static(Text(f"#{render.id}  " + render_line(render, path)), classes="compare-caption")
                        widget = make_preview(path)
                        yield widget if widget is not None else Static(Text("preview unavailable", style="dim"))
            with VerticalScroll(id="compare-table"):
                yield Static(difference_table(self.left[0], self.right[0]), id="compare-diff")

    @property
    def differing_fields(self) -> list[str]:
        return [key for key, _, _, differs in recipe_rows(self.left[0].recipe, self.right[0].recipe) if differs]

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
