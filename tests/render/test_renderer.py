"""Recipe → image: the denoising loop against stock diffusers, batching, cancellation, options, and
`Library.render` storing PNGs that embed their recipe."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promptlib.errors import NotFoundError, ValidationError
from promptlib.recipe import Recipe
from promptlib.render.environment import BATCH_TOLERANCE_MAX_ABS, BATCH_TOLERANCE_MIN_PSNR, compare_pixels
from promptlib.render.renderer import RenderCancelled, RenderOptions, prepare, render_batch


def _prepared(arch: str = "sd15", **options: Any) -> Any:
    import torch

    from promptlib.render.service import random_pipeline_cached

    pipe = random_pipeline_cached(f"random:{arch}-tiny", dtype="fp32", device=torch.device("cpu"))
    return prepare(pipe, RenderOptions(**options), device=torch.device("cpu"), dtype="fp32")


def _recipe(seed: int = 1, **fields: Any) -> Recipe:
    values: dict[str, Any] = {
        "prompt": "a fox in snow",
        "negative_prompt": "blurry",
        "sampler": "Euler",
        "steps": 4,
        "cfg_scale": 7.5,
        "seed": seed,
        "width": 64,
        "height": 64,
    }
    return Recipe(**(values | fields))


@pytest.mark.parametrize("arch", ["sd15", "sdxl"])
def test_renderer_is_bit_identical_to_the_stock_diffusers_pipeline(arch: str) -> None:
    """Same latents, scheduler calls and decoding as diffusers: a plain prompt gives the very same pixels."""
    import torch

    prepared = _prepared(arch)
    ours = render_batch(prepared, [_recipe(seed=42)])[0].pixels
    stock = prepared.pipe(
        prompt="a fox in snow",
        negative_prompt="blurry",
        num_inference_steps=4,
        guidance_scale=7.5,
        height=64,
        width=64,
        generator=[torch.Generator().manual_seed(42)],
        output_type="np",
    ).images[0]
    assert np.array_equal(ours, (stock * 255).round().astype("uint8"))


@pytest.mark.parametrize("sampler", ["Euler", "Euler a", "DPM++ 2M SDE Karras"])
def test_image_k_of_a_batch_matches_its_seed_rendered_alone(sampler: str) -> None:
    """One CPU generator per image: batching changes nothing beyond the documented float tolerance."""
    prepared = _prepared()
    recipes = [_recipe(seed=s, sampler=sampler, prompt=f"a fox, variation {s}") for s in (3, 4, 5, 6)]
    batch = render_batch(prepared, recipes)
    assert [r.batch_index for r in batch] == [0, 1, 2, 3]
    for result, recipe in zip(batch, recipes, strict=True):
        alone = render_batch(prepared, [recipe])[0]
        drift = compare_pixels(result.pixels, alone.pixels)
        assert drift.max_abs <= BATCH_TOLERANCE_MAX_ABS
        assert drift.psnr >= BATCH_TOLERANCE_MIN_PSNR
    assert not np.array_equal(batch[0].pixels, batch[1].pixels)  # different seeds, different images


def test_prompts_of_different_lengths_are_split_into_sub_batches() -> None:
    long_prompt = ", ".join(f"detail {i}" for i in range(60))  # > 77 tokens: two chunks
    prepared = _prepared()
    recipes = [_recipe(seed=1), _recipe(seed=2, prompt=long_prompt)]
    batch = render_batch(prepared, recipes)
    assert [r.recipe.seed for r in batch] == [1, 2]
    assert batch[0].batch_size == batch[1].batch_size == 1  # rendered as two batches of one
    alone = render_batch(prepared, [recipes[1]])[0]
    assert np.array_equal(batch[1].pixels, alone.pixels)


def test_the_next_batchs_prompts_are_encoded_while_this_batch_denoises() -> None:
    """`ahead` moves the text encoder's work into the denoising window, and changes no pixel of either batch."""
    prepared = _prepared()
    first = [_recipe(seed=s, prompt=f"a fox, variation {s}") for s in (1, 2)]
    second = [_recipe(seed=s, prompt=f"a heron, variation {s}") for s in (3, 4)]
    unusable = _recipe(seed=5, prompt="cat " * 5000)  # over 64 chunks, refused when encoded: left to its own batch
    events: list[str] = []
    hooks = [
        prepared.pipe.text_encoder.register_forward_hook(lambda *_: events.append("text")),
        prepared.pipe.unet.register_forward_hook(lambda *_: events.append("unet")),
        prepared.pipe.vae.decoder.register_forward_hook(lambda *_: events.append("vae")),
    ]
    try:
        plain = [r.pixels for r in render_batch(_prepared(), first)]
        events.clear()
        ahead = render_batch(prepared, first, ahead=[*second, unusable])
        events_then = list(events)
        events.clear()
        next_batch = render_batch(prepared, second)
    finally:
        for hook in hooks:
            hook.remove()
    # first batch: its own prompts (2 positives, 1 shared negative), its 4 steps, the next batch's 2 prompts, decode
    assert events_then == ["text"] * 3 + ["unet"] * 4 + ["text"] * 2 + ["vae"]
    assert events == ["unet"] * 4 + ["vae"]  # everything the second batch needed was encoded already
    assert all(np.array_equal(a.pixels, b) for a, b in zip(ahead, plain, strict=True))
    fresh = render_batch(_prepared(), second)
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(next_batch, fresh, strict=True))
    with pytest.raises(ValidationError):
        render_batch(prepared, [unusable])


