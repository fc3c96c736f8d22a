"""Vector search at 1,000,000 × 512: query latency, recall@10 against exact search, build time, index memory.

    .venv/bin/python benchmarks/bench_vectors.py [--vectors 1000000] [--dim 512] [--queries 200]
                                                  [--factory F ...] [--spread S] [--filtered] [--quick]

Runs `promptlib.search.vector_bench` (the code behind `promptlib bench search`) once per factory, on one data set:
the default is the index the library would choose for that size; pass --factory several times to compare
alternatives. The data (clustered synthetic embeddings, see vector_bench's docstring) is generated once and kept
in benchmarks/.work/vectors/. The baseline, exact IndexFlatIP search over the same vectors, is measured in the
same run and is also the ground truth for recall. --quick: 100,000 vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from promptlib.search.vector_bench import measure, prepare

WORK = Path(__file__).resolve().parent / ".work" / "vectors"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--factory", action="append", help="faiss factory string (repeatable; default: chosen)")
    parser.add_argument("--spread", type=float, default=1.0, help="cluster width scale (above 1: harder data)")
    parser.add_argument("--quick", action="store_true", help="100,000 vectors")
    parser.add_argument(
        "--filtered", action="store_true", help="also time searches restricted to 0.1%%, 1%%, 10%%, 50%% of the ids"
    )
    args = parser.parse_args()
    vectors = 100_000 if args.quick else args.vectors
    stage = {"name": ""}

    def progress(name: str, done: int, total: int) -> None:
        if name != stage["name"]:
            stage["name"] = name
            print(f"  {time.strftime('%H:%M:%S')} {name}", file=sys.stderr, flush=True)

    print(f"== data and exact baseline: {vectors:,} × {args.dim}", file=sys.stderr, flush=True)
    data = prepare(
        vectors, args.dim, queries=args.queries, seed=args.seed, work_dir=WORK, progress=progress, spread=args.spread
    )
    results = []
    for factory in args.factory or [None]:
        print(f"== {factory or 'default factory'}", file=sys.stderr, flush=True)
        stage["name"] = ""
        fractions = (0.001, 0.01, 0.1, 0.5) if args.filtered else ()
        result = measure(data, factory=factory, work_dir=WORK, progress=progress, filtered=fractions)
        print(f"  {json.dumps(result)}", file=sys.stderr, flush=True)
        results.append(result)
    summary = {"vectors": vectors, "dim": args.dim, "queries": args.queries, "spread": args.spread}
    print(json.dumps(summary | {"load_average": os.getloadavg(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
