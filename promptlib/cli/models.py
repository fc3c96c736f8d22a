"""``promptlib models``: the diffusers models in the local Hugging Face cache and the configured model folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from promptlib.cli.output import console, note, print_json
from promptlib.textsafe import rich_text

JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Folders = Annotated[
    list[Path] | None,
    typer.Option(
        "--folder",
        "-f",
        metavar="DIR",
        help="Also look in this folder (repeatable; adds to render.model_dirs).",
    ),
]


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def configured_folders() -> tuple[Path, ...]:
    """``[render] model_dirs`` from the library's config.toml; the library itself need not exist."""
    from promptlib import config
    from promptlib.cli.output import STATE
    from promptlib.errors import LibraryError

    path = config.resolve_library_path(STATE.library) / config.CONFIG_NAME
    try:
        loaded = config.Config.load(path)
    except (ValueError, OSError) as exc:
        raise LibraryError(f"{path}: {exc}") from None
    return tuple(Path(d).expanduser() for d in loaded.render_model_dirs)


def models(folder: Folders = None, as_json: JSON = False) -> None:
    """List models you can render with: HF-cache pipelines, diffusers folders and .safetensors checkpoints.

    Reads only configs and safetensors headers (nothing is loaded). Folders come from config.toml's
    [render] model_dirs and --folder.

    Example:

    \b
      promptlib models --folder ~/stable-diffusion-webui/models/Stable-diffusion
    """
    from promptlib.render.models import list_models

    folders = (*configured_folders(), *(folder or ()))
    for missing in (f for f in folders if not f.is_dir()):
        note(f"model folder {missing} " + ("is not a folder" if missing.exists() else "does not exist"))
    found = list_models(folders)
    if as_json:
        print_json([m.to_json(cli=True) for m in found])
        return
    if not found:
        note("no models found in the Hugging Face cache" + (" or the model folders" if folders else ""))
        return
    from rich.table import Table

    table = Table(expand=True)
    table.add_column("name", style="bold", no_wrap=True, max_width=40)
    table.add_column("kind", no_wrap=True)
    table.add_column("arch", style="cyan", no_wrap=True)
    table.add_column("pipeline", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("path / note", ratio=1, no_wrap=True)
    for m in found:
        shown = m.note_for(cli=True)
        where = rich_text(shown, style="yellow", one_line=True) if shown else rich_text(m.path, one_line=True)
        table.add_row(
            rich_text(m.name, one_line=True),
            rich_text(m.kind),
            rich_text(m.arch or "?"),
            rich_text(m.pipeline or "-", one_line=True),
            rich_text(human_size(m.size_bytes)),
            where,
        )
    console().print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
