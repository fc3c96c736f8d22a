"""A hostile corpus through `import`: every file refused or neutralised with one line, the good one imported."""

from __future__ import annotations

import io
import json
import stat
import zipfile
import zlib
from pathlib import Path

from PIL import Image

from promptlib.library import Library
from tests.test_image_import import a1111_png


def _png_with_chunk(kind: bytes, payload: bytes) -> bytes:
    base = io.BytesIO()
    Image.new("RGB", (2, 2)).save(base, "PNG")
    data = base.getvalue()
    chunk = len(payload).to_bytes(4, "big") + kind + payload
    chunk += zlib.crc32(kind + payload).to_bytes(4, "big")
    return data[:33] + chunk + data[33:]  # after IHDR


def _bomb_png() -> bytes:
    out = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(out, "PNG")
    return out.getvalue()


def build_corpus(root: Path) -> set[str]:
    """Write the corpus; returns the names of the files that are meant to be imported."""
    files: dict[str, bytes] = {
        "good.png": a1111_png(),
        "bomb_pixels.png": _bomb_png(),
        "bomb_ztxt.png": _png_with_chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(b"a" * 80_000_000)),
        "truncated.png": a1111_png()[:100],
        "photoshop.png": b"8BPS\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x00" * 100,
        "fits.png": b"SIMPLE  =                    T" + b" " * 50 + b"\x00" * 64,
        "invalid_utf8.jsonl": b'{"prompt": "caf\xe9 \xff\xfe"}\n',
        "nan.json": b'[{"name": "x", "prompt": NaN}]',
        "deep.json": b"[" * 10_000 + b"]" * 10_000,
        "huge_workflow.png": a1111_png(text="x" * 50_000_000),
        "huge_prompt.jsonl": json.dumps({"prompt": "p" * 1_048_576}).encode() + b"\n",
        "csv_10mb_field.csv": b'name,prompt,negative_prompt\nbig,"' + b"y" * 10_000_000 + b'",\n',
        "csv_unbalanced.csv": b'name,prompt,negative_prompt\nopen,"never closed,\n',
        "escapes.jsonl": json.dumps({"prompt": "[bold]x[/] \x1b]0;pwn\x07 \x9b2J"}).encode() + b"\n",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    with zipfile.ZipFile(root / "evil.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("../../escape.jsonl", '{"prompt": "escaped"}\n')
        z.writestr("/abs.jsonl", '{"prompt": "absolute"}\n')
        z.writestr("back\\slash.jsonl", '{"prompt": "backslash"}\n')
        z.writestr("dup.jsonl", '{"prompt": "dup one"}\n')
        z.writestr("dup.jsonl", '{"prompt": "dup two"}\n')
        link = zipfile.ZipInfo("link.jsonl")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
        z.writestr("bomb.jsonl", b" " * 60_000_000)
    # Imported on purpose: the good image, text with escapes (stored verbatim, escaped on display), the zip's safe
    # members, and an unbalanced CSV quote (read to the end of the file, as A1111 does). Everything else is
    # refused, with a reason or a warning.
    return {"good.png", "escapes.jsonl", "evil.zip", "csv_unbalanced.csv"}


def test_hostile_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    expected = build_corpus(corpus)
    with Library.open(tmp_path / "lib") as lib:
        summary = lib.import_paths([corpus])
        failed = {f["path"].removeprefix(str(corpus) + "/"): f["reason"] for f in summary.failed}
        for name in ("bomb_pixels.png", "truncated.png", "photoshop.png", "fits.png", "nan.json", "deep.json",
                     "huge_workflow.png", "huge_prompt.jsonl", "bomb_ztxt.png"):  # fmt: skip
            assert name in failed or any(w.startswith(name) for w in summary.warnings), name
        for key in ("evil.zip!../../escape.jsonl", "evil.zip!/abs.jsonl", "evil.zip!back\\slash.jsonl",
                    "evil.zip!link.jsonl", "evil.zip!bomb.jsonl"):  # fmt: skip
            assert key in failed, key
        assert all("\n" not in reason and len(reason) < 400 for reason in failed.values())
        prompts = {e.prompt for e in lib.entries(limit=100)}
        assert "escaped" not in prompts and "absolute" not in prompts
        assert any(p.startswith("a lighthouse") for p in prompts)
        assert "[bold]x[/] \x1b]0;pwn\x07 \x9b2J" in prompts  # stored verbatim, escaped only on display
        assert any(w.startswith("csv_10mb_field.csv") and "field limit" in w for w in summary.warnings)
        # An unbalanced quote runs to the end of the file, as in A1111's own reader: one harmless style, and a warning.
        assert lib.style("open").prompt == "never closed,\n"
        assert any(w.startswith("csv_unbalanced.csv") and "never closed" in w for w in summary.warnings)
        assert lib.check() == []
    assert not (tmp_path / "escape.jsonl").exists() and not (tmp_path.parent / "escape.jsonl").exists()
    assert not expected & set(failed)
    for path in corpus.iterdir():  # nothing is silently ignored: imported, refused or warned about
        name = path.name
        assert name in expected or name in failed or any(w.startswith(name) for w in summary.warnings), name
