"""Packs: ``import`` and ``export`` (native pack format), ``pack-schema``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from promptlib.cli.output import note, open_library, print_json, progress_bar


def import_(
    paths: Annotated[list[Path], typer.Argument(metavar="PATHS", help="Files, folders (recursive) and zips.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Read style/prompt files as a1111-styles, fooocus-styles, invokeai-presets, prompts-from-file,"
            " jsonl, a1111-infotext, comfyui-graph or promptlib-pack (default: detected from the content).",
        ),
    ] = None,
    pack: Annotated[str | None, typer.Option("--pack", help="Put what is imported in this pack.")] = None,
    link: Annotated[bool, typer.Option("--link", help="Reference images where they are instead of copying.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was imported as JSON: counts, ids, failed files and why.")
    ] = False,
) -> None:
    """Import what other tools wrote, detected from content: promptlib packs (folder or .zip), A1111 styles.csv,
    Fooocus / sdxl_prompt_styler style JSON, InvokeAI style presets, A1111 prompts_from_file lines, JSONL,
    PNG/JPEG/WEBP images with generation metadata (A1111, ComfyUI, InvokeAI, Fooocus, NovelAI, ...), A1111
    parameter .txt files and ComfyUI workflow or API-format .json files. An image saved without parameters takes
    them from the .txt/.json sidecar (A1111, Easy Diffusion) or the Fooocus log.html beside it. Folders are searched
    recursively and zips read without extracting. Importing twice adds nothing. A file that cannot be imported is
    listed with its reason and the rest is imported; the exit code is then 1.

    Examples:

    \b
      promptlib import ~/stable-diffusion-webui/styles.csv
      promptlib import ~/ComfyUI/output --pack comfy --link
      promptlib import my_workflow.json
    """
    if fmt is not None:
        from promptlib.errors import ValidationError
        from promptlib.packs.formats import READERS

        fmt = fmt.replace("-", "_") if fmt.replace("-", "_") in READERS else fmt
        if fmt not in (*READERS, "promptlib-pack"):
            names = ", ".join(name.replace("_", "-") for name in (*READERS, "promptlib-pack"))
            raise ValidationError(f"unknown format {fmt!r} (one of: {names})")
    missing = [path for path in paths if not path.exists()]
    if missing and len(missing) == len(paths):  # nothing to do: one error line, as for any other command
        from promptlib.errors import NotFoundError

        raise NotFoundError(f"{missing[0]}: no such file or folder")
    with open_library() as lib, progress_bar("importing", None, enabled=not as_json) as advance:
        summary = lib.import_paths(paths, fmt=fmt, pack=pack, link=link, progress=advance)
    if as_json:
        print_json(summary.to_json())
    else:
        note(
            f"{summary.imported} imported, {summary.duplicates} already present, {summary.styles_imported} styles, "
            f"{summary.images_imported} images, {len(summary.failed)} failed"
            + (f", {summary.skipped} other files skipped" if summary.skipped else "")
        )
        for warning in summary.warnings[:20]:
            note(f"warning: {warning}")
        for failure in summary.failed[:50]:
            path, reason = failure["path"], failure["reason"]
            named = reason.startswith((path, Path(path.rsplit("!", 1)[-1]).name))  # the reason names it already
            note(f"failed: {reason}" if named else f"failed: {path}: {reason}")
        if len(summary.failed) > 50:
            note(f"... and {len(summary.failed) - 50} more (--json lists them all)")
    if summary.failed:  # partly done (or not at all): exit 1, as render does (docs/JSON.md)
        raise typer.Exit(1)


def export(
    target: Annotated[Path, typer.Argument(metavar="TARGET", help="File, folder or .zip to write.")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="pack, a1111-styles, fooocus-styles, invokeai-presets, prompts-from-file, jsonl or csv.",
        ),
    ] = "pack",
    name: Annotated[str, typer.Option("--name", help="Pack name (pack format).")] = "my-prompts",
    query: Annotated[
        str,
        typer.Option(
            "--query",
            metavar="QUERY",
            help="Only entries matching this query (the language of `promptlib search`).",
        ),
    ] = "",
    author: Annotated[str | None, typer.Option("--author", help="Author (pack format).")] = None,
    license_: Annotated[str | None, typer.Option("--license", help="Licence, e.g. CC0-1.0 (pack format).")] = None,
    images: Annotated[bool, typer.Option("--images", help="Include render images (pack format).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Write over an existing file or non-empty folder.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was written as JSON: path, format and counts.")
    ] = False,
) -> None:
    """Export entries and styles: a native pack, or another tool's format. An existing file or a folder with
    files in it is left alone unless --force is given.

    Examples:

    \b
      promptlib export ./portraits.zip --name portraits --query 'tag:portrait' --license CC-BY-4.0
      promptlib export styles.csv --format a1111-styles
    """
    with open_library(create=False) as lib:
        summary = lib.export_summary(
            target,
            fmt=fmt,
            name=name,
            query=query,
            author=author,
            license=license_,
            include_images=images,
            overwrite=force,
        )
        if query.strip() and not lib.count(query, limit=1):
            note(f"no entry matches {query!r}: the export holds no entries")
    if as_json:
        print_json(summary.to_json())
        return
    note(f"wrote {summary.describe()}")


def pack_schema() -> None:
    """Print the JSON Schema of pack.json, the manifest of a native pack (the format: docs/pack-format.md).

    Example:

    \b
      promptlib pack-schema > pack-schema.json
    """
    from promptlib.packs.schema import PackManifest

    print_json(PackManifest.model_json_schema(by_alias=True))


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
    app.command()(export)
    app.command("pack-schema")(pack_schema)
