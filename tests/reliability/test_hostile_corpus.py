"""The hostile corpus through ``import``: each file refused or neutralised with one line, nothing escapes the
imported folder, the canary is never written, memory stays bounded, and the CLI shows hostile text inertly.
(This replaces tests/test_hostile_imports.py and extends it from 20 to over 40 crafted files.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from promptlib.library import Library
from tests.conftest import REPO, CliResult
from tests.reliability.corpus import (
    CANARY_NAME,
    HOSTILE_TEXT,
    REFUSED,
    SECRET,
    Expect,
    build_corpus,
    build_pack_folder,
)
from tests.reliability.crash import check_files

MAX_RSS_MB = 400  # peak of the importing process (~70 MB of it is Python, Pillow, pydantic and SQLAlchemy)
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Expect], dict[str, Any]]:
    root = tmp_path_factory.mktemp("hostile")
    corpus, library = root / "corpus", root / "cli-lib"
    expect = build_corpus(corpus)
    build_pack_folder(root / "pack_folder_links")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.reliability.hostile_import",
            str(library),
            str(corpus),
            str(root / "pack_folder_links"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root, corpus, expect, json.loads(done.stdout)


def _outcomes(corpus: Path, summary: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    failed = {f["path"].removeprefix(str(corpus) + "/"): f["reason"] for f in summary["failed"]}
    return failed, summary["warnings"]


def test_the_corpus_has_at_least_forty_crafted_files(imported: Any) -> None:
    _root, corpus, expect, _ = imported
    files = list(corpus.iterdir())
    assert len(files) >= 40 and len(expect) >= 50


def test_every_file_is_refused_with_one_line_or_imported(imported: Any) -> None:
    _root, corpus, expect, result = imported
    failed, warnings = _outcomes(corpus, result["summary"])
    for name, what in expect.items():
        refused = name in failed or any(w.startswith((name.rsplit("!", 1)[-1] + ":", name)) for w in warnings)
        if what.outcome == REFUSED:
            assert refused, f"{name} ({what.why}) was not refused"
        else:
            assert name not in failed, f"{name} ({what.why}) failed: {failed.get(name)}"
    for reason in [*failed.values(), *warnings]:
        assert "\n" not in reason and len(reason) < 400, reason
        assert "Traceback" not in reason and "sqlite3" not in reason, reason
    for path in corpus.iterdir():  # nothing silently ignored: imported, refused or warned about
        name = path.name
        assert name in expect, name
    assert any(w.startswith("csv_2mb_field.csv") and "field limit" in w for w in warnings)
    assert any(w.startswith("csv_unbalanced.csv") and "never closed" in w for w in warnings)
    # The pack folder: its entry file (a symlink out) and its image (a hard link to a text file) are refused.
    assert any("entries.json" in w and "outside the pack" in w for w in warnings), warnings
    assert any("not a readable image" in w or ("image" in w and "hard.png" in w) for w in warnings), warnings


def test_nothing_from_outside_the_folder_gets_in_and_the_canary_is_never_written(imported: Any) -> None:
    root, _corpus, _expect, _ = imported
    assert not (root / CANARY_NAME).exists() and not Path(CANARY_NAME).exists()
    assert not (root / "escape.jsonl").exists() and not (root.parent / "escape.jsonl").exists()
    with Library.open(root / "cli-lib") as lib:
        texts = [" ".join((e.prompt, e.negative_prompt, e.notes, e.title)) for e in lib.get_many(lib.entry_ids())]
        assert not any(SECRET in t or "root:x:0:0" in t for t in texts)
        prompts = {e.prompt for e in lib.get_many(lib.entry_ids())}
        assert not {"escaped", "absolute", "backslash", "drive letter", "encrypted", "never read", "nested"} & prompts
        assert {
            "a file whose name holds an escape",
            "pack slip entry",
            "dup two",
            "entry with a hardlinked image",
        } <= prompts
        assert not any("aaaaaaaaaaaaaaaaaaaa" in p for p in prompts)  # no XML entity was expanded
        assert "&j; a cat" in prompts  # the XMP's infotext, its entity reference left as it was
        assert HOSTILE_TEXT in prompts  # stored verbatim; escaped only on display
        # An unbalanced CSV quote runs to the end of the file, as in A1111's own reader: one harmless style.
        assert lib.style("open").prompt == "never closed,\n"
        assert lib.check() == []
        assert check_files(lib.path) == set()


def test_memory_stays_bounded(imported: Any) -> None:
    *_, result = imported
    assert result["maxrss_mb"] < MAX_RSS_MB, result["maxrss_mb"]


def test_the_cli_shows_hostile_text_inertly(imported: Any, cli: Callable[..., CliResult], tmp_path: Path) -> None:
    root, corpus, _expect, _ = imported
    import shutil

    shutil.copytree(root / "cli-lib", tmp_path / "cli-lib")  # where the cli fixture's PROMPTLIB_HOME points
    with Library.open(tmp_path / "cli-lib") as lib:
        hostile = [e.id for e in lib.get_many(lib.entry_ids()) if e.prompt == HOSTILE_TEXT]
    outputs = [
        cli("list", "-k", "200"),
        cli("show", str(hostile[0])),
        cli("show", str(hostile[0]), "--json"),
        cli("search", "markup"),
        cli("styles", "list"),
        cli("tags"),
        cli("import", str(corpus / "\x1b]0;title\x07name.jsonl"), str(corpus / "fits.png")),
    ]
    for result in outputs:
        for text in (result.out, result.err):
            assert not RAW_CONTROL.search(text), repr(RAW_CONTROL.search(text))
    shown = outputs[1].out
    assert "[bold red]markup[/bold red]" in shown and "[link=file:///etc/passwd]" in shown  # markup stays literal
    assert "\\x1b" in shown  # escapes made visible
    assert json.loads(outputs[2].out)["prompt"] == HOSTILE_TEXT  # JSON keeps the exact text, safely encoded


def test_model_files_are_checked_without_running_them(tmp_path: Path) -> None:
    """The renderer's checks (promptlib.render): a lying safetensors header and pickles in disguise are refused
    from their first bytes; even opted in, a pickle that would run code is refused and the canary never written."""
    models = pytest.importorskip("promptlib.render.models")
    from promptlib.errors import FormatError, UnsafeInputError
    from promptlib.render import checkpoints

    corpus = tmp_path / "corpus"
    build_corpus(corpus)
    with pytest.raises(FormatError, match="header length"):
        models.check_safetensors(corpus / "lying_header.safetensors")
    with pytest.raises(UnsafeInputError):
        models.check_safetensors(corpus / "model.safetensors")  # a pickle renamed .safetensors
    for name in ("canary.pkl", "canary_protocol0.pickle", "torch_checkpoint.ckpt", "model.safetensors"):
        with pytest.raises(UnsafeInputError):
            checkpoints.refuse_pickle(corpus / name)
    with pytest.raises(UnsafeInputError, match="pickle"):
        models.resolve_model(str(corpus / "canary.pkl"))
    assert not (tmp_path / CANARY_NAME).exists()


@pytest.mark.slow  # imports torch (seconds on 2 cores)
def test_an_opted_in_pickle_that_would_run_code_is_refused_by_torch_weights_only(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    checkpoints = pytest.importorskip("promptlib.render.checkpoints")
    from promptlib.errors import UnsafeInputError

    corpus = tmp_path / "corpus"
    build_corpus(corpus)
    for name in ("canary.pkl", "torch_checkpoint.ckpt"):
        with pytest.raises(UnsafeInputError):
            checkpoints.load_pickle_weights_only(corpus / name)
    assert not (tmp_path / CANARY_NAME).exists()
