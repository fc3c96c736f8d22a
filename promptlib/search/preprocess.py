"""Preparing images for the embedder, CPU half: decode (with the `promptlib.images` guards), crop to the model's
aspect ratio and shrink by a whole factor, in worker processes for files (`promptlib.search.feeder`).

Everything here is picklable and light (Pillow, numpy, imagecodecs; torch only inside functions) so it runs in
worker processes; `promptlib.search.embed.Embedder` does the device half (resize, normalise, model). One piece of
that half lives here beside `prepare`, which it must match: `Preprocess.shrink_tensor`, the crop and reduction of
PNGs whose filters the GPU undoes (`promptlib.search.png_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.errors import ValidationError
from promptlib.search.png_rows import PNG_SIGNATURE, Alloc, NoRoom, PngRows, read_rows

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

    FloatArray = npt.NDArray[np.float32]
    UInt8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Preprocess:
    """Decode and shrink an image to between 1x and 2x the model's input size, as uint8 HWC."""

    size: tuple[int, int]  # (height, width) the model takes
    resize_mode: str = "shortest"  # shortest (crop to aspect), squash, longest (pad)
    fill: int = 0
    # files only: plain 8-bit PNGs leave the worker inflated but still filtered (`PngRows`), for the GPU to finish
    # (`promptlib.search.png_rows`); the Embedder turns this on where that kernel runs
    raw_png: bool = False

    def plan(self, w: int, h: int) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
        """The crop box (left, top, right, bottom) and the whole factors (across, down) `prepare` shrinks a w x h
        image by: one factor for both when cropping to the model's aspect, one per axis when squashing (each axis
        is resized on its own anyway, and a 4096x200 panorama must not stay 4096 wide)."""
        height, width = self.size
        box: tuple[int, int, int, int] = (0, 0, w, h)
        if self.resize_mode != "squash":  # crop the centre to the model's aspect ratio
            if w * height > h * width:
                cw = max(1, round(h * width / height))
                box = ((w - cw) // 2, 0, (w - cw) // 2 + cw, h)
            else:
                ch = max(1, round(w * height / width))
                box = (0, (h - ch) // 2, w, (h - ch) // 2 + ch)
        bw, bh = box[2] - box[0], box[3] - box[1]
        if self.resize_mode == "squash":
            return box, (max(1, bw // width), max(1, bh // height))
        factor = max(1, min(bw // width, bh // height))
        return box, (factor, factor)

    def prepare(self, image: Image.Image) -> UInt8Array:
        """One decoded PIL image → uint8 (h, w, 3) with h/w in [H, 2H) x [W, 2W) (or the original if smaller)."""
        import numpy as np
        from PIL import Image as PILImage

        if image.mode != "RGB":
            image = image.convert("RGB")
        height, width = self.size
        w, h = image.size
        if self.resize_mode == "longest":
            scale = min(width / w, height / h)
            inner = (max(1, round(w * scale)), max(1, round(h * scale)))
            canvas = PILImage.new("RGB", (width, height), (self.fill,) * 3)
            canvas.paste(
                image.resize(inner, PILImage.Resampling.BICUBIC, reducing_gap=2.0),
                ((width - inner[0]) // 2, (height - inner[1]) // 2),
            )
            return np.array(canvas)
        box, factors = self.plan(w, h)
        if factors != (1, 1):
            image = image.reduce(factors, box=box)
        elif box != (0, 0, w, h):
            image = image.crop(box)
        return np.array(image)  # a writable copy: torch refuses to wrap read-only memory

    def shrink_tensor(self, pixels: Any) -> Any:
        """`prepare` for uint8 (n, h, w, 3) pixels already on the device, in the `shortest` and `squash` modes:
        the same crop and box reduction, to the bit → float (n, 3, h', w')."""
        import torch
        import torch.nn.functional as F

        _, h, w, _ = pixels.shape
        (left, top, right, bottom), (across, down) = self.plan(w, h)
        x = pixels[:, top:bottom, left:right].permute(0, 3, 1, 2).float()
        if (across, down) == (1, 1):
            return x
        # Pillow's Reduce.c: a block of n pixels (fewer at the right and bottom edges) summing to s becomes
        # ((s + n // 2) * m) >> 24 with m = (uint32)(2^32 / (256 n)) divided in float32; exact in int64 here
        block = (down, across)
        sums = F.avg_pool2d(x, block, ceil_mode=True, divisor_override=1).long()
        counts = F.avg_pool2d(torch.ones_like(x[:1, :1]), block, ceil_mode=True, divisor_override=1)
        multiplier = (2.0**32 / (256 * counts)).floor().long()  # 2^32 as a Python number: no copy to the device
        return (((sums + counts.long() // 2) * multiplier) >> 24).float()

    def load_rows(self, data: bytes, *, name: str, alloc: Alloc = bytearray) -> UInt8Array | PngRows:
        """`load`, except that with `raw_png` a plain 8-bit PNG comes back inflated but still filtered, into a
        buffer from `alloc` (the GPU finishes it: `promptlib.search.png_rows.unfilter`, then `shrink_tensor`)."""
        if self.raw_png and self.resize_mode != "longest" and data.startswith(PNG_SIGNATURE):
            from promptlib.images import probe_image

            probe_image(data, name=name)  # the same guards as `load`, before inflating anything
            rows = read_rows(data, alloc=alloc)
            if rows is not None:
                return rows
        return self.load(data, name=name)

    def load(self, data: bytes, *, name: str) -> UInt8Array:
        """Untrusted image bytes → `prepare`d pixels; raises ValidationError / UnsafeInputError for bad input."""
        import io

        from PIL import Image as PILImage

        from promptlib.images import FORMATS, probe_image

        info = probe_image(data, name=name)  # size limits, format allow-list, pixel limit: before any decoding
        if info.format == "PNG":
            decoded = _decode_png(data)
            if decoded is not None:
                return self.prepare(PILImage.fromarray(decoded, "RGB"))
        try:
            with PILImage.open(io.BytesIO(data), formats=list(FORMATS)) as image:
                if info.format == "JPEG":
                    image.draft("RGB", (self.size[1], self.size[0]))
                image.load()
                return self.prepare(image)
        except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as exc:
            raise ValidationError(f"{name} is not a readable image ({type(exc).__name__})") from exc


def _decode_png(data: bytes) -> UInt8Array | None:
    """8-bit PNG → RGB pixels with libpng and zlib-ng (imagecodecs, GIL released): the same pixels as Pillow's
    decoder in about 60 % of its time, which is most of the cost of embedding a PNG on a GPU. None (use Pillow)
    without imagecodecs, for 16-bit images, or when libpng refuses the file."""
    try:
        from imagecodecs import png_decode
    except ImportError:
        return None
    import numpy as np

    try:
        pixels = png_decode(data)
    except Exception:  # imagecodecs.PngError and friends: Pillow decides, and reports a bad file the usual way
        return None
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        return None
    if pixels.ndim == 2 or pixels.shape[2] < 3:  # grey (+ alpha): Pillow's convert("RGB") repeats the grey
        grey = pixels if pixels.ndim == 2 else pixels[..., 0]
        return np.repeat(grey[..., None], 3, axis=2)
    if pixels.shape[2] == 3:
        return pixels
    rgb: UInt8Array = np.ascontiguousarray(pixels[..., :3])  # RGBA: the alpha is dropped, as convert("RGB") does
    return rgb


def load_file(
    path: str, preprocess: Preprocess, *, alloc: Alloc = bytearray
) -> tuple[UInt8Array | PngRows | None, str]:
    """An image file → (`Preprocess.load_rows`' result, "") or (None, a one-line reason); never raises for a bad
    file. `alloc` gives the buffer PNG rows inflate into (`png_rows.read_rows`); its `NoRoom` passes through."""
    from promptlib.errors import PromptlibError
    from promptlib.limits import MAX_IMAGE_BYTES

    file = Path(path)
    try:
        if file.stat().st_size > MAX_IMAGE_BYTES:
            return None, f"{file.name} is larger than {MAX_IMAGE_BYTES:,} bytes"
        return preprocess.load_rows(file.read_bytes(), name=file.name, alloc=alloc), ""
    except PromptlibError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"{file.name}: {exc.strerror or exc}"
    except NoRoom:
        raise
    except Exception as exc:  # a decoder bug on a hostile file must not end the whole run
        return None, f"{file.name}: {type(exc).__name__}"


# A batch's images stacked per shape: (rows of the batch, uint8 tensor, layout). Layout None: pixels (n, h, w, 3);
# (width, channels): PNG rows still filtered, (n, height, 1 + width * channels).
Grouped = list[tuple[list[int], Any, "tuple[int, int] | None"]]


def group_by_size(images: Sequence[Any]) -> Grouped:
    """Stack same-sized images — uint8 HWC tensors or `PngRows` — into one tensor per shape and kind (one
    copy and one transfer each)."""
    import numpy as np
    import torch

    by_shape: dict[tuple[Any, ...], list[int]] = {}
    for n, image in enumerate(images):
        if isinstance(image, PngRows):
            key: tuple[Any, ...] = ("rows", image.data.shape, image.width, image.channels)
        else:
            key = ("pixels", tuple(image.shape))
        by_shape.setdefault(key, []).append(n)
    groups: Grouped = []
    for key, rows in by_shape.items():
        if key[0] == "rows":
            stacked = torch.from_numpy(np.stack([images[n].data for n in rows]))
            groups.append((rows, stacked, (key[2], key[3])))
        else:
            groups.append((rows, torch.stack([_tensor(images[n]) for n in rows]), None))
    return groups


def _tensor(pixels: Any) -> Any:
    import numpy as np
    import torch

    return pixels if isinstance(pixels, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(pixels))


def collate(items: list[tuple[int, Any, str]]) -> tuple[list[int], Grouped, list[tuple[int, str]]]:
    """A batch (built in the worker): positions of the readable images, their pixels or PNG rows stacked per
    shape, and (position, reason) for the others."""
    good = [(i, px) for i, px, _ in items if px is not None]
    failed = [(i, err) for i, px, err in items if px is None]
    return [i for i, _ in good], group_by_size([px for _, px in good]), failed
