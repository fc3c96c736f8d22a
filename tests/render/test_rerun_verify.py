"""Reproducibility: reruns are bit-identical on CPU, verify reports drift and the fingerprint fields that differ,
and the deterministic mode sets what diffusers' reproducibility guide sets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promptlib.errors import NotFoundError
from promptlib.render.renderer import RenderOptions


def test_rerun_is_bit_identical_on_cpu(render_lib: Any) -> None:
    run = render_lib.render(1, n=3, options=RenderOptions(batch_size=3))
    middle = run[1]
    assert middle.info.environment["batch"] == {"size": 3, "index": 1}
    again = render_lib.rerun(middle.id)
    assert again.id != middle.id
    assert again.sha256 == middle.sha256  # same PNG bytes: same pixels, same embedded recipe
    assert again.info.environment["rerun_of"] == middle.id
    assert again.path == middle.path  # content-addressed: one file


def test_rerun_of_a_single_render_stays_identical_through_a_batch_of_one(render_lib: Any) -> None:
    first = render_lib.render(1, sampler="Euler a")[0]  # ancestral: noise drawn at every step
    assert render_lib.rerun(first.id).sha256 == first.sha256
    report = render_lib.verify(first.id)
    assert report.identical and report.verdict == "identical"
    assert report.max_abs_diff == 0 and report.psnr is None
    assert report.fingerprint_diff == {}


def test_verify_reports_drift_when_a_recipe_field_changes(render_lib: Any) -> None:
    rendered = render_lib.render(1)[0]
    with render_lib.db.write() as conn:
        conn.execute("UPDATE renders SET recipe = json_set(recipe, '$.cfg_scale', 2.0) WHERE id = ?", (rendered.id,))
    report = render_lib.verify(rendered.id)
    assert report.verdict == "drift" and not report.identical
    assert report.max_abs_diff > 0
    assert report.psnr is not None and report.psnr < 60
    assert 0 < report.changed_fraction <= 1
    assert report.stored_sha256 != report.new_sha256
    assert "drift" in report.summary()


def test_verify_names_the_fingerprint_fields_that_differ(render_lib: Any) -> None:
    rendered = render_lib.render(1)[0]
    env = dict(rendered.info.environment) | {"torch": "1.13.1", "device": "NVIDIA GeForce RTX 3090"}
    with render_lib.db.write() as conn:
        conn.execute("UPDATE renders SET environment = ? WHERE id = ?", (json.dumps(env), rendered.id))
    report = render_lib.verify(rendered.id)
    assert report.identical  # same pixels here...
    assert set(report.fingerprint_diff) == {"torch", "device"}  # ...but made elsewhere, and verify says where
    assert report.fingerprint_diff["torch"][0] == "1.13.1"
    data = report.to_json()
    assert data["fingerprint_diff"]["device"]["stored"] == "NVIDIA GeForce RTX 3090"


def test_loose_verify_of_a_batched_render_stays_within_the_batch_tolerance(render_lib: Any) -> None:
    from promptlib.render.environment import BATCH_TOLERANCE_MAX_ABS

    run = render_lib.render(1, n=4, options=RenderOptions(batch_size=4))
    report = render_lib.verify(run[2].id, exact=False)  # alone, not in its batch of four
    assert report.max_abs_diff <= BATCH_TOLERANCE_MAX_ABS
    assert render_lib.verify(run[2].id).identical  # in its original batch geometry: exact


def test_deterministic_mode_sets_the_reproducibility_guide_flags(render_lib: Any) -> None:
    import torch

    from promptlib.render.environment import is_deterministic, set_deterministic

    try:
        rendered = render_lib.render(1, options=RenderOptions(deterministic=True))[0]
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert not torch.backends.cuda.matmul.allow_tf32
        assert rendered.info.environment["deterministic"] is True
        again = render_lib.rerun(rendered.id)  # replays deterministic mode from the fingerprint
        assert again.sha256 == rendered.sha256
        assert again.info.environment["deterministic"] is True
    finally:
        set_deterministic(False)
    assert not is_deterministic()


def test_rerun_of_a_missing_render_is_not_found(render_lib: Any) -> None:
    with pytest.raises(NotFoundError, match="no render with id 42"):
        render_lib.rerun(42)


def test_untrusted_scheduler_config_in_a_recipe_is_refused(render_lib: Any) -> None:
    """Recipes come from strangers' PNGs: a rerun never instantiates an arbitrary class or config key."""
    from promptlib.errors import ValidationError

    rendered = render_lib.render(1)[0]
    for patch in (
        '{"class": "StableDiffusionPipeline", "overrides": {}}',
        '{"class": "DDIMScheduler", "overrides": {"_x": 1}}',
    ):
        with render_lib.db.write() as conn:
            conn.execute(
                "UPDATE renders SET recipe = json_set(recipe, '$.extra.scheduler', json(?)) WHERE id = ?",
                (patch, rendered.id),
            )
        with pytest.raises(ValidationError, match="scheduler"):
            render_lib.rerun(rendered.id)