def test_weighting_changes_the_image() -> None:
    prepared = _prepared()
    plain = render_batch(prepared, [_recipe(prompt="a fox in snow")])[0].pixels
    weighted = render_batch(prepared, [_recipe(prompt="a (fox:1.6) in snow")])[0].pixels
    assert not np.array_equal(plain, weighted)


def test_cancel_stops_before_the_next_step() -> None:
    prepared = _prepared()
    cancel = threading.Event()
    seen: list[int] = []

    def on_step(step: int, total: int) -> None:
        seen.append(step)
        if step == 2:
            cancel.set()

    with pytest.raises(RenderCancelled):
        render_batch(prepared, [_recipe(steps=6)], on_step=on_step, cancel=cancel)
    assert seen == [1, 2]


def test_inconsistent_batches_and_bad_sizes_are_refused() -> None:
    prepared = _prepared()
    with pytest.raises(ValidationError, match="share size"):
        render_batch(prepared, [_recipe(), _recipe(steps=5)])
    with pytest.raises(ValidationError, match="multiples of 8"):
        render_batch(prepared, [_recipe(width=60)])
    with pytest.raises(ValidationError, match="larger than"):
        render_batch(prepared, [_recipe(width=8192, height=8192)])


def test_fused_qkv_and_channels_last_switch_on_and_off_cleanly() -> None:
    base = render_batch(_prepared(fuse_qkv=False, channels_last=False), [_recipe()])[0].pixels
    fast = _prepared(fuse_qkv=True, channels_last=True)
    assert fast.state["fused_qkv"] and fast.state["channels_last"]
    assert any("Fused" in type(p).__name__ for p in fast.pipe.unet.attn_processors.values())
    fused = render_batch(fast, [_recipe()])[0].pixels
    assert compare_pixels(base, fused).max_abs <= 2  # same maths, different summation order
    back = _prepared(fuse_qkv=False, channels_last=False)
    assert not any("Fused" in type(p).__name__ for p in back.pipe.unet.attn_processors.values())
    assert np.array_equal(render_batch(back, [_recipe()])[0].pixels, base)


