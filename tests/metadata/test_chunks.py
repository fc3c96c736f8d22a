"""Reading metadata carriers safely: PNG text chunks, EXIF UserComment charsets, XMP, stealth pnginfo, limits."""

from __future__ import annotations

import io
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from promptlib.errors import FormatError, UnsafeInputError
from promptlib.limits import MAX_METADATA_CHARS
from promptlib.metadata import chunks as chunks_module
from promptlib.metadata.chunks import decode_stealth, decode_user_comment, read_chunks


def test_png_text_ztxt_itxt_and_after_idat(img: Any) -> None:
    data = img.build_png(
        before=(img.text_chunk("parameters", "café latin-1"), img.itxt_chunk("Comment", "日本語", compressed=True)),
        after=(img.ztxt_chunk("late", "after the pixels"), img.itxt_chunk("XML:com.adobe.xmp", "<x:xmpmeta/>")),
    )
    found = read_chunks(data, name="a.png")
    assert found.format == "PNG" and (found.width, found.height, found.mode) == (1, 1, "RGB")
    assert found.text["parameters"] == "café latin-1"
    assert found.text["Comment"] == "日本語"
    assert found.text["late"] == "after the pixels"
    assert found.xmp == "<x:xmpmeta/>"
    assert found.stealth is None


def test_utf8_in_text_chunk_and_first_keyword_wins(img: Any) -> None:
    body = b"parameters\0" + "ünïcode".encode()
    data = img.build_png(before=(img.chunk(b"tEXt", body), img.text_chunk("parameters", "second")))
    assert read_chunks(data).text["parameters"] == "ünïcode"


def test_path_input(tmp_path: Path, img: Any) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(img.png_with_text(parameters="hello"))
    assert read_chunks(path).text == {"parameters": "hello"}
    assert read_chunks(str(path)).name == str(path)


def test_missing_and_directory_paths(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"missing\.png"):
        read_chunks(tmp_path / "missing.png")
    with pytest.raises(FormatError):
        read_chunks(tmp_path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"UNICODE\0" + "a cat\nSteps: 20".encode("utf-16-le"), "a cat\nSteps: 20"),
        (b"UNICODE\0" + "a cat\nSteps: 20".encode("utf-16-be"), "a cat\nSteps: 20"),
        (b"UNICODE\0" + "\ufeffbom".encode("utf-16-le"), "bom"),
        (b"UNICODE\0" + "\ufeffbom".encode("utf-16-be"), "bom"),
        (b"ASCII\0\0\0plain text\0", "plain text"),
        (b"\0" * 8 + "undefined ü".encode(), "undefined ü"),
        (b"JIS\0\0\0\0\0" + "日本".encode("shift_jis"), "日本"),
        (b'{"json": "no prefix"}', '{"json": "no prefix"}'),
        (b"UNICODE\0" + "odd".encode("utf-16-le") + b"x", "odd"),
    ],
)
def test_user_comment_charsets(raw: bytes, expected: str) -> None:
    assert decode_user_comment(raw) == expected


def test_user_comment_without_ascii_uses_exif_byte_order() -> None:
    text = "日本語のプロンプト"
    assert decode_user_comment(b"UNICODE\0" + text.encode("utf-16-le"), endian="<") == text
    assert decode_user_comment(b"UNICODE\0" + text.encode("utf-16-be"), endian=">") == text


def test_jpeg_exif_fields_and_comfy_strings(img: Any) -> None:
    data = img.jpeg_with_exif(
        {0x9286: b"UNICODE\0" + "big endian, piexif style".encode("utf-16-be"), 0x927C: b"a1111"},
        ifd0={0x0131: "Fooocus v2.4.3", 0x0110: 'prompt:{"3": {}}', 0x010F: 'workflow:{"nodes": []}'},
    )
    found = read_chunks(data, name="x.jpg")
    assert found.format == "JPEG"
    assert found.exif["UserComment"] == "big endian, piexif style"
    assert found.exif["MakerNote"] == "a1111"
    assert found.exif["Software"] == "Fooocus v2.4.3"
    assert found.text == {"prompt": '{"3": {}}', "workflow": '{"nodes": []}'}


