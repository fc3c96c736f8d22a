"""Semantic and hybrid search through `Library` and the CLI, with the tiny CLIP trained in this session."""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("open_clip")

from PIL import Image

from promptlib.errors import NotFoundError, QueryError, ValidationError
from promptlib.library import Library
from promptlib.search.hybrid import HybridHit

from .helpers import COMBOS, TinyModel, add_drawn, caption, draw, embedding_config, open_library, png

pytestmark = pytest.mark.usefixtures("torch_one_thread")


class Gallery:
    """A library of two freshly drawn images per caption (none seen in training), indexed once."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib
        self.combo_of: dict[int, tuple[str, str, str]] = {}  # render id → what it shows
        self.entry_of: dict[int, int] = {}
        rng = random.Random(2024)
        for n, combo in enumerate(COMBOS * 2):
            tags = ["dark"] if combo[2] == "black" else ["light"]
            entry_id, render_id = add_drawn(lib, combo, rng, prompt=f"sample {n}", tags=tags)
            self.combo_of[render_id] = combo
            self.entry_of[render_id] = entry_id
        lib.rate(list(self.entry_of.values())[:12], 5)
        self.report = lib.build_index()


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory, tiny_clip: TinyModel) -> Iterator[Gallery]:
    lib = open_library(tmp_path_factory.mktemp("gallery"), tiny_clip)
    yield Gallery(lib)
    lib.close()


def test_build_embeds_every_render_and_prompt(gallery: Gallery) -> None:
    report = gallery.report
    assert report.embedded == {"image": 48, "prompt": 48} and report.indexed == {"image": 48, "prompt": 48}
    assert report.dim == 32 and report.failed == []
    status = gallery.lib.index_status()
    assert [(k.kind, k.embedded, k.state) for k in status.kinds] == [("image", 48, "fresh"), ("prompt", 48, "fresh")]


def test_text_to_image_top1_accuracy_on_held_out_images(gallery: Gallery) -> None:
    correct = 0
    for combo in COMBOS:
        hit = gallery.lib.search(caption(*combo), mode="semantic", limit=1).hits[0]
        assert isinstance(hit, HybridHit) and hit.render_id is not None
        correct += gallery.combo_of[hit.render_id] == combo
    assert correct / len(COMBOS) >= 0.9


def test_exact_and_resized_copies_of_an_image_rank_first(gallery: Gallery) -> None:
    target = next(iter(gallery.combo_of))
    stored = gallery.lib.image_path(gallery.lib.get_render(target))
    exact = gallery.lib.search_image(stored, limit=3)
    assert exact.hits[0].render_id == target  # type: ignore[attr-defined]
    assert exact.hits[0].scores["semantic"] == pytest.approx(1.0, abs=1e-4)
    with Image.open(stored) as original:
        for size in ((128, 128), (48, 48)):
            buf = io.BytesIO()
            original.resize(size, Image.Resampling.LANCZOS).save(buf, format="PNG")
            hits = gallery.lib.search_image(buf.getvalue(), limit=3).hits
            assert hits[0].render_id == target  # type: ignore[attr-defined]
            assert hits[0].scores["semantic"] > hits[1].scores["semantic"]


def test_like_finds_the_same_picture_and_leaves_the_render_itself_out(gallery: Gallery) -> None:
    target, combo = next(iter(gallery.combo_of.items()))
    hits = gallery.lib.similar(target, limit=5).hits
    assert target not in [h.render_id for h in hits]  # type: ignore[attr-defined]
    assert gallery.combo_of[hits[0].render_id] == combo  # type: ignore[attr-defined]


def test_filters_restrict_the_vector_side(gallery: Gallery) -> None:
    lib = gallery.lib
    for query, check in (
        ("a red circle on black tag:light", lambda e: "light" in e.tags),
        ("a red circle on black -tag:dark", lambda e: "dark" not in e.tags),
        ("a red circle on black rating:>=4", lambda e: e.rating == 5),
    ):
        for mode in ("semantic", "hybrid"):
            hits = lib.search(query, mode=mode, limit=50).hits
            assert hits and all(check(h.entry) for h in hits), (query, mode)
    # a filter nothing matches leaves nothing, rather than unfiltered neighbours
    assert lib.search("a red circle on black tag:nothing-has-this", mode="semantic").hits == []
    assert len(lib.search("a red circle on black rating:>=4", mode="semantic", limit=50).hits) == 12


def test_hybrid_fuses_both_lists_with_per_source_scores(gallery: Gallery) -> None:
    lib = gallery.lib
    # "sample 7" matches one prompt lexically (and words "sample" in all): it must lead the fused list
    result = lib.search('"sample 7"', mode="hybrid", limit=10)
    semantic_order = [h.entry.id for h in lib.search('"sample 7"', mode="semantic", limit=48).hits]
    first = result.hits[0]
    assert first.entry.prompt == "sample 7"
    assert first.scores["lexical"] is not None and first.scores["semantic"] is not None
    rank = semantic_order.index(first.entry.id) + 1
    assert first.scores["fused"] == pytest.approx(1 / 61 + 1 / (60 + rank), abs=1e-6)  # reciprocal rank fusion
    rest = result.hits[1:]
    assert rest and all(h.scores["lexical"] is None and h.scores["semantic"] is not None for h in rest)
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_auto_mode_is_hybrid_with_an_index_and_lexical_without(gallery: Gallery, lib: Library) -> None:
    assert getattr(gallery.lib.search("a blue square on white"), "mode", "lexical") == "hybrid"
    assert getattr(gallery.lib.search("tag:dark"), "mode", "lexical") == "lexical"  # no words to embed
    lib.add("a blue square")
    result = lib.search("blue square")
    assert getattr(result, "mode", "lexical") == "lexical" and result.hits[0].scores == {
        "lexical": result.hits[0].score
    }


def test_prompt_to_prompt_similarity(slib: Library) -> None:
    ids = {c: slib.add(caption(*c)).id for c in COMBOS}
    slib.build_index(kinds=["prompt"])
    found = slib.similar_prompts("(a yellow triangle:1.3) on white", limit=3)
    assert found.hits[0].entry.id == ids[("triangle", "yellow", "white")]
    by_id = slib.similar_prompts(ids[("circle", "red", "black")], limit=3).hits
    assert ids[("circle", "red", "black")] not in [h.entry.id for h in by_id]
    cli_like = slib.search("", similar_prompts=True, like=ids[("square", "green", "black")], limit=1)
    assert cli_like.hits[0].entry.id != ids[("square", "green", "black")]


def test_sorting_a_fused_ranking(gallery: Gallery) -> None:
    ranked = gallery.lib.search("a green square on white", mode="semantic", limit=10)
    newest = gallery.lib.search("a green square on white", mode="semantic", limit=10, sort="new")
    ids = [h.entry.id for h in newest.hits]
    assert ids == sorted(ids, reverse=True)
    assert ranked.hits and newest.hits


def test_bad_queries_are_clear_errors(gallery: Gallery, tmp_path: Path) -> None:
    lib = gallery.lib
    with pytest.raises(ValidationError, match="unknown search mode"):
        lib.search("fox", mode="psychic")
    with pytest.raises(QueryError, match=r"needs words, an image \(image=\) or a render \(like=\)") as info:
        lib.search("tag:dark", mode="semantic")
    assert info.value.cli_message().endswith("an image (--image) or a render (--like)")  # what the CLI prints
    with pytest.raises(ValidationError, match="need mode='semantic' or mode='hybrid'"):
        lib.search("fox", mode="lexical", like=1)
    with pytest.raises(NotFoundError, match="no render with id 999999"):
        lib.similar(999_999)
    with pytest.raises(ValidationError, match="not a readable image"):
        lib.search_image(b"%PDF-1.4 not an image")
    with pytest.raises(NotFoundError, match="no such file"):
        lib.search_image(tmp_path / "nope.png")
    with pytest.raises(ValidationError, match="is a folder"):
        lib.search_image(tmp_path)
    with pytest.raises(ValidationError, match="use one"):  # two images to search by: neither silently ignored
        lib.search("", image=tmp_path / "a.png", like=1)
    with pytest.raises(ValidationError, match="would ignore the words"):
        lib.search("red fox", mode="semantic", like=1)


CliRun = Callable[..., Any]


@pytest.fixture
def cli_lib(tmp_path: Path, tiny_clip: TinyModel, cli: CliRun) -> Library:
    """The library the `cli` fixture's commands use, configured for the tiny model, with 24 drawn images."""
    lib = open_library(tmp_path / "cli-lib", tiny_clip)
    rng = random.Random(7)
    for n, combo in enumerate(COMBOS):
        add_drawn(lib, combo, rng, prompt=f"{combo[1]} thing {n}", tags=[combo[2]])
    return lib


