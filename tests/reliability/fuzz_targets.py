"""Every parser of untrusted input, each paired with a hypothesis strategy that reaches past its first check.

A `Target` is a name, a strategy and a function taking one drawn value; the fuzz test calls it and allows only
`promptlib.errors.PromptlibError` (with a one-line message) to escape. Values that parse are checked for shape
(recipes JSON-safe, packs validated). Adding a parser means adding a target here.
"""

from __future__ import annotations

import io
import json
import struct
import tempfile
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from promptlib.metadata import READERS
from promptlib.packs.formats import READERS as FORMAT_READERS
from promptlib.recipe import Recipe


@dataclass(frozen=True)
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    call: Callable[[Any], object]


# --- strategies ----------------------------------------------------------------------------------------------------

_TOKENS = [
    "Steps: ",
    "Negative prompt:",
    "Negative prompt: ",
    ", ",
    ": ",
    "\n",
    "\r\n",
    '"',
    "'",
    "\\",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "<lora:",
    "<lyco:",
    ">",
    ":1.2",
    "-S",
    "-s",
    "-C",
    "-A",
    "-W",
    "-H",
    "Size: ",
    "512x512",
    "0x0",
    "99999x99999",
    "Hashes: ",
    "Lora hashes: ",
    "Sampler: ",
    "Schedule type: ",
    "DPM++ 2M Karras",
    "Euler a",
    "Model: ",
    "Model hash: ",
    "CFG scale: ",
    "Seed: ",
    "-1",
    "1e999",
    "-0",
    "NaN",
    "Infinity",
    "null",
    "true",
    "sui_image_params",
    "class_type",
    "inputs",
    "c",
    "uc",
    "Comment",
    "Description",
    "Software",
    "NovelAI",
    "<exif:UserComment>",
    "<rdf:li>",
    "</rdf:li>",
    "<x:xmpmeta>",
    "=",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "\ufeff",
    "{prompt}",
    "BREAK",
    "AND",
    "|",
    "%",
    "é",
    "\U0001f600",
]
format_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=6)), max_size=60).map("".join),
)

_KEYS = [
    "class_type",
    "inputs",
    "seed",
    "noise_seed",
    "steps",
    "cfg",
    "sampler_name",
    "scheduler",
    "positive",
    "negative",
    "latent_image",
    "model",
    "text",
    "text_g",
    "text_l",
    "clip",
    "width",
    "height",
    "lora_name",
    "strength_model",
    "ckpt_name",
    "vae",
    "vae_name",
    "samples",
    "guider",
    "sigmas",
    "noise",
    "sampler",
    "conditioning",
    "nodes",
    "links",
    "id",
    "type",
    "mode",
    "widgets_values",
    "link",
    "name",
    "image",
    "prompt",
    "images",
    "sui_image_params",
    "sui_models",
    "Comment",
    "Description",
    "uc",
    "c",
    "positive_prompt",
    "negative_prompt",
    "loras",
    "lora",
    "weight",
    "scale",
    "size",
    "v2",
    "v_prediction",
    "metadata_scheme",
    "base_model",
    "sampler_index",
    "num_inference_steps",
    "guidance_scale",
    "use_stable_diffusion_model",
    "preset_data",
    "title",
    "tags",
    "params",
    "notes",
    "rating",
    "favourite",
    "styles",
    "entries",
    "files",
    "schema",
    "version",
    "author",
    "license",
    "description",
    "homepage",
    "created",
    "path",
    "sha256",
    "app_version",
    "generation_mode",
    "model_weights",
    "cfg_scale",
    "seamless",
    "clip_skip",
    "1",
    "2",
    "3",
    "4",
]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["KSampler", "CLIPTextEncode", "Reroute", "LoraLoader", "euler", "karras", "Euler a", ""]),
)
_link = st.tuples(st.sampled_from(["1", "2", "3", 1, 2, 3]), st.integers(-1, 3)).map(list)
json_values = st.recursive(
    st.one_of(_scalars, _link),
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.sampled_from(_KEYS), children, max_size=7)
    ),
    max_leaves=40,
)
json_text = st.one_of(json_values.map(json.dumps), format_text)


def _mutate(base: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(base)
    for index, value in edits:
        if data:
            data[index % len(data)] = value
    return bytes(data[:cut] if cut is not None else data)


def mutated(bases: list[bytes]) -> st.SearchStrategy[bytes]:
    """Valid files with a few bytes changed and perhaps cut short."""
    return st.builds(
        _mutate,
        st.sampled_from(bases),
        st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8),
        st.one_of(st.none(), st.integers(0, 4096)),
    )


# --- image builders ---------------------------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes, *, good_crc: bool = True) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc if good_crc else crc ^ 1)