def test_webp_exif_and_xmp() -> None:
    from PIL import Image

    image = Image.new("RGB", (4, 4))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + "webp text".encode("utf-16-le")
    out = io.BytesIO()
    image.save(out, "WEBP", exif=exif, xmp=b"<x:xmpmeta>hi</x:xmpmeta>")
    found = read_chunks(out.getvalue())
    assert found.format == "WEBP" and found.exif["UserComment"] == "webp text"
    assert found.xmp == "<x:xmpmeta>hi</x:xmpmeta>"


def test_png_exif_chunk(img: Any) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\0\0\0from eXIf"
    data = img.build_png(before=(img.chunk(b"eXIf", exif.tobytes()),))
    assert read_chunks(data).exif["UserComment"] == "from eXIf"


# --- stealth pnginfo ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [True, False])
def test_stealth_alpha(img: Any, compressed: bool) -> None:
    text = "a circle\nNegative prompt: a square\nSteps: 20, Sampler: Euler, Seed: 7"
    pixels = img.stealth_pixels(text, 48, 40, compressed=compressed)
    found = read_chunks(img.build_png(48, 40, color_type=6, pixels=pixels))
    assert found.stealth == text


def test_stealth_rgb(img: Any) -> None:
    pixels = img.stealth_pixels("hidden in rgb", 30, 20, compressed=True, rgb=True)
    assert read_chunks(img.build_png(30, 20, color_type=2, pixels=pixels)).stealth == "hidden in rgb"


def test_stealth_only_without_generation_text_and_optional(img: Any) -> None:
    pixels = img.stealth_pixels("hidden", 30, 20, compressed=False)
    with_text = img.build_png(30, 20, color_type=6, pixels=pixels, before=(img.text_chunk("parameters", "x"),))
    assert read_chunks(with_text).stealth is None
    # an editor's or a website's chunk must not hide it
    edited = img.build_png(30, 20, color_type=6, pixels=pixels, before=(img.text_chunk("Software", "GIMP 2.10"),))
    assert read_chunks(edited).stealth == "hidden"
    plain = img.build_png(30, 20, color_type=6, pixels=pixels)
    assert read_chunks(plain, stealth=False).stealth is None
    assert read_chunks(img.build_png(30, 20, color_type=6)).stealth is None


def test_stealth_decoder_bounds() -> None:
    signature = "".join(f"{b:08b}" for b in b"stealth_pnginfo")
    bits = signature + f"{10**6:032b}"  # claims far more bits than present
    source = bytes(int(bit) for bit in bits) + bytes(64)
    assert decode_stealth(source, signatures=(b"stealth_pnginfo", b"stealth_pngcomp")) is None
    assert decode_stealth(b"\0" * 10, signatures=(b"stealth_pnginfo", b"stealth_pngcomp")) is None


def test_stealth_gzip_bomb_refused(img: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks_module, "_MAX_TEXT_BYTES", 1000)
    pixels = img.stealth_pixels("x" * 5000, 64, 64, compressed=True)
    with pytest.raises(UnsafeInputError):
        read_chunks(img.build_png(64, 64, color_type=6, pixels=pixels))


# --- stealth pnginfo in lossless WebP ------------------------------------------------------------------------------


@pytest.mark.parametrize(("compressed", "rgb"), [(True, False), (False, False), (True, True)])
def test_stealth_in_lossless_webp(img: Any, compressed: bool, rgb: bool) -> None:
    text = "a circle\nNegative prompt: a square\nSteps: 20, Sampler: Euler, Seed: 7"
    pixels = img.stealth_pixels(text, 48, 40, compressed=compressed, rgb=rgb)
    data = img.webp(pixels, 48, 40, mode="RGB" if rgb else "RGBA")
    assert data[12:16] == b"VP8L"
    found = read_chunks(data)
    assert (found.format, found.stealth) == ("WEBP", text)
    assert read_chunks(data, stealth=False).stealth is None


