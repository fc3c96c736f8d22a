"""The ``promptlib`` command: global options, command registration and error handling.

Only typer is imported here; each command imports the library code it needs when it runs, so ``promptlib --help``
starts fast and never loads torch, diffusers, open_clip, faiss or textual.
"""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer

try:  # typer vendors click from 0.2x on; its exceptions are that copy's
    from typer._click import exceptions as click
except ImportError:  # pragma: no cover - older typer on the real click
    from click import exceptions as click  # type: ignore[no-redef]

from promptlib import __version__
from promptlib.cli import bench, bench_search, db, entries, index, library, models, packs, render, search, styles
from promptlib.cli.output import STATE

app = typer.Typer(
    name="promptlib",
    help=(
        "A local-first prompt library for Stable Diffusion: store, search, import and rerun prompts.\n\n"
        "Examples:\n\n"
        "\b\n"
        "  promptlib init                    create the library with the starter pack\n"
        "  promptlib search 'foggy harbour tag:landscape steps:20-30'\n"
        "  promptlib add 'a red fox in snow' -n 'blurry' --tag animals --steps 30\n"
        "  promptlib show 12 --json\n"
        "  promptlib export foxes.zip --query 'tag:animals' --json\n\n"
        "The same option means the same in every command: --json prints one JSON document on stdout (notes and"
        " errors go to stderr), -q is --quiet, -k is --limit, -y is --yes. A query (the language `promptlib search"
        " -h` describes) is the QUERY argument of search, list and render, and --query in export."
    ),
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"promptlib {__version__}\n")
        raise typer.Exit()


@app.callback()
def main_options(
    library_path: Annotated[
        str | None,
        typer.Option(
            "--library",
            "-L",
            metavar="DIR",
            help="Library folder (default: $PROMPTLIB_HOME, else the platform's data folder).",
            envvar="PROMPTLIB_HOME",
            show_envvar=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    if library_path is not None and not library_path.strip():  # `-L "$UNSET"` must not open the default library
        raise typer.BadParameter(
            "needs a folder, not an empty path", param_hint="'--library' / '-L' (or $PROMPTLIB_HOME)"
        )
    STATE.library = library_path
    STATE.debug = debug


for module in (library, entries, search, index, packs, styles, db, bench, bench_search, render, models):
    module.register(app)


def main() -> None:
    """Console-script entry point: promptlib errors become one red line and a non-zero exit."""
    from promptlib.errors import PromptlibError

    try:
        # prog_name: click would otherwise name the program after `python -m ...` (python -m promptlib, or pytest)
        code = app(standalone_mode=False, prog_name="promptlib")  # typer.Exit's code (Ctrl-C: 130), else None
    except click.NoArgsIsHelpError as exc:  # a command group run bare: its help, as click would show it
        sys.stdout.write(exc.ctx.get_help() + "\n" if exc.ctx is not None else exc.format_message() + "\n")
        sys.exit(2)
    except click.UsageError as exc:
        _usage_error(exc)
    except typer.Abort:  # Ctrl-C or end of input at a confirmation prompt
        sys.stderr.write("aborted\n")
        sys.exit(1)
    except click.ClickException as exc:
        _one_line(f"error: {exc.format_message()}")
        sys.exit(exc.exit_code)
    except PromptlibError as exc:
        if STATE.debug:
            raise
        from promptlib.cli.output import err_console
        from promptlib.textsafe import rich_text

        err_console().print(rich_text(f"error: {exc.cli_message()}", style="bold red"))
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        if STATE.debug:
            raise
        sys.stderr.write(f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)\n")
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(text: str) -> None:
    from promptlib.cli.output import err_console
    from promptlib.textsafe import rich_text

    err_console().print(rich_text(" ".join(text.split()), style="bold red"))


# Commands whose argument is a search query, which may start with "-" (a negated clause: -tag:nsfw).
QUERY_COMMANDS = ("search", "list", "render")
# Short flags that used to mean something else: -q is --quiet everywhere (it was --query in export, --queries in
# bench search); a script still passing them gets the new spelling in the error.
RETIRED_SHORT_FLAGS = {("promptlib export", "-q"): "--query", ("promptlib bench search", "-q"): "--queries"}


def _usage_error(exc: click.UsageError) -> NoReturn:
    """A usage error as one line: the problem, then where the help is (click prints four lines)."""
    ctx = exc.ctx
    message = exc.format_message()
    hint = f"see '{ctx.command_path} -h'" if ctx is not None else "see 'promptlib -h'"
    command = ctx.info_name if ctx is not None else None
    retired = RETIRED_SHORT_FLAGS.get((ctx.command_path if ctx is not None else "", getattr(exc, "option_name", "")))
    if isinstance(exc, click.NoSuchOption) and retired:
        hint = f"-q means --quiet in promptlib; here use {retired}; " + hint
    elif isinstance(exc, click.NoSuchOption) and command in QUERY_COMMANDS and not exc.option_name.startswith("--"):
        hint = f"a query that starts with '-' goes after '--', as in: promptlib {command} -- -tag:nsfw; " + hint
    _one_line(f"error: {message} ({hint})")
    sys.exit(exc.exit_code)