def _png(width: int, height: int, chunks: list[bytes], *, color_type: int = 2) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color_type, 3)
    small = width <= 4096 and height <= 4096 and width * height <= 4096  # a 0×2³¹ image must not build 2³¹ rows
    raw = b"".join(b"\0" + bytes(width * channels) for _ in range(height)) if small else b"\0" * 8
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + b"".join(chunks)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def _text_chunk(kind: str, key: str, value: str, good_crc: bool) -> bytes:
    k = key.encode("latin-1", "replace")[:79]
    if kind == "tEXt":
        return png_chunk(b"tEXt", k + b"\0" + value.encode("latin-1", "replace"), good_crc=good_crc)
    if kind == "zTXt":
        return png_chunk(b"zTXt", k + b"\0\0" + zlib.compress(value.encode("latin-1", "replace")), good_crc=good_crc)
    body = k + b"\0\x01\0en\0\0" + zlib.compress(value.encode("utf-8", "surrogatepass"))
    return png_chunk(b"iTXt", body, good_crc=good_crc)


_text_keys = st.sampled_from(
    [
        "parameters",
        "prompt",
        "workflow",
        "Comment",
        "Description",
        "Software",
        "invokeai_metadata",
        "dream",
        "sd-metadata",
        "sui_image_params",
        "fooocus_scheme",
        "promptlib",
        "XML:com.adobe.xmp",
        "negative_prompt",
    ]
)
structured_png = st.builds(
    lambda size, chunks, color: _png(size[0], size[1], chunks, color_type=color),
    st.tuples(st.integers(0, 70), st.integers(0, 70)) | st.tuples(st.integers(0, 2**31), st.integers(0, 2**31)),
    st.lists(
        st.builds(_text_chunk, st.sampled_from(["tEXt", "zTXt", "iTXt"]), _text_keys, json_text, st.booleans()),
        max_size=4,
    ),
    st.sampled_from([0, 2, 4, 6, 3, 7]),
)


def _base_images() -> list[bytes]:
    from PIL import Image, PngImagePlugin

    out = []
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nNegative prompt: dog\nSteps: 20, Seed: 1, Sampler: Euler, Size: 8x8")
    info.add_itxt("prompt", '{"3": {"class_type": "KSampler", "inputs": {"seed": 1, "positive": ["4", 0]}}}', zip=True)
    for fmt, extra in (("PNG", {"pnginfo": info}), ("JPEG", {}), ("WEBP", {}), ("GIF", {}), ("BMP", {})):
        buffer = io.BytesIO()
        image = Image.new("RGB", (8, 8), (10, 20, 30))
        if fmt in ("JPEG", "WEBP"):
            exif = Image.Exif()
            exif[0x010E] = "Steps: 20, Sampler: Euler a"
            exif[0x8769] = {0x9286: b"UNICODE\0" + "a dog\nSteps: 5".encode("utf-16-be")}
            extra = {"exif": exif.tobytes()}
        if fmt == "GIF":
            extra = {"comment": b"a gif\nSteps: 3"}
        image.save(buffer, fmt, **extra)
        out.append(buffer.getvalue())
    for mode, signature in (("RGBA", b"stealth_pnginfo"), ("RGB", b"stealth_rgbinfo")):  # LSBs of a VP8L WebP
        payload = b"a cat\nSteps: 3, Seed: 1"
        body = signature + struct.pack(">I", len(payload) * 8) + payload
        bits = [(byte >> (7 - i)) & 1 for byte in body for i in range(8)]
        channels = len(mode)
        pixels = bytearray([200] * (32 * 32 * channels))
        for index, bit in enumerate(bits):
            pixel, channel = (index, 3) if mode == "RGBA" else divmod(index, 3)
            x, y = divmod(pixel, 32)  # column-major, as the extension writes
            pixels[(y * 32 + x) * channels + channel] = 200 | bit
        buffer = io.BytesIO()
        Image.frombytes(mode, (32, 32), bytes(pixels)).save(buffer, "WEBP", lossless=True, exact=True)
        out.append(buffer.getvalue())
    return out


# --- calls ----------------------------------------------------------------------------------------------------------


def check_recipes(result: object) -> None:
    """Parsed recipes are Recipe objects whose every field survives JSON."""
    recipes = result if isinstance(result, list) else [result]
    for recipe in recipes:
        assert isinstance(recipe, Recipe), type(recipe)
        json.dumps(recipe.model_dump(mode="json"), allow_nan=False)


def _text_parser(module: str, function: str) -> Callable[[Any], object]:
    def call(value: Any) -> object:
        import importlib

        result = getattr(importlib.import_module(module), function)(value)
        check_recipes(result)
        return result

    return call


def _reader(name: str) -> Callable[[Any], object]:
    def call(chunks: Any) -> object:
        from promptlib.metadata import reader

        result = reader(name)(chunks)
        check_recipes(result)
        return result

    return call


def _chunks(fields: tuple[dict[str, str], dict[str, str], str | None, str | None, str]) -> Any:
    from promptlib.metadata.chunks import ImageChunks

    text, exif, xmp, stealth, fmt = fields
    return ImageChunks("fuzz.png", fmt, 64, 64, "RGB", text=text, exif=exif, xmp=xmp, stealth=stealth)


