"""Import and export dialogs. Each runs its library call in a thread worker and shows the outcome in place."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from promptlib.entries import ImportReport
from promptlib.errors import PromptlibError
from promptlib.tui.access import LibraryAccess
from promptlib.tui.format import one_line
from promptlib.tui.widgets.safe_inputs import SafeInput

Progress = Callable[[int], None]
Importer = Callable[[str, Progress], ImportReport]
Exporter = Callable[[str, str, str, str, bool], Path]  # target, name, query, format, overwrite
EXPORT_FORMATS = ("pack", "a1111-styles", "fooocus-styles", "invokeai-presets", "prompts-from-file", "jsonl", "csv")


def importer(access: LibraryAccess) -> Importer:
    """`Library.import_path` behind the library lock (runs in the dialog's worker)."""

    def run(path: str, progress: Progress) -> ImportReport:
        with access.use() as lib:
            return lib.import_path(path, progress=progress)

    return run


def exporter(access: LibraryAccess) -> Exporter:
    """`Library.export` behind the library lock (runs in the dialog's worker)."""

    def run(target: str, name: str, query: str, fmt: str, overwrite: bool) -> Path:
        with access.use() as lib:
            return lib.export(target, fmt=fmt, name=name, query=query, overwrite=overwrite)

    return run


def report_text(report: ImportReport) -> Text:
    """An import report as counts plus one escaped line per problem."""
    text = Text()
    if report.pack:
        text.append(f"pack {one_line(report.pack)}", style="bold")
        if report.format:
            text.append(f"  ({one_line(report.format)})", style="dim")
        text.append("\n")
    text.append(f"added {report.added:,}  ·  already present {report.skipped:,}\n")
    text.append(f"styles added {report.styles_added:,}  ·  styles present {report.styles_skipped:,}\n")
    text.append(f"images added {report.images_added:,}\n")
    if report.errors:
        text.append(f"\n{len(report.errors)} problem(s):\n", style="bold red")
        for line in report.errors[:200]:
            text.append(f"• {one_line(line)}\n")
        if len(report.errors) > 200:
            text.append(f"… and {len(report.errors) - 200} more\n", style="dim")
    return text


class ImportScreen(ModalScreen[ImportReport | None]):
    """Ask for a file or pack path, import it, show the report; dismisses with the report (None if none ran)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    @dataclass
    class Finished(Message):
        report: ImportReport | None
        error: str | None

    @dataclass
    class Progressed(Message):
        count: int

    def __init__(self, run_import: Importer) -> None:
        super().__init__()
        self._run_import = run_import
        self.report: ImportReport | None = None
        self.error: str | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="import-dialog"):
            yield Static("Import", classes="dialog-title")
            yield Static(
                "A promptlib pack (folder or .zip), an A1111 styles.csv, a Fooocus / InvokeAI style JSON, a prompts"
                " file or JSONL:",
                classes="field-label",
            )
            yield SafeInput(placeholder="path/to/file-or-pack", id="import-path")
            with VerticalScroll(id="import-result-box"):
                yield Static("", id="import-result")
            with Horizontal(classes="buttons"):
                yield Button("Import", id="import", variant="primary")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#import-path", Input).focus()

    def _status(self, text: Text | str) -> None:
        self.query_one("#import-result", Static).update(text)

    def start(self) -> None:
        path = self.query_one("#import-path", Input).value.strip()
        if not path or self.running:
            return
        self.running = True
        self.query_one("#import", Button).disabled = True
        self._status(Text(f"importing {one_line(path)}…"))
        self._import(str(Path(path).expanduser()))

    @work(thread=True, exclusive=True, group="import")
    def _import(self, path: str) -> None:
        last = 0.0

        def progress(count: int) -> None:
            nonlocal last
            if time.monotonic() - last > 0.1:
                last = time.monotonic()
                self.post_message(self.Progressed(count))

        try:
            report = self._run_import(path, progress)
        except PromptlibError as exc:
            self.post_message(self.Finished(None, exc.cli_message()))
            return
        except Exception as exc:  # an unexpected failure is shown, not raised into the UI
            self.post_message(self.Finished(None, f"import failed: {exc}"))
            return
        self.post_message(self.Finished(report, None))

    def on_import_screen_progressed(self, message: Progressed) -> None:
        if self.running:
            self._status(Text(f"importing… {message.count:,}"))

    def on_import_screen_finished(self, message: Finished) -> None:
        self.running = False
        self.query_one("#import", Button).disabled = False
        if message.report is None:
            self.error = one_line(message.error or "import failed")
            self._status(Text(self.error, style="bold red"))
            return
        self.error = None
        self.report = message.report
        self._status(report_text(message.report))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "import":
            self.start()
        else:
            self.action_close()

    def action_close(self) -> None:
        self.dismiss(self.report)


class ExportScreen(ModalScreen[str | None]):
    """Ask for a target, a format, a pack name and a query; writes the export and dismisses with its path."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    @dataclass
    class Finished(Message):
        path: str | None
        error: str | None

    def __init__(self, run_export: Exporter, *, query: str = "") -> None:
        super().__init__()
        self._run_export = run_export
        self._query = query
        self.written: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export-dialog"):
            yield Static("Export a pack", classes="dialog-title")
            yield Label("Target (a folder, or a path ending in .zip):")
            yield SafeInput(placeholder="~/my-pack.zip", id="export-target")
            yield Label("Format:")
            yield Select([(name, name) for name in EXPORT_FORMATS], value="pack", allow_blank=False, id="export-format")
            yield Label("Pack name:")
            yield SafeInput(placeholder="my-prompts", id="export-name")
            yield Label("Query (empty exports everything):")
            yield SafeInput(self._query, id="export-query")
            yield Checkbox("Overwrite an existing file or folder", id="export-overwrite")
            yield Static("", id="export-result")
            with Horizontal(classes="buttons"):
                yield Button("Export", id="export", variant="primary")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#export-target", Input).focus()

    def _status(self, text: Text) -> None:
        self.query_one("#export-result", Static).update(text)

    def start(self) -> None:
        target = self.query_one("#export-target", Input).value.strip()
        name = self.query_one("#export-name", Input).value.strip()
        query = self.query_one("#export-query", Input).value
        fmt = str(self.query_one("#export-format", Select).value)
        overwrite = self.query_one("#export-overwrite", Checkbox).value
        if not target or not name:
            self._status(Text("a target path and a pack name are both needed", style="bold red"))
            return
        path = Path(target).expanduser()
        if not overwrite and (path.is_file() or (path.is_dir() and any(path.iterdir()))):
            self._status(Text(f"{one_line(target)} exists: tick Overwrite or choose another target", style="bold red"))
            return
        self.query_one("#export", Button).disabled = True
        self._status(Text(f"exporting to {one_line(target)}…"))
        self._export(str(path), name, query, fmt, overwrite)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, target: str, name: str, query: str, fmt: str, overwrite: bool) -> None:
        try:
            path = self._run_export(target, name, query, fmt, overwrite)
        except PromptlibError as exc:
            self.post_message(self.Finished(None, exc.cli_message()))
            return
        except Exception as exc:  # shown, never raised into the UI
            self.post_message(self.Finished(None, f"export failed: {exc}"))
            return
        self.post_message(self.Finished(str(path), None))

    def on_export_screen_finished(self, message: Finished) -> None:
        self.query_one("#export", Button).disabled = False
        if message.path is None:
            self._status(Text(one_line(message.error or "export failed"), style="bold red"))
            return
        self.written = message.path
        self._status(Text(f"wrote {one_line(message.path)}", style="bold green"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "export":
            self.start()
        else:
            self.action_close()

    def action_close(self) -> None:
        self.dismiss(self.written)
