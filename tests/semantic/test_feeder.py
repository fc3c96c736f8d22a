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

from promptlib.errors import LibraryError
from promptlib.search.feeder import MAX_SHARED_BYTES, Done, Feeder, feed
from promptlib.search.png_rows import Alloc, PngRows, unfilter
from promptlib.search.preprocess import Preprocess

SIZE = (16, 16)


def picture(width: int, height: int, seed: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(rng.integers(-9, 10, size=(height, width, 3)), axis=1) % 256  # all PNG filters get used
    return Image.fromarray(smooth.astype(np.uint8), "RGB").convert(mode)


def pictures(folder: Path, count: int, names: dict[int, str] | None = None) -> list[str]:
    """`count` small PNGs in `folder`, named by their number unless `names` says otherwise."""
    paths = []
    for n in range(count):
        paths.append(str(folder / (names or {}).get(n, f"{n}.png")))
        picture(20, 20, n).save(paths[-1])
    return paths


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
    # the small files' rows are 200 bytes; the large one's rows (120 kB) and its shrunk pixels (768 bytes) don't fit
    got, failed = collect(Feeder(paths, prep, device="cpu", workers=1, task_files=3, arena_bytes=600), prep)
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
    paths = pictures(tmp_path, 10, {5: "crash.png"})
    prep = Crashing(SIZE)
    got, failed = collect(Feeder(paths, prep, device="cpu", workers=2, task_files=4), prep)
    assert sorted(got) == [n for n in range(10) if n != 5]
    assert failed == {5: "crash.png crashed the image decoder (exit code 3)"}


def test_only_the_task_a_worker_died_in_is_blamed_not_those_queued_behind_it(tmp_path: Path) -> None:
    paths = pictures(tmp_path, 4, {0: "crash.png"})
    prep = Crashing(SIZE)
    # one worker, one file per task: the tasks of files 1 and 2 wait in its queue when file 0 kills it
    got, failed = collect(Feeder(paths, prep, device="cpu", workers=1, task_files=1), prep)
    assert sorted(got) == [1, 2, 3]
    assert list(failed) == [0]


def test_a_file_that_hangs_its_worker_fails_after_the_timeout_and_the_rest_is_embedded(tmp_path: Path) -> None:
    paths = pictures(tmp_path, 6, {2: "hang.png"})
    prep = Crashing(SIZE)
    started = time.monotonic()
    got, failed = collect(Feeder(paths, prep, device="cpu", workers=2, task_files=3, file_timeout=1.0), prep)
    assert sorted(got) == [0, 1, 3, 4, 5]
    assert failed == {2: "hang.png took longer than 1 s to decode"}
    assert time.monotonic() - started < 30


def test_closing_early_stops_the_workers_and_frees_the_memory(tmp_path: Path) -> None:
    paths = pictures(tmp_path, 12)
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


# --- review: 2026-11-26 ---------------------------------------------------------------------------------------------


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    import struct

    out, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        out.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    import struct
    import zlib

    body = b"".join(struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d)) for k, d in chunks)
    return b"\x89PNG\r\n\x1a\n" + body


def test_a_png_whose_rows_are_refused_but_that_decodes_gets_its_own_pixels(tmp_path: Path) -> None:
    """`read_rows` inflates into the arena before it finds the stream holds more rows than the header says (it then
    returns None); the full decoder accepts the file (libpng: "Too much image data" is a warning), and its pixels
    must be found where they were written, not where the abandoned rows began."""
    import io
    import struct

    buffer = io.BytesIO()
    picture(24, 20, 1).save(buffer, format="PNG")
    chunks = [(k, struct.pack(">II", 24, 19) + d[8:] if k == b"IHDR" else d) for k, d in _chunks(buffer.getvalue())]
    (tmp_path / "a.png").write_bytes(_png(chunks))
    picture(24, 20, 2).save(tmp_path / "b.png")
    paths = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    prep = Preprocess(SIZE, raw_png=True)
    expected, _ = collect(feed(paths, prep, device="cpu", workers=0, batch_size=2), prep)
    got, failed = collect(Feeder(paths, prep, device="cpu", workers=1, task_files=2), prep)
    assert sorted(got) == sorted(expected) == [0, 1] and not failed
    for position, pixels in expected.items():
        np.testing.assert_array_equal(got[position], pixels, err_msg=paths[position])


