"""Safe reading of the metadata carriers of an image: PNG text chunks, EXIF, XMP and stealth pnginfo.

PNG files are walked chunk by chunk (text after IDAT included) without decoding pixels; other formats go through
Pillow's header parsing. Stealth pnginfo is looked for only in images that carry no generation text and whose
pixels are stored losslessly: 8-bit RGB/RGBA PNGs (the first rows are inflated to check for a signature, and the
whole image is decoded only when one is there) and still lossless (VP8L) WebPs, which the stealth-pnginfo
extension also writes (there a full decode is needed: VP8L has no cheap prefix; the transpose that follows is done
only for a signature). Lossy WebP (VP8, even with a losslessly stored ALPH alpha plane: the extension does not write
it), JPEG and the rest are never decoded. Both decodes are bounded by STEALTH_MAX_PIXELS.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from promptlib.errors import FormatError, UnsafeInputError
from promptlib.limits import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, MAX_METADATA_CHARS
from promptlib.metadata._png import first_pixels

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# UTF-8 needs at most 4 bytes a character, so this many bytes can still decode to <= MAX_METADATA_CHARS.
_MAX_TEXT_BYTES = MAX_METADATA_CHARS * 4
# Real PNGs have a few thousand chunks at most; millions of empty ones would only burn time.
_MAX_PNG_CHUNKS = 200_000
# Stealth decoding holds the whole image in memory; 6144² RGBA is ~150 MB and covers real generations.
STEALTH_MAX_PIXELS = 6144 * 6144
_STEALTH_ALPHA = (b"stealth_pnginfo", b"stealth_pngcomp")
_STEALTH_RGB = (b"stealth_rgbinfo", b"stealth_rgbcomp")
_SIGNATURE_BITS = 15 * 8
_LSB_ASCII = bytes(ord("0") + (i & 1) for i in range(256))  # bytes.translate table: byte -> b"0"/b"1"
_PILLOW_FORMATS = ("JPEG", "MPO", "WEBP", "TIFF", "GIF", "BMP", "AVIF")
_PNG_MODES = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}
# A still WebP names its image chunk within its first few chunks (VP8X, ICCP, then VP8L/VP8/ALPH).
_MAX_WEBP_CHUNKS = 16
_XMP_KEY = "XML:com.adobe.xmp"
# EXIF tags worth reading as text: IFD0 ones, then the Exif sub-IFD ones.
_IFD0_TAGS = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x013B: "Artist"}
_XP_TAGS = {0x9C9C: "XPComment", 0x9C9F: "XPSubject"}
_EXIF_IFD = 0x8769
# Text chunks that hold generation data (lowercase). Only with none of them is a PNG checked for stealth data in its
# pixels: an editor's or a website's "Software" chunk must not hide it.
_GENERATION_KEYS = frozenset(
    {"parameters", "prompt", "workflow", "comment", "invokeai_metadata", "invokeai_graph", "sd-metadata", "dream",
     "sui_image_params", "promptlib"}
)  # fmt: skip
_EXIF_TAGS = {0x9286: "UserComment", 0x927C: "MakerNote"}


@dataclass(frozen=True)
class ImageChunks:
    """What an image file carries besides pixels.

    `text` holds PNG tEXt/iTXt/zTXt chunks (first occurrence of each keyword wins) plus JPEG COM as
    ``"comment"`` and ComfyUI's ``prompt:``/``workflow:`` EXIF strings; `exif` holds decoded EXIF strings
    (``UserComment``, ``ImageDescription``, ``Software``, ``MakerNote``, ...); `stealth` is text hidden in
    pixel LSBs by the stealth-pnginfo extension.
    """

    name: str
    format: str
    width: int
    height: int
    mode: str = ""
    text: dict[str, str] = field(default_factory=dict)
    exif: dict[str, str] = field(default_factory=dict)
    xmp: str | None = None
    stealth: str | None = None
    warnings: tuple[str, ...] = ()

    def get(self, key: str) -> str | None:
        """A text chunk by keyword, else an EXIF string of that name."""
        return self.text.get(key, self.exif.get(key))

    @property
    def has_metadata(self) -> bool:
        """Whether any text-bearing carrier was found."""
        return bool(self.text or self.exif.get("UserComment") or self.xmp or self.stealth)


def read_chunks(
    source: str | os.PathLike[str] | bytes, *, name: str | None = None, stealth: bool = True
) -> ImageChunks:
    """Read an image's metadata carriers from a path or bytes.

    Raises FormatError for unreadable, empty, truncated or non-image input, and UnsafeInputError for files over
    MAX_IMAGE_BYTES, images over MAX_IMAGE_PIXELS and text over MAX_METADATA_CHARS. Messages name the file.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        label = name or "image"
        _check_size(len(data), label)
        return _read_stream(io.BytesIO(data), len(data), label=label, stealth=stealth)
    path = Path(source)
    label = name or str(path)
    try:
        size = path.stat().st_size
        _check_size(size, label)
        with path.open("rb") as stream:
            return _read_stream(stream, size, label=label, stealth=stealth)
    except OSError as exc:
        raise FormatError(f"{label}: cannot read the file ({exc.strerror or type(exc).__name__})") from exc


