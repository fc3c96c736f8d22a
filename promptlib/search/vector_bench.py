"""Vector search benchmark: speed, recall and memory of `VectorIndex` on clustered synthetic embeddings.

Used by ``promptlib bench search`` and ``benchmarks/bench_vectors.py``. Uniform random vectors would make any
approximate index look bad (in 512 dimensions every point is nearly equidistant from every other), so the data
is a mixture of Gaussian clusters, like real image embeddings: `CLUSTERS` centres grouped around 64 themes, each
point its centre plus noise of a per-cluster width along a decaying spectrum (most of the variance in a few dozen
directions), normalised to unit length. Queries are drawn from the same mixture but are not in the index; the
ground truth for recall is exact search (`IndexFlatIP`) over the same vectors.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from promptlib.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from promptlib.search.index import VectorIndex

    FloatArray = npt.NDArray[np.float32]

CLUSTERS = 4096
THEMES = 64
DATA_VERSION = 1  # bump when the generator changes, so cached data is regenerated
CHUNK = 65_536
EXACT_TIMED_QUERIES = 20  # exact search costs ~75 ms a query at a million vectors: a few give a stable median

BenchProgress = Callable[[str, int, int], None]  # (stage, done, total)


def clustered_vectors(n: int, dim: int, *, seed: int = 0, stream: int = 0, spread: float = 1.0) -> FloatArray:
    """`n` unit vectors from the clustered mixture; `stream` 0 is the data, other streams held-out queries.

    The mixture depends only on `seed` and `dim`, and each chunk of `CHUNK` rows only on its position, so the
    first m vectors of a larger set are the m-vector set.
    """
    import numpy as np

    out = np.empty((n, dim), dtype=np.float32)
    for start, block in _clustered_chunks(n, dim, seed=seed, stream=stream, spread=spread):
        out[start : start + len(block)] = block
    return out


def _clustered_chunks(n: int, dim: int, *, seed: int, stream: int, spread: float) -> Iterator[tuple[int, FloatArray]]:
    import numpy as np

    rng = np.random.default_rng([seed, dim, 0])
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    spectrum = (np.arange(dim) + 1.0) ** -0.5  # variance falls as 1/i: an effective dimension of a few dozen
    spectrum /= np.sqrt((spectrum**2).sum())
    shape = (spectrum[:, None] * rotation.T).astype(np.float32)
    themes = rng.standard_normal((THEMES, dim)).astype(np.float32)
    themes /= np.linalg.norm(themes, axis=1, keepdims=True)
    centres = themes[rng.integers(0, THEMES, CLUSTERS)]
    centres += 0.9 * (rng.standard_normal((CLUSTERS, dim)).astype(np.float32) @ shape)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    width = (spread * rng.uniform(0.4, 0.8, CLUSTERS)).astype(np.float32)
    weights = rng.dirichlet(np.full(CLUSTERS, 2.0))
    for number, start in enumerate(range(0, n, CHUNK)):
        chunk_rng = np.random.default_rng([seed, dim, 1 + stream, number])
        size = min(CHUNK, n - start)
        label = chunk_rng.choice(CLUSTERS, size, p=weights)
        block = chunk_rng.standard_normal((size, dim), dtype=np.float32) @ shape
        block *= width[label, None]
        block += centres[label]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        yield start, block


def cached_vectors(
    n: int, dim: int, *, seed: int, stream: int, work_dir: Path | None, spread: float = 1.0
) -> FloatArray:
    """`clustered_vectors`, kept as a .npy file in `work_dir` (memory-mapped when read back) when one is given."""
    import numpy as np

    if work_dir is None:
        return clustered_vectors(n, dim, seed=seed, stream=stream, spread=spread)
    work_dir.mkdir(parents=True, exist_ok=True)
    spread_tag = "" if spread == 1.0 else f"-spread{spread:g}"
    path = work_dir / f"clustered-v{DATA_VERSION}-{n}x{dim}-seed{seed}-stream{stream}{spread_tag}.npy"
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, dim))
        for start, block in _clustered_chunks(n, dim, seed=seed, stream=stream, spread=spread):
            out[start : start + len(block)] = block
        out.flush()
        del out
        tmp.replace(path)
    loaded: FloatArray = np.load(path, mmap_mode="r")
    return loaded


@dataclass
class BenchData:
    """The indexed vectors, held-out queries, their exact top-k ids and the exact-search baseline."""

    base: FloatArray
    queries: FloatArray
    truth: npt.NDArray[np.int64]
    k: int
    exact_p50_ms: float
    exact_threads: int
    spread: float


def run_benchmark(
    vectors: int,
    dim: int,
    *,
    queries: int = 200,
    k: int = 10,
    seed: int = 0,
    factory: str | None = None,
    work_dir: Path | None = None,
    progress: BenchProgress | None = None,
    spread: float = 1.0,
) -> dict[str, float | str | int]:
    """Build a `VectorIndex` of `vectors` clustered `dim`-d vectors and measure it, all in one run.

    Returns p50_ms and p95_ms (single-query `VectorIndex.search` latency over `queries` held-out queries),
    recall_at_10 (recall@k against exact `IndexFlatIP` search; the key is recall_at_{k}), build_s
    (`VectorIndex.build`: training, adding, tuning), memory_mb (resident memory the saved index takes once
    loaded, measured in a fresh process), exact_p50_ms (single-query exact flat search, the faster of one thread
    and all threads), factory, vectors, dim, and details: search_params, build_recall (the build's own estimate),
    load_s, index_file_mb, exact_threads, queries, k, spread. Generated data is cached in `work_dir` when given;
    `spread` scales the clusters' widths (above 1: more overlap, harder). Raises ValidationError for impossible
    sizes.
    """
    data = prepare(vectors, dim, queries=queries, k=k, seed=seed, work_dir=work_dir, progress=progress, spread=spread)
    return measure(data, factory=factory, work_dir=work_dir, progress=progress)


def prepare(
    vectors: int,
    dim: int,
    *,
    queries: int = 200,
    k: int = 10,
    seed: int = 0,
    work_dir: Path | None = None,
    progress: BenchProgress | None = None,
    spread: float = 1.0,
) -> BenchData:
    """The data, exact ground truth and exact baseline, shared by every factory `measure`d on it."""
    from promptlib.search.index import _faiss

    _faiss()  # a clear error without the ml extra
    import numpy as np

    if vectors < max(k, 1) or queries < 1 or k < 1 or dim < 2 or not 0 < spread <= 10:
        raise ValidationError("the benchmark needs vectors ≥ k ≥ 1, queries ≥ 1, dim ≥ 2 and 0 < spread ≤ 10")
    report = _reporter(progress)
    report("generate", 0, 1)
    base = cached_vectors(vectors, dim, seed=seed, stream=0, work_dir=work_dir, spread=spread)
    held_out = np.ascontiguousarray(cached_vectors(queries, dim, seed=seed, stream=1, work_dir=work_dir, spread=spread))
    report("generate", 1, 1)
    truth, exact_p50, threads = _exact(base, held_out, k, report)
    return BenchData(base, held_out, truth, k, exact_p50 * 1000, threads, spread)


def measure(
    data: BenchData,
    *,
    factory: str | None = None,
    work_dir: Path | None = None,
    progress: BenchProgress | None = None,
    filtered: tuple[float, ...] = (),
) -> dict[str, float | str | int]:
    """Build an index of `data` (with `factory`, or the one chosen by size) and measure it; see `run_benchmark`.

    For each fraction in `filtered`, also searches with an allow-list of that share of the ids (chosen at random)
    and adds ``filtered_<fraction>_p50_ms`` and ``filtered_<fraction>_recall`` (against exact search over the
    allowed vectors only)."""
    import numpy as np

    from promptlib.search.index import VectorIndex

    report = _reporter(progress)
    vectors, dim = data.base.shape
    k, queries = data.k, len(data.queries)

    # 1. Build through the product path.
    start = time.perf_counter()
    index = VectorIndex.build(
        "bench",
        dim,
        np.arange(vectors, dtype=np.int64),
        data.base,
        generation="bench",
        factory=factory,
        progress=lambda d, t: report("build", d, t),
    )
    build_s = time.perf_counter() - start
    manifest = index.manifest

    # 2. Single-query latency and recall against exact search, after a short warm-up.
    for row in range(min(20, queries)):
        index.search(data.queries[row : row + 1], k)
    samples: list[float] = []
    found = np.empty((queries, k), dtype=np.int64)
    for row in range(queries):
        start = time.perf_counter()
        _, labels = index.search(data.queries[row : row + 1], k)
        samples.append(time.perf_counter() - start)
        found[row] = labels[0]
        if row % 50 == 49 or row == queries - 1:
            report("search", row + 1, queries)
    recall = float(np.mean([len(np.intersect1d(f, t)) / k for f, t in zip(found, data.truth, strict=True)]))
    extra: dict[str, float] = {}
    for fraction in filtered:
        p50, filtered_recall = _measure_filtered(index, data, fraction)
        extra[f"filtered_{fraction:g}_p50_ms"] = round(p50 * 1000, 3)
        extra[f"filtered_{fraction:g}_recall"] = round(filtered_recall, 4)

    # 3. Memory: save, then load in a fresh process and read how much its resident set grew.
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="index-") as folder:
        path = Path(folder) / "bench.faiss"
        index.save(path, generation="bench")
        del index
        file_mb = path.stat().st_size / 2**20
        report("memory", 0, 1)
        loaded = _measure_load(path, dim)
        report("memory", 1, 1)
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
        f"recall_at_{k}": round(recall, 4),
        "build_s": round(build_s, 2),
        "memory_mb": round(loaded.get("rss_mb", file_mb), 1),
        "memory_source": "resident set of a fresh process" if "rss_mb" in loaded else "index file size",
        "exact_p50_ms": round(data.exact_p50_ms, 3),
        "factory": manifest.factory,
        "vectors": vectors,
        "dim": dim,
        "search_params": manifest.search_params,
        "build_recall": manifest.recall_at_10 if manifest.recall_at_10 is not None else -1.0,
        "load_s": round(loaded.get("load_s", -1.0), 3),
        "index_file_mb": round(file_mb, 1),
        "exact_threads": data.exact_threads,
        "queries": queries,
        "k": k,
        "spread": data.spread,
    } | extra


def _measure_filtered(index: VectorIndex, data: BenchData, fraction: float) -> tuple[float, float]:
    """Median single-query time and recall@k of searches restricted to a random `fraction` of the ids."""
    import numpy as np

    vectors = len(data.base)
    rows = np.sort(np.random.default_rng(7).choice(vectors, size=max(1, int(vectors * fraction)), replace=False))
    best_sims = np.full((len(data.queries), data.k), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(data.queries), data.k), dtype=np.int64)
    for first in range(0, len(rows), CHUNK):
        chunk = rows[first : first + CHUNK]
        sims = np.concatenate([best_sims, data.queries @ data.base[chunk].T], axis=1)
        both = np.concatenate([best_rows, np.broadcast_to(chunk, (len(data.queries), len(chunk)))], axis=1)
        keep = np.argsort(-sims, axis=1)[:, : data.k]
        best_sims, best_rows = np.take_along_axis(sims, keep, axis=1), np.take_along_axis(both, keep, axis=1)
    timed, hits = [], 0
    for row in range(len(data.queries)):
        start = time.perf_counter()
        _, labels = index.search(data.queries[row : row + 1], data.k, allowed=rows)
        timed.append(time.perf_counter() - start)
        hits += len(np.intersect1d(labels[0], best_rows[row]))
    return statistics.median(timed), hits / (data.k * len(data.queries))


def _reporter(progress: BenchProgress | None) -> BenchProgress:
    return progress if progress is not None else lambda _stage, _done, _total: None


def _exact(
    base: FloatArray, held_out: FloatArray, k: int, report: BenchProgress
) -> tuple[npt.NDArray[np.int64], float, int]:
    """Exact top-k ids of every query (batched), and the median single-query time of exact search with the
    faster of one thread and all threads (with its thread count)."""
    import faiss
    import numpy as np

    from promptlib.search.index import _omp_threads

    flat = faiss.IndexFlatIP(base.shape[1])
    for first in range(0, len(base), CHUNK):
        flat.add(np.ascontiguousarray(base[first : first + CHUNK]))
        report("exact", min(first + CHUNK, len(base)), len(base))
    _, truth = flat.search(held_out, k)
    medians: dict[int, float] = {}
    for threads in sorted({1, faiss.omp_get_max_threads()}):
        timed = []
        with _omp_threads(threads):
            for row in range(min(EXACT_TIMED_QUERIES, len(held_out))):
                start = time.perf_counter()
                flat.search(held_out[row : row + 1], k)
                timed.append(time.perf_counter() - start)
        medians[threads] = statistics.median(timed)
    threads = min(medians, key=lambda t: medians[t])
    return truth, medians[threads], threads


_PROBE = """
import json, sys, time
from pathlib import Path
import faiss, numpy
from promptlib.search.index import VectorIndex

def rss():
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS:"))

before = rss()
start = time.perf_counter()
index = VectorIndex.load(Path(sys.argv[1]), model="bench", dim=int(sys.argv[2]))
took = time.perf_counter() - start
print(json.dumps({"rss_mb": (rss() - before) / 2**20, "load_s": took, "count": index.count}))
"""


def _measure_load(path: Path, dim: int) -> dict[str, float]:
    """Resident memory and time of `VectorIndex.load` in a fresh process ({} where /proc is missing)."""
    if not Path("/proc/self/status").exists():
        return {}
    import promptlib

    package_root = str(Path(promptlib.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), str(dim)], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        return {}
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result
