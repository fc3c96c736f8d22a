"""TUI latency: first interactive frame at 1,000,000 prompts; keystroke → results and page-down at 100,000.

    .venv/bin/python benchmarks/bench_tui.py

Headless (Textual's test driver, 120×40). Libraries are built through Library.add_many into benchmarks/.work/.
Baseline in the same run: the same first page fetched directly with Library.entries (no UI).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import build

from promptlib.library import Library
from promptlib.tui.bench import measure_first_frame, measure_keystroke_to_results, measure_page_down


def main() -> None:
    big, small = build(1_000_000), build(100_000)
    with Library.open(big) as lib:
        start = time.perf_counter()
        lib.count()
        lib.entries(limit=100)
        baseline = time.perf_counter() - start
    frames = [measure_first_frame(big) for _ in range(3)]
    keys = {q: measure_keystroke_to_results(small, q) for q in ("lighthouse", "castle OR dragon", "tag:castle")}
    pages = measure_page_down(small, presses=30)
    result = {
        "first_frame_1m_s": {"median": round(statistics.median(frames), 3), "max": round(max(frames), 3)},
        "baseline_count_and_first_page_1m_s": round(baseline, 3),
        "keystroke_to_results_100k_ms": {
            q: {
                "total": round(t.seconds_to_results * 1000, 1),
                "database": round(t.database_seconds * 1000, 1),
                "debounce": round(t.debounce_seconds * 1000),
                "matches": t.matches,
            }
            for q, t in keys.items()
        },
        "page_down_100k_ms": {
            "p50": round(statistics.median(pages) * 1000, 1),
            "p95": round(sorted(pages)[int(0.95 * (len(pages) - 1))] * 1000, 1),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
