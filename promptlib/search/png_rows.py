"""PNG decoding split between the CPU and the GPU, for embedding many PNG files.

An 8-bit PNG decodes in two steps: inflate the zlib stream into scanlines, then undo each scanline's filter. On one
core the second step costs about as much as the first, and it is the one a GPU can take: the CPU (a decoding
worker) only inflates, with libdeflate through imagecodecs, and sends the still-filtered rows; the GPU undoes the
filters (`unfilter`).

Undoing filters looks sequential: byte (y, x) is predicted from its left, upper and upper-left neighbours, already
decoded. But nothing else: so every row can advance together along the anti-diagonals, row y working on column
t - y at step t (a wavefront). A W x H image takes W + H - 1 steps of all rows at once instead of W·H steps, and
channels are independent. On CUDA this is one Triton program per image and channel, rows as its lanes, a barrier
between steps; elsewhere the same wavefront runs as torch operations (slow, but the reference the kernel is tested
against, and Pillow is the reference for both).
"""

from __future__ import annotations

import functools
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    UInt8Array = npt.NDArray[np.uint8]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type → bytes per 8-bit pixel: grey, RGB, grey + alpha, RGBA
MAX_SIDE = 4096  # one GPU program holds a lane for every row
# Rows are full size (a 512² RGB PNG: 0.79 MB) where a worker's shrunk pixels stay under 4x the model's input, and a
# batch holds hundreds: larger images (SDXL's 1024², upscales) are decoded and shrunk on the CPU as before. This
# covers Stable Diffusion 1.x sizes up to 512x768 and 640x640.
MAX_PIXELS = 640 * 768
MAX_CHUNKS = 4096  # real encoders write 8-64 KB IDATs: a few dozen for such an image; more is someone's trick

log = logging.getLogger(__name__)
_kernel_failed: list[str] = []  # the error of a kernel that would not compile or run here: the torch path after it


# Where rows are inflated to: `alloc(nbytes)` returns a writable buffer of exactly nbytes, or raises `NoRoom`
Alloc = Callable[[int], Any]


class NoRoom(Exception):
    """An `Alloc` has no room for the buffer asked for (the caller decides what to do: `read_rows` passes it on)."""


@dataclass(frozen=True)
class PngRows:
    """An 8-bit PNG inflated but not unfiltered: (height, 1 + width * channels) uint8, each row led by its filter
    type (0 none, 1 sub, 2 up, 3 average, 4 Paeth)."""

    data: UInt8Array
    width: int
    channels: int  # bytes per pixel: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA


def read_rows(data: bytes, *, alloc: Alloc = bytearray) -> PngRows | None:
    """The inflated scanlines of a plain 8-bit PNG (grey or RGB, with or without alpha, not interlaced), or None
    when the file needs a full decoder — a palette, 16 bits, interlacing, more than `MAX_PIXELS`, no imagecodecs,
    more than `MAX_CHUNKS` chunks, or anything malformed (the full decoder then decides whether the file is bad).

    The caller has already checked the file's size and pixel count (`promptlib.images.probe_image`): inflating
    writes into a buffer of exactly the size the header declares, so a stream that inflates to more is refused,
    not followed. That buffer comes from `alloc` (a fresh bytearray by default; the embedder's feeder hands out
    shared memory), and is only asked for once the header has passed. Chunk CRCs are not checked; the zlib
    stream's own Adler-32 checksum is."""
    try:
        from imagecodecs import deflate_decode
    except ImportError:
        return None
    import numpy as np

    if not data.startswith(PNG_SIGNATURE):
        return None
    view = memoryview(data)
    header: tuple[int, ...] | None = None
    stream = bytearray()  # the IDATs' data, joined: never more than the file
    pos = len(PNG_SIGNATURE)
    for _ in range(MAX_CHUNKS):
        if pos + 12 > len(data):
            return None  # no IEND: truncated
        length, kind = struct.unpack_from(">I4s", data, pos)
        if pos + 12 + length > len(data):
            return None
        if kind == b"IHDR":
            if header is not None or length != 13:
                return None
            header = struct.unpack_from(">IIBBBBB", data, pos + 8)
        elif kind == b"IDAT":
            stream += view[pos + 8 : pos + 8 + length]
        elif kind == b"IEND":
            break
        pos += 12 + length
    else:
        return None
    if header is None or not stream:
        return None
    width, height, depth, colour, compression, filtering, interlace = header
    channels = CHANNELS.get(colour)
    if channels is None or depth != 8 or compression or filtering or interlace:
        return None
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE and width * height <= MAX_PIXELS):
        return None
    stride = 1 + width * channels
    out = alloc(height * stride)
    try:
        inflated = deflate_decode(stream, out=out)
    except Exception:  # imagecodecs.DeflateError: bad data, or more data than the header declares
        return None
    if len(inflated) != len(out):
        return None  # fewer rows than declared
    table = np.frombuffer(out, dtype=np.uint8).reshape(height, stride)  # writable: torch can share it
    if int(table[:, 0].max()) > 4:
        return None  # an unknown filter type
    return PngRows(table, width, channels)


def kernel_available(device: Any = None) -> bool:
    """Whether `unfilter` has its Triton kernel (CUDA builds of torch ship Triton) for `device` (a CUDA device of
    compute capability 8.0 or newer, where Triton compiles and this was measured; any device when None)."""
    if _kernel_failed:
        return False
    try:
        _triton_kernel()
    except ImportError:
        return False
    if device is None:
        return True
    import torch

    return bool(device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8)


