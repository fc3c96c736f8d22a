"""``promptlib index build|status|rebuild`` and ``promptlib dedup``: the semantic search index and duplicates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from promptlib.cli.output import console, err_console, note, open_library, print_json, print_line, stage_bar
from promptlib.textsafe import rich_text

if TYPE_CHECKING:
    from promptlib.search.reports import BuildReport

index_app = typer.Typer(
    name="index",
    help=(
        "The semantic search index: image embeddings of renders and text embeddings of prompts under the model"
        " in config.toml's [embedding] (open_clip, weights from the local cache).\n\n"
        "Examples:\n\n"
        "\b\n"
        "  promptlib index build               embed what is new, then build the indexes\n"
        "  promptlib index status --json\n"
        "  promptlib index rebuild --reembed   after changing the model's weights"
    ),
    no_args_is_help=True,
)

KIND_HELP = "What to index: all, image (renders) or prompt."
BATCH_HELP = "Images per batch (default: [embedding] batch_size, else 256 on a GPU, 32 on CPU)."
WORKERS_HELP = "Image decoding processes (default: [embedding] workers, else one per core on a GPU, 1 on CPU)."


def _kinds(kind: str) -> list[str]:
    if kind == "all":
        return ["image", "prompt"]
    if kind not in ("image", "prompt"):
        raise typer.BadParameter(f"{kind!r} is not all, image or prompt", param_hint="--kind")
    return [kind]


def _print_report(report: BuildReport, *, as_json: bool) -> None:
    """The build report; then exit 1 when images were skipped (partly done, docs/JSON.md)."""
    _show_report(report, as_json=as_json)
    if report.failed:
        raise typer.Exit(1)


def _show_report(report: BuildReport, *, as_json: bool) -> None:
    if as_json:
        print_json(report.to_json())
        return
    for kind, count in report.indexed.items():
        print_line(f"{kind}: {report.embedded.get(kind, 0):,} embedded now, {count:,} in the index")
    if report.reused:
        print_line(f"{report.reused:,} renders reused the vector of the same image file")
    print_line(f"model {report.model} ({report.dim}-d), {report.seconds:.1f} s")
    for failure in report.failed[:20]:
        note(f"skipped {failure}")
    if len(report.failed) > 20:
        note(f"... and {len(report.failed) - 20:,} more unreadable images")


@index_app.command("build")
def build(
    kind: Annotated[str, typer.Option("--kind", help=KIND_HELP)] = "all",
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help=BATCH_HELP)] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=0, help=WORKERS_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Embed renders and prompts that have no vector yet (prompts edited since the last build again), then build
    and save the indexes. Unreadable images are skipped and listed; the exit code is then 1.

    Example:

    \b
      promptlib index build
    """
    with open_library(create=False) as lib, stage_bar(enabled=not as_json) as progress:
        report = lib.build_index(kinds=_kinds(kind), progress=progress, batch_size=batch_size, workers=workers)
    _print_report(report, as_json=as_json)


@index_app.command("rebuild")
def rebuild(
    kind: Annotated[str, typer.Option("--kind", help=KIND_HELP)] = "all",
    reembed: Annotated[
        bool, typer.Option("--reembed", help="Also delete this model's stored vectors and embed everything again.")
    ] = False,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help=BATCH_HELP)] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=0, help=WORKERS_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Delete the saved indexes and build them again from the stored vectors (no re-embedding unless --reembed).
    Images that cannot be read while re-embedding are skipped and listed; the exit code is then 1.

    Example:

    \b
      promptlib index rebuild --reembed
    """
    with open_library(create=False) as lib, stage_bar(enabled=not as_json) as progress:
        report = lib.rebuild_index(
            kinds=_kinds(kind), reembed=reembed, progress=progress, batch_size=batch_size, workers=workers
        )
    _print_report(report, as_json=as_json)


@index_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False) -> None:
    """The model, its weights file, what is embedded and whether each saved index is fresh, stale, missing or
    corrupt (a stale or corrupt index is rebuilt from the stored vectors on its next use).

    Example:

    \b
      promptlib index status --json
    """
    with open_library(create=False) as lib:
        found = lib.index_status()
    if as_json:
        print_json(found.to_json())
        return
    from rich.table import Table

    print_line(f"model   {found.model}")
    print_line(f"weights {found.weights}")
    table = Table(expand=False, pad_edge=False)
    for column in ("kind", "items", "embedded", "index", "vectors", "type"):
        table.add_column(column, justify="right" if column in ("items", "embedded", "vectors") else "left")
    for k in found.kinds:
        table.add_row(
            rich_text(k.kind),
            rich_text(f"{k.items:,}"),
            rich_text(f"{k.embedded:,}"),
            rich_text(k.state, style="green" if k.state == "fresh" else "yellow"),
            rich_text("" if k.indexed is None else f"{k.indexed:,}"),
            rich_text(k.factory or ""),
        )
    console().print(table)
    for k in found.kinds:
        if k.detail:
            note(f"{k.kind}: {k.detail}")
    for other in found.other_models:
        note(f"also stored: {other['count']:,} {other['kind']} vectors of {other['model']} ({other['dim']}-d)")
    if found.last_error:
        err_console().print(rich_text(f"last embedding error: {found.last_error}", style="yellow"))


def dedup(
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold", "-t", min=0.0, max=1.0, help="Cosine similarity from which images count as duplicates."
        ),
    ] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="Print the clusters as JSON.")] = False,
) -> None:
    """List clusters of near-duplicate images (renders and imported images) by their image embeddings.

    Example:

    \b
      promptlib dedup --threshold 0.97 --json
    """
    with open_library(create=False) as lib:
        clusters = lib.duplicates(threshold=threshold)
    if as_json:
        print_json([c.to_json() for c in clusters])
        return
    if not clusters:
        note("no near-duplicate images")
        return
    for n, cluster in enumerate(clusters, start=1):
        print_line(f"cluster {n}: {len(cluster.members)} images")
        for m in cluster.members:
            print_line(f"  render {m.render_id} (entry {m.prompt_id})  {m.similarity:.3f}  {m.image_path}")


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
    app.command()(dedup)
