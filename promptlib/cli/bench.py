"""``promptlib bench``: performance measurements from the product's own code paths.

The subcommands live with the features they measure (``bench render`` in ``cli/render.py``, ``bench search`` in
``cli/index.py``); this module only owns the group so either can register into it.
"""

from __future__ import annotations

import typer

bench_app = typer.Typer(
    name="bench",
    help="Benchmarks: render speed per scheduler, vector search speed and recall.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