def test_a_few_sd_portraits_on_many_workers_keep_their_rows_whole(tmp_path: Path) -> None:
    """Few files on many workers make tasks of one file: an arena must still hold a 512x768 PNG's rows (1.18 MB;
    with 1 MiB arenas every such file failed as 'too large to embed')."""
    paths = []
    for n in range(4):
        paths.append(str(tmp_path / f"{n}.png"))
        picture(512, 768, n).save(paths[-1])
    prep = Preprocess((224, 224), raw_png=True)
    expected, _ = collect(feed(paths, prep, device="cpu", workers=0, batch_size=256), prep)
    kinds = []
    batches = []
    for positions, groups, bad in feed(paths, prep, device="cpu", workers=4, batch_size=256):
        kinds += [layout for _, _, layout in groups]
        batches.append((positions, groups, bad))
    got, failed = collect(batches, prep)
    assert not failed and sorted(got) == [0, 1, 2, 3]
    assert kinds and all(layout == (512, 3) for layout in kinds)  # still rows, for the GPU to unfilter
    for position, pixels in expected.items():
        np.testing.assert_array_equal(got[position], pixels, err_msg=paths[position])


def test_png_rows_that_do_not_fit_an_empty_arena_are_decoded_instead(tmp_path: Path) -> None:
    picture(512, 768, 1).save(tmp_path / "portrait.png")
    picture(20, 20, 2).save(tmp_path / "small.png")
    paths = [str(tmp_path / "portrait.png"), str(tmp_path / "small.png")]
    prep = Preprocess((224, 224), raw_png=True)
    expected, _ = collect(feed(paths, prep, device="cpu", workers=0, batch_size=1), prep)
    feeder = Feeder(paths, prep, device="cpu", workers=1, task_files=1, arena_bytes=1 << 20)
    got, failed = collect(feeder, prep)
    assert not failed and sorted(got) == [0, 1]
    for position, pixels in expected.items():
        np.testing.assert_array_equal(got[position], pixels, err_msg=paths[position])


class DiesOnArrival(Preprocess):
    """A worker cannot even start (here: its arguments do not unpickle; in real life, a script without an
    ``if __name__ == "__main__":`` guard, which every worker re-runs)."""

    def __setstate__(self, state: Any) -> None:
        os._exit(1)


def test_workers_that_die_as_they_start_end_the_run_with_an_error(tmp_path: Path) -> None:
    import time

    from promptlib.errors import LibraryError

    paths = pictures(tmp_path, 4)
    feeder = Feeder(paths, DiesOnArrival(SIZE), device="cpu", workers=2, task_files=2)
    started = time.monotonic()
    with pytest.raises(LibraryError, match="__main__"):
        for _ in feeder:
            pass
    assert time.monotonic() - started < 30
    assert all(p is None or not p.is_alive() for p in feeder._procs)