def test_library_render_stores_pngs_that_embed_their_recipe(render_lib: Any) -> None:
    from PIL import Image

    from promptlib.metadata.writer import read_embedded_recipe

    run = render_lib.render(1, n=3, seed=100, options=RenderOptions(batch_size=2))
    assert not run.cancelled and len(run) == 3
    assert [r.recipe["seed"] for r in run] == [100, 101, 102]
    for rendered in run:
        assert rendered.path.is_file()
        with Image.open(rendered.path) as img:
            assert img.size == (64, 64)
            embedded = read_embedded_recipe(img.info["promptlib"])
            assert "Seed: " in img.info["parameters"]
        assert embedded.seed == rendered.recipe["seed"]
        assert embedded.prompt == "a lighthouse in fog, (oil painting:1.2)"
        assert embedded.extra["scheduler"] == {"class": "EulerDiscreteScheduler", "overrides": {}}
        env = rendered.info.environment
        assert env["dtype"] == "fp32" and env["attention"] == "sdpa" and env["device_type"] == "cpu"
        assert env["model_hash"][:10] == rendered.recipe["model_hash"]
        assert rendered._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [r.info.environment["batch"] for r in run] == [
        {"size": 2, "index": 0},
        {"size": 2, "index": 1},
        {"size": 1, "index": 0},
    ]
    assert [r.id for r in render_lib.get(1).renders] == [r.id for r in run]


def test_render_a_query_groups_compatible_jobs_into_batches(render_lib: Any) -> None:
    for n in range(3):
        render_lib.add(f"a harbour {n}", tags=["sea"], params={"model": "random:sd15-tiny", "steps": 3})
    render_lib.add("a forest", tags=["sea"], params={"model": "random:sd15-tiny", "steps": 2})
    progress: list[Any] = []
    run = render_lib.render("tag:sea", size="64x64", options=RenderOptions(batch_size=4), progress=progress.append)
    assert len(run) == 4
    sizes = sorted(r.info.environment["batch"]["size"] for r in run)
    assert sizes == [1, 3, 3, 3]  # three 3-step jobs together, the 2-step one alone
    assert {p.stage for p in progress} >= {"loading", "denoising", "storing", "done"}
    assert progress[-1].images_done == progress[-1].images_total == 4
    assert max(p.it_per_s for p in progress) > 0


def test_render_from_a_diffusers_folder_records_its_hash(render_lib: Any, model_dir: Path) -> None:
    from promptlib.render import models

    folder = model_dir / "tiny-sd15"
    run = render_lib.render(1, model=str(folder))
    expected = models.model_hash(models.resolve_model(str(folder)))
    assert run[0].info.environment["model_hash"] == expected
    assert run[0].recipe["model_hash"] == expected[:10]
    assert run[0].recipe["model"] == str(folder)


def test_unknown_entries_models_and_samplers_fail_before_rendering(render_lib: Any) -> None:
    with pytest.raises(NotFoundError, match="no prompt with id 99"):
        render_lib.render(99)
    with pytest.raises(NotFoundError, match="no entries match"):
        render_lib.render("zebra crossing")
    with pytest.raises(NotFoundError, match="not found"):
        render_lib.render(1, model="/nowhere/model.safetensors")
    with pytest.raises(ValidationError, match="not available"):
        render_lib.render(1, sampler="DPM adaptive")
    bare = render_lib.add("no model here")
    with pytest.raises(ValidationError, match=r"names no model: pass model=… \(or 'model' in overrides\)") as info:
        render_lib.render(bare.id)
    assert "--model" not in str(info.value) and "names no model: pass --model," in info.value.cli_message()
    assert render_lib.db.execute("SELECT count(*) FROM renders")[0][0] == 0