def _check_size(size: int, label: str) -> None:
    if size > MAX_IMAGE_BYTES:
        raise UnsafeInputError(f"{label} is {size:,} bytes; the limit is {MAX_IMAGE_BYTES:,}")
    if size == 0:
        raise FormatError(f"{label} is empty (0 bytes)")


def _check_pixels(width: int, height: int, *, label: str) -> None:
    if width <= 0 or height <= 0:
        raise FormatError(f"{label} claims an empty {width}x{height} image")
    if width * height > MAX_IMAGE_PIXELS:
        raise UnsafeInputError(f"{label} claims {width}x{height} pixels; the limit is {MAX_IMAGE_PIXELS:,}")


def _read_stream(stream: IO[bytes], size: int, *, label: str, stealth: bool) -> ImageChunks:
    head = stream.read(len(PNG_SIGNATURE))
    stream.seek(0)
    if head == PNG_SIGNATURE:
        return _read_png(stream, size, label=label, stealth=stealth)
    return _read_with_pillow(stream, size, label=label, stealth=stealth)


# --- PNG -----------------------------------------------------------------------------------------------------


def _read_png(stream: IO[bytes], size: int, *, label: str, stealth: bool) -> ImageChunks:
    stream.seek(len(PNG_SIGNATURE))
    text: dict[str, str] = {}
    notes: list[str] = []
    exif_blob: bytes | None = None
    header: tuple[int, int, int, int, int] | None = None
    idat: list[tuple[int, int]] = []
    chunks = 0
    while True:
        head = stream.read(8)
        if len(head) < 8:
            raise FormatError(f"{label} is a truncated PNG (no IEND chunk)")
        length, kind = struct.unpack(">I4s", head)
        if length + 4 > size - stream.tell():
            raise FormatError(f"{label} is a truncated PNG ({kind.decode('latin-1')!r} chunk runs past the end)")
        chunks += 1
        if chunks > _MAX_PNG_CHUNKS:
            raise UnsafeInputError(f"{label} has more than {_MAX_PNG_CHUNKS:,} PNG chunks")
        if header is None and kind != b"IHDR":
            raise FormatError(f"{label} is not a valid PNG (first chunk is not IHDR)")
        if kind == b"IEND":
            break
        if kind == b"IHDR":
            header = _ihdr(stream.read(min(length, 64)), label)
            stream.seek(length - min(length, 64), os.SEEK_CUR)
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            if length > _MAX_TEXT_BYTES:
                raise UnsafeInputError(f"{label}: a {kind.decode()} chunk of {length:,} bytes is over the limit")
            item = _text_chunk(kind, stream.read(length), label=label, notes=notes)
            if item is not None:
                text.setdefault(*item)
        elif kind == b"eXIf" and length <= _MAX_TEXT_BYTES:
            exif_blob = stream.read(length)
        else:
            if kind == b"IDAT":
                idat.append((stream.tell(), length))
            stream.seek(length, os.SEEK_CUR)  # pixel data and other chunks are skipped, never decoded
        stream.seek(4, os.SEEK_CUR)  # CRC
    assert header is not None  # IEND cannot come first: the IHDR check above raised
    width, height, depth, color, interlace = header
    exif: dict[str, str] = {}
    if exif_blob is not None:
        exif, derived = _exif_from_blob(exif_blob, label=label, notes=notes)
        for key, value in derived.items():
            text.setdefault(key, value)
    xmp = text.get(_XMP_KEY)
    hidden = None
    if stealth and not _carries_generation_text(text, exif) and depth == 8 and color in (2, 6) and not interlace:
        channels = 4 if color == 6 else 3
        first = first_pixels(stream, idat, width=width, height=height, channels=channels, count=_SIGNATURE_BITS)
        if first is not None and _has_stealth_signature(first, channels):
            hidden = _stealth_from_png(stream, width=width, height=height, label=label, notes=notes)
    mode = _PNG_MODES.get(color, "")
    return ImageChunks(label, "PNG", width, height, mode, text, exif, xmp, hidden, tuple(notes))


