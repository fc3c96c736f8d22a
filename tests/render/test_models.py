"""Model resolution, loading, safety (pickles, lying safetensors headers), hashing, listing, VAE and LoRA swaps."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from promptlib.errors import FormatError, NotFoundError, UnsafeInputError, ValidationError
from promptlib.render import models
from promptlib.render.checkpoints import check_safetensors, infer_architecture, scheduler_overrides
from promptlib.render.hashing import HashCache, file_sha256
from promptlib.render.presets import pipeline_config_folder


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the hub fails loudly instead of hanging or silently downloading."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# ---- pickles that would write a canary file -----------------------------------------------------------------


class _Canary:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.path)!r}, 'w').write('pwned')",))


@pytest.fixture(scope="session")
def evil_pickles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A raw pickle and a torch.save zip that write ``<folder>/CANARY`` when unpickled; proven live once (the
    control that makes the refusal tests mean something)."""
    import torch

    root = tmp_path_factory.mktemp("evil")
    canary = root / "CANARY"
    raw = root / "evil.ckpt"
    raw.write_bytes(pickle.dumps({"state_dict": _Canary(canary)}))
    zipped = root / "evil.pt"
    torch.save({"state_dict": _Canary(canary)}, zipped)
    import zipfile

    with zipfile.ZipFile(zipped) as archive:
        inner = next(name for name in archive.namelist() if name.endswith("data.pkl"))
        payloads = [raw.read_bytes(), archive.read(inner)]
    for payload in payloads:
        pickle.loads(payload)  # the control, on purpose: these files really run code when unpickled
        assert canary.read_text() == "pwned"
        canary.unlink()
    return {"raw": raw, "zip": zipped, "canary": canary}


@pytest.fixture(autouse=True)
def canary_stays_unwritten(evil_pickles: dict[str, Path]) -> Iterator[None]:
    yield
    assert not evil_pickles["canary"].exists(), "a pickle was unpickled: the canary file was written"


def test_pickle_checkpoints_are_refused_by_default(evil_pickles: dict[str, Path]) -> None:
    for path in (evil_pickles["raw"], evil_pickles["zip"]):
        with pytest.raises(UnsafeInputError, match=r"pickle checkpoint.*pass allow_pickle=True if") as info:
            models.resolve_model(str(path))
        assert "\n" not in str(info.value) and "--allow-pickle" not in str(info.value)
        assert "pass --allow-pickle if" in info.value.cli_message()  # what the CLI prints


def test_a_pickle_renamed_safetensors_is_refused_by_its_header(evil_pickles: dict[str, Path], tmp_path: Path) -> None:
    for kind in ("raw", "zip"):
        disguised = tmp_path / f"model-{kind}.safetensors"
        shutil.copyfile(evil_pickles[kind], disguised)
        with pytest.raises(UnsafeInputError, match=r"model-.*safetensors is a pickle"):
            models.resolve_model(str(disguised))
        with pytest.raises(UnsafeInputError, match="not a safetensors file"):
            check_safetensors(disguised)


def test_opting_in_to_pickles_still_never_runs_their_code(evil_pickles: dict[str, Path]) -> None:
    for path in (evil_pickles["raw"], evil_pickles["zip"]):
        with pytest.raises(UnsafeInputError, match="holds more than tensors"):
            models.resolve_model(str(path), allow_pickle=True)


def test_a_folder_with_a_pickle_component_is_refused(
    model_dir: Path, tmp_path: Path, evil_pickles: dict[str, Path]
) -> None:
    folder = tmp_path / "sneaky"
    shutil.copytree(model_dir / "tiny-sd15", folder)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    shutil.copyfile(evil_pickles["raw"], folder / "unet" / "diffusion_pytorch_model.bin")
    with pytest.raises(UnsafeInputError, match=r"diffusion_pytorch_model.bin is a pickle"):
        models.load_pipeline(models.resolve_model(str(folder)), dtype="fp32", device="cpu")
    with pytest.raises(FormatError, match="cannot load"):  # opted in: torch.load(weights_only=True) refuses it
        models.load_pipeline(models.resolve_model(str(folder), allow_pickle=True), dtype="fp32", device="cpu")


