"""Lexical search over a real library: filters, negation, ranking, sorting and the bounded ranking window."""

from __future__ import annotations

import pytest

from promptlib.errors import QueryError
from promptlib.library import Library
from promptlib.search import dsl, lexical


@pytest.fixture
def corpus(lib: Library) -> dict[str, int]:
    ids = {
        "harbour": lib.add(
            "foggy harbour at dawn, fishing boats, oil painting",
            title="Harbour",
            tags=["landscape", "sea"],
            params={"steps": 25, "cfg_scale": 7, "sampler": "DPM++ 2M Karras", "width": 768, "height": 512,
                    "seed": 123, "model": "sd_xl_base_1.0", "loras": [{"name": "detail-tweaker", "weight": 0.6}]},
            rating=5,
            favourite=True,
        ).id,
        "portrait": lib.add(
            "studio portrait of an old fisherman, rembrandt lighting",
            negative_prompt="blurry, deformed hands",
            tags=["portrait"],
            params={"steps": 40, "cfg_scale": 5.5, "sampler": "Euler a", "width": 512, "height": 768},
            rating=3,
        ).id,
        "castle": lib.add(
            "castle on a cliff above a foggy sea, matte painting",
            title="Cliff castle",
            notes="works well with a harbour below",
            tags=["fantasy"],
            params={"steps": 30, "cfg_scale": 8, "sampler": "DPM++ 2M"},
        ).id,
        "fox": lib.add("a red fox in snow", negative_prompt="foggy", tags=["animals"]).id,
    }  # fmt: skip
    lib.add_image(ids["portrait"], __import__("tests.test_library", fromlist=["png_bytes"]).png_bytes())
    return ids


def ids_for(lib: Library, query: str, **kwargs: object) -> list[int]:
    return [h.entry.id for h in lib.search(query, **kwargs).hits]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tag:landscape", ["harbour"]),
        ("tag:LANDSCAPE", ["harbour"]),
        ("-tag:landscape", ["fox", "castle", "portrait"]),
        ("steps:20-30", ["castle", "harbour"]),
        ("steps:>30", ["portrait"]),
        ("cfg:>=7", ["castle", "harbour"]),
        ("cfg:<6", ["portrait"]),
        ("seed:123", ["harbour"]),
        ("size:512x768", ["portrait"]),
        ("rating:>=4", ["harbour"]),
        ("fav:yes", ["harbour"]),
        ("fav:no", ["fox", "castle", "portrait"]),
        ("has:image", ["portrait"]),
        ("-has:image", ["fox", "castle", "harbour"]),
        ("has:negative", ["fox", "portrait"]),
        ("has:lora", ["harbour"]),
        ('sampler:"Euler a"', ["portrait"]),
        ('sampler:"DPM++ 2M Karras"', ["harbour"]),  # folded schedule narrows
        ("sampler:dpmpp_2m", ["castle", "harbour"]),  # ComfyUI spelling
        ("schedule:karras", ["harbour"]),
        ("model:sdxl", []),
        ("model:xl_base", ["harbour"]),
        ("lora:detail", ["harbour"]),
        ("title:castle", ["castle"]),
        ("neg:deformed", ["portrait"]),
        ("notes:harbour", ["castle"]),
        ("-foggy", ["portrait"]),  # the fox's *negative* prompt mentions fog
    ],
)
def test_filters_select_exactly_the_matching_entries(
    lib: Library, corpus: dict[str, int], query: str, expected: list[str]
) -> None:
    got = set(ids_for(lib, query))
    assert got == {corpus[name] for name in expected}


def test_bm25_ranks_title_and_prompt_matches_above_negative_prompt_matches(
    lib: Library, corpus: dict[str, int]
) -> None:
    ranked = ids_for(lib, "foggy")
    assert set(ranked) == {corpus["harbour"], corpus["castle"], corpus["fox"]}
    assert ranked[-1] == corpus["fox"]  # only in its negative prompt
    assert ids_for(lib, "harbour")[0] == corpus["harbour"]  # title + prompt beat a note