_ORPHAN_SCRIPT = """
import os, signal, sys
from promptlib.search.feeder import Feeder
from promptlib.search.preprocess import Preprocess
if __name__ == "__main__":
    feeder = Feeder(sys.argv[1:], Preprocess((16, 16)), device="cpu", workers=2, task_files=1)
    batches = iter(feeder)
    next(batches)
    with open(os.environ["PIDS"], "w") as out:
        out.write(" ".join(str(p.pid) for p in feeder._procs))
    os.kill(os.getpid(), signal.SIGKILL)  # the OOM killer's choice: the process holding the model
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_exit_when_the_main_process_is_killed(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    paths = pictures(tmp_path, 6)
    script = tmp_path / "main.py"
    script.write_text(_ORPHAN_SCRIPT)
    pid_file = tmp_path / "pids"
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PIDS=str(pid_file), PYTHONPATH=os.pathsep.join([root, *sys.path]))
    main = subprocess.Popen([sys.executable, str(script), *paths], env=env, stdout=subprocess.DEVNULL)
    assert main.wait(timeout=60) == -9
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [p for p in pids if _running(p)]
    for pid in alive:  # don't leave them behind for the next test
        os.kill(pid, 9)
    assert not alive, "workers outlived the process that fed them"


def _gone(name: str) -> bool:
    try:
        SharedMemory(name=name).close()
    except FileNotFoundError:
        return True
    return False


def test_a_failure_while_starting_stops_the_workers_and_frees_the_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = pictures(tmp_path, 8)
    feeder = Feeder(paths, Preprocess(SIZE), device="cpu", workers=2, task_files=2)
    spawn = Feeder._spawn

    def spawn_once(self: Feeder, n: int) -> None:
        if n == 1:
            raise KeyboardInterrupt  # Ctrl-C while the workers start (or a worker that cannot be started)
        spawn(self, n)

    monkeypatch.setattr(Feeder, "_spawn", spawn_once)
    names: list[str] = []
    create = SharedMemory.__init__

    def remember(self: SharedMemory, *args: Any, **kwargs: Any) -> None:
        create(self, *args, **kwargs)
        if kwargs.get("create"):
            names.append(self.name)

    monkeypatch.setattr(SharedMemory, "__init__", remember)
    with pytest.raises(KeyboardInterrupt):
        next(iter(feeder))
    assert names and all(_gone(name) for name in names)
    assert feeder._procs[0] is not None and not feeder._procs[0].is_alive()


def test_an_interrupted_close_still_stops_the_workers_and_frees_the_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = pictures(tmp_path, 12)
    feeder = Feeder(paths, Preprocess(SIZE), device="cpu", workers=2, task_files=2)
    batches = iter(feeder)
    next(batches)
    names = [arena.name for arena in feeder._arenas]
    processes = list(feeder._procs)
    first = processes[0]
    assert first is not None
    join = first.join

    def interrupted(timeout: float | None = None) -> None:
        first.join = join  # type: ignore[method-assign]
        raise KeyboardInterrupt  # a second Ctrl-C while close waits for the workers

    first.join = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        batches.close()
    for process in processes:
        assert process is not None
        process.join(timeout=5)
        assert not process.is_alive()
    assert all(_gone(name) for name in names)


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_on_a_second_gpu_an_arena_is_reused_only_after_its_transfer(tmp_path: Path) -> None:
    """The transfer out of an arena runs on cuda:1's stream; an event recorded on the current device's (cuda:0)
    stream completes at once, and a worker would write the next task into the arena the transfer still reads."""
    paths = []
    for n in range(40):
        paths.append(str(tmp_path / f"{n}.png"))
        Image.fromarray(np.full((32, 32, 3), n, np.uint8)).save(paths[-1])
    prep = Preprocess((32, 32))
    device = torch.device("cuda:1")
    kept = []
    for positions, groups, _ in Feeder(paths, prep, device=device, workers=2, task_files=1, in_flight=1):
        for rows, stacked, _ in groups:
            kept += [(positions[r], stacked[k].clone()) for k, r in enumerate(rows)]
        with torch.cuda.device(device):
            torch.cuda._sleep(200_000_000)  # the next transfer waits behind this on cuda:1
    torch.cuda.synchronize(device)
    assert len(kept) == 40
    for position, pixels in kept:
        assert int(pixels.float().mean()) == position


def test_an_answer_cut_short_by_a_dying_worker_breaks_only_its_pipe() -> None:
    import multiprocessing

    feeder = Feeder(["f"] * 4, Preprocess(SIZE), device="cpu", workers=2)
    good_reader, good_writer = multiprocessing.Pipe(duplex=False)
    bad_reader, bad_writer = multiprocessing.Pipe(duplex=False)
    feeder._results = [good_reader, bad_reader]
    feeder._procs = [None, None]
    good_writer.send(Done(7))
    bad_writer.send_bytes(b"\x80\x04half a pickle")  # what a worker killed while sending leaves
    bad_writer.close()
    answers = feeder._receive()
    assert [done.task for done in answers] == [7]
    assert feeder._results == [good_reader, None]


def test_without_room_in_shared_memory_the_run_stops_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = pictures(tmp_path, 4)

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    feeder = Feeder(paths, Preprocess(SIZE), device="cpu", workers=2)
    with pytest.raises(LibraryError, match="not enough shared memory for the embedding workers"):
        list(feeder)
    assert feeder._arenas == [] and all(p is None or not p.is_alive() for p in feeder._procs)


def test_shared_memory_stays_under_its_cap_for_large_model_inputs() -> None:
    usual = Feeder(["f"] * 100_000, Preprocess((224, 224)), device="cpu", workers=16)
    assert usual.slots == 34  # 2 tasks per worker and 2 spare: under the cap
    large = Feeder(["f"] * 100_000, Preprocess((448, 448)), device="cpu", workers=16)
    assert large.slots < 34 and large.slots * large.arena_bytes <= MAX_SHARED_BYTES
    huge = Feeder(["f"] * 100_000, Preprocess((896, 896)), device="cpu", workers=16)
    assert huge.slots == huge.workers + 1  # the cap never leaves a worker without a task


def test_a_panorama_squashed_on_its_own_fits_an_arena(tmp_path: Path) -> None:
    """Squashing shrinks each axis by its own factor: a 4096x200 panorama in a task of its own used to stay 4096
    wide (2.5 MB of pixels) and fail as 'too large to embed'."""
    picture(4096, 200, 1).save(tmp_path / "panorama.png")
    paths = [str(tmp_path / "panorama.png")]
    prep = Preprocess((224, 224), "squash", raw_png=True)
    expected, _ = collect(feed(paths, prep, device="cpu", workers=0, batch_size=1), prep)
    got, failed = collect(Feeder(paths, prep, device="cpu", workers=1, task_files=1), prep)
    assert not failed and sorted(got) == [0]
    assert got[0].shape == (200, 228, 3)  # 4096 by 18 across (rounding up); 200, under 224, stays
    np.testing.assert_array_equal(got[0], expected[0])
