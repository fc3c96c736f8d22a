"""PNG decoding split between CPU workers and the GPU: the workers' inflated rows, undone by the wavefront (torch
reference and the Triton kernel, the latter through Triton's interpreter on CPU), must give Pillow's pixels for every
filter type and 8-bit colour type, and the embedder must give the same vectors either way."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

import torch

from promptlib.errors import UnsafeInputError
from promptlib.search import png_rows
from promptlib.search.png_rows import PNG_SIGNATURE, read_rows, unfilter
from promptlib.search.preprocess import Preprocess, collate

COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels → PNG colour type


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def filtered(pixels: np.ndarray, filters: Sequence[int]) -> bytes:
    """Scanlines filtered with the given filter types in turn (PNG spec, section 9), each led by its type."""
    height, width, channels = pixels.shape
    above = np.zeros(width * channels, dtype=np.int32)
    out = bytearray()
    for y in range(height):
        row = pixels[y].reshape(-1).astype(np.int32)
        left = np.concatenate([np.zeros(channels, np.int32), row[:-channels]])
        upleft = np.concatenate([np.zeros(channels, np.int32), above[:-channels]])
        kind = filters[y % len(filters)]
        p = left + above - upleft
        pa, pb, pc = np.abs(p - left), np.abs(p - above), np.abs(p - upleft)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, above, upleft))
        guesses = [np.zeros_like(row), left, above, (left + above) >> 1, paeth]
        guess = guesses[kind] if kind < len(guesses) else guesses[0]  # an unknown type: written, not applied
        out.append(kind)
        out += ((row - guess) & 255).astype(np.uint8).tobytes()
        above = row
    return bytes(out)


def encode(
    pixels: np.ndarray,
    filters: Sequence[int] = (0, 1, 2, 3, 4),
    *,
    stream: Callable[[bytes], bytes] = zlib.compress,
    idat_parts: int = 1,
    ihdr: dict[str, int] | None = None,
) -> bytes:
    """A PNG of these uint8 (h, w, c) pixels with the chosen row filters, its data split over `idat_parts` IDATs."""
    height, width, channels = pixels.shape
    fields = {"depth": 8, "colour": COLOUR_TYPE[channels], "interlace": 0, **(ihdr or {})}
    header = struct.pack(">IIBBBBB", width, height, fields["depth"], fields["colour"], 0, 0, fields["interlace"])
    data = stream(filtered(pixels, filters))
    cut = max(1, len(data) // idat_parts)
    idats = b"".join(chunk(b"IDAT", data[i : i + cut]) for i in range(0, len(data), cut))
    return PNG_SIGNATURE + chunk(b"IHDR", header) + idats + chunk(b"IEND", b"")


def pillow_rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def noise(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def undo(data: bytes, through: Callable[..., Any] = unfilter) -> np.ndarray:
    rows = read_rows(data)
    assert rows is not None
    out = through(torch.from_numpy(rows.data)[None], rows.width, rows.channels)
    return out.expand(-1, -1, -1, 3)[0].numpy()


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("filters", [(0,), (1,), (2,), (3,), (4,), (4, 3, 0, 2, 1, 1, 4)])
def test_every_filter_type_and_colour_type_gives_pillows_pixels(channels: int, filters: tuple[int, ...]) -> None:
    data = encode(noise(23, 31, channels, seed=channels), filters, idat_parts=3)
    np.testing.assert_array_equal(undo(data), pillow_rgb(data))


def test_pillows_own_adaptive_filtering_decodes_identically() -> None:
    y, x = np.mgrid[0:90, 0:70]
    smooth = np.stack([x * 3, y * 2, x + y], axis=-1).astype(np.uint8) + noise(90, 70, 3, seed=5) // 16
    buf = io.BytesIO()
    Image.fromarray(smooth).save(buf, format="PNG")  # Pillow chooses a filter per row
    rows = read_rows(buf.getvalue())
    assert rows is not None and len(set(rows.data[:, 0].tolist())) > 1  # several filter types to undo
    np.testing.assert_array_equal(undo(buf.getvalue()), smooth)


INTERPRETED = """
import sys
from pathlib import Path

import numpy as np
import torch

from promptlib.search.png_rows import _unfilter_triton, read_rows

for group in sys.argv[1:]:  # each argument: files of one shape, comma-separated, decoded as one batch
    rows = [read_rows(Path(name).read_bytes()) for name in group.split(",")]
    batch = torch.from_numpy(np.stack([r.data for r in rows]))
    keep = 3 if rows[0].channels >= 3 else 1
    out = _unfilter_triton(batch, rows[0].width, rows[0].channels, keep).expand(-1, -1, -1, 3).numpy()
    for name, pixels in zip(group.split(","), out):
        np.save(name + ".npy", pixels)
