"""Reciprocal rank fusion and the query pieces hybrid search takes from the DSL (pure functions, no model)."""

from __future__ import annotations

import pytest

from promptlib.library import Library
from promptlib.search import dsl
from promptlib.search.hybrid import RRF_K, allowed_ids, fuse, only_semantic, query_text, restricts


def test_an_entry_in_both_lists_beats_one_in_a_single_list() -> None:
    fused = fuse([(1, 9.0), (2, 5.0)], [(3, 0.9, 30), (1, 0.8, 10)])
    assert [f.prompt_id for f in fused] == [1, 3, 2]
    first = fused[0]
    assert first.fused == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2), abs=1e-6)
    assert (first.lexical, first.semantic, first.render_id) == (9.0, 0.8, 10)
    assert fused[1].lexical is None and fused[2].semantic is None and fused[2].render_id is None


def test_ties_go_to_the_better_single_rank_then_the_word_match_then_the_lower_id() -> None:
    fused = fuse([(5, 1.0), (6, 0.5)], [(6, 0.9, None), (5, 0.8, None)])
    assert fused[0].fused == fused[1].fused and [f.prompt_id for f in fused] == [5, 6]
    # first in each list: the entry the words matched comes before the one that only looks alike
    assert [f.prompt_id for f in fuse([(8, 1.0)], [(7, 0.9, None)])] == [8, 7]
    assert [f.prompt_id for f in fuse([(8, 1.0), (9, 0.5)], [(7, 0.9, None), (9, 0.8, None)])] == [9, 8, 7]


def test_repeated_ids_count_once_at_their_best_rank() -> None:
    fused = fuse([], [(4, 0.9, 40), (4, 0.7, 41), (2, 0.6, 20)])
    assert [(f.prompt_id, f.render_id) for f in fused] == [(4, 40), (2, 20)]
    assert [f.fused for f in only_semantic([(4, 0.9, 40), (4, 0.7, 41)])] == [0.9]


def test_words_reach_the_text_encoder_and_filters_restrict() -> None:
    query = dsl.parse('foggy "oil painting" -people tag:sea lighthouse OR beacon steps:>20')
    assert query_text(query) == "foggy oil painting lighthouse or beacon"
    assert restricts(query) and restricts(dsl.parse("fox -blurry")) and not restricts(dsl.parse("red fox"))


def test_allowed_ids_follow_the_lexical_filters(lib: Library) -> None:
    a = lib.add("a red fox", tags=["animal"], params={"steps": 30})
    b = lib.add("a blue fox, blurry", tags=["animal"], params={"steps": 10})
    c = lib.add("a castle", params={"steps": 30})
    with lib.db.lock:
        conn = lib.db.conn
        assert allowed_ids(conn, dsl.parse("fox"), kind="prompt") is None
        assert allowed_ids(conn, dsl.parse("tag:animal"), kind="prompt").tolist() == [a.id, b.id]  # type: ignore[union-attr]
        assert allowed_ids(conn, dsl.parse("steps:>=20"), kind="prompt").tolist() == [a.id, c.id]  # type: ignore[union-attr]
        assert allowed_ids(conn, dsl.parse("x -blurry -tag:animal"), kind="prompt").tolist() == [c.id]  # type: ignore[union-attr]
        assert allowed_ids(conn, dsl.parse("tag:animal"), kind="image").tolist() == []  # type: ignore[union-attr]
