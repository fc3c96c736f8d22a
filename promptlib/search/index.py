"""The vector index: FAISS over L2-normalised embeddings with stable ids, a manifest and atomic saves.

It knows no database and no model: callers hand it int64 ids and float32 unit vectors (so inner product is cosine
similarity) and get ids back. One index per embedding model, saved as a file plus a JSON manifest beside it
(`manifest_path`). The manifest is written last and names the index file's size and sha256, so a torn pair (a
crash between the two replaces), a truncated or damaged file, or an index of another model, dimension or
generation raises `StaleIndexError` or `CorruptIndexError` on load. Both mean "rebuild from the stored
embeddings" (ARCHITECTURE rule 1: the index is a derived cache); neither ever yields a silently empty index.

Index type by size (`choose_factory`): exact ``IDMap2,Flat`` under `EXACT_LIMIT` vectors; beyond it
``IVF{nlist},SQ8`` (one byte per dimension, ids kept by the inverted lists, a hash table for removals), whose
``nprobe`` is tuned at build time against exact search on held-out stored vectors (docs/PERFORMANCE.md).

faiss and numpy are imported inside the functions that need them (ARCHITECTURE rule 4).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.errors import LibraryError, ValidationError
from promptlib.search.index_arrays import as_matrix, check_ids, check_model, check_unit, exact_top_rows, members
from promptlib.search.index_manifest import (
    FORMAT,
    METRIC,
    CorruptIndexError,
    IndexManifest,
    StaleIndexError,
    VectorIndexError,
    atomic_file,
    file_digest,
    fsync_dir,
    index_filename,
    manifest_path,
    read_manifest,
    write_manifest,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
    IdArray = npt.NDArray[np.int64]

EXACT_LIMIT = 50_000  # below this many vectors exact search is fast enough (~6 ms at 512-d) and needs no training
TUNE_RECALL = 0.97  # nprobe is tuned to this recall@10 on a sample, a margin over the 0.95 goal
TUNE_QUERIES = 200
NPROBE_LADDER = (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
EF_SEARCH_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
TRAIN_PER_LIST = 64  # k-means training points per inverted list (faiss warns under 39)
KMEANS_ITERATIONS = 10
SUBSET_EXACT_LIMIT = 16_384  # allow-lists up to this size may be searched exactly over their stored vectors...
# ...when that reads back fewer than 1/SUBSET_COST as many vectors as the filtered scan would visit. Reading one
# back by id costs ~10-20 scanned codes; 8 leans towards the exact path, whose recall is perfect.
SUBSET_COST = 8
BITMAP_MAX_ID = 1 << 26  # allow-lists of ids below this become a bitmap (≤ 8 MB), larger ids a hash set
ADD_CHUNK = 65_536
SEARCH_THREADS_BELOW = 8  # fewer queries than this run on one thread: no OpenMP team to wake for one query

Progress = Callable[[int, int], None]  # (vectors done, total)

__all__ = [
    "CorruptIndexError",
    "IndexManifest",
    "StaleIndexError",
    "VectorIndex",
    "VectorIndexError",
    "choose_factory",
    "index_filename",
    "manifest_path",
    "read_manifest",
]


def choose_factory(n: int, dim: int) -> str:
    """The faiss factory string for an index of about `n` vectors of `dim` dimensions.

    Exact inner product under `EXACT_LIMIT`; beyond, an inverted file with about √n lists (a power of two) and
    8-bit scalar quantisation: dim bytes per vector, so a million 512-d vectors take ~0.55 GB instead of 2 GB.
    """
    if dim < 1:
        raise ValidationError(f"vector dimension must be positive, not {dim}")
    if n < EXACT_LIMIT:
        return "IDMap2,Flat"
    nlist = 2 ** round(math.log2(math.sqrt(n)))
    return f"IVF{min(max(nlist, 256), 65_536)},SQ8"


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise LibraryError("vector search needs faiss: pip install 'promptlib[ml]'") from exc
    return faiss


@contextmanager
def _omp_threads(n: int | None) -> Iterator[None]:
    """OpenMP threads for the calling thread only (the setting is per thread), restored afterwards."""
    if n is None:
        yield
        return
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class VectorIndex:
    """A FAISS index of unit vectors under stable int64 ids, for one embedding model.

    Build one with `create` (empty) or `build` (all vectors at once, trained and tuned), or `load` a saved one.
    Thread-safe: one lock around every operation.
    """

    def __init__(
        self,
        index: Any,
        *,
        model: str,
        dim: int,
        factory: str,
        ids: IdArray,
        generation: str = "",
        recall_at_10: float | None = None,
        saved: tuple[int, str] = (0, ""),
    ) -> None:
        self._index = index
        self._model = model
        self._dim = dim
        self._factory = factory
        self._ids = ids  # sorted: the ids the faiss index holds, for membership without asking faiss
        self._generation = generation
        self._recall = recall_at_10
        self._saved = saved
        self._lock = threading.RLock()
        faiss = _faiss()
        self._ivf: Any = faiss.try_extract_index_ivf(index)
        self._hnsw: Any = None
        if self._ivf is None and isinstance(index, faiss.IndexIDMap2):
            inner = faiss.downcast_index(index.index)
            self._hnsw = inner if isinstance(inner, faiss.IndexHNSW) else None

    # -- construction --------------------------------------------------------------------------------------------

    @classmethod
    def create(cls, model: str, dim: int, *, expected_size: int = 0, factory: str | None = None) -> VectorIndex:
        """An empty index whose type suits `expected_size` vectors (or the given faiss factory string).

        An IVF index trains on its first `add`, which then needs at least 39 vectors per list; prefer `build`.
        Raises ValidationError for a bad model name, dimension or factory string.
        """
        check_model(model, dim)
        factory = factory or choose_factory(expected_size, dim)
        index, factory = _new_faiss_index(factory, dim)
        import numpy as np

        return cls(index, model=model, dim=dim, factory=factory, ids=np.empty(0, dtype=np.int64))

    @classmethod
    def build(
        cls,
        model: str,
        dim: int,
        ids: npt.ArrayLike,
        vectors: npt.ArrayLike,
        *,
        generation: str,
        factory: str | None = None,
        progress: Progress | None = None,
    ) -> VectorIndex:
        """An index of all `vectors` (n × dim, float32, unit length) under `ids` (n distinct int64 ≥ 0).

        Chooses the factory by size unless given; an approximate index is trained on a sample of the vectors and
        its search breadth tuned until recall@10 against exact search reaches `TUNE_RECALL` (measured on held-out
        stored vectors, recorded in the manifest). `progress(done, total)` is called as vectors are added.
        Raises ValidationError for bad ids or vectors.
        """
        import numpy as np

        check_model(model, dim)
        id_array = check_ids(ids)
        if len(np.unique(id_array)) != len(id_array):
            raise ValidationError("duplicate ids in one batch")
        data = as_matrix(vectors, dim, rows=len(id_array))
        self = cls.create(model, dim, expected_size=len(id_array), factory=factory)
        self._generation = generation
        total = len(id_array)
        with self._lock:
            if not self._index.is_trained:
                self._train(data)
            if progress is not None:
                progress(0, total)
            for start in range(0, total, ADD_CHUNK):
                chunk = check_unit(data[start : start + ADD_CHUNK], first_id=id_array[start:])
                self._index.add_with_ids(chunk, id_array[start : start + ADD_CHUNK])
                if progress is not None:
                    progress(min(start + ADD_CHUNK, total), total)
            self._ids = np.sort(id_array)
            self._tune(data, id_array)
        return self

    @classmethod
    def load(cls, path: Path, *, model: str, dim: int, generation: str | None = None) -> VectorIndex:
        """The index saved at `path`, checked against its manifest before faiss reads a byte of it.

        Raises StaleIndexError when there is no saved index or it was built for another model, dimension,
        format or `generation`; CorruptIndexError when the manifest or the file is unreadable, truncated, torn
        (the file is not the one the manifest names) or inconsistent (count, dimension, metric, ids).
        """
        path = Path(path)
        manifest = read_manifest(path)
        if manifest.format != FORMAT:
            raise StaleIndexError(f"vector index {path.name} has format {manifest.format}; this version reads {FORMAT}")
        if manifest.model != model:
            raise StaleIndexError(f"vector index {path.name} is for model {manifest.model!r}, not {model!r}")
        if manifest.dim != dim or manifest.metric != METRIC:
            raise StaleIndexError(
                f"vector index {path.name} holds {manifest.dim}-d {manifest.metric} vectors, not {dim}-d {METRIC}"
            )
        if generation is not None and manifest.generation != generation:
            raise StaleIndexError(
                f"vector index {path.name} is at generation {manifest.generation!r};"
                f" the embeddings are at {generation!r}"
            )
        size, sha = file_digest(path)
        if (size, sha) != (manifest.index_size, manifest.index_sha256):
            raise CorruptIndexError(
                f"vector index {path.name} is not the file its manifest names ({size:,} bytes, expected"
                f" {manifest.index_size:,}): interrupted save or damaged file"
            )
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except (RuntimeError, MemoryError) as exc:
            raise CorruptIndexError(f"vector index {path.name} is unreadable: {_first_line(exc)}") from exc
        if index.d != dim or index.metric_type != faiss.METRIC_INNER_PRODUCT or index.ntotal != manifest.count:
            raise CorruptIndexError(
                f"vector index {path.name} holds {index.ntotal:,} {index.d}-d vectors; its manifest says"
                f" {manifest.count:,} {dim}-d inner-product vectors"
            )
        ids = _stored_ids(index, path.name)
        if manifest.search_params:
            try:
                faiss.ParameterSpace().set_index_parameters(index, manifest.search_params)
            except RuntimeError as exc:
                raise CorruptIndexError(f"vector index {path.name}: bad search parameters in its manifest") from exc
        return cls(
            index,
            model=model,
            dim=dim,
            factory=manifest.factory,
            ids=ids,
            generation=manifest.generation,
            recall_at_10=manifest.recall_at_10,
            saved=(size, sha),
        )

    # -- properties ----------------------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model(self) -> str:
        return self._model

    @property
    def factory(self) -> str:
        return self._factory

    @property
    def manifest(self) -> IndexManifest:
        """The manifest of the index as it is in memory; generation, size and sha256 are those of the last
        build, load or save."""
        with self._lock:
            return IndexManifest(
                model=self._model,
                dim=self._dim,
                count=self.count,
                generation=self._generation,
                factory=self._factory,
                search_params=self._search_params(),
                recall_at_10=self._recall,
                index_size=self._saved[0],
                index_sha256=self._saved[1],
            )

    @property
    def outgrown(self) -> bool:
        """True when the index's type no longer suits its size: an exact index past `EXACT_LIMIT`, or an IVF
        index whose list count is a quarter or less (or four times or more) of what `choose_factory` would pick."""
        wanted = choose_factory(self.count, self._dim)
        if self._factory == "IDMap2,Flat":
            return wanted != self._factory
        if self._ivf is not None and wanted.startswith("IVF"):
            ratio = int(wanted[3:].split(",")[0]) / int(self._ivf.nlist)
            return ratio >= 4 or ratio <= 0.25
        return False

    def ids(self) -> IdArray:
        """The ids held, sorted (a copy)."""
        with self._lock:
            return self._ids.copy()

    def __contains__(self, item: object) -> bool:
        import numpy as np

        if not isinstance(item, int | np.integer):
            return False
        with self._lock:
            pos = int(np.searchsorted(self._ids, item))
            return pos < len(self._ids) and int(self._ids[pos]) == int(item)

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"VectorIndex(model={self._model!r}, dim={self._dim}, count={self.count}, factory={self._factory!r})"

    # -- changes -------------------------------------------------------------------------------------------------

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add vectors (n × dim float32, unit length) under int64 ids; an id already present is replaced.

        Raises ValidationError for bad shapes, dtypes, non-unit or non-finite vectors, negative or duplicate ids,
        or an untrained IVF index given too few vectors to train on.
        """
        import numpy as np

        id_array = check_ids(ids)
        if len(np.unique(id_array)) != len(id_array):
            raise ValidationError("duplicate ids in one batch")
        data = check_unit(as_matrix(vectors, self._dim, rows=len(id_array)), first_id=id_array)
        if len(id_array) == 0:
            return
        with self._lock:
            if not self._index.is_trained:
                self._train(data)
            present = id_array[members(id_array, self._ids)]
            if len(present):
                self._remove_present(present)
            self._index.add_with_ids(data, id_array)
            self._ids = np.union1d(self._ids, id_array)

    def remove(self, ids: Iterable[int]) -> int:
        """Remove these ids (absent ones are ignored); returns how many were removed."""
        import numpy as np

        id_array = np.unique(check_ids(ids if isinstance(ids, np.ndarray) else np.asarray(list(ids))))
        with self._lock:
            present = id_array[members(id_array, self._ids)]
            if not len(present):
                return 0
            self._remove_present(present)
            self._ids = np.setdiff1d(self._ids, present, assume_unique=True)
            return len(present)

    def _remove_present(self, present: IdArray) -> None:
        faiss = _faiss()
        # IVF removes through its hash table, which takes only an id array; IDMap2 tests every stored id against
        # the selector, so it gets a hashed batch.
        selector = faiss.IDSelectorArray(present) if self._ivf is not None else faiss.IDSelectorBatch(present)
        try:
            removed = int(self._index.remove_ids(selector))
        except RuntimeError as exc:
            raise ValidationError(f"a {self._factory} index cannot remove vectors; rebuild it instead") from exc
        if removed != len(present):
            raise CorruptIndexError(f"vector index removed {removed} of {len(present)} ids it should hold")

    # -- search --------------------------------------------------------------------------------------------------

    def search(
        self, queries: npt.ArrayLike, k: int, *, allowed: npt.ArrayLike | None = None
    ) -> tuple[FloatArray, IdArray]:
        """The `k` nearest stored vectors to each query by inner product: (scores, ids), each (nq, k), best
        first; missing results have id −1 and score −inf.

        `allowed` restricts results to those ids (a filter's matches). Small allow-lists are searched exactly over
        their stored vectors (when reading those back is cheaper than the scan below); larger ones through a faiss
        id selector, with the IVF search widened by √(1/fraction) since allowed neighbours sit in farther lists
        when most of the index is excluded.
        Raises ValidationError for bad queries or k.
        """
        import numpy as np

        q = as_matrix(queries, self._dim, rows=None, what="query")
        if not np.isfinite(q).all():
            raise ValidationError("query vectors contain NaN or infinity")
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValidationError(f"k must be a positive integer, not {k!r}")
        k = int(k)
        scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        labels = np.full((len(q), k), -1, dtype=np.int64)
        with self._lock:
            if self.count == 0 or len(q) == 0:
                return scores, labels
            params = None
            if allowed is not None:
                allow = check_ids(allowed)
                if len(allow) > 1 and not bool((allow[1:] > allow[:-1]).all()):
                    allow = np.unique(allow)
                if len(allow) <= SUBSET_EXACT_LIMIT:  # ids the index lacks cannot be read back
                    allow = allow[members(allow, self._ids)]
                if len(allow) == 0:
                    return scores, labels
                nprobe = self._widened_nprobe(len(allow))
                scanned = self.count if self._ivf is None else nprobe * self.count / int(self._ivf.nlist)
                if len(allow) <= SUBSET_EXACT_LIMIT and len(allow) * SUBSET_COST <= scanned:
                    return self._search_subset(q, k, allow, scores, labels)
                params = self._selector_params(allow, nprobe)
            kk = min(k, self.count)
            with _omp_threads(1 if len(q) < SEARCH_THREADS_BELOW else None):
                dist, ids = self._index.search(q, kk, params=params)
        found = ids >= 0
        scores[:, :kk] = np.where(found, dist, -np.inf)
        labels[:, :kk] = ids
        return scores, labels

    def _widened_nprobe(self, allowed: int) -> int:
        if self._ivf is None:
            return 0
        widen = math.sqrt(max(1.0, self.count / allowed))
        return min(int(self._ivf.nlist), math.ceil(int(self._ivf.nprobe) * widen))

    def _selector_params(self, allow: IdArray, nprobe: int) -> Any:
        import numpy as np

        faiss = _faiss()
        if int(allow[-1]) < BITMAP_MAX_ID:  # sorted: the last is the largest
            bits = np.zeros(int(allow[-1]) + 1, dtype=bool)
            bits[allow] = True
            bitmap = np.packbits(bits, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
            keep: list[Any] = [selector, bitmap]
        else:
            selector = faiss.IDSelectorBatch(allow)
            keep = [selector]
        if self._ivf is not None:
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        elif self._hnsw is not None:
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=int(self._hnsw.hnsw.efSearch))
        else:
            params = faiss.SearchParameters(sel=selector)
        params.referenced_objects = keep  # the selector (and its bitmap) live as long as the parameters
        return params

    def _search_subset(
        self, q: FloatArray, k: int, allow: IdArray, scores: FloatArray, labels: IdArray
    ) -> tuple[FloatArray, IdArray]:
        import numpy as np

        faiss = _faiss()
        stored = self._index.reconstruct_batch(allow)
        kk = min(k, len(allow))
        # faiss's own kernels, not numpy's threaded BLAS: a small product there can wait milliseconds for its
        # worker threads on a busy machine.
        with _omp_threads(1 if len(q) < SEARCH_THREADS_BELOW else None):
            sims, rows = faiss.knn(q, stored, kk, metric=faiss.METRIC_INNER_PRODUCT)
        scores[:, :kk] = sims
        labels[:, :kk] = np.where(rows >= 0, allow[np.maximum(rows, 0)], -1)
        return scores, labels

    # -- persistence ---------------------------------------------------------------------------------------------

    def save(self, path: Path, *, generation: str) -> None:
        """Write the index, then its manifest, each to a temp file, fsynced, then `os.replace`d into place.

        The manifest names the index file's size and sha256: a crash between the two replaces leaves a pair that
        `load` reports as CorruptIndexError. Raises LibraryError when the folder cannot be written.
        """
        path = Path(path)
        faiss = _faiss()
        with self._lock:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                size = 0

                def write(handle: Any, chunk: bytes) -> None:
                    nonlocal size
                    handle.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)

                with atomic_file(path) as handle:
                    writer = faiss.PyCallbackIOWriter(lambda chunk: write(handle, chunk))
                    faiss.write_index(self._index, writer)
                    del writer
                saved = (size, digest.hexdigest())
                manifest = replace(self.manifest, generation=generation, index_size=saved[0], index_sha256=saved[1])
                write_manifest(path, manifest)
                fsync_dir(path.parent)
            except OSError as exc:
                raise LibraryError(f"cannot save the vector index to {path}: {exc.strerror or exc}") from exc
            except RuntimeError as exc:  # faiss reports a failed write through its callback as a RuntimeError
                raise LibraryError(f"cannot save the vector index to {path}: {_first_line(exc)}") from exc
            self._generation = generation
            self._saved = saved

    # -- training and tuning -------------------------------------------------------------------------------------

    def _train(self, data: FloatArray) -> None:
        import numpy as np

        faiss = _faiss()
        if self._ivf is not None:
            nlist = int(self._ivf.nlist)
            if len(data) < 39 * nlist:
                raise ValidationError(
                    f"an index with {nlist} lists trains on at least {39 * nlist:,} vectors; got {len(data):,}"
                    " (build it from all the vectors, or choose a smaller factory)"
                )
            self._ivf.cp.niter = KMEANS_ITERATIONS
            want = min(len(data), nlist * TRAIN_PER_LIST)
        else:
            want = min(len(data), 100_000)
        rows = np.sort(np.random.default_rng(0).choice(len(data), size=want, replace=False))
        sample = check_unit(np.ascontiguousarray(data[rows], dtype=np.float32), first_id=None)
        self._index.train(sample)
        if self._ivf is not None:
            self._ivf.set_direct_map_type(faiss.DirectMap.Hashtable)

    def _tune(self, data: FloatArray, ids: IdArray, k: int = 10) -> None:
        """Pick the smallest search breadth whose recall@k reaches `TUNE_RECALL`, measured leave-one-out: sampled
        stored vectors as queries, their own ids excluded from both the exact and the approximate results."""
        import numpy as np

        faiss = _faiss()
        n = len(ids)
        if self._factory == "IDMap2,Flat":
            self._recall = 1.0
            return
        if n <= k + 1:
            self._recall = None
            return
        rows = np.random.default_rng(1).choice(n, size=min(TUNE_QUERIES, n), replace=False)
        queries = np.ascontiguousarray(data[rows], dtype=np.float32)
        exact_rows = exact_top_rows(queries, data, k + 1)
        truth = [_without(ids[r[r >= 0]], ids[q], k) for q, r in zip(rows, exact_rows, strict=True)]

        def recall() -> float:
            _, found = self._index.search(queries, k + 1)
            hits = [
                len(np.intersect1d(_without(f[f >= 0], ids[q], k), t))
                for q, f, t in zip(rows, found, truth, strict=True)
            ]
            return sum(hits) / (k * len(rows))

        if self._ivf is not None:
            setting, ladder = "nprobe", [p for p in NPROBE_LADDER if p <= int(self._ivf.nlist)]
        elif self._hnsw is not None:
            setting, ladder = "efSearch", [e for e in EF_SEARCH_LADDER if e >= k]
        else:
            self._recall = recall()
            return
        space = faiss.ParameterSpace()
        tried: list[tuple[int, float]] = []
        for value in ladder:
            space.set_index_parameters(self._index, f"{setting}={value}")
            tried.append((value, recall()))
            if tried[-1][1] >= TUNE_RECALL:
                break
        best = max(r for _, r in tried)
        value, measured = next((v, r) for v, r in tried if r >= min(TUNE_RECALL, best - 0.005))
        space.set_index_parameters(self._index, f"{setting}={value}")
        self._recall = round(measured, 4)

    def _search_params(self) -> str:
        if self._ivf is not None:
            return f"nprobe={int(self._ivf.nprobe)}"
        if self._hnsw is not None:
            return f"efSearch={int(self._hnsw.hnsw.efSearch)}"
        return ""