def test_lora_tags_in_a_prompt_become_the_recipes_loras(render_lib: Any) -> None:
    from promptlib.errors import ValidationError
    from promptlib.render.recipes import entry_fields

    entry_id = render_lib.add("a fox <lora:foxy_v2:0.7>, <lyco:fur:te=0.4>, <lora:listed:0.2>").id
    entry = render_lib.get(entry_id)
    fields = entry_fields(entry, {"model": "random:sd15-tiny", "loras": ["listed:0.9"]}, render_lib)
    # the listed weight wins over the tag's; the others join in prompt order, as A1111 loads them
    assert fields["loras"] == (("listed", 0.9), ("foxy_v2", 0.7), ("fur", 0.4))
    with pytest.raises(ValidationError, match="takes no VAE or LoRA"):  # so a render really asks for them
        render_lib.render(entry_id, model="random:sd15-tiny")


def test_an_exact_rerun_with_options_still_replays_the_original(render_lib: Any) -> None:
    run = render_lib.render(1, n=3, options=RenderOptions(batch_size=3, cuda_graphs=False))
    again = render_lib.rerun(run[2].id, options=RenderOptions(allow_pickle=True))  # e.g. `rerun --allow-pickle`
    assert again.sha256 == run[2].sha256 and again.info.environment["batch"] == {"size": 3, "index": 2}
    assert render_lib.verify(run[2].id, options=RenderOptions(allow_pickle=True)).identical


def test_the_vae_dtype_is_recorded_and_replayed() -> None:
    import torch

    from promptlib.render.service import options_for_replay

    base, cpu = RenderOptions(), torch.device("cpu")
    assert options_for_replay({"vae_dtype": "bf16"}, base, device=cpu).vae_dtype == "bf16"
    assert options_for_replay({"vae_dtype": "fp32"}, base, device=cpu).vae_dtype == "fp32"
    # renders made before the VAE dtype was recorded decoded by diffusers' rule; junk is not trusted
    assert options_for_replay({}, base, device=cpu).vae_dtype == "upcast"
    assert options_for_replay({"vae_dtype": "fp4; rm -rf"}, base, device=cpu).vae_dtype == "upcast"


def test_a_bf16_vae_render_verifies_identical_with_default_options(render_lib: Any) -> None:
    rendered = render_lib.render(1, model="random:sdxl-tiny", options=RenderOptions(vae_dtype="bf16"))[0]
    assert rendered.info.environment["vae_dtype"] == "bf16"
    report = render_lib.verify(rendered.id)  # default options: the recorded bf16 decode is replayed
    assert report.identical and report.fingerprint_diff == {}
    loose = render_lib.verify(rendered.id, exact=False)  # today's options decode in fp32 on this CPU
    assert not loose.identical and loose.fingerprint_diff["vae_dtype"] == ("bf16", "fp32")


def test_verify_with_an_unreadable_or_missing_stored_image_is_a_clear_error(render_lib: Any) -> None:
    from promptlib.errors import ValidationError

    rendered = render_lib.render(1)[0]
    path = render_lib.image_path(rendered.info)
    path.chmod(0o644)
    path.write_bytes(b"not a png")
    with pytest.raises(ValidationError, match="is not a readable image"):
        render_lib.verify(rendered.id)
    path.unlink()
    with pytest.raises(NotFoundError, match="image file is missing"):
        render_lib.verify(rendered.id)


