"""``promptlib search``: the query DSL over the library."""

from __future__ import annotations

from typing import Annotated

import typer

from promptlib.cli.output import entries_table, note, open_library, print_json

QUERY_HELP = """\
Search prompts. Words are ANDed and ranked by bm25 over title, prompt, tags, notes and negative prompt.

\b
  "exact phrase"   -word (exclude)   word OR other   cyber* (prefix)
  tag:landscape  pack:promptlib-starter  model:sdxl  sampler:"Euler a"
  schedule:karras  lora:detail  steps:20-30  cfg:>=7  seed:123  size:512x768
  rating:>=4  fav:yes  has:image  title:castle  neg:blurry  notes:tip
  collection:moodboard   (any filter can be negated: -tag:draft)

Semantic search (after `promptlib index build`): --mode hybrid (the default when an index exists) fuses bm25
with CLIP similarity of the images; --mode semantic uses similarity alone. Filters restrict both.

\b
  --image FILE       images that look like FILE
  --like RENDER_ID   images like a stored render
  --similar-prompts  prompts that mean the same (--like then takes an entry id)

Examples (a query that starts with '-' goes after '--', options before it):

\b
  promptlib search 'foggy harbour -people'
  promptlib search 'portrait tag:studio steps:>=30' -k 5 --json
  promptlib search 'a lighthouse at night' --mode semantic
  promptlib search --image ref.png 'tag:landscape'
  promptlib search --like 42
  promptlib search -k 5 -- '-tag:anime'
"""


def search(
    query: Annotated[str, typer.Argument(help="The query; see above.", metavar="QUERY")] = "",
    k: Annotated[
        int | None,
        typer.Option("-k", "--limit", min=1, help="How many results (default: config.toml's search.default_limit)."),
    ] = None,
    offset: Annotated[int, typer.Option("--offset", help="Skip this many results.")] = 0,
    sort: Annotated[str, typer.Option("--sort", help="score, new, old, rating or title.")] = "score",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (entries with 'score' and per-source 'scores').")
    ] = False,
    mode: Annotated[
        str, typer.Option("--mode", "-m", help="auto (hybrid when an index exists), lexical, semantic or hybrid.")
    ] = "auto",
    image: Annotated[str | None, typer.Option("--image", help="Find images that look like this image file.")] = None,
    like: Annotated[
        int | None, typer.Option("--like", help="Find images like this render's (an entry's, with --similar-prompts).")
    ] = None,
    similar_prompts: Annotated[
        bool, typer.Option("--similar-prompts", help="Rank prompts by meaning (prompt embeddings) instead of images.")
    ] = False,
) -> None:
    with open_library(create=False) as lib:
        limit = k if k is not None else lib.config.search_limit
        result = lib.search(
            query, limit=limit, offset=offset, sort=sort, mode=mode, image=image, like=like,
            similar_prompts=similar_prompts,
        )  # fmt: skip
    message = getattr(result, "cli_note", None) or getattr(result, "note", "")
    if message:
        note(message)
    if as_json:
        print_json(result.to_json(root=lib.path))
        return
    if not result.hits:
        note("no matches")
        return
    entries_table([h.entry for h in result.hits], scores=[h.score for h in result.hits])
    if result.truncated:
        from promptlib.search.lexical import DEFAULT_WINDOW

        note(f"very common terms: ranked the newest {DEFAULT_WINDOW:,} matches (add words or filters to narrow)")


search.__doc__ = QUERY_HELP


def register(app: typer.Typer) -> None:
    app.command()(search)
