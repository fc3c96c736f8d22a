"""The arrays a vector index takes, checked: model names, int64 ids, unit float32 vectors; and exact top-k by
chunked matrix products (the index's own ground truth when it tunes itself). numpy is imported inside."""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptlib.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    IdArray = npt.NDArray[np.int64]

NORM_TOLERANCE = 1e-2
CHUNK = 65_536


def check_model(model: str, dim: int) -> None:
    """Raise ValidationError unless `model` is a usable name and `dim` a usable dimension."""
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        raise ValidationError("the model name must be 1-200 characters")
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 65_536:
        raise ValidationError(f"vector dimension must be 1-65536, not {dim!r}")


def check_ids(ids: npt.ArrayLike) -> IdArray:
    """The ids as a contiguous int64 array; ValidationError unless they are non-negative integers in one row."""
    import numpy as np

    array = np.asarray(ids)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValidationError(f"ids must be a 1-d array of integers, not {array.dtype} of shape {array.shape}")
    if array.min() < 0 or (array.dtype == np.uint64 and array.max() > np.iinfo(np.int64).max):
        raise ValidationError("ids must be non-negative 64-bit integers (-1 marks a missing result)")
    return np.ascontiguousarray(array, dtype=np.int64)


def as_matrix(vectors: npt.ArrayLike, dim: int, *, rows: int | None, what: str = "vector") -> FloatArray:
    """The vectors as a contiguous float32 (rows × dim) array (one vector may be given flat); ValidationError
    for any other shape or a non-floating dtype."""
    import numpy as np

    array = np.asarray(vectors)
    if array.size == 0 and rows == 0:
        return np.empty((0, dim), dtype=np.float32)
    if array.ndim == 1 and rows in (None, 1) and array.shape[0] == dim:
        array = array.reshape(1, dim)
    if array.ndim != 2 or array.shape[1] != dim or (rows is not None and array.shape[0] != rows):
        expected = f"({rows if rows is not None else 'n'}, {dim})"
        raise ValidationError(f"{what}s must have shape {expected}, not {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValidationError(f"{what}s must be floating point, not {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float32)


def check_unit(vectors: FloatArray, *, first_id: IdArray | None) -> FloatArray:
    """The vectors unchanged, after checking they are finite and of unit length."""
    import numpy as np

    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    bad = ~(np.abs(norms - 1.0) <= NORM_TOLERANCE)  # NaN and infinity fail too
    if bad.any():
        row = int(np.argmax(bad))
        label = f"id {int(first_id[row])}" if first_id is not None and row < len(first_id) else f"row {row}"
        raise ValidationError(f"the vector for {label} has length {norms[row]:.4g}; vectors must be L2-normalised")
    return vectors


def exact_top_rows(queries: FloatArray, data: FloatArray, k: int) -> IdArray:
    """Row numbers of each query's k largest inner products in `data`, unordered (chunked matrix products)."""
    import numpy as np

    best_sims = np.empty((len(queries), 0), dtype=np.float32)
    best_rows = np.empty((len(queries), 0), dtype=np.int64)
    for start in range(0, len(data), CHUNK):
        chunk_sims = queries @ data[start : start + CHUNK].T
        chunk_rows = np.broadcast_to(np.arange(start, start + chunk_sims.shape[1]), chunk_sims.shape)
        sims = np.concatenate([best_sims, chunk_sims], axis=1)
        rows = np.concatenate([best_rows, chunk_rows], axis=1)
        if sims.shape[1] > k:
            keep = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            sims, rows = np.take_along_axis(sims, keep, axis=1), np.take_along_axis(rows, keep, axis=1)
        best_sims, best_rows = sims, rows
    return best_rows


def members(needles: IdArray, sorted_haystack: IdArray) -> npt.NDArray[np.bool_]:
    """Which needles are in the sorted haystack (binary search: no hashing of a million ids)."""
    import numpy as np

    if len(sorted_haystack) == 0:
        return np.zeros(len(needles), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_haystack, needles), len(sorted_haystack) - 1)
    found: npt.NDArray[np.bool_] = sorted_haystack[pos] == needles
    return found
