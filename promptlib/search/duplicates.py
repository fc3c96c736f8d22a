"""Near-duplicate images: clusters of renders whose image embeddings are at least a threshold apart in cosine
similarity, linked transitively (A~B and B~C put A, B and C in one cluster).

Each vector's nearest neighbours come from the vector index (exact below its size limit, approximate above), so the
cost is one k-nearest-neighbour search per image rather than all pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from promptlib.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from promptlib.search.index import VectorIndex

NEIGHBOURS = 16  # neighbours looked at per image; larger groups still join through their members' neighbours
QUERY_BATCH = 1024


@dataclass(frozen=True)
class DuplicateMember:
    render_id: int
    prompt_id: int
    image_path: str  # absolute
    similarity: float  # cosine similarity to the cluster's first (oldest) render

    def to_json(self) -> dict[str, Any]:
        return {
            "render_id": self.render_id,
            "prompt_id": self.prompt_id,
            "image_path": self.image_path,
            "similarity": round(self.similarity, 4),
        }


@dataclass(frozen=True)
class DuplicateCluster:
    members: list[DuplicateMember]

    def to_json(self) -> dict[str, Any]:
        return {"count": len(self.members), "renders": [m.to_json() for m in self.members]}


def clusters(
    index: VectorIndex, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32], *, threshold: float
) -> list[list[tuple[int, float]]]:
    """Groups of ≥ 2 ids whose vectors are within `threshold` of each other (transitively), each as [(id,
    similarity to the group's smallest id)] sorted by id; the largest group first."""
    import numpy as np

    if not 0.0 < threshold <= 1.0:
        raise ValidationError(f"threshold {threshold} is outside (0, 1]")
    n = len(ids)
    if n < 2:
        return []
    parent = {int(i): int(i) for i in ids}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    k = min(n, NEIGHBOURS)
    for start in range(0, n, QUERY_BATCH):
        scores, found = index.search(vectors[start : start + QUERY_BATCH], k)
        for row, own in enumerate(ids[start : start + QUERY_BATCH]):
            for other, score in zip(found[row], scores[row], strict=True):
                if other >= 0 and other != own and score >= threshold and int(other) in parent:
                    a, b = root(int(own)), root(int(other))
                    if a != b:
                        parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for rid in parent:
        groups.setdefault(root(rid), []).append(rid)
    position = {int(i): n for n, i in enumerate(ids)}
    out: list[list[tuple[int, float]]] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort()
        first = vectors[position[members[0]]]
        out.append([(rid, float(np.dot(first, vectors[position[rid]]))) for rid in members])
    out.sort(key=lambda group: (-len(group), group[0][0]))
    return out