def test_the_attention_backend_is_replayed_and_cudnn_first_degrades_where_it_cannot_run() -> None:
    import torch

    from promptlib.errors import ValidationError
    from promptlib.render.renderer import resolve_attention
    from promptlib.render.service import options_for_replay

    base, cpu = RenderOptions(), torch.device("cpu")
    assert options_for_replay({"attention": "sdpa"}, base, device=cpu).attention == "sdpa"  # FA-2 first, as before
    assert options_for_replay({"attention": "xformers"}, base, device=cpu).attention == "xformers"
    replayed = options_for_replay({"attention": "sdpa-cudnn"}, base, device=cpu).attention
    assert replayed == "auto" and resolve_attention(replayed, cpu) == "sdpa"  # no cuDNN attention here: no error
    assert options_for_replay({"attention": "evil"}, base, device=cpu).attention == "auto"
    assert resolve_attention("auto", cpu) == "sdpa"
    with pytest.raises(ValidationError, match=r"sdpa-cudnn.*cuDNN 9"):
        resolve_attention("sdpa-cudnn", cpu)
    with pytest.raises(ValidationError, match="attention 'flash'"):
        RenderOptions(attention="flash")


def test_cudnn_first_replays_as_cudnn_first_on_an_ampere_gpu_where_auto_means_plain_sdpa(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from promptlib.render import renderer
    from promptlib.render.service import options_for_replay

    def ampere(device: torch.device, *, hopper: bool = False) -> bool:  # cuDNN 9 attention, but not a Hopper GPU
        return device.type == "cuda" and not hopper

    monkeypatch.setattr(renderer, "cudnn_attention", ampere)
    gpu, base = torch.device("cuda"), RenderOptions()
    assert renderer.resolve_attention("auto", gpu) == "sdpa"  # replaying as auto would change the kernels
    replayed = options_for_replay({"attention": "sdpa-cudnn"}, base, device=gpu).attention
    assert replayed == "sdpa-cudnn" and renderer.resolve_attention(replayed, gpu) == "sdpa-cudnn"
    assert options_for_replay({"attention": "sdpa"}, base, device=gpu).attention == "sdpa"
    assert options_for_replay({"attention": "xformers"}, base, device=gpu).attention == "xformers"
    # the same GPU without cuDNN 9 (or an older one): auto, never a ValidationError
    monkeypatch.setattr(renderer, "cudnn_attention", lambda device, *, hopper=False: False)
    replayed = options_for_replay({"attention": "sdpa-cudnn"}, base, device=gpu).attention
    assert replayed == "auto" and renderer.resolve_attention(replayed, gpu) == "sdpa"


def test_a_cudnn_first_render_verifies_on_cpu_and_reports_the_attention_change(render_lib: Any) -> None:
    rendered = render_lib.render(1)[0]
    env = dict(rendered.info.environment) | {"attention": "sdpa-cudnn"}  # as if made on an H100
    with render_lib.db.write() as conn:
        conn.execute("UPDATE renders SET environment = ? WHERE id = ?", (json.dumps(env), rendered.id))
    report = render_lib.verify(rendered.id)  # replays with plain SDPA here instead of raising
    assert report.identical  # the CPU render used plain SDPA all along
    assert report.fingerprint_diff == {"attention": ("sdpa-cudnn", "sdpa")}


def test_cudnn_first_puts_cudnn_attention_first_only_inside_the_render() -> None:
    import torch
    from torch.nn.attention import SDPBackend

    from promptlib.render.renderer import attention_context

    before = torch._C._get_sdp_priority_order()
    with attention_context("sdpa"):
        assert torch._C._get_sdp_priority_order() == before
    with attention_context("sdpa-cudnn"):
        inside = torch._C._get_sdp_priority_order()
        assert inside[0] == int(SDPBackend.CUDNN_ATTENTION) and sorted(inside) == sorted(before)
        # nothing is switched off: a shape cuDNN cannot take falls through to the next kernel
        assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.math_sdp_enabled()
    assert torch._C._get_sdp_priority_order() == before
