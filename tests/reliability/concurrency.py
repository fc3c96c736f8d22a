"""Processes that use one library at once: the TUI's write path, the CLI, a long reader, doctor --fix, importers.

Each worker runs in its own (spawned) process and reports a JSON-able dict through a queue: the errors a user
would have seen and what it expects the library to hold for the entries it owns, so the parent can check that
nothing was lost. Writers touch shared entries only with changes that commute (tags and collections named after
the writer), so the expected end state does not depend on how the processes interleave.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import time
import traceback
from pathlib import Path
from typing import Any

from promptlib.errors import PromptlibError
from promptlib.library import Library

SHARED_IDS = range(1, 41)  # seed entries both writers tag and collect
BATCH = 5  # entries per JSONL import: one transaction the reader must never see half of


def _expect(own: dict[int, dict[str, Any]], entry_id: int, **fields: Any) -> None:
    own.setdefault(entry_id, {"title": "", "rating": None, "favourite": False, "steps": None, "collections": []})
    own[entry_id].update(fields)


def tui_writer(folder: str, changes: int, seed: int, queue: Any) -> None:
    """`changes` changes through the TUI's code path: `tui.operations` write ops run under `LibraryAccess`."""
    from promptlib.tui import operations as ops
    from promptlib.tui.access import LibraryAccess

    errors: list[str] = []
    own: dict[int, dict[str, Any]] = {}
    shared_tags: list[str] = []
    rng = random.Random(seed)
    started = time.perf_counter()
    access = LibraryAccess(Library.open(folder), owned=True)

    def apply(op: Any) -> Any:
        try:
            with access.use() as lib:
                return op(lib)
        except PromptlibError as exc:
            errors.append(f"tui: {exc}")
        except Exception as exc:  # what the TUI would show as "the change failed"
            errors.append(f"tui crashed: {type(exc).__name__}: {exc}")
        return None

    try:
        for k in range(changes):
            kind = k % 8 if own else 0
            target = rng.choice(sorted(own)) if own else 0
            if kind == 0:
                outcome = apply(ops.add({"prompt": f"tui change {k}", "tags": ["tui"]}))
                if outcome is not None:
                    _expect(own, outcome.focus_id, prompt=f"tui change {k}", tags=["tui"])
            elif kind == 1:
                rating = rng.randint(0, 5)
                if apply(ops.rate(target, rating)) is not None:
                    own[target]["rating"] = rating
            elif kind == 2:
                if apply(ops.toggle_favourite(target)) is not None:
                    own[target]["favourite"] = not own[target]["favourite"]
            elif kind == 3:
                if apply(ops.edit(target, {"title": f"tui title {k}", "params": {"steps": 1 + k % 50}})) is not None:
                    own[target].update(title=f"tui title {k}", steps=1 + k % 50)
            elif kind == 4:
                tag = f"tui{k}"
                shared = SHARED_IDS[(k // 8) % len(SHARED_IDS)]
                if apply(lambda lib, tag=tag, shared=shared: lib.tag([shared], add=[tag])) is not None:
                    shared_tags.append(tag)
            elif kind == 5:
                outcome = apply(ops.delete([target]))
                if outcome is not None:
                    before = own.pop(target)
                    if rng.random() < 0.5:  # undo: the entry comes back under a new id
                        undone = apply(ops.undo(outcome.undo))
                        if undone is not None:
                            own[undone.focus_id] = before
            elif kind == 6:
                if apply(ops.collect("tui-col", [target])) is not None and "tui-col" not in own[target]["collections"]:
                    own[target]["collections"].append("tui-col")
            else:
                apply(lambda lib: lib.search("tui change", limit=20))
    finally:
        access.close()
    queue.put(
        {
            "who": "tui",
            "errors": errors,
            "own": own,
            "shared_tags": shared_tags,
            "elapsed": time.perf_counter() - started,
        }
    )


_command: Any = None


def _cli(folder: str, *args: str) -> tuple[int, str, str]:
    """Run ``promptlib --library FOLDER ARGS`` in this process as `promptlib.cli.app.main` does (promptlib errors
    become one red line and their exit code), reusing the click command typer builds on every start."""
    global _command
    import typer

    from promptlib.cli import output
    from promptlib.cli.app import app
    from promptlib.textsafe import rich_text

    if _command is None:
        _command = typer.main.get_command(app)
    output._console = output._err_console = None
    output.STATE.library = None
    output.STATE.debug = False
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            _command.main(args=["--library", folder, *args], prog_name="promptlib")
        except PromptlibError as exc:
            output.err_console().print(rich_text(f"error: {exc}", style="bold red"))
            code = exc.exit_code
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def cli_writer(folder: str, changes: int, seed: int, scratch: str, queue: Any) -> None:
    """`changes` changes through the CLI: one ``promptlib`` command each (each opens the library)."""
    errors: list[str] = []
    own: dict[int, dict[str, Any]] = {}
    shared_tags: list[str] = []
    batches: list[int] = []
    rng = random.Random(seed)
    started = time.perf_counter()

    def cli(*args: str) -> str | None:
        try:
            code, out, err = _cli(folder, *args)
        except BaseException as exc:
            errors.append(f"cli crashed: {' '.join(args)}: {type(exc).__name__}: {exc} {traceback.format_exc()[-500:]}")
            return None
        if code != 0 or "locked" in err or "busy" in err:
            errors.append(f"cli {' '.join(args)}: exit {code}: {err.strip()[:300]}")
            return None
        return out

    for k in range(changes):
        kind = k % 8 if own else 0
        target = str(rng.choice(sorted(own))) if own else "0"
        if kind == 0:
            out = cli("add", f"cli change {k}", "--tag", "cli", "--json")
            if out is not None:
                _expect(own, json.loads(out)["id"], prompt=f"cli change {k}", tags=["cli"])
        elif kind == 1:
            rating = rng.randint(0, 5)
            if cli("rate", str(rating), target) is not None:
                own[int(target)]["rating"] = rating
        elif kind == 2:
            on = not own[int(target)]["favourite"]
            if cli("fav", target, *([] if on else ["--off"])) is not None:
                own[int(target)]["favourite"] = on
        elif kind == 3:
            if cli("edit", target, "--title", f"cli title {k}", "--steps", str(1 + k % 50)) is not None:
                own[int(target)].update(title=f"cli title {k}", steps=1 + k % 50)
        elif kind == 4:
            tag = f"cli{k}"
            if cli("tag", str(SHARED_IDS[(k // 8) % len(SHARED_IDS)]), "--add", tag) is not None:
                shared_tags.append(tag)
        elif kind == 5:
            if cli("rm", target, "--yes") is not None:
                own.pop(int(target))
        elif kind == 6:
            if cli("collect", "cli-col", target) is not None and "cli-col" not in own[int(target)]["collections"]:
                own[int(target)]["collections"].append("cli-col")
        else:
            path = Path(scratch) / f"batch-{k}.jsonl"
            path.write_text("".join(json.dumps({"prompt": f"cli batch {k} line {j}"}) + "\n" for j in range(BATCH)))
            if cli("import", str(path), "--json") is not None:
                batches.append(k)
    queue.put(
        {
            "who": "cli",
            "errors": errors,
            "own": own,
            "shared_tags": shared_tags,
            "batches": batches,
            "elapsed": time.perf_counter() - started,
        }
    )


def long_reader(folder: str, hold: float, queue: Any, stop: Any) -> None:
    """Read transactions held for `hold` seconds while the writers write: each sees one unchanging snapshot,
    and never part of a JSONL import (its entries appear all together)."""
    errors: list[str] = []
    transactions = reads = 0
    counts: list[int] = []
    wal_max = 0
    wal = Path(folder) / "library.db-wal"
    try:
        with Library.open(folder) as lib:
            conn = lib.db.conn
            while not stop.is_set():
                with lib.db.lock:
                    conn.execute("BEGIN")
                    first = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM prompts").fetchone()
                    until = time.monotonic() + hold
                    while time.monotonic() < until and not stop.is_set():
                        again = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM prompts").fetchone()
                        if again != first:
                            errors.append(f"reader: snapshot changed inside one transaction: {first} -> {again}")
                        torn = conn.execute(
                            "SELECT substr(prompt, 1, instr(substr(prompt, 11), ' ') + 10) AS batch, count(*)"
                            " FROM prompts WHERE prompt LIKE 'cli batch %' GROUP BY batch HAVING count(*) != ?",
                            (BATCH,),
                        ).fetchall()
                        if torn:
                            errors.append(f"reader: saw part of an import: {torn[:3]}")
                        reads += 1
                        wal_max = max(wal_max, wal.stat().st_size if wal.exists() else 0)
                        time.sleep(0.01)
                    conn.execute("COMMIT")
                transactions += 1
                counts.append(int(first[0]))
                lib.search("change -tui", limit=10)  # a reader outside a transaction, through the facade
                reads += 1
    except Exception as exc:
        errors.append(f"reader crashed: {type(exc).__name__}: {exc}")
    queue.put(
        {
            "who": "reader",
            "errors": errors,
            "transactions": transactions,
            "reads": reads,
            "counts": counts,
            "wal_max_bytes": wal_max,
        }
    )


def opener(folder: str, queue: Any) -> None:
    """Open (and so migrate) a library; report the backup this process made, if any."""
    try:
        with Library.open(folder) as lib:
            queue.put({"backup": str(lib.last_backup) if lib.last_backup else None, "count": lib.count()})
    except Exception as exc:
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def image_importer(folder: str, rounds: int, scratch: str, queue: Any) -> None:
    """Import a fresh folder of images `rounds` times (files first, then one transaction per batch)."""
    from tests.reliability.operations import infotext, png

    errors: list[str] = []
    with Library.open(folder) as lib:
        for r in range(rounds):
            batch = Path(scratch) / f"round-{r}"
            batch.mkdir()
            for n in range(8):
                number = 10_000 + r * 8 + n
                (batch / f"{n}.png").write_bytes(png(number, infotext=infotext(number, "race ")))
            summary = lib.import_paths([batch])
            errors.extend(f"import: {f['path']}: {f['reason']}" for f in summary.failed)
    queue.put({"who": "importer", "errors": errors})


def doctor_fixer(folder: str, queue: Any, stop: Any) -> None:
    """Run ``doctor --fix`` over and over while another process imports."""
    errors: list[str] = []
    runs = 0
    with Library.open(folder) as lib:
        while not stop.is_set():
            try:
                lib.doctor(fix=True)
            except PromptlibError as exc:
                errors.append(f"doctor: {exc}")
            runs += 1
    queue.put({"who": "doctor", "errors": errors, "runs": runs})


def reopener(folder: str, queue: Any, stop: Any) -> None:
    """Open and close the library over and over, as a stream of CLI commands would (each open sweeps temp files)."""
    errors: list[str] = []
    opens = 0
    while not stop.is_set():
        try:
            Library.open(folder).close()
        except PromptlibError as exc:
            errors.append(f"open: {exc}")
        opens += 1
    queue.put({"who": "reopener", "errors": errors, "runs": opens})
