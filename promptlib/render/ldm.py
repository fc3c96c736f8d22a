"""Diffusers → original (LDM) key layout: save a pipeline as the single-file checkpoint A1111 and ComfyUI read.

The inverse of diffusers' own single-file converters, derived from the component configs rather than hard-coded
for one architecture, so it covers SD 1.x, SD 2.x, SDXL and the tiny test presets alike. Used to make single-file
checkpoints of random-weight pipelines (tests, load benchmarks); loading goes through diffusers' converters.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_RESNET_UNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _unet_prefixes(config: Any) -> list[tuple[str, str, bool]]:
    """(diffusers prefix, LDM prefix, is a resnet) for every block of a UNet2DConditionModel config."""
    blocks = len(config.block_out_channels)
    per = config.layers_per_block
    if not isinstance(per, int):
        raise ValueError("per-block layers_per_block is not supported")
    out: list[tuple[str, str, bool]] = [
        ("time_embedding.linear_1.", "time_embed.0.", False),
        ("time_embedding.linear_2.", "time_embed.2.", False),
        ("add_embedding.linear_1.", "label_emb.0.0.", False),
        ("add_embedding.linear_2.", "label_emb.0.2.", False),
        ("conv_in.", "input_blocks.0.0.", False),
        ("conv_norm_out.", "out.0.", False),
        ("conv_out.", "out.2.", False),
        ("mid_block.resnets.0.", "middle_block.0.", True),
        ("mid_block.attentions.0.", "middle_block.1.", False),
        ("mid_block.resnets.1.", "middle_block.2.", True),
    ]
    for i in range(blocks):
        for j in range(per):
            out.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{i * (per + 1) + j + 1}.0.", True))
            out.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{i * (per + 1) + j + 1}.1.", False))
        if i < blocks - 1:
            out.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(i + 1) * (per + 1)}.0.op.", False))
        for j in range(per + 1):
            out.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{i * (per + 1) + j}.0.", True))
            out.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{i * (per + 1) + j}.1.", False))
        if i < blocks - 1:
            slot = 2 if config.up_block_types[i].startswith("CrossAttn") else 1
            out.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{i * (per + 1) + per}.{slot}.", False))
    return out


def _rename(key: str, prefixes: list[tuple[str, str, bool]], inner: dict[str, str]) -> str:
    for old, new, is_resnet in prefixes:
        if key.startswith(old):
            rest = key[len(old) :]
            if is_resnet:
                head, _, tail = rest.partition(".")
                rest = f"{inner.get(head, head)}.{tail}"
            return new + rest
    return key


def unet_to_ldm(unet: Any) -> dict[str, torch.Tensor]:
    """A UNet2DConditionModel's weights under ``model.diffusion_model.`` LDM names."""
    prefixes = _unet_prefixes(unet.config)
    return {"model.diffusion_model." + _rename(k, prefixes, _RESNET_UNET): v for k, v in unet.state_dict().items()}


