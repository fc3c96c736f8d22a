"""`doctor`: drift between rows and image files is reported, and the safe part repaired after a backup."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from promptlib.library import Library
from tests.conftest import CliResult
from tests.test_library import png_bytes


def _kinds(findings: list[object]) -> list[str]:
    return sorted(f.kind for f in findings)  # type: ignore[attr-defined]


def test_a_healthy_library_has_no_findings(lib: Library) -> None:
    lib.add_image(lib.add("ok").id, png_bytes())
    assert lib.doctor(deep=True) == []


def test_orphans_temp_files_missing_and_corrupt_images_are_found(lib: Library) -> None:
    kept = lib.add_image(lib.add("kept").id, png_bytes((1, 1, 1)))
    gone = lib.add_image(lib.add("gone").id, png_bytes((2, 2, 2)))
    damaged = lib.add_image(lib.add("damaged").id, png_bytes((3, 3, 3)))
    lib.image_path(gone).unlink()  # deleted by hand
    lib.image_path(damaged).write_bytes(b"bit rot")
    orphan = lib.images.put(png_bytes((4, 4, 4)), ext="png")  # a crash between file and row
    lib.images.tmp.mkdir(parents=True, exist_ok=True)
    (lib.images.tmp / "half.part").write_bytes(b"half")
    findings = lib.doctor(deep=True)
    assert _kinds(findings) == ["corrupt-image", "missing-image", "orphan-file", "temp-file"]
    assert {f.path for f in findings if f.kind == "orphan-file"} == {orphan.relpath}
    assert lib.doctor(deep=False) and "corrupt-image" not in _kinds(lib.doctor())
    fixed = lib.doctor(fix=True, deep=True)
    assert _kinds(fixed) == _kinds(findings)
    assert _kinds(lib.doctor(deep=True)) == ["corrupt-image", "missing-image"]  # rows are never dropped
    assert not lib.images.path(orphan.relpath).exists() and lib.image_path(kept).exists()
    assert len(list((lib.path / "backups").iterdir())) == 1  # backed up before repairing


def test_doctor_cli_exit_codes_and_json(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    cli("init", "--empty")
    assert cli("doctor").code == 0
    home = tmp_path / "cli-lib"
    orphan = home / "images" / "ab" / "cd" / ("ab" + "cd" + "0" * 60 + ".png")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(png_bytes())
    report = cli("doctor", "--json")
    assert report.code == 1 and report.json()["findings"][0]["kind"] == "orphan-file"
    assert cli("doctor", "--fix").code == 0 and not orphan.exists()
