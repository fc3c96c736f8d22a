"""The command palette's promptlib commands (ctrl+p), next to Textual's own."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (title, action, help); actions starting with "app." run on the app, the rest on the library screen.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("Add entry", "add", "Write a new prompt in the edit dialog"),
    ("Edit entry", "edit", "Edit the selected entry's text, tags and parameters"),
    ("Duplicate entry", "duplicate", "Copy the selected entry (text, tags, parameters)"),
    ("Delete entry", "delete", "Delete the selected entry after confirming"),
    ("Apply style", "apply_style", "Rewrite the selected prompt through a style template"),
    ("Add to collection", "collect", "Put the selected entry in a collection"),
    ("Toggle favourite", "favourite", "Mark or unmark the selected entry as a favourite"),
    ("Undo", "undo", "Undo the last change"),
    ("Import", "import", "Import a pack or a style / prompt file"),
    ("Export", "export", "Export entries as a promptlib pack"),
    ("Render", "render", "Render the selected entry with optional overrides (queued as a job)"),
    ("Rerun latest render", "rerun", "Render the selected entry's latest render again from its recipe"),
    ("Verify latest render", "verify", "Re-render and report identical, or the drift and what changed"),
    ("Grid", "grid", "An X/Y/Z comparison grid over seeds, samplers, steps, CFG, …"),
    ("Mark render for compare", "mark", "Remember the selected entry's latest render"),
    ("Compare renders", "compare", "The marked render beside this entry's latest (or its two latest)"),
    ("Jobs", "toggle_jobs", "Show or hide the jobs panel (progress, it/s, cancel)"),
    ("Cycle sort", "cycle_sort", "new → old → rating → title → score"),
    ("Toggle filters", "toggle_sidebar", "Show or hide the filter sidebar"),
    ("Query help", "app.query_help", "Tips and examples for the search language"),
    ("Toggle theme", "app.toggle_theme", "Switch between light and dark"),
    ("Keys", "app.show_keys", "Every key binding"),
)


class PromptlibCommands(Provider):
    """Library actions by name."""

    def _command(self, action: str) -> Callable[[], None]:
        return partial(self._run, action)

    def _run(self, action: str) -> None:
        if action.startswith("app."):
            target: object = self.app
            action = action.removeprefix("app.")
        else:
            from promptlib.tui.screens.library import LibraryScreen

            screens = [s for s in self.app.screen_stack if isinstance(s, LibraryScreen)]
            if not screens:
                return
            target = screens[-1]
        method = getattr(target, f"action_{action}", None)
        if callable(method):
            method()

    async def discover(self) -> Hits:
        for title, action, help_text in COMMANDS:
            yield DiscoveryHit(title, self._command(action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in COMMANDS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._command(action), text=title, help=help_text)
