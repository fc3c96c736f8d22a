"""The embedder's feeder: worker processes decode files into shared-memory arenas; every file comes back exactly once,
with the same pixels as decoding in this process, whatever happens to the tasks (an arena too small, a worker that
dies, an early close)."""

from __future__ import annotations

import os
import time
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

import torch

from promptlib.search.feeder import Feeder, feed
from promptlib.search.png_rows import Alloc, PngRows, unfilter
from promptlib.search.preprocess import Preprocess

SIZE = (16, 16)


def picture(width: int, height: int, seed: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(rng.integers(-9, 10, size=(height, width, 3)), axis=1) % 256  # all PNG filters get used
    return Image.fromarray(smooth.astype(np.uint8), "RGB").convert(mode)


def write_files(folder: Path) -> tuple[list[str], dict[int, str]]:
    """A mix: PNGs (RGB, grey, RGBA, palette), a JPEG, junk, a missing file. Returns paths and the expected errors."""
    paths: list[str] = []
    for n, mode in enumerate(["RGB", "L", "RGBA", "RGB", "P", "RGB", "LA", "RGB"]):
        path = folder / f"{n}.png"
        picture(24 + n, 20 + 2 * n, n, mode).save(path)
        paths.append(str(path))
    picture(40, 30, 99).save(folder / "photo.jpg", quality=90)
    paths.append(str(folder / "photo.jpg"))
    (folder / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    paths.append(str(folder / "junk.png"))
    paths.append(str(folder / "missing.png"))
    return paths, {len(paths) - 2: "not a readable image", len(paths) - 1: "missing.png"}


def pixels_of(groups: Any, prep: Preprocess) -> list[np.ndarray]:
    """uint8 HWC arrays, one per row of the batch, from a batch's groups (PNG rows undone as the GPU does)."""
    count = sum(len(rows) for rows, _, _ in groups)
    out: list[Any] = [None] * count
    for rows, stacked, layout in groups:
        if layout is not None:
            stacked = prep.shrink_tensor(unfilter(stacked, *layout)).permute(0, 2, 3, 1).to(torch.uint8)
        for k, row in enumerate(rows):
            out[row] = stacked[k].cpu().numpy()
    return out


def collect(batches: Any, prep: Preprocess) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    got: dict[int, np.ndarray] = {}
    failed: dict[int, str] = {}
    for positions, groups, bad in batches:
        for position, pixels in zip(positions, pixels_of(groups, prep), strict=True):
            assert position not in got and position not in failed, f"file {position} came back twice"
            got[position] = pixels
        for position, reason in bad:
            assert position not in got and position not in failed, f"file {position} came back twice"
            failed[position] = reason
    return got, failed


@pytest.mark.parametrize("raw_png", [False, True])
def test_workers_give_the_pixels_this_process_decodes(tmp_path: Path, raw_png: bool) -> None:
    paths, errors = write_files(tmp_path)
    prep = Preprocess(SIZE, raw_png=raw_png)
    expected, expected_failed = collect(feed(paths, prep, device="cpu", workers=0, batch_size=3), prep)
    got, failed = collect(Feeder(paths, prep, device="cpu", workers=2, task_files=3), prep)
    assert sorted(got) == sorted(expected) == [n for n in range(len(paths)) if n not in errors]
    for position, pixels in expected.items():
        np.testing.assert_array_equal(got[position], pixels, err_msg=paths[position])
    assert sorted(failed) == sorted(expected_failed) == sorted(errors)
    for position, text in errors.items():
        assert text in failed[position]
    # and the pixels are Pillow's, shrunk the way `prepare` does
    with Image.open(paths[0]) as image:
        np.testing.assert_array_equal(got[0], prep.prepare(image))


def test_a_full_arena_sends_the_rest_of_its_task_back(tmp_path: Path) -> None:
    paths, errors = write_files(tmp_path)
    prep = Preprocess(SIZE, raw_png=True)
    largest = (20 + 2 * 7) * (1 + (24 + 7) * 4)  # the largest file's rows (RGBA would be; all fit alone)
    feeder = Feeder(paths, prep, device="cpu", workers=2, task_files=6, arena_bytes=2 * largest)
    got, failed = collect(feeder, prep)
    assert sorted(got) + sorted(failed) == sorted(range(len(paths)))
    assert sorted(failed) == sorted(errors)


def test_a_file_larger_than_an_arena_fails_alone(tmp_path: Path) -> None:
    paths = []
    for n, side in enumerate([8, 200, 8]):
        paths.append(str(tmp_path / f"{n}.png"))
        picture(side, side, n).save(paths[-1])
    prep = Preprocess(SIZE, raw_png=True)
    got, failed = collect(Feeder(paths, prep, device="cpu", workers=1, task_files=3, arena_bytes=4096), prep)
    assert sorted(got) == [0, 2]
    assert list(failed) == [1] and "1.png is too large to embed" in failed[1]


class Crashing(Preprocess):
    """Kills the worker process on one file, as a decoder crash on a hostile file would; hangs on another, as a
    decoder stuck in a loop would."""

    def load_rows(self, data: bytes, *, name: str, alloc: Alloc = bytearray) -> Any:
        if name == "crash.png":
            os._exit(3)
        if name == "hang.png":
            time.sleep(3600)
        return super().load_rows(data, name=name, alloc=alloc)


def test_a_file_that_kills_its_worker_fails_alone_and_the_rest_is_embedded(tmp_path: Path) -> None:
    paths = []
    for n in range(10):
        paths.append(str(tmp_path / ("crash.png" if n == 5 else f"{n}.png")))
        picture(20, 20, n).save(paths[-1])
    prep = Crashing(SIZE)
    got, failed = collect(Feeder(paths, prep, device="cpu", workers=2, task_files=4), prep)
    assert sorted(got) == [n for n in range(10) if n != 5]
    assert failed == {5: "crash.png crashed the image decoder (exit code 3)"}


def test_only_the_task_a_worker_died_in_is_blamed_not_those_queued_behind_it(tmp_path: Path) -> None:
    paths = []
    for n in range(4):
        paths.append(str(tmp_path / ("crash.png" if n == 0 else f"{n}.png")))
        picture(20, 20, n).save(paths[-1])
    prep = Crashing(SIZE)
    # one worker, one file per task: the tasks of files 1 and 2 wait in its queue when file 0 kills it
    got, failed = collect(Feeder(paths, prep, device="cpu", workers=1, task_files=1), prep)
    assert sorted(got) == [1, 2, 3]
    assert list(failed) == [0]


def test_a_file_that_hangs_its_worker_fails_after_the_timeout_and_the_rest_is_embedded(tmp_path: Path) -> None:
    paths = []
    for n in range(6):
        paths.append(str(tmp_path / ("hang.png" if n == 2 else f"{n}.png")))
        picture(20, 20, n).save(paths[-1])
    prep = Crashing(SIZE)
    started = time.monotonic()
    got, failed = collect(Feeder(paths, prep, device="cpu", workers=2, task_files=3, file_timeout=1.0), prep)
    assert sorted(got) == [0, 1, 3, 4, 5]
    assert failed == {2: "hang.png took longer than 1 s to decode"}
    assert time.monotonic() - started < 30


def test_closing_early_stops_the_workers_and_frees_the_memory(tmp_path: Path) -> None:
    paths = []
    for n in range(12):
        paths.append(str(tmp_path / f"{n}.png"))
        picture(20, 20, n).save(paths[-1])
    feeder = Feeder(paths, Preprocess(SIZE), device="cpu", workers=2, task_files=2)
    batches = iter(feeder)
    positions, groups, _ = next(batches)
    assert positions and groups
    names = [arena.name for arena in feeder._arenas]
    processes = list(feeder._procs)
    assert names and all(p is not None and p.is_alive() for p in processes)
    batches.close()  # what a `break` or an exception in the consumer does
    assert all(p is not None and not p.is_alive() for p in processes)
    for name in names:
        with pytest.raises(FileNotFoundError):
            SharedMemory(name=name)


def test_a_few_files_are_spread_over_the_workers_and_no_worker_idles() -> None:
    few = Feeder(["f"] * 10, Preprocess(SIZE), device="cpu", workers=4)
    assert (few.task_files, few.workers) == (3, 4)
    one = Feeder(["f"] * 2, Preprocess(SIZE), device="cpu", workers=16)
    assert (one.task_files, one.workers, one.slots) == (1, 2, 2)
    many = Feeder(["f"] * 10_000, Preprocess(SIZE), device="cpu", workers=16)
    assert (many.task_files, many.workers, many.slots) == (64, 16, 34)
    assert many.arena_bytes == 64 << 20


def test_rows_inflate_into_the_buffer_they_are_given() -> None:
    import io

    image = picture(12, 9, 1)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    arena = bytearray(1000)
    asked: list[int] = []

    def alloc(nbytes: int) -> memoryview:
        asked.append(nbytes)
        return memoryview(arena)[100 : 100 + nbytes]

    rows = Preprocess(SIZE, raw_png=True).load_rows(buffer.getvalue(), name="x.png", alloc=alloc)
    assert isinstance(rows, PngRows) and asked == [9 * (1 + 12 * 3)]
    assert bytes(arena[100 : 100 + asked[0]]) == rows.data.tobytes()
    assert arena[100 + asked[0] :] == bytearray(1000 - 100 - asked[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_the_arenas_are_pinned_and_batches_arrive_on_the_device(tmp_path: Path) -> None:
    paths, errors = write_files(tmp_path)
    prep = Preprocess(SIZE, raw_png=True)
    expected, _ = collect(feed(paths, prep, device="cpu", workers=0, batch_size=3), prep)
    feeder = Feeder(paths, prep, device="cuda", workers=2, task_files=3)
    batches = []
    for positions, groups, bad in feeder:
        assert all(stacked.is_cuda for _, stacked, _ in groups)
        assert len(feeder._registered) == feeder.slots  # every arena is pinned
        batches.append((positions, groups, bad))
    got, failed = collect(batches, prep)
    assert sorted(failed) == sorted(errors)
    for position, pixels in expected.items():
        np.testing.assert_array_equal(got[position], pixels, err_msg=paths[position])