_chunk_fields = st.tuples(
    st.dictionaries(_text_keys, json_text, max_size=3),
    st.dictionaries(
        st.sampled_from(
            ["UserComment", "ImageDescription", "Software", "MakerNote", "Make", "XPComment", "prompt", "workflow"]
        ),
        json_text,
        max_size=3,
    ),
    st.one_of(
        st.none(),
        format_text.map(
            lambda t: f'<x:xmpmeta><rdf:Description exif:UserComment="{t}">{t}</rdf:Description></x:xmpmeta>'
        ),
    ),
    st.one_of(st.none(), json_text),
    st.sampled_from(["PNG", "JPEG", "WEBP"]),
)


def _read_image(data: bytes) -> object:
    from promptlib.metadata import read_image

    meta = read_image(data, name="fuzz")
    check_recipes(meta.recipes)
    return meta


def _import_probe(data: bytes) -> object:
    from promptlib.images import probe_image

    return probe_image(data, name="fuzz")


def _embed_decode(data: bytes) -> object:
    """The embedder's CPU half on untrusted bytes: the guards, libpng (imagecodecs) or Pillow, crop and reduce."""
    from promptlib.search.preprocess import Preprocess

    pixels = Preprocess((32, 32)).load(data, name="fuzz")
    assert pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.dtype.name == "uint8", pixels.shape
    from promptlib.search.png_rows import read_rows

    rows = read_rows(data)  # the GPU path's CPU half on the same bytes: whole rows of known filter types, or None
    if rows is not None:
        assert rows.data.ndim == 2 and rows.data.shape[1] == 1 + rows.width * rows.channels, rows.data.shape
        assert int(rows.data[:, 0].max()) <= 4 and rows.channels in (1, 2, 3, 4)
    return pixels


def _format_reader(name: str) -> Callable[[Any], object]:
    def call(data: bytes) -> object:
        from promptlib.packs.formats import READERS
        from promptlib.packs.schema import PackFile

        pack, warnings = READERS[name].read_with_warnings(data, source="fuzz")
        assert isinstance(pack, PackFile)
        PackFile.model_validate(pack.model_dump())  # what was read is a valid pack
        assert all("\n" not in w for w in warnings)
        return pack

    return call


def _read_any(data: bytes) -> object:
    from promptlib.packs.formats import read_any

    return read_any(data, source="fuzz", filename="fuzz.txt")


def _detect(data: bytes) -> object:
    from promptlib.packs.formats import detect_format

    return detect_format(data, filename="fuzz.json")  # never raises


def _load_json(data: bytes) -> object:
    from promptlib.packs.formats import load_json

    return load_json(data, source="fuzz")


def _csv_text(rows: list[list[str]], header: str) -> bytes:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value

    return (header + "\n" + "\n".join(",".join(cell(c) for c in row) for row in rows)).encode("utf-8", "surrogatepass")


_style_objects = st.lists(
    st.dictionaries(
        st.sampled_from(
            [
                "name",
                "prompt",
                "negative_prompt",
                "preset_data",
                "positive_prompt",
                "type",
                "id",
                "title",
                "tags",
                "params",
                "steps",
                "sampler",
                "seed",
            ]
        ),
        json_values,
        max_size=6,
    ),
    max_size=6,
)
# Generators' parameter files: A1111 infotext blocks in a row, ComfyUI API graphs and workflows (subgraphs too).
_infotext_lines = st.lists(
    st.one_of(
        format_text,
        st.sampled_from(["Steps: 20, Sampler: Euler a, Seed: 1", "Steps: 9", "Steps: x, Seed: 1", "Negative prompt: ",
                         "Negative prompt: blurry", "Template: {a|b}", "Negative Template: x", "", "Size: 9x9"]),
    ),
    max_size=12,
).map(lambda lines: "\n".join(lines).encode())  # fmt: skip
_api_graph = st.dictionaries(
    st.sampled_from(["1", "2", "3", "4"]),
    st.fixed_dictionaries(
        {
            "class_type": st.sampled_from(["KSampler", "CLIPTextEncode", "CheckpointLoaderSimple", "EmptyLatentImage"]),
            "inputs": st.dictionaries(
                st.sampled_from(["seed", "steps", "cfg", "text", "ckpt_name", "model", "positive", "negative"]),
                st.one_of(_scalars, _link),
                max_size=6,
            ),
        }
    ),
    max_size=5,
)
_graph_files = st.one_of(
    _api_graph.map(lambda graph: json.dumps(graph).encode()),
    _api_graph.map(lambda graph: json.dumps({"prompt": graph, "extra_data": {}}).encode()),
    st.deferred(lambda: st.one_of(subgraph_workflow_text, edited_subgraph_workflow_text)).map(str.encode),
)
_bytes_for_formats = st.one_of(
    st.binary(max_size=400),
    _infotext_lines,
    _graph_files,
    format_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    _style_objects.map(lambda v: json.dumps(v).encode()),
    st.lists(_style_objects.map(json.dumps), max_size=5).map(lambda lines: "\n".join(lines).encode()),
    st.builds(
        _csv_text,
        st.lists(st.lists(format_text, max_size=4), max_size=6),
        st.sampled_from(["name,prompt,negative_prompt", "name,prompt", "prompt", ""]),
    ),
    st.lists(
        st.lists(
            st.sampled_from(
                [
                    "--prompt",
                    "--negative_prompt",
                    "--steps",
                    "--cfg_scale",
                    "--seed",
                    "--width",
                    "--sampler_name",
                    "--styles",
                    "--restore_faces",
                    "--unknown",
                    "20",
                    "7.5",
                    "-1",
                    '"a cat"',
                    "'quoted",
                    "\\",
                    "x" * 3,
                    "1e999",
                    "nan",
                ]
            ),
            max_size=10,
        ).map(" ".join),
        max_size=6,
    ).map(lambda lines: "\n".join(lines).encode()),
)


