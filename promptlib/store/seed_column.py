"""Seeds in the `recipes.seed` INTEGER column.

A seed runs to 2**64 - 1 (ComfyUI's seed widget allows it, and `torch.Generator.manual_seed` takes it), but SQLite's
integers stop at 2**63 - 1. A seed above that is stored as its two's-complement negative and read back as itself: a
seed is never negative, so the two cannot be confused, and the seeds users type every day are stored as they are
(and found through the column's index).
"""

from __future__ import annotations

from promptlib.limits import MAX_ID

SPAN = 2**64


def to_sql(seed: int | None) -> int | None:
    return seed - SPAN if seed is not None and seed > MAX_ID else seed


def from_sql(value: int | None) -> int | None:
    return value + SPAN if value is not None and value < 0 else value


def range_sql(
    column: str, low: float | None, high: float | None, *, low_open: bool, high_open: bool
) -> tuple[str, list[float]]:
    """SQL for `low <= seed <= high` (either side open or absent) over the stored column, and its parameters: the
    seeds up to MAX_ID as they are, those above as their stored negatives. Every parameter fits SQLite's integers."""
    small: list[str] = [f"{column} >= 0"]
    small_params: list[float] = []
    if low is not None and low > MAX_ID:
        small = ["0"]  # no seed stored as it is can be that large
    elif low is not None and low > 0:
        small = [f"{column} {'>' if low_open else '>='} ?"]
        small_params.append(low)
    if high is not None and high <= MAX_ID:
        small.append(f"{column} {'<' if high_open else '<='} ?")
        small_params.append(high)
        return "(" + " AND ".join(small) + ")", small_params  # no stored negative can match
    large, large_params = [f"{column} < 0"], []
    if low is not None and low > MAX_ID:
        large.append(f"{column} {'>' if low_open else '>='} ?")
        large_params.append(low - SPAN)
    if high is not None and high < SPAN:
        large.append(f"{column} {'<' if high_open else '<='} ?")
        large_params.append(high - SPAN)
    sql = "((" + " AND ".join(small) + ") OR (" + " AND ".join(large) + "))"
    return sql, small_params + large_params
