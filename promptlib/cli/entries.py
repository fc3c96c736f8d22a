"""Entry commands: add, show, edit, rm, list, tag, tags, rate, fav, dup, collect, collections."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from promptlib.cli.output import (
    console,
    entries_table,
    entry_panel,
    fail,
    note,
    open_library,
    print_json,
)
from promptlib.errors import NotFoundError
from promptlib.limits import MAX_ID

if TYPE_CHECKING:
    from promptlib.library import Library

JSON = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
EntryJSON = Annotated[bool, typer.Option("--json", help="Print the entry as JSON.")]
DoneJSON = Annotated[bool, typer.Option("--json", help="Print what was done as JSON.")]


def parse_ids(text: str) -> list[int]:
    """One id argument: ``12`` or a comma list ``12,13`` (as `render` takes them)."""
    ids = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= MAX_ID:
            raise typer.BadParameter(f"{part!r} is not an entry id (a whole number from 1)")
        ids.append(int(part))
    return ids


def _flatten_ids(groups: list[list[int]]) -> list[int]:
    return [i for group in groups for i in group]


IDS = Annotated[
    list[int],
    typer.Argument(
        help="Entry ids: 12 13 or 12,13.", show_default=False, parser=parse_ids, callback=_flatten_ids, metavar="IDS"
    ),
]


def _size(value: str | None) -> tuple[int | None, int | None]:
    if not value:
        return None, None
    try:
        width, height = value.lower().replace("×", "x").split("x")
        return int(width), int(height)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not WIDTHxHEIGHT, e.g. 512x768", param_hint="--size") from exc


def _params(
    *,
    steps: int | None,
    cfg: float | None,
    seed: int | None,
    sampler: str | None,
    schedule: str | None,
    size: str | None,
    model: str | None,
    param: list[str] | None,
) -> dict[str, Any]:
    width, height = _size(size)
    values: dict[str, Any] = {
        "steps": steps,
        "cfg_scale": cfg,
        "seed": seed,
        "sampler": sampler,
        "schedule": schedule,
        "width": width,
        "height": height,
        "model": model,
    }
    out = {k: v for k, v in values.items() if v is not None}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        out[key.strip()] = _scalar(value.strip())
    return out


def _scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _read_text(value: str) -> str:
    return sys.stdin.read().rstrip("\n") if value == "-" else value


# Options shared by add and edit (typer needs them spelled out per command).
Negative = Annotated[str | None, typer.Option("--negative", "-n", help="Negative prompt.")]
Title = Annotated[str | None, typer.Option("--title", "-t", help="A short title.")]
Notes = Annotated[str | None, typer.Option("--notes", help="Free-form notes.")]
Tags = Annotated[list[str] | None, typer.Option("--tag", metavar="TAG", help="A tag (repeatable).")]
Steps = Annotated[int | None, typer.Option("--steps", help="Sampling steps.")]
Cfg = Annotated[float | None, typer.Option("--cfg", help="CFG scale.")]
Seed = Annotated[int | None, typer.Option("--seed", help="Seed.")]
Sampler = Annotated[str | None, typer.Option("--sampler", help="Sampler, any tool's spelling ('DPM++ 2M Karras').")]
Schedule = Annotated[str | None, typer.Option("--schedule", help="Noise schedule (karras, exponential, ...).")]
Size = Annotated[str | None, typer.Option("--size", help="WIDTHxHEIGHT, e.g. 512x768.")]
Model = Annotated[str | None, typer.Option("--model", help="Checkpoint name.")]
Param = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", metavar="KEY=VALUE", help="Any other parameter, as in -p denoise=0.5 (repeatable)."),
]


def add(
    prompt: Annotated[str, typer.Argument(metavar="PROMPT", help="The prompt ('-' reads it from stdin).")],
    negative: Negative = None,
    title: Title = None,
    notes: Notes = None,
    tag: Tags = None,
    steps: Steps = None,
    cfg: Cfg = None,
    seed: Seed = None,
    sampler: Sampler = None,
    schedule: Schedule = None,
    size: Size = None,
    model: Model = None,
    param: Param = None,
    rating: Annotated[int | None, typer.Option("--rating", min=0, max=5, help="0-5 stars.")] = None,
    fav: Annotated[bool, typer.Option("--fav", help="Mark as favourite.")] = False,
    as_json: EntryJSON = False,
) -> None:
    """Add a prompt, with its negative prompt, tags and generation parameters; prints its id.

    Example:

    \b
      promptlib add 'a lighthouse in fog, oil painting' -n 'people, text' --tag seascape --steps 30
    """
    params = _params(
        steps=steps, cfg=cfg, seed=seed, sampler=sampler, schedule=schedule, size=size, model=model, param=param
    )
    with open_library() as lib:
        entry = lib.add(
            _read_text(prompt),
            negative_prompt=negative or "",
            title=title or "",
            notes=notes or "",
            tags=tag or (),
            params=params or None,
            rating=rating,
            favourite=fav,
        )
    _warn_unknown_sampler(sampler, schedule)
    if as_json:
        print_json(entry.to_json(root=lib.path))
    else:
        note(f"added #{entry.id}")


def show(
    entry_id: Annotated[int, typer.Argument(metavar="ENTRY_ID", help="Entry id.", min=1, max=MAX_ID)],
    as_json: EntryJSON = False,
) -> None:
    """Show one entry with all its parameters and renders.

    Example:

    \b
      promptlib show 12 --json
    """
    with open_library(create=False) as lib:
        entry = lib.get(entry_id)
    if as_json:
        print_json(entry.to_json(root=lib.path))
    else:
        entry_panel(entry)


def edit(
    entry_id: Annotated[int, typer.Argument(metavar="ENTRY_ID", help="Entry id.", min=1, max=MAX_ID)],
    prompt: Annotated[str | None, typer.Option("--prompt", help="New prompt ('-' reads stdin).")] = None,
    negative: Negative = None,
    title: Title = None,
    notes: Notes = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="TAG", help="Replace the tags (repeatable).")
    ] = None,
    steps: Steps = None,
    cfg: Cfg = None,
    seed: Seed = None,
    sampler: Sampler = None,
    schedule: Schedule = None,
    size: Size = None,
    model: Model = None,
    param: Param = None,
    as_json: EntryJSON = False,
) -> None:
    """Change an entry. With no options in a terminal, opens it in $EDITOR as JSON.

    Example:

    \b
      promptlib edit 12 --steps 40 --sampler 'Euler a' --tag portrait --tag studio
    """
    params = _params(
        steps=steps, cfg=cfg, seed=seed, sampler=sampler, schedule=schedule, size=size, model=model, param=param
    )
    changes: dict[str, Any] = {
        "prompt": _read_text(prompt) if prompt is not None else None,
        "negative_prompt": negative,
        "title": title,
        "notes": notes,
        "tags": tag,
        "params": params or None,
    }
    with open_library(create=False) as lib:
        if all(v is None for v in changes.values()):
            changes = _edit_in_editor(lib.get(entry_id).to_json())
        entry = lib.edit(entry_id, **changes)
    _warn_unknown_sampler(sampler, schedule)
    if as_json:
        print_json(entry.to_json(root=lib.path))
    else:
        note(f"updated #{entry.id}")


def _warn_unknown_sampler(sampler: str | None, schedule: str | None) -> None:
    """Stored as given (other tools have samplers promptlib cannot render), but a likely typo is worth a word."""
    if sampler is None:
        return
    from promptlib.errors import ValidationError
    from promptlib.render.schedulers import resolve

    try:
        resolve(sampler, schedule)
    except ValidationError as exc:
        note(f"warning: stored, but {exc.cli_message()}")


def _edit_in_editor(current: dict[str, Any]) -> dict[str, Any]:
    import json

    if not sys.stdin.isatty():
        raise fail("nothing to change: pass options such as --prompt or --steps (or run in a terminal for $EDITOR)")
    fields = ("title", "prompt", "negative_prompt", "notes", "tags", "rating", "favourite", "params")
    doc = {k: current[k] for k in fields}
    original = json.dumps(doc, indent=2, ensure_ascii=False)
    edited = _run_editor(original)
    if edited == original:
        raise fail("no changes", code=0)
    try:
        data = json.loads(edited)
    except ValueError as exc:
        raise fail(f"the edited text is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise fail("the edited text must be a JSON object")
    return {k: data[k] for k in fields if k in data and data[k] != doc[k]}


def _run_editor(text: str) -> str:
    import os
    import shlex
    import subprocess
    import tempfile
    from pathlib import Path

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "entry.json"
        path.write_text(text, encoding="utf-8")
        if subprocess.call([*shlex.split(editor), str(path)]) != 0:
            raise fail(f"{editor} exited with an error; nothing changed")
        return path.read_text(encoding="utf-8")


def rm(
    ids: IDS,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: DoneJSON = False,
) -> None:
    """Delete entries, with their renders. Asks first unless --yes is given (an answer can be piped in; with no
    answer at all nothing is deleted). One unknown id deletes nothing.

    Example:

    \b
      promptlib rm 12 13 --yes --json
    """
    with open_library(create=False) as lib:
        found = {e.id for e in lib.get_many(ids, with_renders=False)}
        missing = [i for i in dict.fromkeys(ids) if i not in found]
        if missing:
            raise NotFoundError(
                f"no prompt with id {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )
        if not yes:  # reads stdin even when it is not a terminal: `echo n | promptlib rm 3` deletes nothing
            question = f"Delete {len(found)} entr{'y' if len(found) == 1 else 'ies'}?"
            if as_json:  # the question on stderr, so stdout holds only the JSON (click's err=True still echoes a space)
                sys.stderr.write(f"{question} [y/N]: ")
                sys.stderr.flush()
                if sys.stdin.readline().strip().lower() not in ("y", "yes"):
                    raise typer.Abort()
            else:
                typer.confirm(question, abort=True)
        removed = lib.remove(ids)
    if as_json:
        print_json({"removed": sorted(found)})
    else:
        note(f"removed {removed}")


def list_entries(
    query: Annotated[
        str,
        typer.Argument(help="Only entries matching this query (the language of `promptlib search`).", metavar="QUERY"),
    ] = "",
    limit: Annotated[int, typer.Option("--limit", "-k", help="How many.")] = 50,
    offset: Annotated[int, typer.Option("--offset", help="Skip this many.")] = 0,
    sort: Annotated[str, typer.Option("--sort", help="new, old, rating, title or score.")] = "new",
    as_json: JSON = False,
) -> None:
    """List entries, newest first (--sort for another order), all or those matching QUERY.

    Example:

    \b
      promptlib list 'tag:portrait fav:yes' --sort rating
    """
    with open_library(create=False) as lib:
        found = lib.entries(limit=limit, offset=offset, sort=sort, query=query, with_renders=as_json)
    if as_json:
        print_json([e.to_json(root=lib.path) for e in found])
    else:
        entries_table(found)


def tag(
    ids: IDS,
    add: Annotated[
        list[str] | None, typer.Option("--add", "-a", metavar="TAG", help="Tag to add (repeatable).")
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", "-r", metavar="TAG", help="Tag to remove (repeatable).")
    ] = None,
    as_json: DoneJSON = False,
) -> None:
    """Add or remove tags on entries (prints their tags).

    Example:

    \b
      promptlib tag 12 13 --add portrait --remove draft
    """
    with open_library(create=False) as lib:
        result = lib.tag(ids, add=add or (), remove=remove or ())
    if as_json:
        print_json({str(k): v for k, v in result.items()})
    else:
        for pid, names in result.items():
            console().print(f"#{pid}", ", ".join(names), markup=False)


def tags(as_json: JSON = False) -> None:
    """List all tags with how many entries carry each.

    Example:

    \b
      promptlib tags --json
    """
    with open_library(create=False) as lib:
        counts = lib.tags()
    if as_json:
        print_json([{"tag": name, "count": n} for name, n in counts])
    else:
        for name, n in counts:
            console().print(f"{n:>6}  {name}", markup=False)


def rate(
    rating: Annotated[str, typer.Argument(metavar="RATING", help="0-5, or 'none' to clear.")],
    ids: IDS,
    as_json: DoneJSON = False,
) -> None:
    """Rate entries 0-5 stars: the rating first, then the entry ids.

    Example:

    \b
      promptlib rate 5 12 13
    """
    value = None if rating.lower() in ("none", "clear", "-") else int(rating) if rating.isdigit() else -1
    if value == -1:
        raise fail(f"rating {rating!r} must be 0-5 or 'none'")
    with open_library(create=False) as lib:
        count = lib.rate(ids, value)
    if as_json:
        print_json({"ids": sorted(set(ids)), "rating": value})
        return
    what = "rating cleared" if value is None else f"rated {value} star{'' if value == 1 else 's'}"
    note(f"{_entries(count)} {what}")


def fav(
    ids: IDS,
    off: Annotated[bool, typer.Option("--off", help="Remove the favourite mark.")] = False,
    as_json: DoneJSON = False,
) -> None:
    """Mark entries as favourites (--off takes the mark away).

    Example:

    \b
      promptlib fav 12 --off
    """
    with open_library(create=False) as lib:
        count = lib.favourite(ids, not off)
    if as_json:
        print_json({"ids": sorted(set(ids)), "favourite": not off})
        return
    note(f"{_entries(count)} {'no longer marked' if off else 'marked'} as favourite")


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def dup(
    entry_id: Annotated[int, typer.Argument(metavar="ENTRY_ID", help="Entry id.", min=1, max=MAX_ID)],
    as_json: EntryJSON = False,
) -> None:
    """Duplicate an entry (text, tags and parameters; not its renders). The copy of a titled entry is titled
    'TITLE (copy)'; the copy of an untitled one stays untitled, listed by its prompt like the original.

    Example:

    \b
      promptlib dup 12 --json
    """
    with open_library(create=False) as lib:
        entry = lib.duplicate(entry_id)
    if as_json:
        print_json(entry.to_json(root=lib.path))
    else:
        note(f"added #{entry.id} (copy of #{entry_id})")


def collect(
    name: Annotated[str, typer.Argument(metavar="COLLECTION", help="Collection name (created if new).")],
    ids: IDS,
    remove: Annotated[bool, typer.Option("--remove", help="Take the entries out of the collection.")] = False,
    as_json: DoneJSON = False,
) -> None:
    """Add entries to a collection (or take them out; `collections --delete NAME` deletes the collection).

    Example:

    \b
      promptlib collect 'moodboard' 12 13 14
    """
    wanted = list(dict.fromkeys(ids))
    with open_library(create=False) as lib:
        # the name as stored: `collect Board` changes 'board' when only that spelling exists
        try:
            stored = lib.collection_name(name)
        except NotFoundError:
            if remove:
                raise
            stored = name.strip()  # a new collection (or several spellings: `lib.collect` says so)
        before = _members(lib, wanted, stored) if as_json else set()
        if remove:
            taken = lib.uncollect(stored, wanted)
        else:
            size = lib.collect(stored, wanted)
        after = _members(lib, wanted, stored) if as_json else set()
    if as_json:  # what changed, not what was asked: an id already in (or not in) the collection is not listed
        if remove:
            print_json({"collection": stored, "removed": [i for i in wanted if i in before and i not in after]})
        else:
            added = [i for i in wanted if i in after and i not in before]
            print_json({"collection": stored, "added": added, "count": size})
    else:
        note(f"{stored}: removed {taken}" if remove else f"{stored}: {size} entries")


def _members(lib: Library, ids: list[int], name: str) -> set[int]:
    """Which of `ids` are in the collection stored as `name` (an id that does not exist is in none)."""
    return {e.id for e in lib.get_many(ids, with_renders=False) if name in e.collections}


def collections(
    delete: Annotated[
        str | None,
        typer.Option("--delete", metavar="NAME", help="Delete this collection (its entries stay in the library)."),
    ] = None,
    as_json: JSON = False,
) -> None:
    """List collections with their sizes, or delete one.

    Examples:

    \b
      promptlib collections
      promptlib collections --delete moodboard --json
    """
    if delete is not None:
        _delete_collection(delete, as_json=as_json)
        return
    with open_library(create=False) as lib:
        found = lib.collections()
    if as_json:
        print_json([{"name": n, "count": c} for n, c in found])
    else:
        for n, c in found:
            console().print(f"{c:>6}  {n}", markup=False)


def _delete_collection(name: str, *, as_json: bool) -> None:
    with open_library(create=False) as lib:
        stored = lib.collection_name(name)  # found ignoring case: say which one was deleted
        held = lib.delete_collection(stored)
    if as_json:
        print_json({"deleted": stored, "count": held})
    else:
        note(f"deleted collection {stored} ({_entries(held)} kept in the library)")


def register(app: typer.Typer) -> None:
    app.command()(add)
    app.command()(show)
    app.command()(edit)
    app.command()(rm)
    app.command("list")(list_entries)
    app.command()(tag)
    app.command()(tags)
    app.command()(rate)
    app.command()(fav)
    app.command()(dup)
    app.command()(collect)
    app.command()(collections)
