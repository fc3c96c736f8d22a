"""What semantic search reports: the index status per kind and the result of a build."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KindStatus:
    kind: str
    items: int  # renders (image) or prompts (prompt) in the library
    embedded: int  # of them with a stored vector under the model
    state: str  # fresh | stale | missing | corrupt
    indexed: int | None  # vectors in the saved index
    factory: str | None
    path: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "items": self.items,
            "embedded": self.embedded,
            "state": self.state,
            "indexed": self.indexed,
            "factory": self.factory,
            "path": self.path,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class IndexStatus:
    model: str
    weights: str  # the weights file, or why there is none
    kinds: list[KindStatus]
    other_models: list[dict[str, Any]]
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weights": self.weights,
            "kinds": [k.to_json() for k in self.kinds],
            "other_models": self.other_models,
            "last_error": self.last_error,
        }


@dataclass(frozen=True)
class EmbedFailure:
    """A render whose image could not be embedded (it is skipped; the build goes on)."""

    render_id: int
    image_path: str  # absolute
    reason: str

    def __str__(self) -> str:
        return f"render {self.render_id} ({self.image_path}): {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"render_id": self.render_id, "image_path": self.image_path, "reason": self.reason}


@dataclass
class BuildReport:
    model: str
    dim: int
    embedded: dict[str, int] = field(default_factory=dict)  # newly embedded, per kind
    reused: int = 0  # renders given the vector of another render of the same image file (embedded once)
    indexed: dict[str, int] = field(default_factory=dict)
    failed: list[EmbedFailure] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dim": self.dim,
            "embedded": self.embedded,
            "reused": self.reused,
            "indexed": self.indexed,
            "failed": [f.to_json() for f in self.failed],
            "seconds": round(self.seconds, 3),
        }