def test_cli_index_commands_and_hybrid_json_shape(cli_lib: Library, cli: CliRun, tmp_path: Path) -> None:
    built = cli("index", "build", "--json")
    assert built.code == 0, built.err
    assert built.json()["indexed"] == {"image": 24, "prompt": 24}
    status = cli("index", "status", "--json").json()
    assert {k["kind"]: k["state"] for k in status["kinds"]} == {"image": "fresh", "prompt": "fresh"}
    lexical = cli("search", "red thing", "--mode", "lexical", "--json").json()
    hybrid = cli("search", "red thing", "--json").json()
    assert lexical and hybrid
    assert set(hybrid[0]) == set(lexical[0]) and lexical[0]["render_id"] is None  # one shape in every mode
    assert set(hybrid[0]["scores"]) == {"lexical", "semantic", "fused"}
    assert hybrid[0]["score"] == hybrid[0]["scores"]["fused"]
    assert len(hybrid) == 20 and len(lexical) == 6  # every entry has an image: the vector side ranks them all
    assert all(h["scores"]["lexical"] is not None for h in hybrid[:6])  # in both lists: fused first
    assert all(h["scores"]["lexical"] is None for h in hybrid[6:])
    assert all(isinstance(h["render_id"], int) for h in hybrid if h["scores"]["semantic"] is not None)
    filtered = cli("search", "a red circle tag:white", "--mode", "semantic", "--json").json()
    assert filtered and all("white" in h["tags"] for h in filtered)
    image = tmp_path / "query.png"
    image.write_bytes(png(draw("circle", "red", "black", random.Random(3))))
    by_image = cli("search", "--image", str(image), "-k", "3", "--json").json()
    assert by_image[0]["prompt"].startswith("red thing")
    like = cli("search", "--like", str(by_image[0]["render_id"]), "--json").json()
    assert by_image[0]["render_id"] not in [h["render_id"] for h in like]
    table = cli("search", "a red circle on black", "--mode", "semantic")
    assert table.code == 0 and "red thing" in table.out
    rebuilt = cli("index", "rebuild", "--kind", "image", "--json")
    assert rebuilt.code == 0 and rebuilt.json()["embedded"] == {"image": 0}  # from stored vectors
    human = cli("index", "status")
    assert human.code == 0 and "fresh" in human.out and cli_lib.semantic.model_id in human.out


