"""promptlib's own exception types. Each carries a one-line message a user can act on."""

from __future__ import annotations


class PromptlibError(Exception):
    """Base class: the CLI prints ``str(error)`` on one line and exits non-zero."""

    exit_code = 1

    def __str__(self) -> str:
        text = super().__str__()
        return " ".join(text.split())  # one line, whatever the cause contained


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
