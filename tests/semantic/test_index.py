"""The FAISS vector index: stable ids, incremental changes, atomic saves with a manifest, stale/corrupt detection,
allow-list filtering, factory choice by size, and the vector search benchmark behind `promptlib bench search`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("faiss")

from promptlib.errors import LibraryError, ValidationError
from promptlib.search import index as index_module
from promptlib.search import index_manifest
from promptlib.search.index import (
    EXACT_LIMIT,
    CorruptIndexError,
    IndexManifest,
    StaleIndexError,
    VectorIndex,
    VectorIndexError,
    choose_factory,
    index_filename,
    manifest_path,
)
from promptlib.search.vector_bench import clustered_vectors, run_benchmark

DIM = 32
FACTORIES = ["IDMap2,Flat", "IVF32,SQ8"]


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return clustered_vectors(4000, DIM, seed=5)


@pytest.fixture(scope="module")
def ids() -> np.ndarray:
    return (np.arange(4000, dtype=np.int64) * 7 + 10**12).astype(np.int64)  # sparse, large: not positions


def built(data: np.ndarray, ids: np.ndarray, factory: str, generation: str = "g1") -> VectorIndex:
    return VectorIndex.build("clip-test", DIM, ids, data, generation=generation, factory=factory)


def exact_top(queries: np.ndarray, vectors: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    sims = queries @ vectors.T
    return ids[np.argsort(-sims, axis=1, kind="stable")[:, :k]]


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# -- ids, adds and removals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", FACTORIES)
def test_each_vector_is_found_under_its_own_stable_id(data: np.ndarray, ids: np.ndarray, factory: str) -> None:
    index = built(data, ids, factory)
    assert index.count == len(index) == 4000 and index.factory == factory
    scores, found = index.search(data[:50], 5)
    assert scores.shape == found.shape == (50, 5) and found.dtype == np.int64
    assert (found[:, 0] == ids[:50]).mean() >= 0.96  # SQ8 may swap near-duplicates
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    assert ids[3] in index and 3 not in index


@pytest.mark.parametrize("factory", FACTORIES)
def test_removed_ids_never_come_back_and_readding_an_id_replaces_its_vector(
    data: np.ndarray, ids: np.ndarray, factory: str
) -> None:
    index = built(data, ids, factory)
    gone = ids[:100]
    assert index.remove([*gone.tolist(), 5, 6]) == 100  # ids that were never added are ignored
    assert index.remove(gone) == 0
    assert index.count == 3900
    _, found = index.search(data[:200], 50)
    assert not np.isin(found, gone).any()

    replacement = unit(np.random.default_rng(9), 1)
    index.add(ids[500:501], replacement)  # id already present: replaced, not duplicated
    assert index.count == 3900
    _, found = index.search(replacement, 3)
    assert found[0, 0] == ids[500]
    _, found = index.search(data[500:501], 3)
    assert ids[500] not in found[0]

    index.add(gone[:10], data[:10])  # back again
    assert index.count == 3910
    assert set(index.search(data[:10], 1)[1][:, 0]) <= set(gone[:10].tolist())
    assert np.array_equal(index.ids(), np.sort(np.concatenate([ids[100:], gone[:10]])))


def test_ivf_created_empty_trains_on_its_first_batch(data: np.ndarray, ids: np.ndarray) -> None:
    index = VectorIndex.create("m", DIM, factory="IVF16,SQ8")
    with pytest.raises(ValidationError, match="trains on at least"):
        index.add(ids[:100], data[:100])
    assert index.count == 0
    index.add(ids, data)
    assert index.count == 4000 and index.search(data[:1], 1)[1][0, 0] == ids[0]


def test_build_reports_progress_and_tunes_recall() -> None:
    vectors = clustered_vectors(12_000, DIM, seed=2)
    calls: list[tuple[int, int]] = []
    index = VectorIndex.build(
        "m",
        DIM,
        np.arange(12_000),
        vectors,
        generation="g",
        factory="IVF64,SQ8",
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[0] == (0, 12_000) and calls[-1] == (12_000, 12_000)
    manifest = index.manifest
    assert manifest.search_params.startswith("nprobe=") and manifest.recall_at_10 is not None
    assert manifest.recall_at_10 >= 0.95
    # held-out queries, checked against exact search here rather than trusting the build's own estimate
    queries = clustered_vectors(100, DIM, seed=2, stream=1)
    _, found = index.search(queries, 10)
    truth = exact_top(queries, vectors, np.arange(12_000), 10)
    assert np.mean([len(np.intersect1d(f, t)) / 10 for f, t in zip(found, truth, strict=True)]) >= 0.9


def test_search_pads_missing_results_and_handles_an_empty_index(data: np.ndarray, ids: np.ndarray) -> None:
    empty = VectorIndex.build("m", DIM, [], [], generation="g0")
    assert empty.count == 0 and empty.factory == "IDMap2,Flat"
    index = VectorIndex.create("m", DIM)
    scores, found = index.search(data[:2], 4)
    assert (found == -1).all() and np.isneginf(scores).all()
    index.add(ids[:3], data[:3])
    scores, found = index.search(data[0], 5)  # one query as a 1-d vector
    assert found.shape == (1, 5) and sorted(found[0, :3]) == sorted(ids[:3]) and (found[0, 3:] == -1).all()
    assert np.isneginf(scores[0, 3:]).all() and np.isfinite(scores[0, :3]).all()


# -- the allow-list ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", FACTORIES)
@pytest.mark.parametrize("path", ["exact over the allowed", "selector bitmap", "selector hash set"])
def test_allowed_restricts_results_to_those_ids(
    data: np.ndarray, ids: np.ndarray, factory: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "SUBSET_COST", 0 if path.startswith("exact") else 10**9)
    monkeypatch.setattr(index_module, "BITMAP_MAX_ID", 1 << 62 if path == "selector bitmap" else 0)
    if path == "selector bitmap":
        ids = ids - 10**12 + 100  # a bitmap over ids up to 10^12 would not fit
    index = built(data, ids, factory)
    allowed = ids[::3]
    _, found = index.search(data[:40], 10, allowed=np.concatenate([allowed, [1, 2, 3]]))  # unknown ids ignored
    assert np.isin(found, allowed).all()
    truth = exact_top(data[:40], data[::3], allowed, 10)
    overlap = np.mean([len(np.intersect1d(f, t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert overlap == 1.0 if factory == "IDMap2,Flat" else overlap >= 0.85
    few = ids[[7, 1000, 3999]]
    scores, found = index.search(data[:2], 5, allowed=few)
    assert set(found[0, :3]) == set(few.tolist()) and (found[:, 3:] == -1).all()
    assert np.all(np.diff(scores[:, :3], axis=1) <= 1e-6)
    _, found = index.search(data[:2], 5, allowed=np.array([1, 2], dtype=np.int64))
    assert (found == -1).all()


# -- saving and loading --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", FACTORIES)
def test_save_load_round_trip_gives_identical_results(
    data: np.ndarray, ids: np.ndarray, factory: str, tmp_path: Path
) -> None:
    index = built(data, ids, factory)
    index.remove(ids[:5])
    path = tmp_path / "idx" / "clip.faiss"
    index.save(path, generation="gen-7")
    loaded = VectorIndex.load(path, model="clip-test", dim=DIM, generation="gen-7")
    assert loaded.manifest == index.manifest
    assert loaded.manifest.generation == "gen-7" and loaded.manifest.count == 3995
    assert loaded.manifest.index_size == path.stat().st_size and len(loaded.manifest.index_sha256) == 64
    assert np.array_equal(loaded.ids(), index.ids())
    for allowed in (None, ids[::2]):
        a_scores, a_ids = index.search(data[:100], 10, allowed=allowed)
        b_scores, b_ids = loaded.search(data[:100], 10, allowed=allowed)
        assert np.array_equal(a_ids, b_ids) and np.array_equal(a_scores, b_scores)
    on_disk = json.loads(manifest_path(path).read_text())
    assert on_disk["factory"] == factory and on_disk["model"] == "clip-test" and on_disk["dim"] == DIM
    assert sorted(p.name for p in path.parent.iterdir()) == ["clip.faiss", "clip.faiss.json"]  # no temp files
    loaded.add(ids[:5], data[:5])  # a loaded index stays incremental
    assert loaded.count == 4000 and loaded.search(data[:1], 1)[1][0, 0] == ids[0]


def test_load_refuses_another_model_dimension_generation_or_nothing(
    data: np.ndarray, ids: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "clip.faiss"
    with pytest.raises(StaleIndexError, match="no vector index"):
        VectorIndex.load(path, model="clip-test", dim=DIM)
    built(data, ids, "IDMap2,Flat").save(path, generation="g1")
    with pytest.raises(StaleIndexError, match="model"):
        VectorIndex.load(path, model="other-model", dim=DIM)
    with pytest.raises(StaleIndexError, match="64-d"):
        VectorIndex.load(path, model="clip-test", dim=64)
    with pytest.raises(StaleIndexError, match="generation"):
        VectorIndex.load(path, model="clip-test", dim=DIM, generation="g2")
    assert VectorIndex.load(path, model="clip-test", dim=DIM).count == 4000  # no generation given: not checked


def test_a_crash_between_the_two_replaces_is_detected(
    data: np.ndarray, ids: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clip.faiss"
    index = built(data, ids, "IVF32,SQ8")
    index.save(path, generation="g1")
    index.remove(ids[:10])

    def crash(*args: Any, **kwargs: Any) -> str:
        raise KeyboardInterrupt  # the process dies after the index file was replaced, before the manifest

    monkeypatch.setattr(index_manifest.json, "dumps", crash)
    with pytest.raises(KeyboardInterrupt):
        index.save(path, generation="g2")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.faiss", "clip.faiss.json"]  # temp file removed
    assert json.loads(manifest_path(path).read_text())["generation"] == "g1"
    with pytest.raises(CorruptIndexError, match="interrupted save or damaged"):
        VectorIndex.load(path, model="clip-test", dim=DIM, generation="g1")
    index.save(path, generation="g2")  # a rebuild-and-save repairs it
    assert VectorIndex.load(path, model="clip-test", dim=DIM, generation="g2").count == 3990


def test_damaged_files_raise_corrupt_index_error(data: np.ndarray, ids: np.ndarray, tmp_path: Path) -> None:
    good = tmp_path / "good"
    built(data, ids, "IVF32,SQ8").save(good / "clip.faiss", generation="g")

    def damaged(name: str) -> Path:
        folder = tmp_path / name
        shutil.copytree(good, folder)
        return folder / "clip.faiss"

    def load(path: Path) -> VectorIndex:
        return VectorIndex.load(path, model="clip-test", dim=DIM)

    truncated = damaged("truncated")
    truncated.write_bytes(truncated.read_bytes()[:-1000])
    with pytest.raises(CorruptIndexError, match="not the file its manifest names"):
        load(truncated)

    flipped = damaged("flipped")
    raw = bytearray(flipped.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, different bytes
    flipped.write_bytes(bytes(raw))
    with pytest.raises(CorruptIndexError):
        load(flipped)

    short_manifest = damaged("short-manifest")
    text = manifest_path(short_manifest).read_text()
    manifest_path(short_manifest).write_text(text[: len(text) // 2])
    with pytest.raises(CorruptIndexError, match="not valid JSON"):
        load(short_manifest)

    no_manifest = damaged("no-manifest")
    manifest_path(no_manifest).unlink()
    with pytest.raises(CorruptIndexError, match="no manifest"):
        load(no_manifest)

    no_index = damaged("no-index")
    no_index.unlink()
    with pytest.raises(CorruptIndexError, match="missing"):
        load(no_index)

    def edit_manifest(name: str, **changes: Any) -> Path:
        path = damaged(name)
        fields = json.loads(manifest_path(path).read_text()) | changes
        manifest_path(path).write_text(json.dumps({k: v for k, v in fields.items() if v is not None}))
        return path

    with pytest.raises(CorruptIndexError, match="holds 4,000"):
        load(edit_manifest("count", count=3999))
    with pytest.raises(CorruptIndexError, match="wrong type"):
        load(edit_manifest("types", dim="32"))
    with pytest.raises(CorruptIndexError, match="lacks 'factory'"):
        load(edit_manifest("missing-field", factory=None))

    garbage = damaged("garbage")  # bytes faiss cannot parse, with a manifest that matches them
    garbage.write_bytes(b"IwFl" + bytes(range(256)) * 8)
    size, sha = index_manifest.file_digest(garbage)
    fields = json.loads(manifest_path(garbage).read_text()) | {"index_size": size, "index_sha256": sha}
    manifest_path(garbage).write_text(json.dumps(fields))
    with pytest.raises(CorruptIndexError, match="unreadable"):
        load(garbage)


def test_index_file_names_are_safe_and_distinct_per_model() -> None:
    names = {index_filename(m) for m in ("ViT-B-32/laion2b", "ViT-B-32 laion2b", "../../etc/passwd", "", "é")}
    assert len(names) == 5
    assert all("/" not in n and not n.startswith(".") and n.endswith(".faiss") for n in names)


def test_index_errors_are_library_errors_with_one_line_messages() -> None:
    assert issubclass(StaleIndexError, VectorIndexError) and issubclass(CorruptIndexError, VectorIndexError)
    assert issubclass(VectorIndexError, LibraryError)
    with pytest.raises(CorruptIndexError):
        IndexManifest.from_json(["not", "an", "object"])
    assert IndexManifest.from_json({"model": "m", "dim": 4, "count": 0, "generation": "", "factory": "F"}).format == 1


# -- bad input -----------------------------------------------------------------------------------------------------


def test_bad_vectors_ids_and_parameters_are_validation_errors(data: np.ndarray, ids: np.ndarray) -> None:
    index = built(data[:100], ids[:100], "IDMap2,Flat")
    bad: list[tuple[Any, Any, str]] = [
        (ids[200:202], data[:2, :16], "shape"),
        (ids[200:202], data[:2] * 2, "L2-normalised"),
        (ids[200:202], np.full((2, DIM), np.nan, dtype=np.float32), "L2-normalised"),
        (np.array([5, 5]), data[:2], "duplicate"),
        (np.array([-3, 4]), data[:2], "non-negative"),
        (np.array([1.5, 2.5]), data[:2], "integers"),
        (ids[200:203], data[:2], "shape"),
        (ids[200:202], data[:2].astype(np.int32), "floating point"),
    ]
    for bad_ids, bad_vectors, message in bad:
        with pytest.raises(ValidationError, match=message):
            index.add(bad_ids, bad_vectors)
    assert index.count == 100  # nothing half-added
    with pytest.raises(ValidationError, match="k must be"):
        index.search(data[:1], 0)
    with pytest.raises(ValidationError, match="shape"):
        index.search(data[:1, :8], 3)
    with pytest.raises(ValidationError, match="NaN"):
        index.search(np.full(DIM, np.inf, dtype=np.float32), 3)
    with pytest.raises(ValidationError, match="bad index factory"):
        VectorIndex.create("m", DIM, factory="NotAnIndex99")
    with pytest.raises(ValidationError, match="dimension"):
        VectorIndex.create("m", 0)


# -- factory choice ------------------------------------------------------------------------------------------------


def test_factory_is_exact_for_small_libraries_and_ivf_sq8_beyond() -> None:
    assert choose_factory(0, 512) == choose_factory(EXACT_LIMIT - 1, 512) == "IDMap2,Flat"
    assert choose_factory(EXACT_LIMIT, 512) == "IVF256,SQ8"
    assert choose_factory(1_000_000, 512) == "IVF1024,SQ8"
    lists = [int(choose_factory(n, 512)[3:].split(",")[0]) for n in (EXACT_LIMIT, 200_000, 10**6, 10**7, 10**9)]
    assert lists == sorted(lists) and lists[-1] <= 65_536
    assert VectorIndex.create("m", DIM, expected_size=10**6).factory == "IVF1024,SQ8"
    assert VectorIndex.create("m", DIM, factory="Flat").factory == "IDMap2,Flat"  # ids kept stable by IDMap2


def test_an_exact_index_that_grew_past_the_limit_reports_outgrown(
    data: np.ndarray, ids: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "EXACT_LIMIT", 1000)
    index = VectorIndex.create("m", DIM)
    index.add(ids[:999], data[:999])
    assert not index.outgrown
    index.add(ids[999:1500], data[999:1500])
    assert index.outgrown and index.factory == "IDMap2,Flat"


# -- the benchmark -------------------------------------------------------------------------------------------------

BENCH_KEYS = {"p50_ms", "p95_ms", "recall_at_10", "build_s", "memory_mb", "exact_p50_ms", "factory", "vectors", "dim"}


def test_run_benchmark_measures_an_ivf_index_against_exact_search(tmp_path: Path) -> None:
    stages: set[str] = set()
    result = run_benchmark(
        20_000, DIM, queries=200, factory="IVF64,SQ8", work_dir=tmp_path, progress=lambda s, d, t: stages.add(s)
    )
    assert result.keys() >= BENCH_KEYS
    assert result["factory"] == "IVF64,SQ8" and result["vectors"] == 20_000 and result["dim"] == DIM
    assert float(result["recall_at_10"]) >= 0.9
    assert 0 < float(result["p50_ms"]) <= float(result["p95_ms"])
    assert float(result["memory_mb"]) > 0 and float(result["build_s"]) > 0 and float(result["exact_p50_ms"]) > 0
    assert stages >= {"generate", "exact", "build", "search"}
    assert len(list(tmp_path.glob("clustered-*.npy"))) == 2  # data cached for the next run
    again = run_benchmark(20_000, DIM, queries=200, factory="IVF64,SQ8", work_dir=tmp_path)
    assert again["recall_at_10"] == result["recall_at_10"]  # same data, same index


def test_cli_bench_search_prints_the_measurements_as_json(cli: Any) -> None:
    result = cli("bench", "search", "--vectors", "3000", "--dim", "16", "--queries", "30", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data.keys() >= BENCH_KEYS
    assert data["vectors"] == 3000 and data["dim"] == 16 and data["factory"] == "IDMap2,Flat"
    assert data["recall_at_10"] == 1.0  # exact index
    table = cli("bench", "search", "--vectors", "2000", "--dim", "8", "--queries", "20")
    assert table.code == 0 and "recall@10" in table.out