def test_cli_bad_image_and_missing_model_are_one_line_errors(cli_lib: Library, cli: CliRun, tmp_path: Path) -> None:
    cli("index", "build")
    images_before = sorted(p.name for p in (cli_lib.path / "images").rglob("*") if p.is_file())
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"hello")
    result = cli("search", "--image", str(bad))
    assert result.code == 2 and result.err.count("\n") == 1 and "not a readable image" in result.err
    assert sorted(p.name for p in (cli_lib.path / "images").rglob("*") if p.is_file()) == images_before
    text = (cli_lib.path / "config.toml").read_text()
    (cli_lib.path / "config.toml").write_text(text.replace("tiny-clip.pt", "gone.pt"))
    missing = cli("index", "build")
    assert missing.code == 4 and "gone.pt not found" in missing.err and missing.err.count("\n") == 1
    fallback = cli("search", "red thing", "--json")  # auto mode: lexical, saying why
    assert fallback.code == 0 and fallback.json() and "lexical only" in fallback.err


def test_cli_dedup_lists_clusters(cli: CliRun, tmp_path: Path, tiny_clip: TinyModel) -> None:
    home = tmp_path / "cli-lib"
    lib = open_library(home, tiny_clip)
    rng = random.Random(5)
    picture = draw("square", "blue", "white", rng)
    a = lib.add("one")
    b = lib.add("two")
    c = lib.add("three")
    first = lib.add_image(a.id, png(picture))
    same_file = lib.add_image(b.id, png(picture))
    resized = lib.add_image(c.id, png(picture.resize((96, 96), Image.Resampling.BICUBIC)))
    for n, combo in enumerate(COMBOS[:6]):
        add_drawn(lib, combo, random.Random(100 + n))
    assert lib.build_index(kinds=["image"]).reused == 1  # the second render of the same file is not embedded again
    assert lib.build_index(kinds=["image"]).embedded == {"image": 0}  # nothing new the second time
    clusters = cli("dedup", "--threshold", "0.99", "--json").json()
    assert any(
        {m["render_id"] for m in cluster["renders"]} >= {first.id, same_file.id, resized.id} for cluster in clusters
    )
    assert all(m["similarity"] >= 0.99 for cluster in clusters for m in cluster["renders"])
    assert "cluster 1" in cli("dedup", "-t", "0.99").out
    lib.close()


def test_config_text_is_valid_for_the_library(tiny_clip: TinyModel) -> None:
    import tomllib

    parsed = tomllib.loads(embedding_config(tiny_clip))
    assert parsed["embedding"]["model"] == tiny_clip.name and parsed["embedding"]["workers"] == 0


def test_a_huge_limit_asks_the_index_for_no_more_than_it_holds(gallery: Gallery) -> None:
    for mode in ("semantic", "hybrid"):
        hits = gallery.lib.search("a red circle on black", mode=mode, limit=10**20).hits
        assert len(hits) == 48, mode  # every entry once, not a k-sized array of 10**20 rows
    assert gallery.lib.search("a red circle on black", mode="semantic", limit=5, offset=10**20).hits == []
