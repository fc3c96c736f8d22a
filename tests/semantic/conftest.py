"""Semantic search fixtures: the tiny open_clip model trained once per session, and a library that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from promptlib.library import Library

from .helpers import TinyModel, open_library, train


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """The tiny CLIP, trained once per test session (a few seconds on CPU)."""
    pytest.importorskip("torch")
    pytest.importorskip("open_clip")
    pytest.importorskip("faiss")
    return train(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def torch_one_thread() -> Iterator[None]:
    """One torch thread: tiny models on a shared 2-core machine are dominated by thread hand-offs."""
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def slib(tmp_path: Path, tiny_clip: TinyModel) -> Iterator[Library]:
    library = open_library(tmp_path / "slib", tiny_clip)
    yield library
    library.close()