def unfilter(rows: Any, width: int, channels: int) -> Any:
    """Filtered rows, a uint8 tensor (n, height, 1 + width * channels) → RGB pixels (n, height, width, 3) uint8 on
    the same device, as Pillow's ``convert("RGB")`` gives them: grey repeated, alpha dropped."""
    keep = 3 if channels >= 3 else 1  # only the channels RGB needs are undone: channels never mix
    pixels = None
    if _use_kernel(rows):
        try:
            pixels = _unfilter_triton(rows, width, channels, keep)
        except Exception as exc:  # Triton that cannot compile for this GPU or driver: slower, but the run goes on
            _kernel_failed.append(f"{type(exc).__name__}: {exc}")
            log.warning("PNG rows are undone without the GPU kernel from now on (%s)", _kernel_failed[0][:300])
    if pixels is None:
        pixels = _unfilter_torch(rows, width, channels, keep)
    return pixels if keep == 3 else pixels.expand(-1, -1, -1, 3)


def _use_kernel(rows: Any) -> bool:
    return bool(rows.is_cuda) and kernel_available(rows.device)


def _unfilter_torch(rows: Any, width: int, channels: int, keep: int) -> Any:
    """The wavefront in torch operations: every row that has reached column t - y decodes it, one step per
    anti-diagonal."""
    import torch

    n, height, _ = rows.shape
    kind = rows[:, :, 0].long()
    raw = rows[:, :, 1:].reshape(n, height, width, channels)[..., :keep].long()
    out = torch.zeros((n, height + 1, width + 1, keep), dtype=torch.long, device=rows.device)  # a zero border
    lanes = torch.arange(height, device=rows.device)
    for t in range(width + height - 1):
        y = lanes[max(0, t - width + 1) : min(height, t + 1)]
        x = t - y
        left, up, upleft = out[:, y + 1, x], out[:, y, x + 1], out[:, y, x]
        p = left + up - upleft
        pa, pb, pc = (p - left).abs(), (p - up).abs(), (p - upleft).abs()
        paeth = torch.where((pa <= pb) & (pa <= pc), left, torch.where(pb <= pc, up, upleft))
        guesses = torch.stack([torch.zeros_like(left), left, up, (left + up) >> 1, paeth])
        guess = guesses.gather(0, kind[:, y].view(1, n, -1, 1).expand(1, -1, -1, keep))[0]
        out[:, y + 1, x + 1] = (raw[:, y, x] + guess) & 255
    return out[:, 1:, 1:].to(torch.uint8)


def _unfilter_triton(rows: Any, width: int, channels: int, keep: int) -> Any:
    import torch

    n, height, stride = rows.shape
    rows = rows.contiguous()
    out = torch.empty((n, height, width, keep), dtype=torch.uint8, device=rows.device)
    if n == 0:
        return out
    lanes = 1 << max(5, (height - 1).bit_length())
    _triton_kernel()[(n, keep)](
        rows,
        out,
        height,
        width,
        height * stride,
        height * width * keep,
        CHANNELS=channels,
        KEEP=keep,
        LANES=lanes,
        num_warps=max(1, min(16, lanes // 64)),
    )
    return out


@functools.cache
def _triton_kernel() -> Any:
    import triton
    import triton.language as tl

    @triton.jit  # type: ignore[untyped-decorator]
    def unfilter_kernel(  # type: ignore[no-untyped-def]
        src,
        dst,
        height,
        width,
        src_image,
        dst_image,
        CHANNELS: tl.constexpr,
        KEEP: tl.constexpr,
        LANES: tl.constexpr,
    ):
        # one program: one image, one channel; lane y is row y, at column t - y in step t
        image = tl.program_id(0).to(tl.int64)
        channel = tl.program_id(1)
        y = tl.arange(0, LANES)
        live = y < height
        src_row = src + image * src_image + y * (1 + width * CHANNELS)
        dst_row = dst + image * dst_image + y * (width * KEEP) + channel
        kind = tl.load(src_row, mask=live, other=0).to(tl.int32)
        left = tl.zeros([LANES], dtype=tl.int32)
        upleft = tl.zeros([LANES], dtype=tl.int32)
        for t in range(width + height - 1):
            x = t - y
            on = live & (x >= 0) & (x < width)
            raw = tl.load(src_row + 1 + x * CHANNELS + channel, mask=on, other=0).to(tl.int32)
            # the row above decoded this column in the previous step (the barrier below makes it visible)
            up = tl.load(dst_row - width * KEEP + x * KEEP, mask=on & (y > 0), other=0).to(tl.int32)
            p = left + up - upleft
            pa = tl.abs(p - left)
            pb = tl.abs(p - up)
            pc = tl.abs(p - upleft)
            paeth = tl.where((pa <= pb) & (pa <= pc), left, tl.where(pb <= pc, up, upleft))
            guess = tl.where(
                kind == 1,
                left,
                tl.where(kind == 2, up, tl.where(kind == 3, (left + up) >> 1, tl.where(kind == 4, paeth, 0))),
            )
            value = (raw + guess) & 255
            tl.store(dst_row + x * KEEP, value.to(tl.uint8), mask=on)
            left = tl.where(on, value, left)
            upleft = tl.where(on, up, upleft)
            tl.debug_barrier()

    return unfilter_kernel
