"""Architecture presets: the tokenizer, the full-size configs, tiny random pipelines and offline config folders."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from promptlib.errors import ValidationError
from promptlib.render import presets
from promptlib.render.checkpoints import infer_architecture
from promptlib.render.ldm import ldm_state_dict

# Parameter counts of the released models' components (SD 1.5, SD 2.1, SDXL base 1.0).
REAL_PARAMETERS = {
    "sd15": {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480},
    "sd2": {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840},
    "sdxl": {"unet": 2_567_463_684, "vae": 83_653_863, "text_encoder": 123_060_480, "text_encoder_2": 694_659_840},
}
DIFFUSERS_MODEL_TYPE = {"sd15": "v1", "sd2": "v2", "sdxl": "xl_base"}


def test_clip_tokenizer_gives_the_sd_tokenizer_ids(render_cache: Path) -> None:
    tokenizer = presets.clip_tokenizer()
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tokenizer.model_max_length == 77
    assert tokenizer.convert_tokens_to_ids(",</w>") == 267
    assert tokenizer.pad_token_id == 49407
    assert presets.clip_tokenizer(pad_token="!").pad_token_id == 0  # SD 2 / SDXL's second tokenizer
    assert (render_cache / "clip-tokenizer" / "tokenizer.json").is_file()  # built once, then read from disk
    assert presets.clip_tokenizer() is tokenizer


@pytest.mark.parametrize("arch", presets.ARCHITECTURES)
def test_full_presets_rebuild_the_released_architectures(arch: str) -> None:
    pipe = presets.random_pipeline(arch, device="meta")  # shapes only: no memory, no time
    counts = {name: sum(p.numel() for p in getattr(pipe, name).parameters()) for name in REAL_PARAMETERS[arch]}
    assert counts == REAL_PARAMETERS[arch]
    state = ldm_state_dict(pipe)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert infer_architecture(state, shapes) == arch
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    assert infer_diffusers_model_type(state) == DIFFUSERS_MODEL_TYPE[arch]  # diffusers' own detector agrees


@pytest.mark.parametrize("arch", presets.ARCHITECTURES)
def test_tiny_pipeline_renders_64px_in_well_under_a_second(
    arch: str, tiny_pipes: dict[str, Any], render_image: Callable[..., Any]
) -> None:
    pipe = tiny_pipes[arch]
    assert type(pipe).__name__ == presets.preset(arch, "tiny").pipeline_class
    assert type(pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    assert getattr(pipe, "safety_checker", None) is None and getattr(pipe, "feature_extractor", None) is None
    render_image(pipe)  # warm-up: first calls pay for lazy imports
    started = time.perf_counter()
    image = render_image(pipe, num_inference_steps=4)
    elapsed = time.perf_counter() - started
    assert image.shape == (1, 64, 64, 3)
    assert image.min() >= 0.0 and image.max() <= 1.0 and image.std() > 0
    assert elapsed < 1.0, f"{arch}: 4 steps at 64 px took {elapsed:.2f} s"


def test_random_pipeline_weights_follow_the_seed(tiny_pipes: dict[str, Any]) -> None:
    import torch

    again = presets.random_pipeline("sd15", size="tiny", seed=3)
    other = presets.random_pipeline("sd15", size="tiny", seed=4)
    for name in ("unet", "vae", "text_encoder"):
        mine, same, different = (getattr(p, name).state_dict() for p in (tiny_pipes["sd15"], again, other))
        assert all(torch.equal(mine[k], same[k]) for k in mine), name
        assert not all(torch.equal(mine[k], different[k]) for k in mine), name


def test_random_pipeline_takes_dtype() -> None:
    import torch

    pipe = presets.random_pipeline("sd15", size="tiny", dtype="fp16")
    assert pipe.unet.dtype == torch.float16 and pipe.text_encoder.dtype == torch.float16


@pytest.mark.parametrize("arch", presets.ARCHITECTURES)
def test_config_folder_describes_the_preset(arch: str, render_cache: Path) -> None:
    folder = presets.pipeline_config_folder(arch)
    assert folder.is_relative_to(render_cache)
    spec = presets.preset(arch)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == spec.pipeline_class
    assert index["scheduler"] == ["diffusers", "EulerDiscreteScheduler"]
    unet = json.loads((folder / "unet" / "config.json").read_text())
    assert unet["cross_attention_dim"] == spec.unet["cross_attention_dim"]
    assert not list(folder.rglob("*.safetensors"))  # configs only
    from transformers import CLIPTokenizer

    pad = CLIPTokenizer.from_pretrained(str(folder / "tokenizer")).pad_token
    assert pad == spec.pad_token
    assert presets.pipeline_config_folder(arch) == folder  # written once, reused


def test_sd2_preset_is_v_prediction_and_sdxl_zeroes_empty_negatives() -> None:
    assert presets.preset("sd2").scheduler["prediction_type"] == "v_prediction"
    assert presets.preset("sd15").scheduler["prediction_type"] == "epsilon"
    assert presets.preset("sdxl").extra["force_zeros_for_empty_prompt"] is True


def test_unknown_architecture_or_size_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="unknown architecture 'sd3'"):
        presets.preset("sd3")
    with pytest.raises(ValidationError, match="unknown preset size"):
        presets.random_pipeline("sd15", size="huge")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown dtype"):
        presets.torch_dtype("int3")
