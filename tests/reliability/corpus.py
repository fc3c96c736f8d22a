"""A generated corpus of hostile files, each with what promptlib must do with it.

`build_corpus(root)` writes the files (and a few special ones: symlinks, a device link, a FIFO) and
returns the expectations: for each path relative to `root` (zip members as ``archive.zip!member``) whether it must
be **refused** (listed in the import's failures or warnings, one line) or **imported** (and then neutralised on
display: stored verbatim, escaped when shown). `build_pack_folder` makes a pack folder with links in it, imported
as its own path. `CANARY_NAME` is the file a malicious pickle would create.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import stat
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tests.reliability.fuzz_targets import png_chunk
from tests.reliability.operations import infotext, png

REFUSED, IMPORTED = "refused", "imported"
CANARY_NAME = "canary-was-written"
HOSTILE_TEXT = (
    "[bold red]markup[/bold red] [link=file:///etc/passwd]click[/link] "
    "\x1b]0;pwned\x07 \x1b[2J \x9b31m \u202eevil\u202c"
)
SECRET = "root:x:0:0:this text lives outside the imported folder"


@dataclass(frozen=True)
class Expect:
    outcome: str  # REFUSED or IMPORTED
    why: str


def _png_raw(width: int, height: int, chunks: list[bytes], *, idat: bytes | None = None) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = idat if idat is not None else zlib.compress(b"\0" * 8)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + b"".join(chunks)
        + png_chunk(b"IDAT", body)
        + png_chunk(b"IEND", b"")
    )


def _pixel_bomb_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (17_000, 17_000)).save(out, "PNG")  # 289 M pixels (over the limit) in a ~40 KB file
    return out.getvalue()


def _jpeg(*, exif_comment: str | None = None, size: tuple[int, int] = (16, 16)) -> bytes:
    from PIL import Image

    image = Image.new("RGB", size, (9, 99, 199))
    out = io.BytesIO()
    extra = {}
    if exif_comment is not None:
        exif = Image.Exif()
        exif[0x8769] = {0x9286: b"UNICODE\0" + exif_comment.encode("utf-16-be")}
        extra["exif"] = exif.tobytes()
    image.save(out, "JPEG", **extra)
    return out.getvalue()


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A JPEG whose frame header claims `width`x`height` pixels."""
    data = bytearray(_jpeg())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _webp_claiming(width: int, height: int) -> bytes:
    """An extended (VP8X) WEBP header claiming a huge canvas, with no image data behind it."""
    vp8x = (
        b"VP8X"
        + struct.pack("<I", 10)
        + b"\x00\x00\x00\x00"
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def _stealth_liar() -> bytes:
    """An RGBA PNG whose alpha LSBs carry the stealth signature and a payload length far past the image."""
    from PIL import Image

    side = 64
    bits = "".join(f"{b:08b}" for b in b"stealth_pngcomp") + f"{2**31 - 8:032b}"
    alpha = bytes(254 | int(bits[i]) if i < len(bits) else 255 for i in range(side * side))
    image = Image.new("RGBA", (side, side))
    # Column-major, as the extension writes it.
    column_major = Image.frombytes("L", (side, side), alpha).transpose(Image.Transpose.TRANSPOSE)
    image.putalpha(column_major)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class _Canary:
    """Unpickling this object would create the canary file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.path}",))


def _zip(members: list[tuple[str | zipfile.ZipInfo, bytes]], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    import warnings

    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are part of the corpus
        with zipfile.ZipFile(out, "w", compression=compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return out.getvalue()


def _symlink_member(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _encrypted_zip() -> bytes:
    data = bytearray(_zip([("secret.jsonl", b'{"prompt": "encrypted"}\n')]))
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # set the "encrypted" flag in both headers
        at = data.find(header)
        flag_at = at + (6 if header == b"PK\x03\x04" else 8)
        data[flag_at] |= 0x01
    return bytes(data)


def _corrupt_deflate_zip() -> bytes:
    payload = b'{"prompt": "never read"}\n' * 200
    data = bytearray(_zip([("broken.jsonl", payload)]))
    start = data.find(b"broken.jsonl") + len("broken.jsonl")
    for offset in range(start + 2, start + 40):
        data[offset] ^= 0x5A
    return bytes(data)


def _lying_size_zip() -> bytes:
    """A member whose headers claim 20 bytes while its deflate stream inflates to 20 MB."""
    data = bytearray(_zip([("liar.jsonl", b" " * 20_000_000)]))
    for header, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(header)
        struct.pack_into("<I", data, at + size_at, 20)
    return bytes(data)


def _tar_with_links() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, kind, target in (
            ("link.jsonl", tarfile.SYMTYPE, "/etc/passwd"),
            ("hard.jsonl", tarfile.LNKTYPE, "/etc/shadow"),
        ):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)
        body = b'{"prompt": "inside a tar"}\n'
        info = tarfile.TarInfo("plain.jsonl")
        info.size = len(body)
        archive.addfile(info, io.BytesIO(body))
    return out.getvalue()


def _native_pack(manifest: dict[str, object], files: dict[str, bytes]) -> bytes:
    return _zip([("pack.json", json.dumps(manifest).encode()), *files.items()], compression=zipfile.ZIP_STORED)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def build_corpus(root: Path) -> dict[str, Expect]:
    """Write the corpus under `root`; returns what must happen to each file (and zip member)."""
    root.mkdir(parents=True, exist_ok=True)
    outside = root.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text(SECRET + "\n")
    canary = root.parent / CANARY_NAME
    good = png(1, infotext=infotext(1, "good "))
    bomb = zlib.compress(b"a" * 20_000_000, 9)  # over the 16 MB a text chunk may inflate to
    files: dict[str, tuple[bytes, Expect]] = {
        # Images: bombs, lies and damage.
        "good.png": (good, Expect(IMPORTED, "a normal A1111 image")),
        "bomb_pixels.png": (_pixel_bomb_png(), Expect(REFUSED, "289 M pixels")),
        "bomb_pixels_header.png": (_png_raw(100_000, 100_000, []), Expect(REFUSED, "header claims 10 G pixels")),
        "bomb_ztxt.png": (
            _png_raw(8, 8, [png_chunk(b"zTXt", b"parameters\0\0" + bomb)]),
            Expect(REFUSED, "zTXt inflating to 20 MB"),
        ),
        "bomb_itxt.png": (
            _png_raw(8, 8, [png_chunk(b"iTXt", b"parameters\0\x01\0en\0\0" + bomb)]),
            Expect(REFUSED, "compressed iTXt inflating to 20 MB"),
        ),
        "huge_text_chunk.png": (png(2, infotext="x" * 17_000_000), Expect(REFUSED, "a 17 MB tEXt chunk")),
        "many_chunks.png": (
            _png_raw(8, 8, [png_chunk(b"tEXt", b"k\0v")] * 210_000),
            Expect(REFUSED, "210,000 text chunks"),
        ),
        "truncated.png": (good[:100], Expect(REFUSED, "cut off mid-chunk")),
        "truncated.jpg": (_jpeg(exif_comment="a cat\nSteps: 20, Seed: 1")[:300], Expect(REFUSED, "cut-off JPEG")),
        "truncated.webp": (_webp_claiming(64, 64)[:20], Expect(REFUSED, "cut-off WEBP")),
        "bomb_pixels.jpg": (_jpeg_claiming(65_000, 65_000), Expect(REFUSED, "JPEG frame claims 4 G pixels")),
        "bomb_canvas.webp": (_webp_claiming(1 << 24, 1 << 24), Expect(REFUSED, "VP8X canvas of 16 M x 16 M")),
        "stealth_liar.png": (_stealth_liar(), Expect(REFUSED, "stealth pnginfo claiming 256 MB")),
        "xmp_billion_laughs.png": (
            _png_raw(
                8,
                8,
                [
                    png_chunk(
                        b"iTXt",
                        b"XML:com.adobe.xmp\0\0\0\0\0"
                        + (
                            '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                            + "".join(f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(9))
                            + ']><x:xmpmeta><rdf:Description exif:UserComment="&j; a cat&#10;Steps: 20, Seed: 1"/>'
                            + "</x:xmpmeta>"
                        ).encode(),
                    )
                ],
            ),
            Expect(IMPORTED, "XML entities in XMP: read without an XML parser, never expanded"),
        ),
        "photoshop.png": (b"8BPS\x00\x01" + b"\x00" * 120, Expect(REFUSED, "a PSD named .png")),
        "fits.png": (b"SIMPLE  =                    T" + b" " * 50 + b"\x00" * 64, Expect(REFUSED, "FITS data")),
        "jpeg_named.png": (
            _jpeg(exif_comment="a mislabelled jpeg\nSteps: 12, Seed: 3"),
            Expect(IMPORTED, "a real JPEG named .png: content decides"),
        ),
        "png_named.json": (
            png(3, infotext=infotext(3, "named json ")),
            Expect(IMPORTED, "a PNG named .json: content decides"),
        ),
        "gif_screen.gif": (b"GIF89a\xff\xff\xff\xff\x00\x00\x00;", Expect(REFUSED, "GIF claiming 65535x65535")),
        # Text formats.
        "invalid_utf8.jsonl": (b'{"prompt": "caf\xe9 \xff\xfe"}\n', Expect(REFUSED, "not UTF-8 JSON")),
        "nan.json": (b'[{"name": "x", "prompt": NaN}]', Expect(REFUSED, "NaN in JSON")),
        "infinity_number.json": (b'[{"name": "x", "prompt": "p", "steps": 1e999}]', Expect(REFUSED, "1e999")),
        "deep_lists.json": (b"[" * 10_000 + b"]" * 10_000, Expect(REFUSED, "10,000 levels of lists")),
        "deep_objects.json": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, Expect(REFUSED, "10,000 levels of objects")),
        "huge_prompt.jsonl": (
            json.dumps({"prompt": "p" * 1_048_576}).encode() + b"\n",
            Expect(REFUSED, "a 1 MB prompt (limit 100,000 characters)"),
        ),
        "csv_2mb_field.csv": (
            b'name,prompt,negative_prompt\nbig,"' + b"y" * 2_000_000 + b'",\n',
            Expect(REFUSED, "a 2 MB CSV field"),
        ),
        "csv_unbalanced.csv": (
            b'name,prompt,negative_prompt\nopen,"never closed,\n',
            Expect(IMPORTED, "an unbalanced quote runs to the end, as in A1111"),
        ),
        "too_many_rows.txt": (b"a prompt\n" * 250_001, Expect(REFUSED, "250,001 lines")),
        "nul_bytes.txt": (b"a prompt\x00\x00\x00 with NULs" * 10, Expect(REFUSED, "binary: NUL bytes")),
        "escapes.jsonl": (
            json.dumps(
                {
                    "prompt": HOSTILE_TEXT,
                    "title": HOSTILE_TEXT,
                    "negative_prompt": HOSTILE_TEXT,
                    "notes": HOSTILE_TEXT,
                    "tags": ["[bold]tag[/bold]", "\x1b[31mred"],
                }
            ).encode()
            + b"\n",
            Expect(IMPORTED, "escapes and markup in every field: stored, escaped on display"),
        ),
        "markup_styles.csv": (
            (
                "name,prompt,negative_prompt\n"
                + '"[link=file:///etc/passwd]style[/link]","'
                + HOSTILE_TEXT
                + ' {prompt}","[blink]neg[/blink]"\n'
            ).encode(),
            Expect(IMPORTED, "Rich markup in a style name and prompt"),
        ),
        "bidi_lines.txt": (
            '\u202eevil reversed\u202c prompt\n--prompt "\x1b[2J cleared" --steps 20\n'.encode(),
            Expect(IMPORTED, "bidi overrides and escapes in prompts_from_file lines"),
        ),
        "\x1b]0;title\x07name.jsonl": (
            b'{"prompt": "a file whose name holds an escape"}\n',
            Expect(IMPORTED, "a terminal escape in the file name"),
        ),
        "[bold]markup[reverse] name.jsonl": (
            b'{"prompt": "a file whose name holds markup"}\n',
            Expect(IMPORTED, "Rich markup in the file name"),
        ),
        # Model-like files: never unpickled, never executed.
        "canary.pkl": (pickle.dumps(_Canary(canary), protocol=4), Expect(REFUSED, "a pickle that would run a command")),
        "canary_protocol0.pickle": (
            pickle.dumps(_Canary(canary), protocol=0),
            Expect(IMPORTED, "an ASCII pickle: read as text lines, never unpickled"),
        ),
        "model.safetensors": (
            pickle.dumps(_Canary(canary), protocol=4),
            Expect(REFUSED, "a pickle named .safetensors"),
        ),
        "lying_header.safetensors": (
            struct.pack("<Q", 2**62) + b'{"w": {"dtype": "F32"}}',
            Expect(REFUSED, "a safetensors header claiming 4 EiB"),
        ),
        "tar_with_links.tar": (_tar_with_links(), Expect(REFUSED, "a tar with a symlink and a hardlink")),
        # Archives.
        "nested.zip": (
            _zip([("inner.zip", _zip([("x.jsonl", b'{"prompt": "nested"}\n')]))]),
            Expect(IMPORTED, "a zip in a zip: the outer zip is read, the inner one refused"),
        ),
        "encrypted.zip": (_encrypted_zip(), Expect(IMPORTED, "an encrypted member (refused on its own)")),
        "corrupt_deflate.zip": (_corrupt_deflate_zip(), Expect(IMPORTED, "a member with damaged data")),
        "lying_size.zip": (_lying_size_zip(), Expect(IMPORTED, "a member whose headers lie about its size")),
        "torch_checkpoint.ckpt": (
            _zip([("archive/data.pkl", pickle.dumps(_Canary(canary), protocol=2)), ("archive/version", b"3\n")]),
            Expect(IMPORTED, "a PyTorch zip checkpoint: its pickle is refused as binary"),
        ),
        "evil.zip": (
            _zip(
                [
                    ("../../escape.jsonl", b'{"prompt": "escaped"}\n'),
                    ("/abs.jsonl", b'{"prompt": "absolute"}\n'),
                    ("back\\slash.jsonl", b'{"prompt": "backslash"}\n'),
                    ("C:/drive.jsonl", b'{"prompt": "drive letter"}\n'),
                    ("dup.jsonl", b'{"prompt": "dup one"}\n'),
                    ("dup.jsonl", b'{"prompt": "dup two"}\n'),
                    (_symlink_member("link.jsonl", "/etc/passwd"), b"/etc/passwd"),
                    ("bomb.jsonl", b" " * 20_000_000),
                ]
            ),
            Expect(IMPORTED, "zip slip, absolute, backslash and drive paths, a symlink, a bomb"),
        ),
        "pack_slip.zip": (
            _native_pack(
                {
                    "name": "slip",
                    "files": ["../../etc/passwd", "/etc/shadow"],
                    "entries": [{"prompt": "pack slip entry"}],
                },
                {},
            ),
            Expect(IMPORTED, "a pack listing files outside itself: those refused"),
        ),
        "pack_bad_images.zip": (
            _native_pack(
                {
                    "name": "bad-images",
                    "entries": [
                        {"prompt": "hash mismatch entry", "images": [{"path": "a.png", "sha256": "0" * 64}]},
                        {
                            "prompt": "pixel bomb entry",
                            "images": [{"path": "b.png", "sha256": _sha(_png_raw(100_000, 100_000, []))}],
                        },
                        {"prompt": "symlinked image entry", "images": [{"path": "c.png", "sha256": "1" * 64}]},
                    ],
                },
                {"a.png": good, "b.png": _png_raw(100_000, 100_000, [])},
            ),
            Expect(IMPORTED, "pack images with a wrong hash, a pixel bomb, a missing member"),
        ),
    }
    expect: dict[str, Expect] = {}
    for name, (data, what) in files.items():
        (root / name).write_bytes(data)
        expect[name] = what
    for member, why in (
        ("../../escape.jsonl", "zip slip"),
        ("/abs.jsonl", "absolute path"),
        ("back\\slash.jsonl", "backslash path"),
        ("C:/drive.jsonl", "drive letter"),
        ("link.jsonl", "symlink member"),
        ("bomb.jsonl", "20 MB of spaces at 1000:1"),
    ):
        expect[f"evil.zip!{member}"] = Expect(REFUSED, why)
    expect["nested.zip!inner.zip"] = Expect(REFUSED, "a zip inside a zip")
    expect["encrypted.zip!secret.jsonl"] = Expect(REFUSED, "encrypted member")
    expect["corrupt_deflate.zip!broken.jsonl"] = Expect(REFUSED, "damaged deflate data")
    expect["lying_size.zip!liar.jsonl"] = Expect(REFUSED, "size headers that lie")
    expect["torch_checkpoint.ckpt!archive/data.pkl"] = Expect(REFUSED, "a pickle inside a checkpoint")
    # Links and special files in the folder itself.
    (root / "symlink_out.txt").symlink_to(outside / "secret.txt")
    expect["symlink_out.txt"] = Expect(REFUSED, "a symlink to a file outside the imported folder")
    (root / "symlink_dev.png").symlink_to("/dev/zero")
    expect["symlink_dev.png"] = Expect(REFUSED, "a symlink to a device")
    os.mkfifo(root / "fifo.jsonl")
    expect["fifo.jsonl"] = Expect(REFUSED, "a named pipe (reading it would block forever)")
    return expect


def build_pack_folder(target: Path) -> None:
    """A native pack folder (imported as its own path) whose entry file is a symlink leading out of the pack and
    whose image is a hard link to a file outside it (with the right sha256 in the manifest)."""
    outside = target.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text(SECRET + "\n")
    target.mkdir()
    (target / "entries.json").symlink_to(outside / "secret.txt")
    os.link(outside / "secret.txt", target / "hard.png")
    (target / "pack.json").write_text(
        json.dumps(
            {
                "name": "links",
                "files": ["entries.json"],
                "entries": [
                    {
                        "prompt": "entry with a hardlinked image",
                        "images": [{"path": "hard.png", "sha256": _sha((outside / "secret.txt").read_bytes())}],
                    }
                ],
            }
        )
    )
