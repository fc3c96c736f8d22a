"""The search query language: text → AST. Pure Python, no database.

    foggy harbour "oil painting" -people  tag:landscape  sampler:"Euler a"  steps:20-30  cfg:>=7
    size:512x768  rating:>=4  fav:yes  has:image  title:castle  neg:blurry  lighthouse OR beacon  cyber*

Words are ANDed; ``OR`` between two words or phrases makes them alternatives; ``-`` negates any clause; a trailing
``*`` matches a prefix. ``field:value`` restricts by a field; quote values with spaces. Anything malformed raises
`QueryError` naming the offending part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from promptlib.errors import QueryError
from promptlib.limits import MAX_QUERY_CHARS

# Fields matched in the FTS index (a column filter) rather than as SQL filters.
TEXT_FIELDS = {"title": "title", "prompt": "prompt", "neg": "negative_prompt", "notes": "notes"}
NUMERIC_FIELDS = {"steps", "cfg", "seed", "width", "height", "rating", "id", "clip_skip"}
STRING_FIELDS = {"tag", "pack", "model", "sampler", "schedule", "vae", "lora", "collection"}
FLAG_FIELDS = {"fav", "has"}
SIZE_FIELDS = {"size"}
FIELDS = frozenset(TEXT_FIELDS) | NUMERIC_FIELDS | STRING_FIELDS | FLAG_FIELDS | SIZE_FIELDS
ALIASES = {"cfg_scale": "cfg", "favourite": "fav", "favorite": "fav", "negative": "neg", "tags": "tag"}
HAS_VALUES = ("image", "negative", "notes", "params", "lora", "rating", "title")
_YES = {"yes", "true", "1", "y", "on"}
_NO = {"no", "false", "0", "n", "off"}


@dataclass(frozen=True)
class Term:
    """A word or phrase to find in the text index."""

    text: str
    phrase: bool = False
    prefix: bool = False
    column: str | None = None  # an FTS column name, or None for all columns


@dataclass(frozen=True)
class AnyOf:
    """Terms joined by OR."""

    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Range:
    """A numeric condition: ``low <= x <= high`` with either side open; `exclusive_*` for ``<``/``>``."""

    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    high_exclusive: bool = False


@dataclass(frozen=True)
class Filter:
    """A ``field:value`` condition. `value` is a str, a bool, a `Range` or a ``(width, height)`` pair."""

    name: str
    value: str | bool | Range | tuple[int, int]


@dataclass(frozen=True)
class Clause:
    node: Term | AnyOf | Filter
    negated: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed query: text clauses go to FTS5, filter clauses to SQL."""

    clauses: tuple[Clause, ...] = field(default_factory=tuple)

    @property
    def text(self) -> list[Clause]:
        return [c for c in self.clauses if not isinstance(c.node, Filter)]

    @property
    def filters(self) -> list[Clause]:
        return [c for c in self.clauses if isinstance(c.node, Filter)]

    @property
    def positive_text(self) -> list[Clause]:
        return [c for c in self.text if not c.negated]

    @property
    def is_empty(self) -> bool:
        return not self.clauses