def _pack_zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


_manifests = st.one_of(
    st.dictionaries(st.sampled_from(_KEYS), json_values, max_size=8).map(lambda d: {"name": "fuzz", **d}),
    st.fixed_dictionaries(
        {
            "name": st.text(max_size=20),
            "files": st.lists(
                st.sampled_from(
                    ["entries.json", "../x.json", "/abs.json", "a\\b.json", "", "missing.json", "images/0.png"]
                ),
                max_size=3,
            ),
        },
        optional={
            "entries": st.lists(st.dictionaries(st.sampled_from(_KEYS), json_values, max_size=6), max_size=4),
            "schema": st.sampled_from(["promptlib-pack/1", "promptlib-pack/2", 1]),
        },
    ),
)
_pack_members = st.lists(
    st.tuples(
        st.sampled_from(["entries.json", "images/0.png", "../x.json", "sub/pack.json", "a\\b.json"]),
        st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=64)),
    ),
    max_size=3,
)
native_pack_zip = st.one_of(
    st.builds(lambda m, rest: _pack_zip([("pack.json", json.dumps(m).encode()), *rest]), _manifests, _pack_members),
    mutated(
        [
            _pack_zip(
                [
                    ("pack.json", b'{"name": "p", "files": ["entries.json"]}'),
                    ("entries.json", b'{"entries": [{"prompt": "a cat", "tags": ["x"]}]}'),
                ]
            )
        ]
    ),
)


def _zip_of(images: list[bytes]) -> bytes:
    """A foreign zip: images, a JSONL file and a styles CSV, as users zip their outputs."""
    members = [(f"out/{n}.img", data) for n, data in enumerate(images)]
    members += [("prompts.jsonl", b'{"prompt": "a cat"}\n'), ("styles.csv", b"name,prompt\ns,{prompt} x\n")]
    return _pack_zip(members)


def _native_pack(data: bytes) -> object:
    from promptlib.packs.native import PackSource, iter_images, load_pack

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.zip"
        path.write_bytes(data)
        with PackSource(path) as source:
            pack = load_pack(source)
            for entry in pack.entries:
                for _ in iter_images(source, entry):
                    pass
    return pack


def _member_name(name: str) -> object:
    from promptlib.packs.native import safe_member_name

    clean = safe_member_name(name)
    assert not clean.startswith("/") and ".." not in clean.split("/") and "\\" not in clean
    return clean


_DSL_TOKENS = [
    "tag:",
    "-",
    "OR",
    '"',
    "\\",
    "*",
    "steps:",
    "cfg:",
    ">=",
    "<",
    "..",
    "20-30",
    "size:",
    "512x768",
    "fav:",
    "yes",
    "has:",
    "image",
    "title:",
    "neg:",
    "prompt:",
    "notes:",
    "sampler:",
    "model:",
    "lora:",
    "collection:",
    "id:",
    "rating:",
    "seed:",
    " ",
    "(",
    ")",
    "NEAR",
    "AND",
    "NOT",
    "^",
    "{",
    "}",
    ":",
    "x",
    "é",
    "\u202e",
    "'",
    "1e999",
    "99999999999999999999",
    "-1",
    "pack:",
    "unknown:",
    "cfg_scale:",
    "favourite:",
]
dsl_text = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(st.sampled_from(_DSL_TOKENS), st.text(max_size=4)), max_size=25).map("".join),
)


def _dsl(query: str) -> object:
    from promptlib.search import dsl

    parsed = dsl.parse(query)
    dsl.fts_match(parsed)
    return parsed


def _remove_at_exit(lib: Any, folder: Path) -> None:
    import atexit
    import shutil

    def remove() -> None:
        lib.close()
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)


class SearchProbe:
    """A small real library to run fuzzed queries against (FTS5 syntax must never leak through)."""

    lib: Any = None

    @classmethod
    def search(cls, query: str) -> object:
        if cls.lib is None:
            from promptlib.library import Library

            folder = Path(tempfile.mkdtemp(prefix="fuzz-search-"))
            cls.lib = Library.open(folder / "lib")
            _remove_at_exit(cls.lib, folder)
            for n, text in enumerate(["a red fox in snow", 'quote " inside', "lighthouse OR beacon", "x* (y)"]):
                entry = cls.lib.add(text, tags=[f"t{n}"], params={"steps": 20 + n, "sampler": "Euler a"})
                cls.lib.collect("c", [entry.id])
        cls.lib.count(query)
        return cls.lib.search(query, limit=5)


