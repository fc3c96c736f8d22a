"""Lexical search latency at 1,000,000 prompts: rare terms, very common terms, filters; vs plain bm25.

    .venv/bin/python benchmarks/bench_search.py [--count 1000000] [--runs 40]

The library is built once through the product path (Library.add_many) and kept in benchmarks/.work/.
Latency is Library.search(query, limit=20) end to end: parse, FTS5 + filters, bounded bm25, hydration.
The baseline is FTS5's plain `ORDER BY bm25 LIMIT 20` over every match, in the same process and library.
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

from corpus import entries

from promptlib.library import Library

WORK = Path(__file__).resolve().parent / ".work"


def build(count: int) -> Path:
    folder = WORK / f"search-{count}"
    if (folder / "library.db").exists():
        with Library.open(folder) as lib:
            if lib.count() == count:
                return folder
        import shutil

        shutil.rmtree(folder)
    start = time.perf_counter()
    with Library.open(folder) as lib:
        lib.add_many(lib.prepare_entry(**e) for e in entries(count))  # type: ignore[arg-type]
    print(f"built {count:,} prompts in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return folder


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    folder = build(args.count)
    rng = random.Random(3)
    with Library.open(folder) as lib:
        conn = lib.db.conn
        # Rare words: tokens with a handful of matches, read from the FTS vocabulary.
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, 'prompts_fts', 'row')")
        rare = [r[0] for r in conn.execute("SELECT term FROM temp.vocab WHERE doc BETWEEN 5 AND 50 LIMIT 2000")]
        common = conn.execute("SELECT term, doc FROM temp.vocab ORDER BY doc DESC LIMIT 1").fetchone()
        workloads = {
            "rare term": [rng.choice(rare) for _ in range(args.runs)],
            "two rare terms (OR)": [f"{rng.choice(rare)} OR {rng.choice(rare)}" for _ in range(args.runs)],
            f"very common term ({common[0]!r}, {common[1]:,} matches)": [common[0]] * args.runs,
            "common term + filters": [f"{common[0]} steps:20-30 cfg:>=7" for _ in range(args.runs)],
            "common phrase": ['"best quality"'] * args.runs,
            "filters only (sort new)": ["tag:castle steps:>40 -tag:wip"] * args.runs,
        }
        results: dict[str, dict[str, float]] = {}
        for name, queries in workloads.items():
            lib.search(queries[0])  # warm the page cache
            samples = []
            for query in queries:
                start = time.perf_counter()
                lib.search(query, limit=20)
                samples.append(time.perf_counter() - start)
            results[name] = percentiles(samples)
        baseline = []
        for _ in range(max(5, args.runs // 8)):
            start = time.perf_counter()
            conn.execute(
                "SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ? ORDER BY bm25(prompts_fts) LIMIT 20",
                (f'"{common[0]}"',),
            ).fetchall()
            baseline.append(time.perf_counter() - start)
        results["baseline: plain bm25 over all matches of the common term"] = percentiles(baseline)
    print(json.dumps({"count": args.count, "runs": args.runs, "results": results}, indent=2))


if __name__ == "__main__":
    main()
