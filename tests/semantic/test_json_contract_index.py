"""The ``--json`` keys of index build / rebuild / status, dedup, semantic search and bench search (docs/JSON.md)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tests import json_shapes as shape
from tests.json_shapes import assert_shape, keys

from .helpers import COMBOS, TinyModel, add_drawn, draw, open_library, png


def _ok(result: Any) -> Any:
    assert result.code == 0, result.err
    return result.json()


def test_index_dedup_and_semantic_search_shapes(cli: Any, tmp_path: Path, tiny_clip: TinyModel) -> None:
    with open_library(tmp_path / "cli-lib", tiny_clip) as lib:  # the library the `cli` fixture uses
        picture = png(draw("square", "blue", "white", random.Random(5)))
        first, second = (lib.add_image(lib.add(f"blue square {n}").id, picture) for n in range(2))
        for n, combo in enumerate(COMBOS[:3]):
            add_drawn(lib, combo, random.Random(n), prompt=f"drawing {n}")
        _, broken = add_drawn(lib, COMBOS[5], random.Random(9), prompt="broken")
        lib.image_path(lib.get_render(broken)).write_bytes(b"\x89PNG\r\n\x1a\n damaged on disk")

    result = cli("index", "build", "--json")
    assert result.code == 1, result.err  # partly done: one image could not be read, the rest is indexed
    built = result.json()
    assert_shape(built, shape.INDEX_BUILD)
    assert [f["render_id"] for f in built["failed"]] == [broken]
    assert_shape(built["failed"][0], shape.FAILED_IMAGE)
    assert Path(built["failed"][0]["image_path"]).is_absolute()
    rebuilt = cli("index", "rebuild", "--json")  # the damaged image is tried again, and fails again
    assert rebuilt.code == 1 and len(rebuilt.json()["failed"]) == 1
    assert_shape(rebuilt.json(), shape.INDEX_BUILD)

    status = _ok(cli("index", "status", "--json"))
    assert_shape(status, shape.INDEX_STATUS)
    assert [keys(kind) for kind in status["kinds"]] == [shape.INDEX_KIND] * 2

    clusters = _ok(cli("dedup", "--threshold", "0.99", "--json"))
    assert_shape(clusters[0], shape.DEDUP_CLUSTER)
    assert clusters[0]["count"] == len(clusters[0]["renders"]) == 2
    members = clusters[0]["renders"]
    assert [m["render_id"] for m in members] == [first.id, second.id]
    for member in members:
        assert_shape(member, shape.DEDUP_MEMBER)
        assert Path(member["image_path"]).is_file()  # absolute, as everywhere

    for mode in ("hybrid", "semantic", "lexical"):
        hits = _ok(cli("search", "blue square", "--mode", mode, "--json"))
        assert hits and all(keys(hit) == shape.SEARCH_HIT for hit in hits), mode


def test_bench_search_prints_its_measurements(cli: Any) -> None:
    result = _ok(cli("bench", "search", "--vectors", "2000", "--dim", "8", "--queries", "20", "--json"))
    assert_shape(result, shape.BENCH_SEARCH)
