"""promptlib's own exception types. Each carries a one-line message a user can act on.

A message that tells how to lift a refusal names the switch the way its reader spells it: a Python caller passes
``overwrite=True``, a command-line user ``--force``. `Switch.error` builds such an error (`switch_error` when a
message names several); ``str(error)`` gives the Python wording and `PromptlibError.cli_message` the CLI's, which is
what the CLI prints. A message both readers can act on as it stands names no switch at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar


class PromptlibError(Exception):
    """Base class: the CLI prints `cli_message()` on one line and exits non-zero."""

    exit_code = 1

    def __init__(self, *args: object, cli: str | None = None) -> None:
        super().__init__(*args)
        self.cli = cli  # the message in the CLI's words, when it names a switch (see `Switch`)

    def __str__(self) -> str:
        text = super().__str__()
        return " ".join(text.split())  # one line, whatever the cause contained

    def cli_message(self) -> str:
        """The message as a command-line user reads it: options where ``str()`` names Python arguments."""
        return " ".join(self.cli.split()) if self.cli is not None else str(self)


class LibraryError(PromptlibError):
    """The library folder or database cannot be used (missing, read-only, corrupt, too new)."""


class NotFoundError(PromptlibError):
    """An id or name that does not exist."""

    exit_code = 4


class ValidationError(PromptlibError):
    """Input that breaks a rule: an empty prompt, a bad parameter value, an oversized field."""

    exit_code = 2


class QueryError(ValidationError):
    """A malformed search query; the message names the offending part."""


class FormatError(ValidationError):
    """A file that is not in the format it claims (or that we can read)."""


class UnsafeInputError(ValidationError):
    """Input refused for safety: path traversal, pickles, bombs, oversized files."""


E = TypeVar("E", bound=PromptlibError)


@dataclass(frozen=True)
class Switch:
    """A setting a message names, as a Python caller and as a command-line user spell it: an opt-in that lifts a
    refusal, or an argument the message asks for."""

    python: str  # the keyword argument, e.g. "overwrite=True"
    cli: str  # the option, e.g. "--force"

    def error(self, kind: type[E], say: Callable[[str], str]) -> E:
        """A `kind` error whose message is ``say(spelling)``: this switch's Python spelling in ``str()``, its CLI
        spelling in `PromptlibError.cli_message`."""
        return switch_error(kind, say, self)


def wordings(say: Callable[..., str], *switches: Switch) -> tuple[str, str]:
    """``say`` given the switches' Python spellings, then their CLI spellings: (the Python text, the CLI text)."""
    return say(*(s.python for s in switches)), say(*(s.cli for s in switches))


def switch_error(kind: type[E], say: Callable[..., str], *switches: Switch) -> E:
    """A `kind` error whose message, ``say(*spellings)``, names several switches (`Switch.error` for one)."""
    python, cli = wordings(say, *switches)
    return kind(python, cli=cli)


OVERWRITE = Switch("overwrite=True", "--force")
ALLOW_PICKLE = Switch("allow_pickle=True", "--allow-pickle")
ALLOW_DOWNLOAD = Switch("allow_download=True", "--allow-download")
REEMBED = Switch("`Library.rebuild_index(reembed=True)`", "`promptlib index rebuild --reembed`")
# `Library.search`'s image query, named by the library and by the semantic service
SEARCH_IMAGE = Switch("image=", "--image")
SEARCH_LIKE = Switch("like=", "--like")
