"""The open_clip embedder: real architectures with random weights (shapes, batching, the short-text fast path),
offline weight resolution with clear errors, and hostile images."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("open_clip")

from promptlib.errors import NotFoundError, UnsafeInputError, ValidationError
from promptlib.search.embed import Embedder, EmbedderSpec, Preprocess, get_embedder, prompt_text, resolve_weights
from promptlib.search.preprocess import _decode_png

from .helpers import TinyModel

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def gradient(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    return Image.fromarray((base + rng.normal(0, 20, base.shape)).clip(0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def vit() -> Embedder:
    return get_embedder(EmbedderSpec(model="ViT-B-32", pretrained="random", device="cpu"))


def test_vit_b_32_gives_unit_vectors_of_its_dimension_whatever_the_batch(vit: Embedder) -> None:
    pictures = [gradient(96, 64, 1), gradient(300, 500, 3)]
    together = vit.embed_images(pictures, batch_size=2)
    texts = ["x", "a castle on a hill at dawn, matte painting, highly detailed, volumetric light"]
    text_vectors = vit.embed_texts(texts)
    assert vit.dim == 512 and vit.model_id == "ViT-B-32/random"
    assert together.shape == (2, 512) and text_vectors.shape == (2, 512) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(text_vectors, axis=1), 1.0, atol=1e-5)
    # an image (a text) embeds the same alone as beside others of other sizes (lengths)
    np.testing.assert_allclose(vit.embed_images(pictures[1:]), together[1:], atol=1e-5)
    np.testing.assert_allclose(vit.embed_texts(texts[:1]), text_vectors[:1], atol=1e-5)


def test_short_text_fast_path_matches_open_clips_encode_text(vit: Embedder) -> None:
    import torch

    texts = ["a lighthouse", "a very long prompt " * 20]
    assert vit._trim  # the fast path is what runs for ViT-B-32
    with torch.inference_mode():
        reference = vit.model.encode_text(vit.tokenizer(texts), normalize=True).numpy()
    np.testing.assert_allclose(vit.embed_texts(texts), reference, atol=1e-5)


def test_a_resnet_architecture_has_its_own_dimension() -> None:
    rn50 = get_embedder(EmbedderSpec(model="RN50", pretrained="random", device="cpu"))
    assert rn50.embed_images([gradient(64, 80, 2)]).shape == (1, 1024)
    assert rn50.embed_texts(["a fox"]).shape == (1, 1024) and rn50.dim == 1024


def test_files_decode_in_worker_processes_and_bad_files_are_listed(tmp_path: Path, tiny_clip: TinyModel) -> None:
    spec = EmbedderSpec(
        model=tiny_clip.name, checkpoint=str(tiny_clip.checkpoint), model_config=str(tiny_clip.config), device="cpu"
    )
    embedder = get_embedder(spec)
    pictures = [gradient(64, 48, n) for n in range(5)]
    paths = []
    for n, picture in enumerate(pictures):
        paths.append(tmp_path / f"{n}.png")
        picture.save(paths[-1])
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    paths.insert(2, tmp_path / "junk.png")
    paths.append(tmp_path / "missing.png")
    result = embedder.embed_files(paths, workers=1, batch_size=2)
    assert result.ok == [0, 1, 3, 4, 5]
    assert [pos for pos, _ in result.failed] == [2, 6]
    assert "not a readable image" in result.failed[0][1] and "missing.png" in result.failed[1][1]
    np.testing.assert_allclose(result.vectors, embedder.embed_images(pictures), atol=1e-5)


def bomb_png(width: int, height: int) -> bytes:
    """A PNG header claiming a huge image (no pixel data worth the name)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_hostile_images_are_refused_with_one_line_errors() -> None:
    prep = Preprocess((32, 32))
    with pytest.raises(ValidationError, match="not a readable image"):
        prep.load(b"GIF89a but not really", name="fake.gif")
    with pytest.raises(UnsafeInputError, match="pixels"):
        prep.load(bomb_png(100_000, 100_000), name="bomb.png")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"></svg>'
    with pytest.raises(ValidationError):
        prep.load(svg, name="x.svg")


def test_preprocess_crops_to_the_models_aspect_and_shrinks_by_whole_factors() -> None:
    prep = Preprocess((32, 32))
    wide = prep.prepare(gradient(300, 100, 1))  # centre 100x100, reduced 3x (rounding up)
    assert wide.shape == (34, 34, 3)
    small = prep.prepare(gradient(20, 10, 1))  # smaller than the model: upsampled on the device
    assert small.shape == (10, 10, 3)
    squash = Preprocess((32, 32), "squash").prepare(gradient(300, 100, 1))
    assert squash.shape == (34, 34, 3)  # each axis by its own factor: 9 across, 3 down
    panorama = Preprocess((32, 32), "squash").prepare(gradient(4096, 20, 1))
    assert panorama.shape == (20, 32, 3)  # within 2x the model's size, whatever the aspect ratio
    padded = Preprocess((32, 32), "longest").prepare(gradient(64, 32, 1))
    assert padded.shape == (32, 32, 3) and padded[:8].max() == 0  # letterboxed with black


