"""Library-level commands: init, stats, overview."""

from __future__ import annotations

from typing import Annotated

import typer

from promptlib.cli.output import console, entries_table, note, open_library, print_json, progress_bar


def init(
    empty: Annotated[bool, typer.Option("--empty", help="Do not import the starter prompts.")] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Print nothing unless prompts or styles were added (warnings still print)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was imported as JSON.")] = False,
) -> None:
    """Create the library (if needed) and import the starter pack. Safe to run again: nothing is duplicated.

    Examples:

    \b
      promptlib init
      promptlib init --empty --json      an empty library, and where it is
      promptlib --library ~/prompts init --quiet
    """
    from promptlib.seeds import seed_pack_path

    with open_library(create=True) as lib:
        if empty:
            report = None
        else:
            with progress_bar("starter pack", None, enabled=not quiet) as advance:
                report = lib.import_pack(seed_pack_path(), progress=advance)
        path = lib.path
    if as_json:
        print_json({"library": str(path), "import": report.to_json() if report else None})
        return
    if report is None:
        if not quiet:
            note(f"library ready at {path}")
    elif report.added or report.styles_added or not quiet:
        note(
            f"library ready at {path}: {report.added} prompts and {report.styles_added} styles added, "
            f"{report.skipped + report.styles_skipped} already present"
        )
    for error in report.errors if report else []:
        note(f"warning: {error}")


def stats(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Counts of prompts, styles, renders, packs and tags, and the most used ones.

    Example:

    \b
      promptlib stats --json
    """
    with open_library(create=False) as lib:
        data = lib.stats()
    if as_json:
        print_json(data)
        return
    _stats_table(data)


def _stats_table(data: dict[str, object]) -> None:
    from rich.table import Table

    from promptlib.textsafe import rich_text

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", justify="right")
    table.add_column()
    for key in ("prompts", "styles", "renders", "images", "packs", "tags", "collections", "favourites"):
        table.add_row(key, str(data[key]))
    for key in ("top_tags", "top_packs", "top_samplers", "top_models"):
        counts = data[key]
        if isinstance(counts, dict) and counts:
            table.add_row(key.removeprefix("top_"), rich_text(", ".join(f"{k} ({v})" for k, v in counts.items())))
    table.add_row("library", rich_text(str(data["library"]), style="dim"))
    console().print(table)


def overview(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: stats and newest entries.")] = False,
) -> None:
    """A summary of the library and the newest entries (what `promptlib tui` shows without a terminal).

    Example:

    \b
      promptlib overview --json
    """
    with open_library(create=False) as lib:
        data = lib.stats()
        recent = lib.entries(limit=10)
    if as_json:
        print_json({"stats": data, "newest": [e.to_json(root=lib.path) for e in recent]})
        return
    console().rule("promptlib")
    _stats_table(data)
    entries_table(recent, title="newest entries")
    console().print(
        "Try:  promptlib search 'lighthouse'   promptlib show 1   promptlib --help",
        style="dim",
        markup=False,
    )


def tui() -> None:
    """Open the terminal UI: browse, search, preview, edit (what `make run` opens).

    Without a terminal (piped output, CI) it prints the overview instead.

    Examples:

    \b
      promptlib tui
      promptlib --library ~/prompts tui
    """
    import sys

    from promptlib.cli.output import STATE

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        overview(as_json=False)
        return
    with open_library(create=False):
        pass  # a missing or broken library is reported here, on one line, before the UI starts
    from promptlib.tui.app import run_tui

    run_tui(STATE.library)


def register(app: typer.Typer) -> None:
    app.command()(tui)
    app.command()(init)
    app.command()(stats)
    app.command()(overview)
