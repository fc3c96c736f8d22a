"""The query language: parsing, errors that name the problem, and FTS5 expressions that are always valid."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptlib.errors import QueryError
from promptlib.search.dsl import AnyOf, Filter, Range, Term, fts_match, parse


def test_words_phrases_negation_and_fields_parse_into_clauses() -> None:
    q = parse('foggy "oil painting" -people tag:landscape sampler:"Euler a" steps:20-30 cfg:>=7')
    assert [c.node for c in q.text] == [Term("foggy"), Term("oil painting", phrase=True), Term("people")]
    assert [c.negated for c in q.text] == [False, False, True]
    assert [c.node for c in q.filters] == [
        Filter("tag", "landscape"),
        Filter("sampler", "Euler a"),
        Filter("steps", Range(20, 30)),
        Filter("cfg", Range(low=7)),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steps:20", Range(20, 20)),
        ("steps:>20", Range(low=20, low_exclusive=True)),
        ("steps:<=30", Range(high=30)),
        ("steps:20..", Range(low=20)),
        ("cfg:6.5-8", Range(6.5, 8)),
    ],
)
def test_numeric_ranges(text: str, expected: Range) -> None:
    assert parse(text).filters[0].node == Filter(text.split(":")[0], expected)


def test_size_fav_has_and_aliases() -> None:
    nodes = [c.node for c in parse("size:512x768 favourite:yes has:image cfg_scale:7").filters]
    assert nodes == [
        Filter("size", (512, 768)),
        Filter("fav", True),
        Filter("has", "image"),
        Filter("cfg", Range(7, 7)),
    ]


def test_or_groups_words_and_column_fields_target_fts_columns() -> None:
    q = parse("lighthouse OR beacon title:castle neg:blurry cyber*")
    assert q.text[0].node == AnyOf((Term("lighthouse"), Term("beacon")))
    assert fts_match(q) == (
        '("lighthouse" OR "beacon") AND {title} : "castle" AND {negative_prompt} : "blurry" AND "cyber" *'
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("foo:bar", "unknown field 'foo:'"),
        ("steps:abc", "steps:abc is not a number"),
        ("steps:30-20", "empty range"),
        ('"unclosed', "unclosed quote"),
        ("OR cat", "OR must stand between"),
        ("cat OR", "OR must stand between"),
        ("cat OR tag:x", "OR joins words and phrases only"),
        ("size:big", "size:big is not WIDTHxHEIGHT"),
        ("fav:maybe", "fav:maybe must be yes or no"),
        ("has:dragons", "has:dragons is unknown"),
        ("tag:", "'tag:' needs a value"),
        ("x" * 3000, "the limit is 2,000"),
        ("cat\x00", "NUL"),
    ],
)
def test_malformed_queries_raise_one_line_errors_naming_the_problem(query: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_fts_syntax_typed_by_users_is_escaped() -> None:
    q = parse(r'NEAR(a b) AND* {x} ^start "say \"hi\""')
    assert fts_match(q) == '"NEAR(a" AND "b)" AND "AND" * AND "{x}" AND "^start" AND "say ""hi"""'


def test_punctuation_only_terms_are_dropped() -> None:
    assert parse("(( ,, ))").is_empty


_fts = sqlite3.connect(":memory:")
_fts.execute("CREATE VIRTUAL TABLE t USING fts5(title, prompt, negative_prompt, tag_text, notes)")
_fts.execute("INSERT INTO t VALUES ('a', 'b', 'c', 'd', 'e')")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=80))
def test_any_text_parses_to_a_valid_fts_query_or_a_query_error(text: str) -> None:
    try:
        query = parse(text)
    except QueryError:
        return
    match = fts_match(query)
    if match is not None:
        _fts.execute("SELECT rowid FROM t WHERE t MATCH ?", (match,)).fetchall()  # must not raise