def test_lossy_and_animated_webps_are_never_decoded(img: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("decoded pixels of a WebP that cannot carry stealth data")

    pixels = img.stealth_pixels("hidden", 48, 40, compressed=False)
    monkeypatch.setattr(chunks_module, "_stealth_from_pixels", fail)
    lossy_alpha = img.webp(pixels, 48, 40, lossless=False)  # VP8X + ALPH + VP8
    assert b"ALPH" in lossy_alpha[:64] and read_chunks(lossy_alpha).stealth is None
    rgb = img.stealth_pixels("hidden", 48, 40, compressed=False, rgb=True)
    lossy = img.webp(rgb, 48, 40, mode="RGB", lossless=False)
    assert lossy[12:16] == b"VP8 " and read_chunks(lossy).stealth is None
    frames = [Image.frombytes("RGBA", (48, 40), pixels), Image.new("RGBA", (48, 40))]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert b"ANIM" in out.getvalue()[:64] and read_chunks(out.getvalue()).stealth is None


def test_lossless_webp_with_generation_exif_or_too_large_is_not_decoded(
    img: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    pixels = img.stealth_pixels("hidden", 48, 40, compressed=False)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + "a dog\nSteps: 5".encode("utf-16-be")
    with_text = read_chunks(img.webp(pixels, 48, 40, exif=exif.tobytes()))
    assert with_text.exif["UserComment"] == "a dog\nSteps: 5" and with_text.stealth is None
    monkeypatch.setattr(chunks_module, "STEALTH_MAX_PIXELS", 100)
    found = read_chunks(img.webp(pixels, 48, 40))
    assert found.stealth is None and any("too large" in note for note in found.warnings)


def test_lossless_webp_without_a_signature_is_not_transposed(img: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("whole channels decoded for stealth bits without a signature")

    monkeypatch.setattr(chunks_module, "decode_stealth", fail)
    noise = bytes((index * 37) % 256 for index in range(300 * 200 * 4))
    assert read_chunks(img.webp(noise, 300, 200)).stealth is None
    assert read_chunks(img.webp(noise[: 7 * 5 * 3], 7, 5, mode="RGB")).stealth is None  # smaller than a signature


def test_corrupt_lossless_webp_pixels_are_a_note(img: Any) -> None:
    pixels = img.stealth_pixels("hidden", 48, 40, compressed=False)
    data = bytearray(img.webp(pixels, 48, 40))
    data[40:] = bytes(len(data) - 40)  # the header survives, the entropy-coded pixels do not
    found = read_chunks(bytes(data))
    assert found.stealth is None and any("could not decode pixels" in note for note in found.warnings)


# --- refusals ----------------------------------------------------------------------------------------------------


def test_empty_and_garbage() -> None:
    with pytest.raises(FormatError, match="empty"):
        read_chunks(b"", name="e.png")
    with pytest.raises(FormatError, match=r"g\.png"):
        read_chunks(b"this is not an image at all", name="g.png")


def test_truncated_png(img: Any) -> None:
    data = img.png_with_text(parameters="hello")
    for cut in (20, 40, len(data) - 12, len(data) - 3):
        with pytest.raises(FormatError, match=r"t\.png"):
            read_chunks(data[:cut], name="t.png")
    with pytest.raises(FormatError):
        read_chunks(img.build_png(end=False))


def test_png_must_start_with_ihdr(img: Any) -> None:
    data = b"\x89PNG\r\n\x1a\n" + img.text_chunk("a", "b") + img.chunk(b"IEND", b"")
    with pytest.raises(FormatError):
        read_chunks(data)


def test_pixel_bomb_refused_quickly(img: Any) -> None:
    data = img.build_png(100_000, 100_000, before=(img.text_chunk("parameters", "x"),))
    start = time.perf_counter()
    with pytest.raises(UnsafeInputError, match="100000x100000"):
        read_chunks(data, name="bomb.png")
    assert time.perf_counter() - start < 0.5


def test_jpeg_pixel_bomb_refused() -> None:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (8, 8)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") * 2  # height and width in the frame header
    with pytest.raises(UnsafeInputError):
        read_chunks(bytes(data))


def test_zero_size_png(img: Any) -> None:
    with pytest.raises(FormatError):
        read_chunks(img.build_png(0, 5))


def test_text_chunk_over_the_limit(img: Any) -> None:
    data = img.png_with_text(parameters="x" * (MAX_METADATA_CHARS + 1))
    with pytest.raises(UnsafeInputError, match="parameters"):
        read_chunks(data)


def test_compressed_text_bomb(img: Any) -> None:
    bomb = zlib.compress(b"a" * (MAX_METADATA_CHARS * 4 + 10), 9)
    data = img.build_png(before=(img.chunk(b"zTXt", b"parameters\0\0" + bomb),))
    with pytest.raises(UnsafeInputError):
        read_chunks(data)


def test_corrupt_compressed_chunk_is_skipped_with_a_warning(img: Any) -> None:
    data = img.build_png(before=(img.chunk(b"zTXt", b"parameters\0\0not zlib"), img.text_chunk("ok", "yes")))
    found = read_chunks(data)
    assert found.text == {"ok": "yes"}
    assert any("parameters" in note for note in found.warnings)


def test_file_over_the_byte_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, img: Any) -> None:
    monkeypatch.setattr(chunks_module, "MAX_IMAGE_BYTES", 100)
    path = tmp_path / "big.png"
    path.write_bytes(img.png_with_text(parameters="x" * 200))
    with pytest.raises(UnsafeInputError, match=r"big\.png"):
        read_chunks(path)
    with pytest.raises(UnsafeInputError):
        read_chunks(path.read_bytes())


def test_too_many_chunks(img: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks_module, "_MAX_PNG_CHUNKS", 50)
    data = img.build_png(before=tuple(img.chunk(b"tIME", bytes(7)) for _ in range(60)))
    with pytest.raises(UnsafeInputError):
        read_chunks(data)


def test_stealth_precheck_avoids_full_decodes(img: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: Any) -> None:
        raise AssertionError("full decode without a signature")

    monkeypatch.setattr(chunks_module, "_stealth_from_png", fail)
    assert read_chunks(img.build_png(300, 200, color_type=6)).stealth is None
    assert read_chunks(img.build_png(300, 200, color_type=2)).stealth is None


@pytest.mark.parametrize(("size", "rgb"), [((97, 203), False), ((300, 7), False), ((64, 64), True), ((5, 100), True)])
def test_stealth_through_pillow_filters(img: Any, size: tuple[int, int], rgb: bool) -> None:
    from PIL import Image

    width, height = size
    text = "filtered rows\nSteps: 20, Seed: 3, Sampler: Euler"
    pixels = bytearray(img.stealth_pixels(text, width, height, compressed=True, rgb=rgb))
    channels = 3 if rgb else 4
    for index in range(0, len(pixels), channels):  # a gradient, so Pillow picks Sub/Up/Avg/Paeth filters
        pixels[index] = (pixels[index] & 1) | ((index * 7) % 256 & 0xFE)
    image = Image.frombytes("RGB" if rgb else "RGBA", size, bytes(pixels))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    assert read_chunks(out.getvalue()).stealth == text


def test_stealth_skipped_for_huge_images(img: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks_module, "STEALTH_MAX_PIXELS", 100)
    pixels = img.stealth_pixels("hidden", 48, 40, compressed=False)
    found = read_chunks(img.build_png(48, 40, color_type=6, pixels=pixels))
    assert found.stealth is None and any("too large" in note for note in found.warnings)


@pytest.mark.parametrize(("size", "rgb"), [((13, 170), False), ((300, 9), False), ((20, 30), True)])
def test_stealth_with_every_png_filter_type(img: Any, size: tuple[int, int], rgb: bool) -> None:
    width, height = size
    pixels = bytearray(img.stealth_pixels("all five filters", width, height, compressed=False, rgb=rgb))
    for index in range(len(pixels)):  # noise in the upper bits so every predictor matters
        pixels[index] = (pixels[index] & 1) | ((index * 37 + index // 7) % 256 & 0xFE)
    data = img.build_png(width, height, color_type=2 if rgb else 6, pixels=bytes(pixels), filters=True)
    assert read_chunks(data).stealth == "all five filters"
