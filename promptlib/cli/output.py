"""Shared CLI plumbing: the library from global options, JSON and table output, progress bars, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from promptlib.textsafe import rich_text, safe_json, safe_text

if TYPE_CHECKING:
    from rich.console import Console

    from promptlib.entries import Entry
    from promptlib.library import Library


@dataclass
class State:
    library: str | None = None
    debug: bool = False


STATE = State()
_console: Console | None = None
_err_console: Console | None = None


def console() -> Console:
    global _console
    if _console is None:
        from rich.console import Console

        class _Stdout(Console):
            def on_broken_pipe(self) -> None:
                """`promptlib tags | head -1`: stop quietly with success, as plain prints do (rich exits 1)."""
                try:
                    super().on_broken_pipe()  # points stdout at /dev/null, then exits 1
                except SystemExit:
                    raise SystemExit(0) from None

        _console = _Stdout(highlight=False, soft_wrap=False)
    return _console


def err_console() -> Console:
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err_console


def open_library(*, create: bool = True) -> Library:
    from promptlib.library import Library

    return Library.open(STATE.library, create=create)


def print_json(data: Any) -> None:
    sys.stdout.write(safe_json(data) + "\n")


def print_line(text: str) -> None:
    """A plain line of untrusted text, escaped."""
    sys.stdout.write(safe_text(text) + "\n")


def note(message: str) -> None:
    """A status line for people (stderr, so --json output stays clean)."""
    err_console().print(rich_text(message, style="dim"))


def short(text: str, width: int) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def stars(rating: int | None) -> str:
    return "" if rating is None else "★" * rating + "☆" * (5 - rating)


def entries_table(entries: list[Entry], *, scores: list[float] | None = None, title: str | None = None) -> None:
    from rich.table import Table

    table = Table(title=title, show_lines=False, expand=True, pad_edge=False)
    table.add_column("id", justify="right", style="cyan", no_wrap=True)
    if scores is not None:
        table.add_column("score", justify="right", style="magenta", no_wrap=True, min_width=5)
    table.add_column("title", style="bold", max_width=20, no_wrap=True)
    table.add_column("prompt", ratio=1, min_width=30, no_wrap=True)
    table.add_column("tags", style="green", max_width=16, no_wrap=True)
    table.add_column("★", style="yellow", no_wrap=True)
    for n, entry in enumerate(entries):
        row = [rich_text(str(entry.id))]
        if scores is not None:
            row.append(rich_text(f"{scores[n]:.2f}"))
        row += [
            rich_text(short(entry.title, 28), one_line=True),
            rich_text(short(entry.prompt, 200), one_line=True),
            rich_text(", ".join(entry.tags), one_line=True),
            rich_text(stars(entry.rating) + (" ♥" if entry.favourite else "")),
        ]
        table.add_row(*row)
    console().print(table)


def entry_panel(entry: Entry) -> None:
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    grid.add_row("prompt", rich_text(entry.prompt))
    if entry.negative_prompt:
        grid.add_row("negative", rich_text(entry.negative_prompt, style="red"))
    if entry.tags:
        grid.add_row("tags", rich_text(", ".join(entry.tags), style="green"))
    if entry.rating is not None or entry.favourite:
        grid.add_row("rating", rich_text(stars(entry.rating) + ("  ♥ favourite" if entry.favourite else "")))
    params = {k: v for k, v in entry.params.items() if v not in (None, [], {})}
    if params:
        parts = []
        for key, value in params.items():
            if key == "loras":
                value = " ".join(f"<lora:{lo['name']}:{lo['weight']}>" for lo in value)
            elif isinstance(value, dict | list):
                value = json.dumps(value, ensure_ascii=False)
            parts.append(f"{key}: {value}")
        grid.add_row("params", rich_text(", ".join(parts)))
    if entry.notes:
        grid.add_row("notes", rich_text(entry.notes, style="italic"))
    source = ", ".join(f"{k}: {v}" for k, v in ({"pack": entry.pack} | entry.source).items() if v)
    if source:
        grid.add_row("source", rich_text(source, style="dim"))
    if entry.collections:
        grid.add_row("collections", rich_text(", ".join(entry.collections)))
    for render in entry.renders:
        line = rich_text(f"{render.width}x{render.height} {render.format} {render.image_path}", style="dim")
        line.overflow = "fold"  # a path is folded onto the next line, never cut with an ellipsis
        grid.add_row(f"render {render.id}", line)
    from promptlib.entries import iso_time

    dates = f"{iso_time(entry.created_at)} (updated {iso_time(entry.updated_at)})"
    grid.add_row("created", rich_text(dates, style="dim"))
    title = rich_text(f"#{entry.id} {entry.title}".strip(), style="bold")
    console().print(Panel(grid, title=title, title_align="left", expand=True))


@contextmanager
def progress_bar(description: str, total: int | None, *, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields the callback core code calls with the number of items done."""
    with stage_bar(enabled=enabled) as update:
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            update(description, done, total)

        yield advance


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console().print(rich_text(f"error: {message}", style="bold red"))
    return typer.Exit(code)


@contextmanager
def stage_bar(
    *, enabled: bool = True, labels: dict[str, str] | None = None
) -> Iterator[Callable[[str, int, int | None], None]]:
    """A rich progress bar per stage on stderr (none off a terminal); yields the ``progress(stage, done, total)``
    callback. `labels` names the stages."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _stage, _done, _total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console(),
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task((labels or {}).get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