def test_prompt_text_drops_stable_diffusion_syntax() -> None:
    text = "(masterpiece:1.2), a [red] fox <lora:detail:0.8> in snow BREAK ((best quality))"
    assert prompt_text(text) == "masterpiece , a red fox in snow , best quality"


def test_missing_weights_name_the_file_and_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(NotFoundError) as caught:
        resolve_weights(EmbedderSpec())
    message = str(caught.value)
    assert "open_clip_model.safetensors" in message and "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in message
    assert "huggingface-cli download" in message and "checkpoint" in message and "\n" not in message
    with pytest.raises(NotFoundError, match=r"known tags: .*laion2b_s34b_b79k"):
        resolve_weights(EmbedderSpec(pretrained="no-such-tag"))
    with pytest.raises(NotFoundError, match=r"nowhere\.pt not found"):
        resolve_weights(EmbedderSpec(checkpoint=str(tmp_path / "nowhere.pt")))


def test_a_checkpoint_of_another_architecture_is_a_clear_error(tiny_clip: TinyModel) -> None:
    with pytest.raises(ValidationError, match="cannot load ViT-B-32 from"):
        Embedder(EmbedderSpec(model="ViT-B-32", checkpoint=str(tiny_clip.checkpoint), device="cpu"))
    with pytest.raises(NotFoundError, match="no model 'ViT-Q-99'"):
        Embedder(EmbedderSpec(model="ViT-Q-99", pretrained="random", device="cpu"))


def test_model_id_changes_with_the_checkpoint_file(tmp_path: Path, tiny_clip: TinyModel) -> None:
    copy = tmp_path / "tiny-clip.pt"
    copy.write_bytes(tiny_clip.checkpoint.read_bytes())
    first = EmbedderSpec(model=tiny_clip.name, checkpoint=str(copy), model_config=str(tiny_clip.config)).model_id
    copy.write_bytes(copy.read_bytes() + b"\0")
    second = EmbedderSpec(model=tiny_clip.name, checkpoint=str(copy), model_config=str(tiny_clip.config)).model_id
    assert first != second and first.startswith("promptlib-tiny-clip@") and "/tiny-clip-" in first


def test_query_image_bytes_embed_like_the_same_image_in_memory(tiny_clip: TinyModel) -> None:
    embedder = get_embedder(
        EmbedderSpec(model=tiny_clip.name, checkpoint=str(tiny_clip.checkpoint), model_config=str(tiny_clip.config))
    )
    picture = gradient(80, 60, 9)
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    np.testing.assert_allclose(
        embedder.embed_image_bytes(buf.getvalue()), embedder.embed_images([picture])[0], atol=1e-6
    )


@pytest.mark.parametrize("mode", ["RGB", "P", "P+tRNS", "RGBA", "LA", "L", "L+tRNS", "1", "I;16"])
def test_png_decoding_gives_pillows_pixels_whatever_the_png_mode(mode: str) -> None:
    picture = gradient(70, 50, 4)
    picture.putalpha(Image.linear_gradient("L").resize(picture.size))  # alpha varies: it must be dropped, not mixed
    base = mode.removesuffix("+tRNS")
    source = picture if base in ("RGBA", "LA") else picture.convert("RGB")
    converted = source.convert("L").convert("I;16") if mode == "I;16" else source.convert(base)
    options = {"transparency": 7} if mode.endswith("+tRNS") else {}
    buf = io.BytesIO()
    converted.save(buf, format="PNG", **options)
    prep = Preprocess((32, 32))
    with Image.open(io.BytesIO(buf.getvalue())) as reference:
        expected = prep.prepare(reference)
    np.testing.assert_array_equal(prep.load(buf.getvalue(), name="x.png"), expected)
    assert (_decode_png(buf.getvalue()) is None) == (mode == "I;16")  # 8-bit PNGs take the libpng path


def test_half_precision_runs_and_agrees_with_full_precision(tiny_clip: TinyModel) -> None:
    common = {"model": tiny_clip.name, "checkpoint": str(tiny_clip.checkpoint), "model_config": str(tiny_clip.config)}
    full = get_embedder(EmbedderSpec(**common, device="cpu"))
    half = get_embedder(EmbedderSpec(**common, device="cpu", precision="bf16"))
    pictures = [gradient(64, 64, 5), gradient(40, 90, 6)]
    assert half.dtype != full.dtype
    agree = np.sum(half.embed_images(pictures) * full.embed_images(pictures), axis=1)
    assert agree.min() > 0.98
    assert np.sum(half.embed_texts(["a red circle"]) * full.embed_texts(["a red circle"])) > 0.98


def test_random_weights_asked_for_give_no_missing_weights_warning(caplog: pytest.LogCaptureFixture) -> None:
    from promptlib.search.embed import Embedder

    with caplog.at_level("WARNING"):
        Embedder(EmbedderSpec(model="RN50", pretrained="random", device="cpu"))
    assert not [r for r in caplog.records if "No pretrained weights" in r.getMessage()]
