"""Fuzzing every parser of untrusted input: only promptlib's own one-line errors may escape.

Each target in `fuzz_targets` gets `SHORT_FUZZ_PER_TARGET` inputs in a normal run and its share of
`LONG_FUZZ_INPUTS` with ``--run-slow``; the inputs actually tried are counted and recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from promptlib.errors import PromptlibError
from tests.reliability import knobs
from tests.reliability.fuzz_targets import TEXT_PARSERS, Target, build_targets

TARGETS = build_targets()
TRIED: Counter[str] = Counter()
REFUSED: Counter[str] = Counter()
MAX_MESSAGE_CHARS = 600
RECIPES = ("Recipe", "list[Recipe]")  # return annotations of the parsers (postponed, so strings)


@pytest.fixture(scope="module", autouse=True)
def figures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if knobs.long_mode(request.config):
        knobs.record(
            "fuzz",
            {
                "targets": len(TARGETS),
                "inputs": sum(TRIED.values()),
                "refused_with_promptlib_error": sum(REFUSED.values()),
                "per_target": {name: [TRIED[name], REFUSED[name]] for name in sorted(TARGETS)},
            },
        )


def run_target(target: Target, examples: int, *, derandomize: bool) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=list(HealthCheck),
    )
    @given(value=target.strategy)
    def fuzz(value: object) -> None:
        TRIED[target.name] += 1
        try:
            target.call(value)
        except PromptlibError as exc:
            REFUSED[target.name] += 1
            message = str(exc)
            assert message and "\n" not in message, repr(message)
            assert len(message) <= MAX_MESSAGE_CHARS, f"{len(message)}-character message: {message[:200]}…"

    fuzz()


def test_every_parser_has_a_target() -> None:
    import importlib
    import inspect
    import pkgutil

    import promptlib.metadata
    from promptlib.metadata import READERS
    from promptlib.packs.formats import READERS as FORMAT_READERS

    assert {f"reader-{name}" for name in READERS} <= set(TARGETS)
    assert {f"format-{name}" for name in FORMAT_READERS} <= set(TARGETS)
    assert {"search-dsl", "native-pack-zip", "image-bytes-mutated", "a1111-infotext"} <= set(TARGETS)
    # every public text → recipe parser of a metadata module is also fuzzed on its own, not only behind a reader
    fuzzed = {(module, function) for module, function, _ in TEXT_PARSERS.values()}
    parsers = set()
    for info in pkgutil.iter_modules(promptlib.metadata.__path__):
        module = importlib.import_module(f"promptlib.metadata.{info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            signature = inspect.signature(function)
            first = next(iter(signature.parameters.values()), None)
            takes_text = first is not None and "str" in str(first.annotation).replace(" ", "").split("|")
            public = function.__module__ == module.__name__ and not name.startswith("_")
            if public and takes_text and signature.return_annotation in RECIPES:
                parsers.add((module.__name__, name))
    assert parsers and parsers - fuzzed == set()


def test_docs_reliability_states_how_many_targets_are_registered() -> None:
    from tests.conftest import REPO

    text = " ".join((REPO / "docs" / "RELIABILITY.md").read_text(encoding="utf-8").split())
    assert f"{len(TARGETS)} targets are registered now" in text


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzzed_input_raises_only_promptlib_errors(name: str, request: pytest.FixtureRequest) -> None:
    long = knobs.long_mode(request.config)
    examples = -(-knobs.LONG_FUZZ_INPUTS // len(TARGETS)) if long else knobs.SHORT_FUZZ_PER_TARGET
    before = TRIED[name]
    run_target(TARGETS[name], examples, derandomize=not long)  # `make test` is reproducible; long runs explore
    assert TRIED[name] - before >= min(examples, 10)  # the strategy produced inputs (it is not exhausted at once)