_TOKEN = re.compile(
    r"""
    (?P<neg>-)?
    (?:(?P<field>[A-Za-z_]+):)?
    (?:"(?P<quoted>(?:[^"\\]|\\.)*)(?P<closed>")?|(?P<bare>[^\s"]+))?
    """,
    re.VERBOSE,
)
_WORDLIKE = re.compile(r"\w", re.UNICODE)
_NUMBER = r"\d+(?:\.\d+)?"
_RANGE = re.compile(rf"^(?P<low>{_NUMBER})?(?:-|\.\.)(?P<high>{_NUMBER})?$")
_COMPARE = re.compile(rf"^(?P<op>>=|<=|>|<|=)?(?P<num>{_NUMBER})$")
_SIZE = re.compile(r"^(\d{1,5})[x×*](\d{1,5})$", re.IGNORECASE)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse(query: str) -> Query:
    """Parse a query string into a `Query`; raises QueryError naming the problem."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"query is {len(query):,} characters; the limit is {MAX_QUERY_CHARS:,}")
    if "\x00" in query:
        raise QueryError("query contains a NUL character")
    clauses: list[Clause] = []
    pending_or = False
    pos = 0
    while pos < len(query):
        if query[pos].isspace():
            pos += 1
            continue
        match = _TOKEN.match(query, pos)
        assert match is not None  # the pattern matches the empty string
        raw = match.group(0)
        if not raw:  # a lone quote or similar: the pattern could not consume it
            raise QueryError(f"unexpected {query[pos]!r} at position {pos + 1}")
        pos = match.end()
        if match.group("quoted") is not None and not match.group("closed"):
            raise QueryError(f"unclosed quote in {raw!r}")
        if raw == "OR" and not match.group("field"):
            if not clauses or pending_or:
                raise QueryError("OR must stand between two words or phrases")
            pending_or = True
            continue
        clause = _clause(match, raw)
        if clause is None:
            continue
        if pending_or:
            clauses[-1] = _join_or(clauses[-1], clause)
            pending_or = False
        else:
            clauses.append(clause)
    if pending_or:
        raise QueryError("OR must stand between two words or phrases")
    return Query(tuple(clauses))


def _join_or(left: Clause, right: Clause) -> Clause:
    def terms(c: Clause) -> tuple[Term, ...]:
        if c.negated or isinstance(c.node, Filter):
            raise QueryError("OR joins words and phrases only, not filters or negated terms")
        return c.node.terms if isinstance(c.node, AnyOf) else (c.node,)

    return Clause(AnyOf(terms(left) + terms(right)))


def _clause(match: re.Match[str], raw: str) -> Clause | None:
    negated = bool(match.group("neg"))
    name = match.group("field")
    quoted = match.group("quoted")
    value = _unescape(quoted) if quoted is not None else (match.group("bare") or "")
    if name is None:
        if not value:
            if negated:
                raise QueryError("a lone '-' negates nothing: write -word")
            return None
        return _text_clause(value, phrase=quoted is not None, negated=negated, column=None)
    key = ALIASES.get(name.lower(), name.lower())
    if key not in FIELDS:
        known = ", ".join(sorted(FIELDS))
        raise QueryError(
            f"unknown field '{name}:' (known fields: {known}); to search for the text, quote it: \"{raw.lstrip('-')}\""
        )
    if not value:
        raise QueryError(f"'{name}:' needs a value, e.g. {name}:something")
    if key in TEXT_FIELDS:
        return _text_clause(value, phrase=quoted is not None, negated=negated, column=TEXT_FIELDS[key])
    return Clause(Filter(key, _filter_value(key, value)), negated=negated)


def _text_clause(value: str, *, phrase: bool, negated: bool, column: str | None) -> Clause | None:
    prefix = value.endswith("*") and not phrase
    text = value.rstrip("*") if prefix else value
    if not _WORDLIKE.search(text):
        return None  # punctuation only: nothing the index could match
    return Clause(Term(text, phrase=phrase, prefix=prefix, column=column), negated=negated)


def _filter_value(key: str, value: str) -> str | bool | Range | tuple[int, int]:
    if key in NUMERIC_FIELDS:
        return _parse_range(key, value)
    if key == "size":
        size = _SIZE.match(value.strip())
        if not size:
            raise QueryError(f"size:{value} is not WIDTHxHEIGHT, e.g. size:512x768")
        return int(size.group(1)), int(size.group(2))
    if key == "fav":
        low = value.lower()
        if low in _YES:
            return True
        if low in _NO:
            return False
        raise QueryError(f"fav:{value} must be yes or no")
    if key == "has":
        low = value.lower()
        if low not in HAS_VALUES:
            raise QueryError(f"has:{value} is unknown (one of: {', '.join(HAS_VALUES)})")
        return low
    return value


def _number(text: str) -> float:
    """A whole number stays an int: a float has 53 bits, and `seed:1234567890123456789` must find that seed."""
    if "." in text:
        return float(text)
    whole = int(text)
    return whole if whole < 2**64 else float(whole)  # past any seed: a float's precision is as good


def _parse_range(key: str, value: str) -> Range:
    text = value.strip()
    compare = _COMPARE.match(text)
    if compare:
        number = _number(compare.group("num"))
        op = compare.group("op") or "="
        return {
            "=": Range(number, number),
            ">=": Range(low=number),
            ">": Range(low=number, low_exclusive=True),
            "<=": Range(high=number),
            "<": Range(high=number, high_exclusive=True),
        }[op]
    span = _RANGE.match(text)
    if span and (span.group("low") or span.group("high")):
        low = _number(span.group("low")) if span.group("low") else None
        high = _number(span.group("high")) if span.group("high") else None
        if low is not None and high is not None and low > high:
            raise QueryError(f"{key}:{value} is an empty range (low > high)")
        return Range(low, high)
    raise QueryError(f"{key}:{value} is not a number or range (try {key}:20, {key}:20-30 or {key}:>=7)")


# --- FTS5 compilation -------------------------------------------------------------------------------------------


def fts_term(term: Term) -> str:
    """One term as a safe FTS5 expression: always a quoted string, so no user character is FTS syntax."""
    quoted = '"' + term.text.replace('"', '""') + '"'
    if term.prefix:
        quoted += " *"
    if term.column:
        quoted = f"{{{term.column}}} : {quoted}"
    return quoted


def fts_node(node: Term | AnyOf) -> str:
    if isinstance(node, AnyOf):
        return "(" + " OR ".join(fts_term(t) for t in node.terms) + ")"
    return fts_term(node)


def fts_match(query: Query) -> str | None:
    """The MATCH expression for the positive text clauses (negations included), or None when there are none."""
    positive = [fts_node(c.node) for c in query.text if not c.negated and not isinstance(c.node, Filter)]
    if not positive:
        return None
    expr = " AND ".join(positive)
    negative = fts_negative(query)
    return f"({expr}) NOT ({negative})" if negative else expr


def fts_negative(query: Query) -> str | None:
    """The OR of all negated text clauses, or None."""
    negative = [fts_node(c.node) for c in query.text if c.negated and not isinstance(c.node, Filter)]
    return " OR ".join(negative) if negative else None
