"""`PromptlibApp`: the Textual terminal UI over a `Library`. Start it with `run_tui(path)`.

The app opens the library in a thread worker (the first frame never waits on SQLite), then hands it to the
`LibraryScreen`, which does the browsing, searching and editing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from promptlib.errors import PromptlibError
from promptlib.library import Library
from promptlib.tui import messages as msg
from promptlib.tui.access import LibraryAccess
from promptlib.tui.commands import PromptlibCommands
from promptlib.tui.screens.help import KeysHelpScreen, QueryHelpScreen
from promptlib.tui.screens.library import LibraryScreen
from promptlib.tui.widgets.entry_list import EntryList
from promptlib.tui.widgets.preview import prepare_image_support

_KEY_NAMES = {
    "slash": "/",
    "question_mark": "?",
    "asterisk": "*",
    "minus": "-",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "escape": "Esc",
    "enter": "Enter",
    "delete": "Del",
}


def _keys(spec: str) -> str:
    return " / ".join(_KEY_NAMES.get(key, key) for key in spec.split(","))


def key_help_rows() -> list[tuple[str, str]]:
    """(keys, what they do) for every binding of the app, the library screen and the entry list."""
    rows: list[tuple[str, str]] = [("ctrl+p", "command palette (add, duplicate, delete, style, import, export, …)")]
    seen: set[str] = set()
    for source in (PromptlibApp.BINDINGS, LibraryScreen.BINDINGS, EntryList.BINDINGS):
        for binding in source:
            if not isinstance(binding, Binding) or binding.description.startswith("Rate "):
                continue
            if binding.description not in seen:
                seen.add(binding.description)
                rows.append((_keys(binding.key), binding.description))
    rows += [
        ("0 … 5", "rate the selected entry (- clears the rating)"),
        ("? in the search bar", "query language help"),
        ("click a column header", "cycle the sort"),
    ]
    return rows


class PromptlibApp(App[None]):
    """Browse, search, preview, edit and rerun a promptlib library."""

    CSS_PATH = "app.tcss"
    TITLE = "promptlib"
    COMMANDS = App.COMMANDS | {PromptlibCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1,question_mark", "show_keys", "Keys"),
        Binding("t", "toggle_theme", "Theme", show=False),
    ]

    def __init__(self, library_path: str | os.PathLike[str] | None = None, *, library: Library | None = None) -> None:
        """Open the library at `library_path` (or use an already open `library`, which the app will not close)."""
        super().__init__()
        self.library_path = library_path
        self._given = library
        self.access: LibraryAccess | None = None
        self.library_screen = LibraryScreen()

    def on_mount(self) -> None:
        self.push_screen(self.library_screen)
        self._open_library()

    @work(thread=True, exclusive=True, group="open")
    def _open_library(self) -> None:
        try:
            library = self._given or Library.open(self.library_path)
        except PromptlibError as exc:
            self.post_message(msg.LibraryFailed(str(exc)))
            return
        except Exception as exc:  # shown, never raised into the UI
            self.post_message(msg.LibraryFailed(f"cannot open the library: {exc}"))
            return
        self.post_message(msg.LibraryOpened(LibraryAccess(library, owned=self._given is None)))

    def on_library_opened(self, message: msg.LibraryOpened) -> None:
        self.access = message.access
        self.sub_title = str(Path(message.access.path).name)
        self.library_screen.start(message.access)

    def on_library_failed(self, message: msg.LibraryFailed) -> None:
        self.library_screen.show_failure(message.error)
        self.notify(message.error, severity="error", markup=False, timeout=30)

    def on_unmount(self) -> None:
        self.library_screen.jobs.cancel_all()  # a render stops at its next step instead of holding the exit
        if self.access is not None:
            self.access.close()

    def action_show_keys(self) -> None:
        if not isinstance(self.screen, KeysHelpScreen):
            self.push_screen(KeysHelpScreen(key_help_rows()))

    def action_query_help(self) -> None:
        self.push_screen(QueryHelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"


def run_tui(library_path: str | None = None) -> None:
    """Run the TUI on the library at `library_path` (``$PROMPTLIB_HOME`` or the default when None)."""
    prepare_image_support()  # textual-image must query the terminal before Textual takes it over
    PromptlibApp(library_path).run()