"""


def test_the_triton_kernel_gives_pillows_pixels(tmp_path: Path) -> None:
    """The kernel itself, through Triton's interpreter (numpy on the CPU; it must be on before Triton compiles
    anything, hence a fresh process): every colour type, mixed filters, batches of several images, and heights
    below and above the smallest lane count (32). Where a GPU is, the CUDA test below runs the kernel for real
    (and Triton 3.6's interpreter, on the device machine, cannot run it)."""
    pytest.importorskip("triton")
    if torch.cuda.is_available():
        pytest.skip("the compiled kernel is tested on this GPU instead")
    import os
    import subprocess
    import sys

    shapes = [(19, 41, 1), (19, 41, 2), (17, 40, 3), (17, 40, 4), (33, 40, 4)]
    groups = []
    for height, width, channels in shapes:
        names = []
        for n in range(2 if channels > 2 else 1):
            path = tmp_path / f"{height}-{width}-{channels}-{n}.png"
            path.write_bytes(encode(noise(height, width, channels, seed=n + channels), ((n + 2) % 5, 4, 3, 0, 1)))
            names.append(str(path))
        groups.append(",".join(names))
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    subprocess.run([sys.executable, "-c", INTERPRETED, *groups], check=True, env=env, timeout=300)
    for name in ",".join(groups).split(","):
        np.testing.assert_array_equal(np.load(name + ".npy"), pillow_rgb(Path(name).read_bytes()), err_msg=name)


def test_files_a_full_decoder_must_handle_are_left_to_it() -> None:
    pixels = noise(12, 10, 3, seed=1)
    good = encode(pixels)
    assert read_rows(good) is not None
    buf = io.BytesIO()
    Image.fromarray(pixels).convert("P").save(buf, format="PNG")
    refused = {
        "palette": buf.getvalue(),
        "16-bit": encode(pixels, ihdr={"depth": 16}),
        "interlaced": encode(pixels, ihdr={"interlace": 1}),
        "unknown filter": encode(pixels, (5,)),
        "short stream": encode(pixels, stream=lambda rows: zlib.compress(rows[:-7])),
        "long stream": encode(pixels, stream=lambda rows: zlib.compress(rows + b"\0" * 40)),
        "corrupt stream": encode(pixels, stream=lambda rows: zlib.compress(rows)[:-9] + b"\0" * 9),
        "truncated file": good[:-20],
        "no IEND": good[: good.index(b"IEND") - 4],
        "not a PNG": b"GIF89a" + good[6:],
    }
    for problem, data in refused.items():
        assert read_rows(data) is None, problem


def test_large_images_and_chunk_floods_stay_on_the_cpu_decoder() -> None:
    big = encode(noise(700, 800, 3, seed=1), (1,))  # 560,000 pixels: its rows would be 1.7 MB, hundreds a batch
    assert read_rows(big) is None and png_rows.MAX_PIXELS < 800 * 700
    assert read_rows(encode(noise(600, 800, 3, seed=1), (1,))) is not None  # 480,000: rows
    pixels = noise(60, 60, 3, seed=2)
    flood = encode(pixels, idat_parts=png_rows.MAX_CHUNKS + 100)  # one or two bytes per IDAT
    assert flood.count(b"IDAT") > png_rows.MAX_CHUNKS and read_rows(flood) is None
    many = encode(pixels, idat_parts=1000)
    np.testing.assert_array_equal(undo(many), pixels)


def test_a_kernel_that_fails_here_gives_way_to_the_torch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def broken(*args: Any) -> Any:
        calls.append(args)
        raise RuntimeError("no kernel image is available for execution on the device")

    monkeypatch.setattr(png_rows, "_use_kernel", lambda rows: not png_rows._kernel_failed)
    monkeypatch.setattr(png_rows, "_unfilter_triton", broken)
    monkeypatch.setattr(png_rows, "_kernel_failed", [])
    data = encode(noise(9, 13, 3, seed=3), (4, 1))
    np.testing.assert_array_equal(undo(data), pillow_rgb(data))  # this batch still decodes
    np.testing.assert_array_equal(undo(data), pillow_rgb(data))
    assert len(calls) == 1 and not png_rows.kernel_available()  # and the kernel is not tried again
    assert "no kernel image" in png_rows._kernel_failed[0]


def test_rows_finished_on_the_device_equal_the_cpu_path(tmp_path: Path) -> None:
    """load_rows + unfilter + shrink_tensor give exactly the pixels load + prepare give (crop, whole-factor box
    reduction with Pillow's rounding), for the common case (factor 2) and for crops with partial edge blocks."""
    prep = Preprocess((32, 32), raw_png=True)
    squash = Preprocess((32, 32), "squash", raw_png=True)
    y, x = np.mgrid[0:300, 0:640]
    for width, height in [(64, 64), (70, 50), (300, 100), (33, 97), (150, 150), (20, 10), (640, 40), (45, 300)]:
        base = np.stack([x[:height, :width] * 2, y[:height, :width], x[:height, :width] + y[:height, :width]], -1)
        pixels = (base + noise(height, width, 3, seed=width) // 8).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG")
        for p in (prep, squash):
            rows = p.load_rows(buf.getvalue(), name="x.png")
            assert isinstance(rows, png_rows.PngRows)
            on_device = p.shrink_tensor(unfilter(torch.from_numpy(rows.data)[None], rows.width, rows.channels))
            expected = torch.from_numpy(p.load(buf.getvalue(), name="x.png")).permute(2, 0, 1)[None].float()
            assert on_device.shape == expected.shape, (width, height, p.resize_mode)
            assert torch.equal(on_device, expected), (width, height, p.resize_mode)


def test_guards_come_before_inflating_and_other_formats_keep_their_path() -> None:
    prep = Preprocess((32, 32), raw_png=True)
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    bomb = PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    with pytest.raises(UnsafeInputError, match="pixels"):
        prep.load_rows(bomb, name="bomb.png")
    buf = io.BytesIO()
    Image.fromarray(noise(40, 40, 3, seed=2)).save(buf, format="JPEG")
    assert isinstance(prep.load_rows(buf.getvalue(), name="x.jpg"), np.ndarray)
    assert isinstance(Preprocess((32, 32)).load_rows(encode(noise(40, 40, 3, seed=2)), name="x.png"), np.ndarray)
    letterbox = Preprocess((32, 32), "longest", raw_png=True)  # padding stays on the CPU
    assert isinstance(letterbox.load_rows(encode(noise(40, 40, 3, seed=2)), name="x.png"), np.ndarray)


def test_a_batch_groups_rows_and_pixels_separately() -> None:
    prep = Preprocess((32, 32), raw_png=True)
    files = [encode(noise(40, 40, 3, seed=1)), encode(noise(40, 40, 4, seed=2)), encode(noise(40, 40, 3, seed=3))]
    jpeg = io.BytesIO()
    Image.fromarray(noise(40, 40, 3, seed=4)).save(jpeg, format="JPEG")
    items = [(n, prep.load_rows(data, name="f"), "") for n, data in enumerate([*files, jpeg.getvalue()])]
    positions, groups, failed = collate([*items, (4, None, "f: broken")])
    assert positions == [0, 1, 2, 3] and failed == [(4, "f: broken")]
    layouts = {layout: (rows, tuple(t.shape)) for rows, t, layout in groups}
    assert layouts == {(40, 3): ([0, 2], (2, 40, 121)), (40, 4): ([1], (1, 40, 161)), None: ([3], (1, 40, 40, 3))}


def test_the_embedder_gives_the_same_vectors_from_rows(tmp_path: Path, tiny_clip: Any) -> None:
    import dataclasses

    from promptlib.search.embed import EmbedderSpec, get_embedder

    embedder = get_embedder(
        EmbedderSpec(model=tiny_clip.name, checkpoint=str(tiny_clip.checkpoint), model_config=str(tiny_clip.config))
    )
    paths = []
    for n, (width, height, channels) in enumerate([(64, 64, 3), (90, 50, 4), (64, 64, 1), (64, 64, 3)]):
        path = tmp_path / f"{n}.png"
        path.write_bytes(encode(noise(height, width, channels, seed=n), (n % 5, 4, 1, 3)))
        paths.append(path)
    (tmp_path / "broken.png").write_bytes(encode(noise(8, 8, 3, seed=0))[:-30])
    paths.insert(2, tmp_path / "broken.png")
    plain = embedder.embed_files(paths, workers=0, batch_size=3)
    embedder.preprocess = dataclasses.replace(embedder.preprocess, raw_png=True)
    try:
        finished_here = embedder.embed_files(paths, workers=0, batch_size=3)
    finally:
        embedder.preprocess = dataclasses.replace(embedder.preprocess, raw_png=False)
    assert finished_here.ok == plain.ok == [0, 1, 3, 4]
    assert [n for n, _ in finished_here.failed] == [2]
    np.testing.assert_allclose(finished_here.vectors, plain.vectors, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the device machine)")
@pytest.mark.parametrize(("height", "width", "channels"), [(512, 512, 3), (1, 700, 4), (1100, 37, 1), (300, 2, 2)])
def test_the_cuda_kernel_gives_pillows_pixels(height: int, width: int, channels: int) -> None:
    files = [encode(noise(height, width, channels, seed=n), ((n + 1) % 5, 4, 3, 1, 2, 0)) for n in range(3)]
    rows = [read_rows(data) for data in files]
    stacked = torch.from_numpy(np.stack([r.data for r in rows if r is not None])).cuda()
    assert png_rows.kernel_available()
    out = unfilter(stacked, width, channels).cpu().numpy()
    for data, pixels in zip(files, out, strict=True):
        np.testing.assert_array_equal(pixels, pillow_rgb(data))