def test_a_pickle_lora_is_refused(model_dir: Path, evil_pickles: dict[str, Path]) -> None:
    source = models.resolve_model(str(model_dir / "tiny-sd15"))
    with pytest.raises(UnsafeInputError, match="pickle"):
        models.load_pipeline(source, dtype="fp32", device="cpu", loras=[(str(evil_pickles["zip"]), 1.0)])


# ---- lying safetensors headers ----------------------------------------------------------------------------------


def _safetensors(header: dict[str, Any] | bytes, data: bytes = b"", *, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


GOOD = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "__metadata__": {"format": "pt"}}
LIES = {
    "huge header length": (_safetensors(GOOD, bytes(16), length=2**63), "header length"),
    "header past the end": (_safetensors(GOOD, bytes(16), length=10_000), "header length"),
    "offsets out of range": (
        _safetensors({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 1 << 40]}}, bytes(16)),
        "claims bytes",
    ),
    "negative offset": (_safetensors({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}), "offsets"),
    "shape disagrees with bytes": (
        _safetensors({"a": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 16]}}, bytes(16)),
        "does not match",
    ),
    "overlapping tensors": (
        _safetensors(
            {
                "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
            },
            bytes(16),
        ),
        "overlaps",
    ),
    "unaccounted bytes": (_safetensors(GOOD, bytes(32)), "belong to no tensor"),
    "unknown dtype": (_safetensors({"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}), "dtype"),
    "not json": (_safetensors(b"{not json at all"), "invalid JSON"),
    "not an object": (_safetensors(b"[1, 2, 3]"), "not a JSON object"),
    "too short": (b"\x01\x02", "too short"),
}


@pytest.mark.parametrize("case", sorted(LIES))
def test_a_lying_safetensors_header_is_refused_in_one_line(case: str, tmp_path: Path) -> None:
    data, message = LIES[case]
    path = tmp_path / "liar.safetensors"
    path.write_bytes(data)
    with pytest.raises(FormatError, match=message) as info:
        check_safetensors(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
    with pytest.raises(FormatError):
        models.resolve_model(str(path))


def test_an_honest_header_passes_and_is_returned(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "ok.safetensors"
    save_file({"w": torch.ones(3, 4), "b": torch.zeros(2, dtype=torch.float16)}, str(path), metadata={"k": "v"})
    header = check_safetensors(path)
    assert header["w"]["shape"] == [3, 4] and header["b"]["dtype"] == "F16"
    assert header["__metadata__"] == {"k": "v"}


def test_architecture_comes_from_key_names() -> None:
    assert infer_architecture(["cond_stage_model.transformer.text_model.final_layer_norm.weight"]) == "sd15"
    assert infer_architecture(["cond_stage_model.model.ln_final.weight"]) == "sd2"
    assert infer_architecture(["conditioner.embedders.1.model.ln_final.weight"]) == "sdxl"
    assert infer_architecture(["add_embedding.linear_1.weight", "conv_in.weight"]) == "sdxl"  # diffusers UNet
    unet_only = ["model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"]
    assert infer_architecture(unet_only, {unet_only[0]: (320, 1024)}) == "sd2"
    with pytest.raises(FormatError, match=r"cannot tell SD 1.x from SD 2.x"):
        infer_architecture(unet_only)
    with pytest.raises(FormatError, match="refiner"):
        infer_architecture(["conditioner.embedders.0.model.ln_final.weight"])
    with pytest.raises(FormatError, match="9 input channels"):
        infer_architecture(
            ["cond_stage_model.transformer.x", "model.diffusion_model.input_blocks.0.0.weight"],
            {"model.diffusion_model.input_blocks.0.0.weight": (320, 9, 3, 3)},
        )
    with pytest.raises(FormatError, match="not a Stable Diffusion checkpoint"):
        infer_architecture(["lora_unet_down_blocks_0.alpha"])


# ---- resolving and loading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["sd15", "sd2", "sdxl"])
def test_a_single_file_checkpoint_loads_offline_with_identical_weights(
    arch: str, single_files: dict[str, Path], tiny_pipes: dict[str, Any], no_network: None
) -> None:
    import torch

    source = models.resolve_model(str(single_files[arch]), config=pipeline_config_folder(arch, size="tiny"))
    assert (source.kind, source.arch) == ("single_file", arch)  # the architecture came from the file's keys
    pipe = models.load_pipeline(source, dtype="fp32", device="cpu")
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if getattr(tiny_pipes[arch], name, None) is None:
            continue
        want, got = getattr(tiny_pipes[arch], name).state_dict(), getattr(pipe, name).state_dict()
        assert want.keys() == got.keys(), name
        assert all(torch.equal(want[k], got[k]) for k in want), name


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"a": {}}, {}),
        ({"a": {}, "v_pred": {}}, {"prediction_type": "v_prediction"}),
        (
            {"v_pred": {}, "ztsnr": {}},
            {"prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"},
        ),
        ({"__metadata__": {"modelspec.prediction_type": "v"}}, {"prediction_type": "v_prediction"}),
        ({"__metadata__": {"modelspec.prediction_type": "epsilon"}}, {"prediction_type": "epsilon"}),
        (
            {"__metadata__": {"modelspec.architecture": "stable-diffusion-v2-768-v"}},
            {"prediction_type": "v_prediction"},
        ),
        ({"__metadata__": {"modelspec.architecture": "stable-diffusion-v2-512"}}, {"prediction_type": "epsilon"}),
        ({"__metadata__": "not a mapping"}, {}),
    ],
)
def test_a_checkpoint_declares_its_prediction_type(header: dict[str, Any], expected: dict[str, Any]) -> None:
    assert scheduler_overrides(header) == expected