class ImportProbe:
    """Whole files through `Library.import_paths` (sniffing, zips, images, formats): it reports, never raises."""

    lib: Any = None
    folder: Path | None = None

    @classmethod
    def run(cls, data: bytes, name: str) -> object:
        if cls.lib is None:
            from promptlib.library import Library

            cls.folder = Path(tempfile.mkdtemp(prefix="fuzz-import-"))
            cls.lib = Library.open(cls.folder / "lib")
            _remove_at_exit(cls.lib, cls.folder)
        assert cls.folder is not None
        path = cls.folder / name
        path.write_bytes(data)
        summary = cls.lib.import_paths([path])
        for failure in summary.failed:
            assert "\n" not in failure["reason"] and len(failure["reason"]) < 600, failure
        return summary


def _import_zip(data: bytes) -> object:
    return ImportProbe.run(data, "fuzz.zip")


def _import_file(data: bytes) -> object:
    return ImportProbe.run(data, "fuzz.bin")


def _infotext_roundtrip(text: str) -> object:
    from promptlib.metadata.a1111 import format_infotext, parse_infotext

    recipe = parse_infotext(text)
    again = parse_infotext(format_infotext(recipe)) if format_infotext(recipe).strip() else recipe
    check_recipes(again)
    return again


def _decode_user_comment(data: bytes) -> object:
    from promptlib.metadata.chunks import decode_user_comment

    return decode_user_comment(data)


def _decode_stealth(data: bytes) -> object:
    from promptlib.metadata.chunks import decode_stealth

    return decode_stealth(data, signatures=(b"stealth_pnginfo", b"stealth_pngcomp"), label="fuzz")


def _stealth_bits(payload: bytes) -> bytes:
    """LSB-per-byte encoding of the stealth signature, a bit length and `payload` (so decoding gets far)."""
    body = b"stealth_pngcomp" + struct.pack(">I", len(payload) * 8) + payload
    return bytes(bit for byte in body for bit in ((byte >> (7 - i)) & 1 for i in range(8)))


_ids = st.one_of(st.integers(-25, 6), st.sampled_from(["-10", "-20", "sg-0", "sg-1", "1"]))
_subgraph_link = st.one_of(
    st.builds(
        lambda i, o, s, t, ts, k: {
            "id": i, "origin_id": o, "origin_slot": s, "target_id": t, "target_slot": ts, "type": k,
        },
        st.integers(0, 8), _ids, st.integers(-1, 3), _ids, st.integers(-1, 3), st.sampled_from(["LATENT", "INT", "*"]),
    ),
    st.lists(st.one_of(st.integers(-20, 8), st.text(max_size=3)), min_size=5, max_size=6),
    json_values,
)  # fmt: skip
_slot = st.builds(
    lambda name, link, w: {"name": name, "type": "INT", "link": link, **({"widget": {"name": name}} if w else {})},
    st.sampled_from(["seed", "steps", "positive", "latent_image", "model", "text", "value"]),
    st.one_of(st.none(), st.integers(0, 8)),
    st.booleans(),
)
_subgraph_node = st.builds(
    lambda i, kind, mode, inputs, values, proxies: {
        "id": i, "type": kind, "mode": mode, "inputs": inputs, "widgets_values": values,
        "properties": {"proxyWidgets": proxies} if proxies else {},
    },
    _ids,
    st.sampled_from(["sg-0", "sg-1", "sg-2", "KSampler", "CLIPTextEncode", "EmptyLatentImage", "PrimitiveNode",
                     "Reroute", "FancySampler"]),
    st.sampled_from([0, 0, 2, 4]),
    st.lists(_slot, max_size=5),
    st.one_of(st.lists(_scalars, max_size=8), json_values),
    st.lists(st.lists(st.one_of(_ids, st.sampled_from(["seed", "text", "$$x"])), max_size=3), max_size=3),
)  # fmt: skip
_definition = st.builds(
    lambda i, nodes, links, inputs, outputs, io: {
        "id": i, "nodes": nodes, "links": links, "inputs": inputs, "outputs": outputs, **io,
    },
    st.sampled_from(["sg-0", "sg-1", "sg-2"]),
    st.lists(_subgraph_node, max_size=5),
    st.lists(_subgraph_link, max_size=8),
    st.lists(st.builds(lambda n, ids: {"name": n, "linkIds": ids}, st.sampled_from(["seed", "text", "model"]),
                       st.lists(st.integers(0, 8), max_size=2)), max_size=4),
    st.lists(st.one_of(st.builds(lambda ids: {"linkIds": ids}, st.lists(st.integers(0, 8), max_size=2)), _scalars),
             max_size=3),
    st.fixed_dictionaries({}, optional={"inputNode": st.builds(lambda i: {"id": i}, _ids),
                                        "outputNode": st.builds(lambda i: {"id": i}, _ids)}),
)  # fmt: skip
subgraph_workflow_text = st.builds(
    lambda nodes, links, definitions: json.dumps(
        {"nodes": nodes, "links": links, "definitions": {"subgraphs": definitions}}
    ),
    st.lists(_subgraph_node, min_size=1, max_size=5),
    st.lists(st.lists(st.integers(-20, 8), min_size=5, max_size=6) | _subgraph_link, max_size=8),
    st.lists(_definition, max_size=4),
)


