"""Untrusted text on screen: no control sequences, no markup, and JSON that is still exact."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from promptlib.library import Library
from promptlib.search.dsl import QueryError
from promptlib.textsafe import rich_text, safe_json, safe_text

HOSTILE = "\x1b]0;owned\x07 \x1b[2J \x9b31m \u202eevil\u202c \x00 [bold]b[/] [link=http://x]y[/link] \r"


def test_control_and_bidi_characters_become_visible_escapes() -> None:
    out = safe_text(HOSTILE)
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and "\u202e" not in out and "\x00" not in out
    assert "\\x1b]0;owned\\x07" in out and "\\x9b" in out and "\\u202e" in out and "\\x0d" in out
    assert safe_text("line one\nline two\ttab") == "line one\nline two\ttab"
    assert safe_text("a\nb", one_line=True) == "a\\x0ab"


def test_rich_rendering_shows_markup_literally() -> None:
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(rich_text(HOSTILE))
    assert "[bold]b[/]" in buffer.getvalue() and "[link=http://x]y[/link]" in buffer.getvalue()
    assert "\x1b" not in buffer.getvalue()


@given(st.text())
def test_safe_json_round_trips_exactly_and_prints_no_controls(text: str) -> None:
    encoded = safe_json({"p": text})
    assert json.loads(encoded)["p"] == text
    assert not any(0x80 <= ord(c) <= 0x9F or c == "\x1b" for c in encoded)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_query_against_a_real_library_returns_results_or_a_query_error(text: str) -> None:
    lib = _shared_library()
    try:
        lib.search(text, limit=5)
        lib.count(text)
    except QueryError as exc:
        assert "\n" not in str(exc)


_LIB: list[Library] = []


def _shared_library() -> Library:
    if not _LIB:
        import tempfile

        lib = Library.open(tempfile.mkdtemp(prefix="promptlib-fuzz-"))
        lib.add("a lighthouse (masterpiece:1.2) [bold]", tags=["sea"], params={"steps": 20})
        lib.add("NEAR AND OR NOT * ^ \" '", negative_prompt="{title}:x")
        _LIB.append(lib)
    return _LIB[0]