def test_a_v_prediction_single_file_loads_with_its_schedule(
    tiny_pipes: dict[str, Any], tmp_path: Path, render_image: Callable[..., Any], no_network: None
) -> None:
    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file

    from promptlib.render.ldm import save_single_file

    plain = save_single_file(tiny_pipes["sd15"], tmp_path / "eps.safetensors")
    tensors = load_file(plain) | {"v_pred": torch.empty(0), "ztsnr": torch.empty(0)}  # how ComfyUI marks them
    marked = tmp_path / "vpred.safetensors"
    save_file(tensors, marked)
    config = pipeline_config_folder("sd15", size="tiny")
    eps = models.load_pipeline(models.resolve_model(str(plain), config=config), dtype="fp32", device="cpu")
    vpred = models.load_pipeline(models.resolve_model(str(marked), config=config), dtype="fp32", device="cpu")
    assert eps.scheduler.config.prediction_type == "epsilon"
    assert vpred.scheduler.config.prediction_type == "v_prediction"
    assert vpred.scheduler.config.rescale_betas_zero_snr is True
    assert not np.allclose(render_image(vpred), render_image(eps), atol=1e-3)


def test_a_full_size_single_file_gets_the_built_in_preset(single_files: dict[str, Path], no_network: None) -> None:
    source = models.resolve_model(str(single_files["sd15"]))
    assert source.config is None and source.arch == "sd15"
    with pytest.raises(FormatError, match="cannot load tiny-sd15"):  # tiny weights do not fit the real SD 1.5 shapes
        models.load_pipeline(source, dtype="fp32", device="cpu")


def test_models_resolve_by_path_by_name_and_from_the_hf_cache(
    model_dir: Path, tmp_path: Path, make_hf_cache: Callable[..., Path], no_network: None
) -> None:
    by_path = models.resolve_model(str(model_dir / "tiny-sd15"))
    by_name = models.resolve_model("tiny-sd15", folders=[model_dir])
    assert by_path == by_name
    assert (by_name.kind, by_name.arch, by_name.pipeline_class) == ("folder", "sd15", "StableDiffusionPipeline")
    hf = tmp_path / "hf"
    snapshot = make_hf_cache(hf, "tiny/sdxl", model_dir / "tiny-sdxl")
    hub = models.resolve_model("tiny/sdxl", hf_cache=hf)
    assert (hub.kind, hub.location, hub.path, hub.arch) == ("hub", "tiny/sdxl", snapshot, "sdxl")
    pipe = models.load_pipeline(hub, dtype="fp32", device="cpu")
    assert type(pipe).__name__ == "StableDiffusionXLPipeline"


