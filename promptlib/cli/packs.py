"""Packs: ``import`` and ``export`` (native pack format), ``pack-schema``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from promptlib.cli.output import note, open_library, print_json, progress_bar


def import_(
    paths: Annotated[list[Path], typer.Argument(help="Packs and style/prompt files.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="Force a format (default: detected from the content)."),
    ] = None,
    pack: Annotated[
        str | None, typer.Option("--pack", help="Pack name for foreign files (default: file name).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
) -> None:
    """Import packs and files, detected from their content: native packs (folder or .zip), A1111 styles.csv,
    Fooocus / sdxl_prompt_styler style JSON, InvokeAI style presets, A1111 prompts_from_file lines, JSONL.
    Importing the same thing twice adds nothing.

    Example: promptlib import ~/stable-diffusion-webui/styles.csv ./my-pack.zip
    """
    from promptlib.errors import PromptlibError

    reports = []
    failed = False
    with open_library() as lib:
        for path in paths:
            try:
                with progress_bar(f"import {path.name}", None, enabled=not as_json) as advance:
                    report = lib.import_path(path, fmt=fmt, pack=pack, progress=advance)
            except PromptlibError as exc:
                failed = True
                note(f"error: {path}: {exc}")
                reports.append({"path": str(path), "error": str(exc)})
                continue
            reports.append({"path": str(path)} | report.to_json())
            if not as_json:
                note(
                    f"{path} ({report.format}): {report.added} added, {report.skipped} already present, "
                    f"{report.styles_added} styles, {report.images_added} images"
                )
                for error in report.errors:
                    note(f"warning: {error}")
    if as_json:
        print_json(reports)
    if failed:
        raise typer.Exit(1)


def export(
    target: Annotated[Path, typer.Argument(help="File, folder or .zip to write.")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="pack, a1111-styles, fooocus-styles, invokeai-presets, prompts-from-file, jsonl or csv.",
        ),
    ] = "pack",
    name: Annotated[str, typer.Option("--name", help="Pack name (pack format).")] = "my-prompts",
    query: Annotated[str, typer.Option("--query", "-q", help="Only entries matching this query.")] = "",
    author: Annotated[str | None, typer.Option("--author", help="Author (pack format).")] = None,
    license_: Annotated[str | None, typer.Option("--license", help="Licence, e.g. CC0-1.0 (pack format).")] = None,
    images: Annotated[bool, typer.Option("--images", help="Include render images (pack format).")] = False,
) -> None:
    """Export entries and styles: a native pack, or another tool's format.

    Examples:

      promptlib export ./portraits.zip --name portraits --query 'tag:portrait' --license CC-BY-4.0

      promptlib export styles.csv --format a1111-styles
    """
    with open_library(create=False) as lib:
        path = lib.export(
            target, fmt=fmt, name=name, query=query, author=author, license=license_, include_images=images
        )
    note(f"wrote {path}")


def pack_schema() -> None:
    """Print the JSON Schema of the native pack manifest (pack.json)."""
    from promptlib.packs.schema import PackManifest

    print_json(PackManifest.model_json_schema(by_alias=True))


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
    app.command()(export)
    app.command("pack-schema")(pack_schema)
