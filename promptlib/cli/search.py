"""``promptlib search``: the query DSL over the library."""

from __future__ import annotations

from typing import Annotated

import typer

from promptlib.cli.output import entries_table, note, open_library, print_json

QUERY_HELP = """\
Search prompts. Words are ANDed and ranked by bm25 over title, prompt, tags, notes and negative prompt.

  "exact phrase"    -word (exclude)    word OR other    cyber* (prefix)
  tag:landscape  pack:starter  model:sdxl  sampler:"Euler a"  schedule:karras  lora:detail
  steps:20-30  cfg:>=7  seed:123  size:512x768  rating:>=4  fav:yes  has:image
  title:castle  neg:blurry  notes:tip  collection:moodboard   (any filter can be negated: -tag:draft)

Examples:

  promptlib search 'foggy harbour -people'

  promptlib search 'portrait tag:studio steps:>=30' -k 5 --json
"""


def search(
    query: Annotated[str, typer.Argument(help="The query; see above.")],
    k: Annotated[
        int | None,
        typer.Option("-k", "--limit", help="How many results (default: config.toml's search.default_limit)."),
    ] = None,
    offset: Annotated[int, typer.Option("--offset", help="Skip this many results.")] = 0,
    sort: Annotated[str, typer.Option("--sort", help="score, new, old, rating or title.")] = "score",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (entries with 'score').")] = False,
) -> None:
    with open_library(create=False) as lib:
        result = lib.search(query, limit=k if k is not None else lib.config.search_limit, offset=offset, sort=sort)
    if as_json:
        print_json(result.to_json())
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