def test_names_are_found_in_subfolders_but_never_outside_them(single_files: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "models"
    (root / "xl" / "base").mkdir(parents=True)
    shutil.copyfile(single_files["sdxl"], root / "xl" / "base" / "juggernaut.safetensors")
    shutil.copyfile(single_files["sd15"], tmp_path / "outside.safetensors")
    found = models.resolve_model("juggernaut", folders=[root])
    assert (found.path, found.arch) == (root / "xl" / "base" / "juggernaut.safetensors", "sdxl")
    assert models.find_named("xl/base/juggernaut", [root]) == root / "xl" / "base" / "juggernaut.safetensors"
    assert models.find_named("../outside", [root]) is None
    assert models.find_named(str(tmp_path / "outside"), [root]) is None


def test_a_missing_model_says_where_it_looked_and_how_to_get_it(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as info:
        models.resolve_model("someone/nothing", folders=[model_dir], hf_cache=tmp_path / "hf")
    message = str(info.value)
    assert str(model_dir) in message and str(tmp_path / "hf") in message
    assert "hf download someone/nothing" in message and "pass allow_download=True)" in message and "\n" not in message
    assert info.value.cli_message() == message.replace("allow_download=True", "--allow-download")
    with pytest.raises(NotFoundError, match="no file"):
        models.resolve_model("./missing.safetensors")
    # a bare checkpoint name, as A1111 images record it, with no model folders to look in: say how to add one
    with pytest.raises(NotFoundError) as info:
        models.resolve_model("realisticVisionV20_v20")
    assert "no model folders are configured" in str(info.value) and "[render] model_dirs" in str(info.value)


def test_downloading_happens_only_when_allowed(tmp_path: Path) -> None:
    source = models.resolve_model("someone/nothing", allow_download=True, hf_cache=tmp_path / "hf")
    assert (source.kind, source.path, source.allow_download) == ("hub", None, True)
    with pytest.raises(ValidationError, match="not downloaded"):
        models.model_hash(source)
    quiet = models.ModelSource(kind="hub", location="someone/nothing", path=None, arch=None)
    with pytest.raises(NotFoundError, match=r"\(pass allow_download=True\)") as info:
        models.load_pipeline(quiet, dtype="fp32", device="cpu")
    assert info.value.cli_message().endswith("(pass --allow-download)")


def test_loaded_pipelines_are_cached_per_process(model_dir: Path) -> None:
    source = models.resolve_model(str(model_dir / "tiny-sd15"))
    first = models.load_pipeline(source, dtype="fp32", device="cpu")
    assert models.load_pipeline(source, dtype="fp32", device="cpu") is first
    assert models.load_pipeline(models.resolve_model("tiny-sd15", folders=[model_dir]), dtype="fp32") is first
    assert first.unet.device.type == "cpu" and str(first.unet.dtype) == "torch.float32"


def test_loading_a_folder_renders_what_the_saved_pipeline_renders(
    model_dir: Path, tiny_pipes: dict[str, Any], render_image: Callable[..., Any]
) -> None:
    import numpy as np

    pipe = models.load_pipeline(models.resolve_model(str(model_dir / "tiny-sd15")), dtype="fp32", device="cpu")
    assert np.array_equal(render_image(pipe), render_image(tiny_pipes["sd15"]))


def test_memory_options_keep_the_image_and_switch_attention(model_dir: Path, render_image: Callable[..., Any]) -> None:
    import numpy as np

    source = models.resolve_model(str(model_dir / "tiny-sd15"))
    plain = models.load_pipeline(source, dtype="fp32", device="cpu")
    assert {type(p).__name__ for p in plain.unet.attn_processors.values()} == {"AttnProcessor2_0"}  # SDPA
    base = render_image(plain)
    frugal = models.MemoryOptions(attention_slicing=True, vae_slicing=True, vae_tiling=True)
    sliced = models.load_pipeline(source, dtype="fp32", device="cpu", memory=frugal)
    assert {type(p).__name__ for p in sliced.unet.attn_processors.values()} == {"SlicedAttnProcessor"}
    assert sliced.vae.use_slicing and sliced.vae.use_tiling
    assert np.allclose(render_image(sliced), base, atol=1e-5)
    again = models.load_pipeline(source, dtype="fp32", device="cpu")
    assert {type(p).__name__ for p in again.unet.attn_processors.values()} == {"AttnProcessor2_0"}
    assert not again.vae.use_slicing and not again.vae.use_tiling
    with pytest.raises(ValidationError, match="CPU offload"):
        models.load_pipeline(source, dtype="fp32", device="cpu", memory=models.MemoryOptions(cpu_offload="model"))
    with pytest.raises(ValidationError, match="unknown dtype"):
        models.load_pipeline(source, dtype="fp8", device="cpu")


# ---- VAE and LoRA -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def other_vae(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Another tiny VAE (seed 4) as a diffusers folder, a diffusers-layout file and an original-layout file."""
    from safetensors.torch import save_file

    from promptlib.render.ldm import vae_to_ldm
    from promptlib.render.presets import random_pipeline

    vae = random_pipeline("sd15", size="tiny", seed=4).vae
    root = tmp_path_factory.mktemp("vae")
    vae.save_pretrained(root / "folder")
    save_file(vae.state_dict(), str(root / "diffusers.safetensors"))
    save_file({k: v.contiguous() for k, v in vae_to_ldm(vae).items()}, str(root / "original.safetensors"))
    return {
        "folder": root / "folder",
        "diffusers": root / "diffusers.safetensors",
        "ldm": root / "original.safetensors",
    }


def test_a_vae_override_changes_the_image_in_every_format(
    model_dir: Path, other_vae: dict[str, Path], render_image: Callable[..., Any]
) -> None:
    import numpy as np

    source = models.resolve_model(str(model_dir / "tiny-sd15"))
    base = render_image(models.load_pipeline(source, dtype="fp32", device="cpu"))
    images = {k: render_image(models.load_pipeline(source, dtype="fp32", vae=str(p))) for k, p in other_vae.items()}
    assert np.abs(images["folder"] - base).max() > 0.05
    assert np.array_equal(images["folder"], images["diffusers"])
    assert np.allclose(images["folder"], images["ldm"], atol=1e-6)
    resolved = models.resolve_vae("folder", folders=[other_vae["folder"].parent])
    assert np.array_equal(render_image(models.load_pipeline(source, dtype="fp32", vae=resolved)), images["folder"])
    # the model's own VAE is untouched by the overrides
    assert np.array_equal(render_image(models.load_pipeline(source, dtype="fp32", device="cpu")), base)


def test_a_vae_that_does_not_fit_is_a_format_error(model_dir: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    source = models.resolve_model(str(model_dir / "tiny-sd15"))
    wrong = tmp_path / "wrong.safetensors"
    save_file({"encoder.conv_in.weight": torch.zeros(8, 3, 5, 5)}, str(wrong))
    with pytest.raises(FormatError, match="VAE weights do not fit"):
        models.load_pipeline(source, dtype="fp32", vae=str(wrong))
    with pytest.raises(NotFoundError, match="VAE"):
        models.load_pipeline(source, dtype="fp32", vae=str(tmp_path / "absent.safetensors"))


def test_a_checkpoint_can_lend_its_vae(
    model_dir: Path, single_files: dict[str, Path], render_image: Callable[..., Any]
) -> None:
    import numpy as np

    source = models.resolve_model(str(model_dir / "tiny-sd15"))
    base = render_image(models.load_pipeline(source, dtype="fp32", device="cpu"))
    # the single file holds the same seed-3 VAE under first_stage_model.: the image must not change
    lent = models.load_pipeline(source, dtype="fp32", vae=str(single_files["sd15"]))
    assert lent is not models.load_pipeline(source, dtype="fp32") and np.allclose(render_image(lent), base, atol=1e-6)


@pytest.fixture(scope="session")
def lora_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LoRA for the seed-3 SD UNet, made with peft (non-zero B so it changes the output)."""
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from promptlib.render.presets import random_pipeline

    maker = random_pipeline("sd15", size="tiny", seed=3)
    torch.manual_seed(11)
    config = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    maker.unet.add_adapter(config)
    folder = tmp_path_factory.mktemp("lora")
    type(maker).save_lora_weights(str(folder), unet_lora_layers=get_peft_model_state_dict(maker.unet))
    return folder / "pytorch_lora_weights.safetensors"


def test_a_lora_changes_the_image_by_its_weight(
    model_dir: Path, lora_file: Path, render_image: Callable[..., Any]
) -> None:
    import numpy as np

    source = models.resolve_model(str(model_dir / "tiny-sd15"))
    base = render_image(models.load_pipeline(source, dtype="fp32", device="cpu"))
    full = render_image(models.load_pipeline(source, dtype="fp32", loras=[(str(lora_file), 1.0)]))
    half = render_image(models.load_pipeline(source, dtype="fp32", loras=[(lora_file.stem, 0.5)],
                                             lora_folders=[lora_file.parent]))  # fmt: skip
    zero = render_image(models.load_pipeline(source, dtype="fp32", loras=[(str(lora_file), 0.0)]))
    assert np.abs(full - base).max() > 0.05
    assert 0 < np.abs(half - base).max() < np.abs(full - base).max()
    assert np.allclose(zero, base, atol=1e-6)
    # without LoRAs the model renders exactly as before they were loaded
    assert np.array_equal(render_image(models.load_pipeline(source, dtype="fp32", device="cpu")), base)
    with pytest.raises(NotFoundError, match="LoRA 'nope' not found"):
        models.load_pipeline(source, dtype="fp32", loras=[("nope", 1.0)])


def kohya_copy(lora: Path, folder: Path) -> Path:
    """The same LoRA in the Kohya / A1111 layout (``lora_unet_<module_path>.lora_down/.lora_up/.alpha``) that most
    LoRAs downloaded for A1111 use: identical matrices, so it must render identically."""
    import torch
    from safetensors.torch import load_file, save_file

    out = {}
    for key, tensor in load_file(lora).items():
        module, _, kind = key.removeprefix("unet.").rpartition(".lora_")  # ...attn1.to_q, A.weight
        stem = "lora_unet_" + module.replace(".", "_")
        out[f"{stem}.lora_{'down' if kind.startswith('A') else 'up'}.weight"] = tensor.contiguous()
        if kind.startswith("A"):
            out[f"{stem}.alpha"] = torch.tensor(float(tensor.shape[0]))  # alpha = rank: scale 1, like lora_alpha=4, r=4
    path = folder / "kohya_style.safetensors"
    save_file(out, path)
    return path


def test_a_kohya_format_lora_renders_like_the_same_lora_in_diffusers_format(
    model_dir: Path, lora_file: Path, render_image: Callable[..., Any], tmp_path: Path
) -> None:
    import numpy as np

    kohya = kohya_copy(lora_file, tmp_path)
    source = models.resolve_model(str(model_dir / "tiny-sd15"))
    base = render_image(models.load_pipeline(source, dtype="fp32", device="cpu"))
    diffusers_format = render_image(models.load_pipeline(source, dtype="fp32", loras=[(str(lora_file), 1.0)]))
    kohya_format = render_image(models.load_pipeline(source, dtype="fp32", loras=[(str(kohya), 1.0)]))
    assert np.abs(kohya_format - base).max() > 0.05
    np.testing.assert_allclose(kohya_format, diffusers_format, atol=1e-5)


# ---- hashes and listing -----------------------------------------------------------------------------------------


def test_file_hashes_are_cached_by_path_mtime_and_size(tmp_path: Path) -> None:
    path, cache = tmp_path / "weights.safetensors", HashCache(tmp_path / "hashes.json")
    path.write_bytes(b"a" * 1000)
    assert file_sha256(path, cache=cache) == hashlib.sha256(b"a" * 1000).hexdigest()
    stat = path.stat()
    path.write_bytes(b"b" * 1000)  # same size; put the old mtime back: the cache cannot tell
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_sha256(path, cache=cache) == hashlib.sha256(b"a" * 1000).hexdigest()  # served from the cache
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert file_sha256(path, cache=cache) == hashlib.sha256(b"b" * 1000).hexdigest()
    (tmp_path / "hashes.json").write_text("{ corrupt")
    assert file_sha256(path, cache=cache) == hashlib.sha256(b"b" * 1000).hexdigest()  # a broken cache is empty


def test_model_hashes(model_dir: Path, single_files: dict[str, Path], tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "hashes.json")
    single = models.resolve_model(str(single_files["sd15"]), config=pipeline_config_folder("sd15", size="tiny"))
    assert models.model_hash(single, cache=cache) == hashlib.sha256(single_files["sd15"].read_bytes()).hexdigest()
    assert single.short_hash == single.sha256[:10]
    copy = tmp_path / "copy"
    shutil.copytree(model_dir / "tiny-sd15", copy)
    folder = models.resolve_model(str(copy))
    before = models.model_hash(folder, cache=cache)
    assert before == models.model_hash(models.resolve_model(str(model_dir / "tiny-sd15")), cache=cache)
    (copy / "scheduler" / "scheduler_config.json").write_text("{}")  # configs are not part of the hash
    assert models.model_hash(folder, cache=cache) == before
    weights = copy / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x80\x3f")
    assert models.model_hash(folder, cache=cache) != before


def test_list_models_reads_headers_and_notes_what_it_refuses(
    model_dir: Path,
    single_files: dict[str, Path],
    other_vae: dict[str, Path],
    evil_pickles: dict[str, Path],
    tmp_path: Path,
    make_hf_cache: Callable[..., Path],
) -> None:
    root = tmp_path / "models"
    (root / "nested" / "deeper").mkdir(parents=True)
    shutil.copytree(model_dir / "tiny-sd15", root / "tiny-sd15")
    shutil.copyfile(single_files["sdxl"], root / "nested" / "deeper" / "xl.safetensors")
    shutil.copyfile(other_vae["ldm"], root / "a-vae.safetensors")  # not a model: left out
    shutil.copyfile(evil_pickles["raw"], root / "old.ckpt")
    (root / "liar.safetensors").write_bytes(LIES["huge header length"][0])
    hf = tmp_path / "hf"
    make_hf_cache(hf, "tiny/sd15", model_dir / "tiny-sd15")
    found = {m.name: m for m in models.list_models([root], hf_cache=hf)}
    assert set(found) == {"tiny/sd15", "tiny-sd15", "xl", "old", "liar"}
    assert (found["tiny/sd15"].kind, found["tiny/sd15"].arch) == ("hub", "sd15")
    assert found["tiny/sd15"].size_bytes > 1_000_000
    assert (found["tiny-sd15"].pipeline, found["tiny-sd15"].arch) == ("StableDiffusionPipeline", "sd15")
    assert (found["xl"].kind, found["xl"].arch, found["xl"].pipeline) == (
        "single_file", "sdxl", "StableDiffusionXLPipeline",
    )  # fmt: skip
    assert found["xl"].size_bytes == single_files["sdxl"].stat().st_size
    assert "pickle" in found["old"].note and "header length" in found["liar"].note
    assert found["old"].note == "pickle checkpoint: refused unless you pass allow_pickle=True"  # to Python callers
    assert found["old"].to_json(cli=True)["note"] == "pickle checkpoint: refused unless you pass --allow-pickle"
    assert found["old"].to_json().keys() == found["xl"].to_json(cli=True).keys()  # the documented keys only
    assert "cli_note" not in found["old"].to_json() and found["liar"].to_json(cli=True)["note"] == found["liar"].note
    assert found["tiny-sd15"].to_json()["path"] == str(root / "tiny-sd15")


def test_models_command_lists_configured_and_given_folders(
    cli: Callable[..., Any], model_dir: Path, tmp_path: Path
) -> None:
    result = cli("models", "--json", "--folder", str(model_dir))
    assert result.code == 0, result.err
    names = {m["name"] for m in result.json() if m["kind"] != "hub"}
    assert names == {"tiny-sd15", "tiny-sdxl"}
    home = tmp_path / "cli-lib"  # the library folder the cli fixture points PROMPTLIB_HOME at
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(f'[render]\nmodel_dirs = ["{model_dir}"]\n')
    assert {m["name"] for m in cli("models", "--json").json() if m["kind"] != "hub"} == {"tiny-sd15", "tiny-sdxl"}
    table = cli("models")
    assert table.code == 0 and "tiny-sdxl" in table.out and "sdxl" in table.out
    assert "List models" in cli("models", "--help").out


def test_models_command_notes_a_pickle_checkpoint_with_the_option_that_loads_it(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "old.ckpt").write_bytes(pickle.dumps({"state_dict": {}}))
    rows = cli("models", "--json", "--folder", str(folder)).json()
    notes = [m["note"] for m in rows if m["name"] == "old"]
    assert notes == ["pickle checkpoint: refused unless you pass --allow-pickle"]
    table = cli("models", "--folder", str(folder))
    assert table.code == 0 and "--allow-pickle" in table.out and "allow_pickle=True" not in table.out
