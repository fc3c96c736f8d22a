"""The scheduler registry: A1111 names → diffusers classes, overrides, step counts; every entry renders."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from promptlib.errors import ValidationError
from promptlib.render import schedulers

SD_CONFIG: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "prediction_type": "epsilon",
}
REGISTRY = schedulers.registry()


def test_registry_has_the_issue_samplers_under_a1111_names() -> None:
    names = {spec.name for spec in REGISTRY}
    wanted = {
        "Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ 2M SDE", "DPM++ 2M SDE Karras", "DPM++ SDE Karras",
        "DDIM", "PNDM", "LMS", "LMS Karras", "Heun", "DPM2", "DPM2 a", "UniPC", "DEIS", "LCM",
    }  # fmt: skip
    assert wanted <= names
    assert len(names) == len(REGISTRY)  # no duplicate rows


@pytest.mark.parametrize(
    ("sampler", "schedule", "name", "cls", "overrides"),
    [
        ("DPM++ 2M Karras", None, "DPM++ 2M Karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
        ("dpmpp_2m", "karras", "DPM++ 2M Karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
        ("k_euler_a", None, "Euler a", "EulerAncestralDiscreteScheduler", {}),
        (
            "DPM++ 2M SDE Karras",
            None,
            "DPM++ 2M SDE Karras",
            "DPMSolverMultistepScheduler",
            {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True},
        ),
        ("Euler", "sgm_uniform", "Euler SGM Uniform", "EulerDiscreteScheduler", {"timestep_spacing": "trailing"}),
        ("UniPC", "automatic", "UniPC", "UniPCMultistepScheduler", {}),
    ],
)
def test_resolve_accepts_any_tools_spelling(
    sampler: str, schedule: str | None, name: str, cls: str, overrides: dict[str, Any]
) -> None:
    spec = schedulers.resolve(sampler, schedule)
    assert (spec.name, spec.cls, dict(spec.overrides)) == (name, cls, overrides)


def test_unknown_sampler_and_unsupported_schedule_are_one_line_errors() -> None:
    with pytest.raises(ValidationError, match="not available"):
        schedulers.resolve("DPM adaptive")
    with pytest.raises(ValidationError, match="does not support the 'karras' schedule"):
        schedulers.resolve("Euler a", "karras")
    with pytest.raises(ValidationError, match="not supported"):
        schedulers.resolve("Euler", "kl_optimal")


def test_schedule_overrides_are_real_config_keys_of_each_class() -> None:
    import diffusers

    for cls_name, keys in schedulers.CLASS_ACCEPTS.items():
        params = set(inspect.signature(getattr(diffusers, cls_name).__init__).parameters)
        if params == {"self", "args", "kwargs"}:  # diffusers' placeholder when scipy / torchsde is missing
            continue
        assert keys <= params, cls_name


@pytest.mark.parametrize("spec", [s for s in REGISTRY if s.schedule is None], ids=lambda s: s.name)
def test_unet_calls_per_step_match_diffusers_timesteps(spec: schedulers.SchedulerSpec) -> None:
    if not spec.available:
        pytest.skip(f"needs {', '.join(spec.missing())}")
    scheduler = schedulers.make_scheduler(spec, SD_CONFIG)
    for steps in (5, 12):
        scheduler.set_timesteps(steps, device="cpu")
        assert len(scheduler.timesteps) == spec.unet_calls(steps)


def test_switching_samplers_never_leaks_overrides() -> None:
    karras = schedulers.make_scheduler(schedulers.resolve("DPM++ 2M Karras"), SD_CONFIG)
    plain = schedulers.make_scheduler(schedulers.resolve("DPM++ 2M"), SD_CONFIG)
    assert karras.config.use_karras_sigmas is True
    assert plain.config.use_karras_sigmas is False


def test_missing_package_is_reported_not_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = schedulers.SchedulerSpec("X", "X", None, "EulerDiscreteScheduler", requires=("no_such_package_zz",))
    with pytest.raises(ValidationError, match="pip install no_such_package_zz"):
        schedulers.make_scheduler(spec, SD_CONFIG)


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda s: s.name)
def test_every_registry_scheduler_renders(spec: schedulers.SchedulerSpec) -> None:
    """Each entry renders a tiny image through the real loop, with the UNet called as often as the table says."""
    if not spec.available:
        pytest.skip(f"needs {', '.join(spec.missing())}")
    import numpy as np
    import torch

    from promptlib.recipe import Recipe
    from promptlib.render.renderer import RenderOptions, prepare, render_batch
    from promptlib.render.service import random_pipeline_cached

    pipe = random_pipeline_cached("random:sd15-tiny", dtype="fp32", device=torch.device("cpu"))
    prepared = prepare(pipe, RenderOptions(), device=torch.device("cpu"), dtype="fp32")
    steps = min(6, max(3, spec.steps[0] // 4))
    recipe = Recipe(
        prompt="a red fox", sampler=spec.sampler, schedule=spec.schedule, steps=steps, cfg_scale=5.0, seed=1, width=64,
        height=64,
    )  # fmt: skip
    calls = []
    hook = pipe.unet.register_forward_hook(lambda *_: calls.append(1))
    try:
        result = render_batch(prepared, [recipe])[0]
    finally:
        hook.remove()
    assert result.pixels.shape == (64, 64, 3)
    assert len(calls) == spec.unet_calls(steps) == result.timings["unet_calls"]
    assert np.ptp(result.pixels) > 0  # a real image, not a constant fill
