"""``promptlib db``: schema upgrade, backup and integrity check."""

from __future__ import annotations

from typing import Annotated

import typer

from promptlib.cli.output import fail, note, open_library, print_json

db_app = typer.Typer(help="Database maintenance: upgrade, backup, check.", no_args_is_help=True)


@db_app.command()
def upgrade(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the schema revision before and after, and the backup, as JSON.")
    ] = False,
) -> None:
    """Upgrade the library's schema to this promptlib's, backing library.db up first, and say what was done.
    Any command that opens an older library upgrades it the same way.

    Example:

    \b
      promptlib db upgrade --json
    """
    with open_library(create=False) as lib:
        before, now, backup = lib.schema_on_open, lib.schema_revision(), lib.last_backup
        upgraded = lib.upgraded
    if as_json:
        print_json(
            {"upgraded": upgraded, "from_schema": before, "to_schema": now, "backup": str(backup) if backup else None}
        )
    elif upgraded:
        note(f"schema upgraded from {before or 'none'} to {now}" + (f"; backup at {backup}" if backup else ""))
    else:
        note(f"schema {now} is current: nothing to upgrade")


@db_app.command()
def backup(
    target: Annotated[
        str | None, typer.Argument(metavar="TARGET", help="File or folder (default: <library>/backups/).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Copy library.db with SQLite's online backup API (safe while other processes write).

    Example:

    \b
      promptlib db backup ~/prompt-backups/
    """
    with open_library(create=False) as lib:
        path = lib.backup(target)
    if as_json:
        print_json({"backup": str(path)})
    else:
        note(f"backup written to {path}")


@db_app.command()
def check(
    fix: Annotated[bool, typer.Option("--fix", help="Rebuild the search index if it is damaged.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check the database: SQLite integrity, foreign keys, the search index, the schema version.

    Example:

    \b
      promptlib db check --json
    """
    with open_library(create=False) as lib:
        problems = lib.check()
        if fix and any(p.startswith("search index") for p in problems):
            lib.backup()
            lib.rebuild_search_index()
            problems = lib.check()
    if as_json:
        print_json({"ok": not problems, "problems": problems})
    elif not problems:
        note("ok")
    if problems:
        raise fail("; ".join(problems[:5]), code=1)


def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is safe to repair (after a backup).")] = False,
    deep: Annotated[bool, typer.Option("--deep", help="Also re-hash every image file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check the database and the image files: integrity, search index, missing / orphaned / corrupt images, the
    write-ahead log; reports the schema version and sizes.

    Example:

    \b
      promptlib doctor --fix
    """
    from promptlib.textsafe import rich_text

    with open_library(create=False) as lib:
        findings = lib.doctor(fix=fix, deep=deep)
        facts = lib.doctor_facts()
    if as_json:
        print_json(
            {"ok": not findings, "fixed": fix, "facts": facts.to_json(), "findings": [f.to_json() for f in findings]}
        )
    elif not findings:
        note(facts.describe())
        note("ok: no problems found")
    else:
        note(facts.describe())
        from promptlib.cli.output import console

        for f in findings:
            mark = "fixed" if fix and f.fixable else "fixable" if f.fixable else "problem"
            console().print(
                rich_text(f"{mark:8} {f.kind:14} {f.detail}" + (f"  {f.path}" if f.path else "")), soft_wrap=True
            )
    unfixed = [f for f in findings if not (fix and f.fixable)]
    if unfixed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command()(doctor)