def vae_to_ldm(vae: Any) -> dict[str, torch.Tensor]:
    """An AutoencoderKL's weights under ``first_stage_model.`` LDM names (attention as 1x1 convolutions)."""
    blocks = len(vae.config.block_out_channels)
    per = vae.config.layers_per_block
    prefixes: list[tuple[str, str, bool]] = []
    for part in ("encoder", "decoder"):
        prefixes += [
            (f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.", True),
            (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2.", True),
            (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.", False),
            (f"{part}.conv_norm_out.", f"{part}.norm_out.", False),
        ]
    for i in range(blocks):
        for j in range(per):
            prefixes.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}.", True))
        prefixes.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample.", False))
        for j in range(per + 1):
            prefixes.append((f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{blocks - 1 - i}.block.{j}.", True))
        prefixes.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{blocks - 1 - i}.upsample.", False))
    out: dict[str, torch.Tensor] = {}
    for key, value in vae.state_dict().items():
        new = _rename(key, prefixes, {"conv_shortcut": "nin_shortcut"})
        if ".mid.attn_1." in new:
            head, _, leaf = new.rpartition(".")  # leaf: weight / bias
            stem, _, module = head.partition(".mid.attn_1.")
            new = f"{stem}.mid.attn_1.{_VAE_ATTENTION.get(module, module)}.{leaf}"
            if leaf == "weight" and value.ndim == 2:
                value = value.reshape(*value.shape, 1, 1)
        out["first_stage_model." + new] = value
    return out


def clip_to_ldm(text_encoder: Any, prefix: str) -> dict[str, torch.Tensor]:
    """A transformers CLIP text model in the HF layout LDM keeps for OpenAI CLIP (``…transformer.text_model.…``)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in text_encoder.state_dict().items():
        if key.endswith("position_ids") or key.startswith("text_projection"):
            continue
        name = key if key.startswith("text_model.") else "text_model." + key
        out[prefix + name] = value
    return out


_OPEN_CLIP = [
    ("embeddings.token_embedding.weight", "token_embedding.weight"),
    ("embeddings.position_embedding.weight", "positional_embedding"),
    ("final_layer_norm.", "ln_final."),
    ("encoder.layers.", "transformer.resblocks."),
    ("self_attn.out_proj.", "attn.out_proj."),
    ("layer_norm1.", "ln_1."),
    ("layer_norm2.", "ln_2."),
    ("mlp.fc1.", "mlp.c_fc."),
    ("mlp.fc2.", "mlp.c_proj."),
]


def open_clip_to_ldm(text_encoder: Any, prefix: str) -> dict[str, torch.Tensor]:
    """A transformers CLIP text model in OpenCLIP's layout (fused q/k/v, ``text_projection`` transposed)."""
    import torch

    out: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in text_encoder.state_dict().items():
        key = key.removeprefix("text_model.")
        if key.endswith("position_ids"):
            continue
        if key == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()
            continue
        for part in ("q", "k", "v"):
            for leaf in ("weight", "bias"):
                if key.endswith(f".self_attn.{part}_proj.{leaf}"):
                    stem = key[: -len(f".self_attn.{part}_proj.{leaf}")]
                    fused.setdefault(f"{stem}|{leaf}", {})[part] = value
                    break
            else:
                continue
            break
        else:
            for old, new in _OPEN_CLIP:
                key = key.replace(old, new)
            out[prefix + key] = value
    for stem_leaf, parts in fused.items():
        stem, leaf = stem_leaf.split("|")
        for old, new in _OPEN_CLIP:
            stem = stem.replace(old, new)
        out[f"{prefix}{stem}.attn.in_proj_{leaf}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def ldm_state_dict(pipe: Any) -> dict[str, torch.Tensor]:
    """The whole pipeline (UNet, VAE, text encoders) as one original-layout state dict: SD 1.x when the text
    encoder is OpenAI CLIP, SD 2.x when ``tokenizer.pad_token`` is "!" (OpenCLIP), SDXL when there are two."""
    state = {**unet_to_ldm(pipe.unet), **vae_to_ldm(pipe.vae)}
    if getattr(pipe, "text_encoder_2", None) is not None:
        state |= clip_to_ldm(pipe.text_encoder, "conditioner.embedders.0.transformer.")
        state |= open_clip_to_ldm(pipe.text_encoder_2, "conditioner.embedders.1.model.")
    elif pipe.tokenizer.pad_token == "!":
        state |= open_clip_to_ldm(pipe.text_encoder, "cond_stage_model.model.")
    else:
        state |= clip_to_ldm(pipe.text_encoder, "cond_stage_model.transformer.")
    return state


def save_single_file(pipe: Any, path: Path, *, dtype: Any = None, metadata: dict[str, str] | None = None) -> Path:
    """Write ``pipe`` as one original-layout ``.safetensors`` checkpoint (temp file, fsync, rename)."""
    from safetensors.torch import save_file

    from promptlib.render.presets import torch_dtype

    target = torch_dtype(dtype) if dtype is not None else None
    state = {
        k: (v.to(target) if target is not None and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in ldm_state_dict(pipe).items()
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.close(fd)
    try:
        save_file(state, tmp, metadata=metadata)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