def test_the_vae_decode_dtype_follows_the_rule_of_diffusers_unless_bf16_can_do_better(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from promptlib.render.renderer import resolve_vae_dtype

    cpu, cuda = torch.device("cpu"), torch.device("cuda")

    def rule(option: str, *, dtype: str = "fp16", device: Any = cuda, xl: bool = True, upcast: bool = True) -> str:
        return resolve_vae_dtype(option, dtype=dtype, device=device, is_xl=xl, force_upcast=upcast)

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert rule("auto") == "bf16"  # SDXL's VAE overflows in fp16: bf16 has fp32's range
    assert rule("upcast") == "upcast"  # diffusers' own rule, asked for
    assert rule("auto", xl=False) == "fp16"  # diffusers never upcasts SD 1.x/2.x VAEs
    assert rule("auto", upcast=False) == "fp16"  # an fp16-safe VAE (force_upcast false) stays in fp16
    assert rule("auto", dtype="bf16") == rule("upcast", dtype="bf16") == "bf16"
    assert rule("auto", dtype="fp32", device=cpu) == "fp32"
    assert rule("auto", device=cpu) == "upcast"  # no bf16 promise off CUDA
    assert rule("fp32", xl=False) == "fp32"  # an explicit dtype always wins
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert rule("auto") == "upcast"  # pre-Ampere GPUs keep diffusers' fp32 upcast


def test_vae_dtype_option_is_checked() -> None:
    assert RenderOptions(vae_dtype="bfloat16").vae_dtype == "bf16"
    with pytest.raises(ValidationError, match=r"VAE dtype 'fp8'.*auto, upcast, fp16, bf16, fp32"):
        RenderOptions(vae_dtype="fp8")


def test_a_bf16_vae_decodes_close_to_fp32_and_switches_back_cleanly() -> None:
    import torch

    base = _prepared("sdxl")
    assert base.state["vae_dtype"] == "fp32" and not base.vae_upcast
    reference = render_batch(base, [_recipe()])[0].pixels
    weights = {k: v.clone() for k, v in base.pipe.vae.state_dict().items()}
    bf16 = _prepared("sdxl", vae_dtype="bf16")
    assert bf16.vae.dtype == torch.bfloat16 and bf16.pipe.unet.dtype == torch.float32
    assert bf16.pipe.vae.dtype == torch.float32  # a copy decodes: the pipeline's VAE never goes through bf16
    assert bf16.state["vae_dtype"] == "bf16"
    pixels = render_batch(bf16, [_recipe()])[0].pixels
    drift = compare_pixels(reference, pixels)
    assert not drift.identical and drift.max_abs <= 8 and drift.psnr > 35  # same image, bf16's 8-bit mantissa
    fused = _prepared("sdxl", vae_dtype="bf16", fuse_qkv=True)  # the copy follows the VAE's attention processors
    kinds = {type(p).__name__ for p in fused.vae.attn_processors.values()}
    assert kinds == {type(p).__name__ for p in fused.pipe.vae.attn_processors.values()} == {"FusedAttnProcessor2_0"}
    back = _prepared("sdxl", fuse_qkv=False)
    assert back.vae is back.pipe.vae and back.pipe.vae._promptlib_copy is None  # the copy's memory is given back
    now = back.pipe.vae.state_dict()  # (unfusing keeps the fused to_qkv layers beside the original ones)
    assert all(torch.equal(now[k], v) for k, v in weights.items())
    assert np.array_equal(render_batch(back, [_recipe()])[0].pixels, reference)


def test_compile_also_compiles_the_vae_decoder_unless_it_slices_or_tiles() -> None:
    assert _prepared(compile=True).vae_decode is not None  # compiled lazily: nothing is built until a render
    assert _prepared(compile=True, vae_tiling=True).vae_decode is None
    assert _prepared(compile=True, vae_slicing=True).vae_decode is None
    assert _prepared().vae_decode is None


def test_cpu_offload_with_compile_or_graphs_is_refused_naming_them_as_each_reader_sets_them() -> None:
    with pytest.raises(ValidationError) as info:
        RenderOptions(cpu_offload=True, compile=True)
    assert str(info.value) == "model CPU offload cannot be combined with compile=True or cuda_graphs=True"
    assert info.value.cli_message() == "model CPU offload cannot be combined with --compile or --cuda-graphs"
    assert RenderOptions(cpu_offload=True).cuda_graphs is None  # auto turns itself off: no refusal


def test_a_vae_dtype_that_cpu_offload_cannot_take_is_refused_before_anything_changes() -> None:
    before = dict(_prepared("sdxl").pipe._promptlib_state)
    with pytest.raises(ValidationError, match="with model CPU offload the VAE decodes in fp32, not bf16"):
        _prepared("sdxl", cpu_offload=True, vae_dtype="bf16")
    import torch

    from promptlib.render.service import random_pipeline_cached

    pipe = random_pipeline_cached("random:sdxl-tiny", dtype="fp32", device=torch.device("cpu"))
    assert pipe._promptlib_state == before