# -- helpers -------------------------------------------------------------------------------------------------------


def _new_faiss_index(factory: str, dim: int) -> tuple[Any, str]:
    """A faiss index for `factory` with stable ids: IVF keeps ids itself (plus a hash table so ids can be removed and
    vectors read back); anything else is wrapped in IDMap2. Returns the index and the factory string used."""
    faiss = _faiss()
    factory = factory.strip()
    if factory.startswith("IDMap,"):
        factory = "IDMap2," + factory.removeprefix("IDMap,")
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise ValidationError(f"bad index factory {factory!r}: {_first_line(exc)}") from exc
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        if factory.startswith("IDMap"):
            raise ValidationError(f"bad index factory {factory!r}: IVF indexes keep their own ids (drop IDMap2)")
        return index, factory
    if not factory.startswith("IDMap2,"):
        factory = "IDMap2," + factory
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    return index, factory


def _without(found: IdArray, own: Any, k: int) -> IdArray:
    kept: IdArray = found[found != own][:k]
    return kept


def _stored_ids(index: Any, name: str) -> IdArray:
    """The ids a loaded faiss index holds, sorted; CorruptIndexError when they repeat or do not add up."""
    import numpy as np

    faiss = _faiss()
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        lists = ivf.invlists
        parts = [np.empty(0, dtype=np.int64)]
        for list_no in range(int(ivf.nlist)):
            size = int(lists.list_size(list_no))
            if size:
                pointer = lists.get_ids(list_no)
                parts.append(faiss.rev_swig_ptr(pointer, size).copy())
                lists.release_ids(list_no, pointer)
        ids = np.concatenate(parts)
        if ivf.direct_map.type != faiss.DirectMap.Hashtable:
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
    elif isinstance(index, faiss.IndexIDMap2):
        ids = faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)
    else:
        raise CorruptIndexError(f"vector index {name} is of an unsupported type ({type(index).__name__})")
    ids = np.sort(ids)
    if len(ids) != int(index.ntotal) or (len(ids) > 1 and bool((ids[1:] == ids[:-1]).any())):
        raise CorruptIndexError(f"vector index {name} holds repeated or missing ids")
    return ids


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