def _carries_generation_text(text: dict[str, str], exif: dict[str, str]) -> bool:
    """Whether generation data is already in text form: then pixels are not searched for stealth pnginfo."""
    return bool(exif.get("UserComment")) or any(key.lower() in _GENERATION_KEYS for key in text)


def _ihdr(body: bytes, label: str) -> tuple[int, int, int, int, int]:
    if len(body) != 13:
        raise FormatError(f"{label} has a malformed PNG header")
    width, height, depth, color, _compression, _filter, interlace = struct.unpack(">IIBBBBB", body)
    _check_pixels(width, height, label=label)
    return width, height, depth, color, interlace


def _has_stealth_signature(first: bytes, channels: int) -> bool:
    """Whether the first pixels (column-major) start an alpha or RGB stealth signature: the cheap pre-check."""
    if channels == 4 and _signature(first[3::4], _STEALTH_ALPHA) is not None:
        return True
    rgb = b"".join(first[index : index + 3] for index in range(0, len(first), channels))
    return _signature(rgb, _STEALTH_RGB) is not None


def _signature(lsb_source: bytes, signatures: tuple[bytes, bytes]) -> bytes | None:
    bits = len(signatures[0]) * 8
    if len(lsb_source) < bits:
        return None
    found = int(lsb_source[:bits].translate(_LSB_ASCII), 2).to_bytes(bits // 8, "big")
    return found if found in signatures else None


def _decode_text(raw: bytes) -> str:
    # tEXt is latin-1 by the spec, but many writers put UTF-8 there; valid UTF-8 is almost never accidental.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _inflate(data: bytes, *, label: str, what: str, wbits: int = zlib.MAX_WBITS) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, _MAX_TEXT_BYTES + 1)
    if len(out) > _MAX_TEXT_BYTES or inflater.unconsumed_tail:
        raise UnsafeInputError(f"{label}: {what} inflates past {_MAX_TEXT_BYTES:,} bytes")
    return out


def _limit(value: str, *, label: str, what: str) -> str:
    if len(value) > MAX_METADATA_CHARS:
        raise UnsafeInputError(f"{label}: {what} is {len(value):,} characters; the limit is {MAX_METADATA_CHARS:,}")
    return value


def _text_chunk(kind: bytes, body: bytes, *, label: str, notes: list[str]) -> tuple[str, str] | None:
    raw_key, sep, rest = body.partition(b"\0")
    key = raw_key.decode("latin-1")
    if not sep or not key:
        notes.append(f"skipped a malformed {kind.decode()} chunk")
        return None
    what = f"text chunk {key[:40]!r}"
    try:
        if kind == b"tEXt":
            value = _decode_text(rest)
        elif kind == b"zTXt":
            value = _decode_text(_inflate(rest[1:], label=label, what=what))
        else:
            if len(rest) < 2:
                raise ValueError("short iTXt header")
            compressed, payload = rest[0], rest[2:]
            _lang, _, payload = payload.partition(b"\0")
            _translated, _, payload = payload.partition(b"\0")
            data = _inflate(payload, label=label, what=what) if compressed else payload
            value = data.decode("utf-8", errors="replace")
    except (zlib.error, ValueError) as exc:
        notes.append(f"skipped the corrupt {what} ({type(exc).__name__})")
        return None
    return key, _limit(value, label=label, what=what)


def _stealth_from_png(stream: IO[bytes], *, width: int, height: int, label: str, notes: list[str]) -> str | None:
    if width * height > STEALTH_MAX_PIXELS:
        notes.append("image too large to look for stealth pnginfo")
        return None
    from PIL import Image

    stream.seek(0)
    try:
        with Image.open(stream, formats=["PNG"]) as image:
            return _stealth_from_pixels(image, label=label, notes=notes)
    except (UnsafeInputError, FormatError):
        raise
    except Exception as exc:  # Pillow raises many types on corrupt pixel data; metadata reading goes on
        notes.append(f"could not decode pixels for stealth pnginfo ({type(exc).__name__})")
        return None


def _stealth_from_pixels(image: Any, *, label: str, notes: list[str], precheck: bool = False) -> str | None:
    """Stealth text in an opened RGB/RGBA image's alpha LSBs, else its RGB LSBs; None when there is none.

    With `precheck`, the first pixels (column-major) are checked for a signature before whole channels are
    transposed and copied (the PNG path has checked them already, before decoding).
    """
    from PIL import Image

    image.load()
    if image.mode not in ("RGB", "RGBA"):
        return None
    if precheck:
        rows = min(image.height, _SIGNATURE_BITS)
        columns = -(-_SIGNATURE_BITS // rows)
        if columns > image.width:
            return None
        first = image.crop((0, 0, columns, rows)).transpose(Image.Transpose.TRANSPOSE).tobytes()
        if not _has_stealth_signature(first, len(image.mode)):
            return None
    if image.mode == "RGBA":
        alpha = image.getchannel("A").transpose(Image.Transpose.TRANSPOSE).tobytes()
        found = decode_stealth(alpha, signatures=_STEALTH_ALPHA, label=label)
        if found is not None:
            return found
    rgb = image.convert("RGB").transpose(Image.Transpose.TRANSPOSE).tobytes()
    return decode_stealth(rgb, signatures=_STEALTH_RGB, label=label)


def _is_lossless_webp(stream: IO[bytes], size: int) -> bool:
    """Whether a WebP is a still image stored as VP8L (lossless): only such pixels can still hold stealth bits."""
    stream.seek(0)
    head = stream.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return False
    position = 12
    for _chunk in range(_MAX_WEBP_CHUNKS):
        stream.seek(position)
        header = stream.read(8)
        if len(header) < 8:
            return False
        kind, length = header[:4], struct.unpack("<I", header[4:])[0]
        if kind == b"VP8L":
            return True
        if kind in (b"VP8 ", b"ALPH", b"ANIM", b"ANMF"):
            return False  # lossy, or animated
        position += 8 + length + (length & 1)
        if position >= size:
            return False
    return False


def decode_stealth(lsb_source: bytes, *, signatures: tuple[bytes, bytes], label: str = "image") -> str | None:
    """Decode stealth pnginfo from channel bytes in column-major order (one bit per byte's LSB).

    `signatures` is the (plain, gzip) signature pair. Returns None when no signature is present; raises
    UnsafeInputError when the hidden text would be longer than MAX_METADATA_CHARS.
    """
    sig_bits = len(signatures[0]) * 8
    signature = _signature(lsb_source, signatures)
    if signature is None or len(lsb_source) < sig_bits + 32:
        return None
    length = int(lsb_source[sig_bits : sig_bits + 32].translate(_LSB_ASCII), 2)  # payload length in bits
    start = sig_bits + 32
    if length <= 0 or length % 8 or length > len(lsb_source) - start:
        return None
    if length > _MAX_TEXT_BYTES * 8:
        raise UnsafeInputError(f"{label}: stealth pnginfo of {length // 8:,} bytes is over the limit")
    payload = int(lsb_source[start : start + length].translate(_LSB_ASCII), 2).to_bytes(length // 8, "big")
    if signature == signatures[1]:
        try:
            payload = _inflate(payload, label=label, what="stealth pnginfo", wbits=16 + zlib.MAX_WBITS)
        except zlib.error:
            return None
    return _limit(payload.decode("utf-8", errors="replace"), label=label, what="stealth pnginfo")


# --- JPEG, WEBP and others through Pillow ---------------------------------------------------------------------


def _read_with_pillow(stream: IO[bytes], size: int, *, label: str, stealth: bool) -> ImageChunks:
    from PIL import Image

    notes: list[str] = []
    Image.init()  # open(formats=...) looks plugins up by name; only the preinit ones are registered before this
    formats = [name for name in _PILLOW_FORMATS if name in Image.OPEN]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # Pillow warns on corrupt EXIF while opening: keep those as notes
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we apply our own pixel limit below
        try:
            image = Image.open(stream, formats=formats)
        except Image.DecompressionBombError as exc:
            raise UnsafeInputError(f"{label}: {exc}") from exc
        except Exception as exc:  # Pillow's parsers raise many types on garbage; all mean "not an image"
            raise FormatError(f"{label} is not a readable image ({type(exc).__name__})") from exc
    notes.extend(f"image header: {warning.message}" for warning in caught[:5])
    with image:
        width, height = image.size
        _check_pixels(width, height, label=label)
        info: dict[str | tuple[int, int], Any] = dict(image.info)
        text: dict[str, str] = {}
        comment = info.get("comment")
        if isinstance(comment, bytes | str):
            decoded = comment if isinstance(comment, str) else _decode_text(comment)
            text["comment"] = _limit(decoded, label=label, what="comment")
        xmp_raw = info.get("xmp")
        xmp = None
        if isinstance(xmp_raw, bytes | str):
            xmp = _limit(xmp_raw if isinstance(xmp_raw, str) else _decode_text(xmp_raw), label=label, what="XMP")
        exif, derived = _exif_strings(image.getexif, label=label, notes=notes)
        for key, value in derived.items():
            text.setdefault(key, value)
        hidden = None
        if stealth and image.format == "WEBP" and not _carries_generation_text(text, exif):
            hidden = _stealth_from_webp(image, stream, size, label=label, notes=notes)
        return ImageChunks(label, image.format or "", width, height, image.mode, text, exif, xmp, hidden, tuple(notes))


def _stealth_from_webp(image: Any, stream: IO[bytes], size: int, *, label: str, notes: list[str]) -> str | None:
    if not _is_lossless_webp(stream, size) or image.mode not in ("RGB", "RGBA"):
        return None
    if image.width * image.height > STEALTH_MAX_PIXELS:
        notes.append("image too large to look for stealth pnginfo")
        return None
    try:
        return _stealth_from_pixels(image, label=label, notes=notes, precheck=True)
    except (UnsafeInputError, FormatError):
        raise
    except Exception as exc:  # Pillow raises many types on corrupt pixel data; metadata reading goes on
        notes.append(f"could not decode pixels for stealth pnginfo ({type(exc).__name__})")
        return None


# --- EXIF ------------------------------------------------------------------------------------------------------


def _exif_from_blob(blob: bytes, *, label: str, notes: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    from PIL import Image

    def load() -> Any:
        exif = Image.Exif()
        exif.load(blob)
        return exif

    return _exif_strings(load, label=label, notes=notes)


def _exif_strings(load: Callable[[], Any], *, label: str, notes: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Run Pillow's EXIF parsing with its warnings turned into notes: corrupt EXIF is common and harmless."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = _exif_fields(load(), label=label, notes=notes)
        except UnsafeInputError:
            raise
        except Exception as exc:  # Pillow parses EXIF lazily and raises many types on hostile offsets
            notes.append(f"skipped unreadable EXIF ({type(exc).__name__})")
            result = ({}, {})
    notes.extend(f"EXIF: {warning.message}" for warning in caught[:5])
    return result


def _exif_fields(exif: Any, *, label: str, notes: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """EXIF strings by tag name, plus text chunks derived from ComfyUI's ``prompt:``/``workflow:`` strings."""
    out: dict[str, str] = {}
    endian = getattr(exif, "endian", None)
    try:
        sub = dict(exif.get_ifd(_EXIF_IFD))
        base = dict(exif)
    except Exception as exc:  # get_ifd parses lazily and can fail on hostile offsets
        notes.append(f"skipped unreadable EXIF ({type(exc).__name__})")
        return {}, {}
    # Fooocus writes UserComment and MakerNote into IFD0 itself (modules/meta_parser.py): read there when the
    # Exif sub-IFD, where the EXIF standard puts them, has none.
    for tags, source in ((_IFD0_TAGS, base), (_EXIF_TAGS, sub), (_EXIF_TAGS, base)):
        for tag, tag_name in tags.items():
            value = source.get(tag)
            if value is None or tag_name in out:
                continue
            is_comment = tag == 0x9286
            decoded = decode_user_comment(_as_bytes(value), endian=endian) if is_comment else _exif_string(value)
            if decoded:
                out[tag_name] = _limit(decoded, label=label, what=f"EXIF {tag_name}")
    for tag, tag_name in _XP_TAGS.items():
        value = base.get(tag)
        if value is not None:
            decoded = _as_bytes(value).decode("utf-16-le", errors="replace").rstrip("\0")
            if decoded:
                out[tag_name] = _limit(decoded, label=label, what=f"EXIF {tag_name}")
    derived: dict[str, str] = {}
    for value in out.values():
        # ComfyUI's WEBP/AVIF savers store "prompt:{json}" / "workflow:{json}" in Make, Model, ImageDescription.
        prefix, sep, rest = value.partition(":")
        if sep and prefix.strip().lower() in ("prompt", "workflow") and rest.lstrip().startswith("{"):
            derived.setdefault(prefix.strip().lower(), rest.strip())
    return out, derived


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", errors="replace")
    if isinstance(value, tuple | list) and all(isinstance(v, int) and 0 <= v < 256 for v in value):
        return bytes(value)
    return str(value).encode("utf-8", errors="replace")


def _exif_string(value: Any) -> str:
    if isinstance(value, str):
        return value.rstrip("\0").strip()
    if isinstance(value, bytes):
        return _decode_text(value.rstrip(b"\0")).strip()
    return ""


def decode_user_comment(raw: bytes, *, endian: str | None = None) -> str:
    """Decode an EXIF UserComment: its 8-byte charset prefix, then UTF-16 (either byte order), ASCII or JIS.

    UTF-16 byte order comes from a BOM, else from where the zero bytes of ASCII-range text sit (piexif writes
    big-endian, others little-endian regardless of the EXIF byte order), else from the EXIF byte order.
    """
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\0":
        return _decode_utf16(body, endian).rstrip("\0")
    if prefix == b"JIS\0\0\0\0\0":
        return body.decode("shift_jis", errors="replace").rstrip("\0")
    if prefix in (b"ASCII\0\0\0", b"\0" * 8):
        return _decode_text(body.rstrip(b"\0"))
    return _decode_text(raw.rstrip(b"\0"))  # no charset prefix: some writers store bare UTF-8


def _decode_utf16(body: bytes, endian: str | None) -> str:
    if body.startswith(b"\xff\xfe"):
        return body[2:].decode("utf-16-le", errors="replace")
    if body.startswith(b"\xfe\xff"):
        return body[2:].decode("utf-16-be", errors="replace")
    body = body[: len(body) - len(body) % 2]
    zeros_even, zeros_odd = body[0::2].count(0), body[1::2].count(0)
    if zeros_even != zeros_odd:
        codec = "utf-16-be" if zeros_even > zeros_odd else "utf-16-le"
    else:
        codec = "utf-16-le" if endian == "<" else "utf-16-be"
    return body.decode(codec, errors="replace")


# --- XMP -------------------------------------------------------------------------------------------------------


def xmp_value(xmp: str, tag: str) -> str | None:
    """The text of an XMP property (``exif:UserComment``, ``dc:description``...), element or attribute form.

    Scans with str.find instead of an XML parser: no entity expansion, linear time on hostile input. For
    ``rdf:Alt``/``rdf:Seq`` values the first ``rdf:li`` is returned. XML character references are decoded.
    """
    import html

    attribute = re.search(rf"\s{re.escape(tag)}\s*=\s*(?:\"([^\"]*)\"|'([^']*)')", xmp)
    if attribute:
        return html.unescape(attribute.group(1) if attribute.group(1) is not None else attribute.group(2))
    start = xmp.find(f"<{tag}")
    while start >= 0 and xmp[start + len(tag) + 1 : start + len(tag) + 2] not in (">", "/", " ", "\n", "\t", "\r"):
        start = xmp.find(f"<{tag}", start + 1)
    if start < 0:
        return None
    open_end = xmp.find(">", start)
    if open_end < 0 or xmp[open_end - 1] == "/":
        return None
    close = xmp.find(f"</{tag}>", open_end)
    inner = xmp[open_end + 1 : close if close >= 0 else len(xmp)]
    item = inner.find("<rdf:li")
    if item >= 0:
        item_end = inner.find(">", item)
        item_close = inner.find("</rdf:li>", item_end)
        inner = inner[item_end + 1 : item_close if item_close >= 0 else len(inner)]
    inner = inner.strip()
    if inner.startswith("<![CDATA[") and inner.endswith("]]>"):
        return inner[9:-3]
    return html.unescape(inner)