def _subgraph_base() -> dict[str, Any]:
    """A small real-shaped workflow whose sampler sits in a subgraph that nests another (the edits' starting point)."""

    def link(i: int, origin: int, slot: int, target: int, target_slot: int) -> dict[str, Any]:
        return {"id": i, "origin_id": origin, "origin_slot": slot, "target_id": target, "target_slot": target_slot}

    sampler = {
        "id": "sg-0",
        "inputNode": {"id": -10},
        "outputNode": {"id": -20},
        "inputs": [{"name": name, "linkIds": [index]} for index, name in enumerate(("model", "text", "seed"), 1)],
        "outputs": [{"name": "LATENT", "linkIds": [4]}],
        "nodes": [
            {
                "id": 1,
                "type": "KSampler",
                "inputs": [
                    {"name": "model", "link": 1},
                    {"name": "positive", "link": 5},
                    {"name": "latent_image", "link": 6},
                    {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 3},
                ],
                "widgets_values": [0, "fixed", 20, 7, "euler", "normal", 1],
            },
            {
                "id": 2,
                "type": "CLIPTextEncode",
                "inputs": [{"name": "text", "type": "STRING", "widget": {"name": "text"}, "link": 2}],
                "widgets_values": ["inner"],
            },
            {"id": 3, "type": "sg-1"},
        ],
        "links": [link(1, -10, 0, 1, 0), link(2, -10, 1, 2, 0), link(3, -10, 2, 1, 3), link(4, 1, 0, -20, 0),
                  link(5, 2, 0, 1, 1), link(6, 3, 0, 1, 2)],
    }  # fmt: skip
    latent = {
        "id": "sg-1",
        "outputs": [{"linkIds": [1]}],
        "nodes": [{"id": 1, "type": "EmptyLatentImage", "widgets_values": [512, 768, 1]}],
        "links": [link(1, 1, 0, -20, 0)],
    }
    return {
        "nodes": [
            {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["m.safetensors"]},
            {
                "id": 10,
                "type": "sg-0",
                "inputs": [
                    {"name": "model", "link": 1},
                    {"name": "text", "type": "STRING", "widget": {"name": "text"}, "link": None},
                    {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": None},
                ],
                "widgets_values": ["a fox", 5, "fixed"],
                "properties": {},
            },
        ],
        "links": [[1, 4, 0, 10, 0, "MODEL"]],
        "definitions": {"subgraphs": [sampler, latent]},
    }


def _edited(base: dict[str, Any], edits: list[tuple[int, Any]]) -> str:
    """`base` as JSON text with values at drawn paths replaced: the structure stays mostly real, parsing goes deep."""
    import copy

    data = copy.deepcopy(base)
    for choice, replacement in edits:
        paths: list[tuple[Any, Any]] = []  # (container, key) of every value
        stack: list[Any] = [data]
        while stack:
            container = stack.pop()
            items = container.items() if isinstance(container, dict) else enumerate(container)
            for key, value in items:
                paths.append((container, key))
                if isinstance(value, dict | list):
                    stack.append(value)
        container, key = paths[choice % len(paths)]
        container[key] = replacement
    return json.dumps(data)


edited_subgraph_workflow_text = st.lists(
    st.tuples(st.integers(0, 10_000), st.one_of(json_values, _ids, st.sampled_from(["sg-0", "sg-1", 10, -10, -20]))),
    min_size=1,
    max_size=4,
).map(lambda edits: _edited(_subgraph_base(), edits))


def _group_base() -> dict[str, Any]:
    """A small real-shaped workflow whose sampler sits in a legacy group node (``extra.groupNodes``)."""
    group = {
        "nodes": [
            {"type": "CLIPTextEncode", "inputs": [{"name": "clip", "type": "CLIP", "link": None}],
             "outputs": [{"type": "CONDITIONING"}], "widgets_values": ["inner"]},
            {"type": "EmptyLatentImage", "outputs": [{"type": "LATENT"}], "widgets_values": [512, 768, 1]},
            {"type": "Reroute", "inputs": [{"name": "", "type": "*", "link": None}], "outputs": [{"type": "LATENT"}]},
            {"type": "PrimitiveNode", "outputs": [{"type": "INT", "widget": {"name": "seed"}}],
             "widgets_values": [3, "fixed"]},
            {"type": "KSampler",
             "inputs": [{"name": "model", "type": "MODEL", "link": None}, {"name": "positive", "link": None},
                        {"name": "latent_image", "link": None},
                        {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": None}],
             "outputs": [{"type": "LATENT"}], "widgets_values": [0, "fixed", 20, 7, "euler", "normal", 1]},
        ],
        "links": [[None, 1, 0, 0, 4, "CLIP"], [0, 0, 4, 1, 6, "CONDITIONING"], [1, 0, 2, 0, 5, "LATENT"],
                  [2, 0, 4, 2, 7, "LATENT"], [3, 0, 4, 3, 8, "INT"]],
        "external": [[4, 0, "LATENT"]],
        "config": {"0": {"input": {"clip": {"name": "text clip"}}}, "4": {"output": {"0": {"visible": True}}}},
    }  # fmt: skip
    return {
        "nodes": [
            {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["m.safetensors"]},
            {"id": 10, "type": "workflow>Sampler",
             "inputs": [{"name": "clip", "link": 2}, {"name": "model", "link": 1}],
             "outputs": [{"name": "LATENT", "links": [3]}], "widgets_values": ["a fox", 512, 768, 1, 5, "fixed"]},
            {"id": 11, "type": "workflow/Sampler", "mode": 0, "widgets_values": []},
            {"id": 8, "type": "VAEDecode", "inputs": [{"name": "samples", "link": 3}]},
        ],
        "links": [[1, 4, 0, 10, 1, "MODEL"], [2, 4, 1, 10, 0, "CLIP"], [3, 10, 0, 8, 0, "LATENT"]],
        "extra": {"groupNodes": {"Sampler": group}},
    }  # fmt: skip


edited_group_workflow_text = st.lists(
    st.tuples(
        st.integers(0, 10_000),
        st.one_of(json_values, st.sampled_from(["workflow>Sampler", "workflow/Sampler", None, -1, 0, 4, 99])),
    ),
    min_size=1,
    max_size=4,
).map(lambda edits: _edited(_group_base(), edits))
_center = st.fixed_dictionaries({}, optional={"x": _scalars, "y": _scalars})
_caption = st.one_of(
    json_values,
    st.builds(
        lambda base, chars: {"caption": {"base_caption": base, "char_captions": chars}, "use_coords": True},
        _scalars,
        st.one_of(
            json_values,
            st.lists(
                st.one_of(
                    _scalars,
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "char_caption": st.one_of(_scalars, format_text),
                            "centers": st.one_of(json_values, st.lists(_center, max_size=3)),
                        },
                    ),
                ),
                max_size=6,
            ),
        ),
    ),
)
_character_prompts = st.one_of(
    json_values,
    st.lists(
        st.one_of(
            _scalars,
            st.fixed_dictionaries(
                {},
                optional={
                    "prompt": st.one_of(_scalars, format_text),
                    "uc": st.one_of(_scalars, format_text),
                    "center": st.one_of(_center, json_values),
                    "enabled": _scalars,
                },
            ),
        ),
        max_size=6,
    ),
)
novelai_v4_text = st.builds(
    lambda prompt, uc, positive, negative, characters: json.dumps(
        {
            "prompt": prompt,
            "uc": uc,
            "scale": 5,
            "v4_prompt": positive,
            "v4_negative_prompt": negative,
            **({} if characters is None else {"characterPrompts": characters}),
        }
    ),
    _scalars,
    _scalars,
    _caption,
    _caption,
    st.one_of(st.none(), _character_prompts),
)


def _workflow_to_graph(data: Any) -> object:
    from promptlib.metadata._comfy_workflow import workflow_to_graph

    return workflow_to_graph(data)


def _xmp(text: str) -> object:
    from promptlib.metadata.chunks import xmp_value

    return xmp_value(text, "exif:UserComment")


def _images() -> list[bytes]:
    return _base_images()


# Easy Diffusion's "txt" sidecar: its labels and other lines in any order
_easydiffusion_txt = st.lists(
    st.one_of(
        format_text,
        st.builds(lambda label, value: f"{label}: {value}",
                  st.sampled_from(["Prompt", "Negative Prompt", "Seed", "Steps", "Guidance Scale", "Sampler", "Width",
                                   "Stable Diffusion model", "LoRA model", "LoRA Strength", "Clip Skip", "prompt"]),
                  st.one_of(format_text, st.sampled_from(["None", "True", "['a', 'b']", "25", "7.5", "-1"]))),
    ),
    max_size=12,
).map("\n".join)  # fmt: skip


TEXT_PARSERS = {
    "a1111-infotext": ("promptlib.metadata.a1111", "parse_infotext", format_text),
    "fooocus-a1111-scheme": ("promptlib.metadata.fooocus", "parse_a1111_scheme", format_text),
    "fooocus-json": ("promptlib.metadata.fooocus", "parse_fooocus", json_text),
    "comfyui-prompt-graph": ("promptlib.metadata.comfyui", "parse_prompt_graph", json_text),
    "comfyui-workflow": ("promptlib.metadata.comfyui", "parse_workflow", json_text),
    "comfyui-workflow-subgraphs": ("promptlib.metadata.comfyui", "parse_workflow", subgraph_workflow_text),
    "comfyui-subgraphs-edited": ("promptlib.metadata.comfyui", "parse_workflow", edited_subgraph_workflow_text),
    "comfyui-group-nodes-edited": ("promptlib.metadata.comfyui", "parse_workflow", edited_group_workflow_text),
    "invokeai-dream": ("promptlib.metadata.invokeai", "parse_dream", format_text),
    "invokeai-sd-metadata": ("promptlib.metadata.invokeai", "parse_sd_metadata", json_text),
    "invokeai-metadata": ("promptlib.metadata.invokeai", "parse_invokeai_metadata", json_text),
    "invokeai-graph": ("promptlib.metadata.invokeai", "parse_invokeai_graph", json_text),
    "novelai": ("promptlib.metadata.novelai", "parse_novelai", json_text),
    "novelai-v4-characters": ("promptlib.metadata.novelai", "parse_novelai", novelai_v4_text),
    "easydiffusion": ("promptlib.metadata.easydiffusion", "parse_easydiffusion", json_text),
    "easydiffusion-txt": ("promptlib.metadata.easydiffusion", "parse_easydiffusion_text", _easydiffusion_txt),
    "swarmui": ("promptlib.metadata.swarmui", "parse_swarmui", json_text),
    "drawthings": ("promptlib.metadata.drawthings", "parse_drawthings", format_text),
    "promptlib-chunk": ("promptlib.metadata.writer", "read_embedded_recipe", json_text),
}


def _fooocus_log(text: str) -> object:
    from promptlib.metadata.fooocus import parse_log

    recipes = parse_log(text)
    check_recipes(list(recipes.values()))
    assert all(isinstance(name, str) and name and "/" not in name for name in recipes)
    return recipes


# Fooocus log.html: image blocks with tables, buttons and broken markup in any order
_log_pieces = st.lists(
    st.one_of(
        format_text,
        st.sampled_from(['<div id="a_png" class="image-container">', "<img src='a.png'>", '<img src="../b.png"/>',
                         "<td class='label'>Prompt</td>", "<td class='value'>", "</td>", "<td class='key'>Seed</td>",
                         "</br>", "<table class='metadata'>", "<button onclick=\"to_clipboard('", "')\">", "<",
                         "%7B%22prompt%22%3A%20%22x%22%7D", "LoRA 1", "&amp;", "&#0;", "<!--", "<script>"]),
        json_text.map(lambda text: "<button onclick=\"to_clipboard('" + urllib.parse.quote(text, safe="") + "')\">"),
    ),
    max_size=30,
).map("".join)  # fmt: skip


def build_targets() -> dict[str, Target]:
    """All fuzz targets by name."""
    targets = [
        Target(name, strategy, _text_parser(module, fn)) for name, (module, fn, strategy) in TEXT_PARSERS.items()
    ]
    targets += [Target(f"reader-{name}", st.builds(_chunks, _chunk_fields), _reader(name)) for name in READERS]
    images = _images()
    targets += [
        Target("infotext-roundtrip", format_text.filter(str.strip), _infotext_roundtrip),
        Target("fooocus-log", _log_pieces, _fooocus_log),
        Target("comfyui-workflow-graph", json_values, _workflow_to_graph),
        Target(
            "exif-user-comment",
            st.one_of(
                st.binary(max_size=200),
                st.builds(
                    lambda p, b: p + b,
                    st.sampled_from([b"UNICODE\0", b"ASCII\0\0\0", b"\0" * 8, b"JIS\0\0\0\0\0"]),
                    st.binary(max_size=200),
                ),
            ),
            _decode_user_comment,
        ),
        Target("xmp-value", format_text, _xmp),
        Target(
            "stealth-pnginfo",
            st.one_of(st.binary(max_size=300), st.binary(max_size=64).map(_stealth_bits)),
            _decode_stealth,
        ),
        Target("image-bytes-mutated", mutated(images), _read_image),
        Target("image-png-structured", structured_png, _read_image),
        Target("image-probe", st.one_of(mutated(images), structured_png), _import_probe),
        Target("image-embed-decode", st.one_of(mutated(images), structured_png), _embed_decode),
        Target(
            "json-loader",
            st.one_of(json_text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=100)),
            _load_json,
        ),
        Target("format-detect", _bytes_for_formats, _detect),
        Target("format-read-any", _bytes_for_formats, _read_any),
        Target("native-pack-zip", native_pack_zip, _native_pack),
        Target(
            "pack-member-name",
            st.one_of(
                st.text(max_size=40),
                st.lists(st.sampled_from(["..", ".", "/", "\\", "a", "C:", "\x00", "//", "images"]), max_size=6).map(
                    "".join
                ),
            ),
            _member_name,
        ),
        Target("import-zip", st.one_of(native_pack_zip, mutated([_zip_of(images)])), _import_zip),
        Target("import-file", st.one_of(_bytes_for_formats, mutated(images), structured_png), _import_file),
        Target("search-dsl", dsl_text, _dsl),
        Target("search-end-to-end", dsl_text, SearchProbe.search),
    ]
    targets += [Target(f"format-{name}", _bytes_for_formats, _format_reader(name)) for name in sorted(FORMAT_READERS)]
    return {t.name: t for t in targets}
