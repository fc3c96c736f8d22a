"""``promptlib styles``: style templates with a {prompt} placeholder."""

from __future__ import annotations

from typing import Annotated

import typer

from promptlib.cli.output import console, note, open_library, print_json, short
from promptlib.limits import MAX_ID
from promptlib.textsafe import rich_text

styles_app = typer.Typer(help="Style templates: list, show, add, apply.", no_args_is_help=True)
JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@styles_app.command("list")
def list_styles(as_json: JSON = False) -> None:
    """List style templates.

    Example:

    \b
      promptlib styles list --json
    """
    with open_library(create=False) as lib:
        found = lib.styles()
    if as_json:
        print_json([s.to_json() for s in found])
        return
    from rich.table import Table

    table = Table(expand=True)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("prompt", ratio=2, no_wrap=True)
    table.add_column("negative", ratio=1, style="red", no_wrap=True)
    for style in found:
        table.add_row(
            rich_text(style.name, one_line=True),
            rich_text(short(style.prompt, 120), one_line=True),
            rich_text(short(style.negative_prompt, 60), one_line=True),
        )
    console().print(table)


@styles_app.command()
def show(name: Annotated[str, typer.Argument(metavar="STYLE", help="Style name.")], as_json: JSON = False) -> None:
    """Show one style: its template and negative prompt.

    Example:

    \b
      promptlib styles show cinematic --json
    """
    with open_library(create=False) as lib:
        style = lib.style(name)
    if as_json:
        print_json(style.to_json())
    else:
        console().print(rich_text(style.name, style="bold"))
        console().print(rich_text(style.prompt))
        if style.negative_prompt:
            console().print(rich_text(style.negative_prompt, style="red"))


@styles_app.command()
def add(
    name: Annotated[str, typer.Argument(metavar="STYLE", help="Style name.")],
    prompt: Annotated[
        str, typer.Argument(help="The template; {prompt} marks where the entry's prompt goes.", metavar="TEMPLATE")
    ],
    negative: Annotated[str, typer.Option("--negative", "-n", help="Negative prompt.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored style as JSON.")] = False,
) -> None:
    """Add a style template.

    Example:

    \b
      promptlib styles add cinematic 'cinematic still of {prompt}, 35mm, film grain' -n 'cartoon'
    """
    with open_library(create=False) as lib:
        style = lib.add_style(name, prompt, negative_prompt=negative)
    if as_json:
        print_json(style.to_json())
    else:
        note(f"added style {style.name!r}")


@styles_app.command()
def apply(
    name: Annotated[str, typer.Argument(metavar="STYLE", help="Style name.")],
    entry_id: Annotated[int, typer.Argument(metavar="ENTRY_ID", help="Entry id.", min=1, max=MAX_ID)],
    as_json: JSON = False,
) -> None:
    """Rewrite an entry's prompt and negative prompt through a style template (the entry itself changes: `dup`
    it first to keep the original).

    Example:

    \b
      promptlib styles apply cinematic 12
    """
    with open_library(create=False) as lib:
        entry = lib.apply_style(entry_id, name)
    if as_json:
        print_json(entry.to_json(root=lib.path))
    else:
        note(f"#{entry.id}: {entry.prompt}")


def register(app: typer.Typer) -> None:
    app.add_typer(styles_app, name="styles")
