"""Semantic text query latency end to end on CPU: ViT-B-32 text encode + vector search + hydrating 20 entries.

    .venv/bin/python benchmarks/bench_semantic.py [--count 20000] [--runs 60]

The library (benchmarks/.work/semantic-COUNT) holds COUNT synthetic prompts (`corpus.py`), one render row each, and
one stored 512-d image embedding per render. The vectors are fake (clustered random unit vectors: search speed
does not depend on where they came from) and the render rows point at no files; the index is built from them by
`Library.build_index`. The text encoder is real: open_clip's ViT-B-32 architecture with random weights
(`pretrained = "random"`), whose speed does not depend on the weights' values.

Latency is `Library.search(query, mode=..., limit=20)` in a warm process. Also timed: each part alone, and the
same query with open_clip's plain `encode_text` over all 77 token positions instead of promptlib's trimmed one
(one torch thread in both: one query's matrix products are too small to share between threads).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import STYLES, SUBJECTS, entries

from promptlib.library import Library
from promptlib.search.embed import _torch_threads
from promptlib.search.hybrid import renders_to_prompts

WORK = Path(__file__).resolve().parent / ".work"
CONFIG = """\
[embedding]
model = "ViT-B-32"
pretrained = "random"
device = "cpu"
workers = 0
"""


def build(count: int) -> Path:
    import numpy as np

    from promptlib.store import embeddings
    from promptlib.store.renders import NewRender, insert_render

    folder = WORK / f"semantic-{count}"
    if (folder / "library.db").exists():
        with Library.open(folder) as lib:
            status = lib.index_status().kinds[0]
            if status.embedded == count and status.state == "fresh":
                return folder
        import shutil

        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(CONFIG, encoding="utf-8")
    start = time.perf_counter()
    with Library.open(folder) as lib:
        report = lib.add_many(lib.prepare_entry(**e) for e in entries(count))  # type: ignore[arg-type]
        rng = np.random.default_rng(0)
        centres = rng.standard_normal((256, 512)).astype(np.float32)
        vectors = centres[rng.integers(0, 256, count)] + 0.6 * rng.standard_normal((count, 512)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with lib.db.write() as conn:
            render_ids = []
            for n, prompt_id in enumerate(report.ids):
                digest = f"{n:064x}"
                new = NewRender(prompt_id, digest, f"images/{digest[:2]}/{digest}.png", 512, 512, 400_000, "PNG")
                render_id = insert_render(conn, new)
                assert render_id is not None
                render_ids.append(render_id)
            embeddings.store(conn, "image", lib.semantic.model_id, render_ids, vectors)
        lib.build_index(kinds=["image"])
    print(f"built {count:,} entries with renders and vectors in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return folder


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    folder = build(args.count)
    rng = random.Random(5)
    moments = ["at dawn", "at dusk", "in the rain", "under snow", "at night", "in spring", "in fog"]
    every = [f"a {s} {m}, {st}" for s in SUBJECTS for m in moments for st in STYLES]
    pool = iter(rng.sample(every, 6 * (args.runs + 5)))  # every query different: none is served from a cache
    results: dict[str, dict[str, float]] = {}
    with Library.open(folder) as lib:
        started = time.perf_counter()
        lib.search("a first query", mode="semantic")  # loads the model and the index once per process
        load_s = time.perf_counter() - started
        embedder = lib.semantic.embedder()
        index = lib.semantic.index("image")
        assert index is not None and index.count == args.count

        def timed(name: str, fn: object) -> None:
            assert callable(fn)
            queries = [next(pool) for _ in range(args.runs + 5)]
            for q in queries[-5:]:
                fn(q)  # warm-up
            samples = []
            for q in queries[:-5]:
                start = time.perf_counter()
                fn(q)
                samples.append(time.perf_counter() - start)
            results[name] = percentiles(samples)

        timed("semantic: Library.search(mode=semantic, limit=20)", lambda q: lib.search(q, mode="semantic"))
        timed("hybrid: Library.search(mode=hybrid, limit=20)", lambda q: lib.search(q, mode="hybrid"))
        timed("part: text encode (trimmed to the query's tokens)", lambda q: embedder.embed_texts([q]))
        vector = embedder.embed_texts(["a castle at dawn"])
        timed("part: vector search, k=400", lambda q: index.search(vector, 400))
        ids = [h.entry.id for h in lib.search("a castle at dawn", mode="semantic").hits]
        timed("part: hydrate 20 entries", lambda q: lib.get_many(ids))

        def untrimmed(q: str) -> None:  # baseline: open_clip's encode_text over all 77 positions, also 1 thread
            with torch.inference_mode(), _torch_threads(1):
                v = torch.nn.functional.normalize(embedder.model.encode_text(embedder.tokenizer([q])), dim=-1)
            _, found = index.search(v.numpy(), 400)
            with lib.db.lock:
                hits = renders_to_prompts(lib.db.conn, [(int(i), 0.0) for i in found[0] if i >= 0])
            lib.get_many([pid for pid, _, _ in hits[:20]])

        timed("baseline: untrimmed 77-token encode_text + search + hydrate", untrimmed)
    print(
        json.dumps(
            {
                "count": args.count,
                "runs": args.runs,
                "torch_threads": torch.get_num_threads(),
                "first_query_s (model + index load)": round(load_s, 2),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