def test_words_are_anded_phrases_exact_or_and_prefix(lib: Library, corpus: dict[str, int]) -> None:
    assert ids_for(lib, "foggy painting") == ids_for(lib, "painting foggy")
    assert set(ids_for(lib, "foggy painting")) == {corpus["harbour"], corpus["castle"]}
    assert ids_for(lib, '"oil painting"') == [corpus["harbour"]]
    assert set(ids_for(lib, "fisherman OR castle")) == {corpus["portrait"], corpus["castle"]}
    assert set(ids_for(lib, "fish*")) == {corpus["harbour"], corpus["portrait"]}
    assert ids_for(lib, "foggy -castle tag:landscape") == [corpus["harbour"]]


def test_scores_are_positive_and_descending(lib: Library, corpus: dict[str, int]) -> None:
    scores = [h.score for h in lib.search("foggy").hits]
    assert all(s > 0 for s in scores) and scores == sorted(scores, reverse=True)


def test_sort_orders_and_paging(lib: Library, corpus: dict[str, int]) -> None:
    newest = ids_for(lib, "", sort="new")
    assert newest == sorted(corpus.values(), reverse=True)
    assert ids_for(lib, "", sort="old") == sorted(corpus.values())
    assert ids_for(lib, "", sort="rating")[:2] == [corpus["harbour"], corpus["portrait"]]
    assert ids_for(lib, "", sort="title")[:2] == [corpus["castle"], corpus["harbour"]]  # untitled ones last
    assert ids_for(lib, "", sort="new", limit=2, offset=1) == newest[1:3]
    with pytest.raises(QueryError, match="unknown sort"):
        lib.search("x", sort="sideways")


def test_bounded_window_ranks_the_newest_matches_and_says_so(lib: Library) -> None:
    lib.add_many(lib.prepare_entry(f"common word number {n}" + (" common" * (n % 3))) for n in range(50))
    parsed = dsl.parse("common")
    exact = lexical.search(lib.db.conn, parsed, limit=50, window=1000)
    bounded = lexical.search(lib.db.conn, parsed, limit=50, window=10)
    assert not exact.truncated and len(exact.hits) == 50
    assert bounded.truncated and len(bounded.hits) == 10
    assert {pid for pid, _ in bounded.hits} == set(range(41, 51))  # the newest ten


def test_fts_operators_in_user_text_are_searched_as_words(lib: Library, corpus: dict[str, int]) -> None:
    odd = lib.add("an odd NEAR(foggy) AND OR NOT prompt with {title}:x and (masterpiece:1.2)").id
    for query in ["NEAR(foggy", "AND OR NOT", "{title}:x", "(masterpiece:1.2)", '"masterpiece:1.2"']:
        assert ids_for(lib, query) == [odd], query
    assert set(ids_for(lib, "foggy*")) == {corpus["harbour"], corpus["castle"], corpus["fox"], odd}


@pytest.mark.parametrize("rare_tag_limit", [1, 10_000])
def test_tag_filters_agree_whichever_strategy_is_used(
    lib: Library, corpus: dict[str, int], monkeypatch: pytest.MonkeyPatch, rare_tag_limit: int
) -> None:
    monkeypatch.setattr(lexical, "RARE_TAG", rare_tag_limit)  # 1: per-row lookup; 10,000: listed ids
    assert set(ids_for(lib, "tag:portrait")) == {corpus["portrait"]}
    assert set(ids_for(lib, "tag:s*")) == {corpus["harbour"]}  # "sea"
    assert set(ids_for(lib, "foggy -tag:fantasy")) == {corpus["harbour"], corpus["fox"]}
    assert ids_for(lib, "tag:no-such-tag") == []
    assert set(ids_for(lib, "-tag:no-such-tag")) == set(corpus.values())
    assert lib.count("foggy -tag:fantasy") == 2
