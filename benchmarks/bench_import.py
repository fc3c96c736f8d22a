"""Bulk import through the product path vs raw sqlite3 executemany of the same rows.

    .venv/bin/python benchmarks/bench_import.py [--count 200000] [--repeat 3]

Product path: Library.prepare_entry (validation, tag cleaning, Recipe + sampler canonicalisation) then
Library.add_many (fingerprints, dedupe, tags, recipes, the FTS index filled batch by batch), one transaction.
Baseline: the same rows, pre-built as tuples, inserted with executemany into an identical fresh library, with the
FTS index filled once at the end and, for reference, by the per-row triggers. The machine may be shared: --repeat
runs every path that many times, interleaved, and reports the best time of each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import entries

from promptlib.library import Library


def product(folder: Path, data: list[dict[str, object]]) -> float:
    with Library.open(folder) as lib:
        start = time.perf_counter()
        report = lib.add_many(lib.prepare_entry(**e) for e in data)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
        assert report.added == len(data), report
    return elapsed


def raw(folder: Path, data: list[dict[str, object]], *, deferred: bool) -> float:
    """The same rows as plain tuples, executemany'd; FTS by per-row triggers or once at the end."""
    from contextlib import nullcontext

    from promptlib.store.schema_extras import deferred_fts

    with Library.open(folder) as lib:
        conn = lib.db.conn
        tags = sorted({t for e in data for t in e["tags"]})  # type: ignore[attr-defined]
        prompts, recipes, links = [], [], []
        for n, e in enumerate(data, start=1):
            p = e["params"]
            assert isinstance(p, dict)
            prompts.append((n, e["title"], e["prompt"], e["negative_prompt"], "", 0, "{}", ", ".join(e["tags"]),  # type: ignore[arg-type]
                            f"fp{n}", "2026-01-01 00:00:00.000000", "2026-01-01 00:00:00.000000"))  # fmt: skip
            recipes.append(
                (n, p["sampler"], p["steps"], p["cfg_scale"], p["seed"], p["width"], p["height"], "[]", "{}")
            )
            links.extend((n, tags.index(t) + 1) for t in e["tags"])  # type: ignore[attr-defined]
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        fts = deferred_fts(conn) if deferred else nullcontext()
        fts.__enter__()
        conn.executemany("INSERT INTO tags(id, name) VALUES (?, ?)", list(enumerate(tags, start=1)))
        conn.executemany(
            "INSERT INTO prompts(id, title, prompt, negative_prompt, notes, favourite, source, tag_text, fingerprint,"
            " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            prompts,
        )
        conn.executemany(
            "INSERT INTO recipes(prompt_id, sampler, steps, cfg_scale, seed, width, height, loras, extra)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            recipes,
        )
        conn.executemany("INSERT OR IGNORE INTO prompt_tags(prompt_id, tag_id) VALUES (?, ?)", links)
        fts.__exit__(None, None, None)
        conn.execute("COMMIT")
        return time.perf_counter() - start


def pack_import(folder: Path, data: list[dict[str, object]]) -> float:
    """`promptlib import PACK` end to end: JSON parsing, pack schema validation, entries, FTS."""
    pack = folder / "pack"
    pack.mkdir(parents=True)
    (pack / "pack.json").write_text(json.dumps({"schema": "promptlib-pack/1", "name": "bench", "files": ["e.json"]}))
    rows = [{k: v for k, v in e.items() if v not in ("", None)} for e in data]
    (pack / "e.json").write_text(json.dumps({"entries": rows}))
    with Library.open(folder / "lib") as lib:
        start = time.perf_counter()
        report = lib.import_path(pack)
        elapsed = time.perf_counter() - start
        assert report.added == len(data), report.errors[:3]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="run every path this many times, interleaved; keep the best"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = list(entries(args.count))
    best: dict[str, float] = {}
    for _ in range(args.repeat):  # interleaved, so a busy spell on a shared machine hits every path alike
        work = Path(tempfile.mkdtemp(prefix="promptlib-bench-"))
        try:
            times = {
                "raw_triggers": raw(work / "raw-triggers", data, deferred=False),
                "raw": raw(work / "raw-deferred", data, deferred=True),
                "product": product(work / "product", data),
                "pack": pack_import(work / "pack", data),
            }
        finally:
            shutil.rmtree(work)
        best = {k: min(v, best.get(k, v)) for k, v in times.items()}
    result = {
        "count": args.count,
        "repeat": args.repeat,
        "product_s": round(best["product"], 3),
        "product_per_s": round(args.count / best["product"]),
        "pack_import_per_s": round(args.count / best["pack"]),
        "raw_executemany_s": round(best["raw"], 3),
        "raw_per_s": round(args.count / best["raw"]),
        "raw_with_fts_triggers_per_s": round(args.count / best["raw_triggers"]),
        "product_over_raw": round(best["product"] / best["raw"], 2),
    }
    print(json.dumps(result) if args.json else "\n".join(f"{k:>20}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
