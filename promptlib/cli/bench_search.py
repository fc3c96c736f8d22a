"""``promptlib bench search``: vector search speed, recall and memory on clustered synthetic embeddings."""

from __future__ import annotations

from typing import Annotated

import typer

from promptlib.cli.bench import bench_app
from promptlib.cli.output import console, print_json, stage_bar

STAGES = {
    "generate": "generating vectors",
    "exact": "exact index (ground truth)",
    "build": "building the index",
    "search": "timing queries",
    "memory": "measuring memory",
}
ROWS = [
    ("factory", "index", ""),
    ("search_params", "search parameters", ""),
    ("p50_ms", "query p50", "ms"),
    ("p95_ms", "query p95", "ms"),
    ("recall_at_10", "recall@10 vs exact", ""),
    ("exact_p50_ms", "exact search p50 (baseline)", "ms"),
    ("build_s", "build (train + add + tune)", "s"),
    ("memory_mb", "index memory", "MB"),
    ("index_file_mb", "index file", "MB"),
    ("load_s", "load (verify + read)", "s"),
]


def bench_search(
    vectors: Annotated[
        int, typer.Option("--vectors", "-n", min=10, help="How many vectors (1000000 for the documented goal).")
    ] = 100_000,
    dim: Annotated[int, typer.Option("--dim", "-d", min=2, max=4096, help="Vector dimension.")] = 512,
    queries: Annotated[int, typer.Option("--queries", min=1, help="Held-out queries timed one by one.")] = 200,
    factory: Annotated[
        str | None,
        typer.Option("--factory", help="A faiss index_factory string (default: chosen by size, as the library does)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic data.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Measure vector search: query latency, recall@10 against exact search, build time and index memory.

    The vectors are a synthetic mixture of Gaussian clusters (like image embeddings), generated in memory; the
    index is built, saved and reloaded through the same code the library uses. A million 512-d vectors need
    about 5 GB of memory and a few minutes.

    Example:

    \b
      promptlib bench search --vectors 1000000 --dim 512 --json
    """
    from promptlib.search.vector_bench import run_benchmark

    with stage_bar(labels=STAGES) as progress:
        result = run_benchmark(vectors, dim, queries=queries, factory=factory, seed=seed, progress=progress)
    if as_json:
        print_json(result)
        return
    from rich.table import Table

    from promptlib.textsafe import rich_text

    table = Table(title=f"vector search: {vectors:,} × {dim}-d clustered vectors, {queries} queries")
    table.add_column("measure", style="bold")
    table.add_column("value", justify="right", style="cyan")
    for key, label, unit in ROWS:
        if key in result:
            value = result[key]
            text = f"{value:,}" if isinstance(value, int) else str(value) or "—"
            table.add_row(label, rich_text(f"{text} {unit}".strip()))
    console().print(table)


def register(app: typer.Typer) -> None:
    bench_app.command("search")(bench_search)
