"""Textual-inversion embeddings: found by the words of a prompt, recognised by their tensors, loaded into SD and SDXL
pipelines, spelled out by the prompt encoder, recorded as A1111's "TI hashes", and refused when unsafe or unfit."""

from __future__ import annotations

import functools
import pickle
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("diffusers")

import torch
from safetensors.torch import save_file

from promptlib.errors import UnsafeInputError, ValidationError
from promptlib.library import Library
from promptlib.render.embeddings import candidate_files, expand, load_into, named_in, read_embedding
from promptlib.render.presets import random_pipeline
from promptlib.render.weighting import encode_prompts, tokenize_chunks


def width(encoder: Any) -> int:
    return int(encoder.get_input_embeddings().weight.shape[1])


def test_names_are_whole_words_and_files_are_found_in_subfolders(tmp_path: Path) -> None:
    (tmp_path / "embeddings" / "neg").mkdir(parents=True)
    for name in ("embeddings/neg/easynegative.safetensors", "embeddings/fox.pt", "big.safetensors", ".hidden.pt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "big.safetensors").write_bytes(b"x" * (17 * 2**20))  # a checkpoint or LoRA, never an embedding
    files = candidate_files([tmp_path])
    assert set(files) == {"easynegative", "fox"}
    assert named_in(["a red fox, (easynegative:1.2)"], files) == ["easynegative", "fox"]
    assert named_in(["a red foxglove", "not_easynegative"], files) == []


def test_an_embedding_word_stands_for_its_vectors(tmp_path: Path) -> None:
    pipe = random_pipeline("sd15", size="tiny", seed=3)
    vectors = torch.randn(3, width(pipe.text_encoder), generator=torch.Generator().manual_seed(5))
    save_file({"emb_params": vectors}, tmp_path / "zqxstyle.safetensors")
    plain = encode_prompts(pipe, "a red fox, zqxstyle")["prompt_embeds"]
    embedding = read_embedding("zqxstyle", tmp_path / "zqxstyle.safetensors")
    assert embedding is not None
    load_into(pipe, [embedding])
    load_into(pipe, [embedding])  # loaded once per pipeline
    spell = functools.partial(expand, pipe, pipe.tokenizer)
    tokens = tokenize_chunks(pipe.tokenizer, "a red fox, zqxstyle", expand=spell)[0].tokens
    table = pipe.text_encoder.get_input_embeddings().weight
    assert torch.allclose(table[tokens[-3:]], vectors)  # the name became its three learned tokens
    assert tokens[:-3] == tokenize_chunks(pipe.tokenizer, "a red fox, ")[0].tokens
    with_embedding = encode_prompts(pipe, "a red fox, zqxstyle")["prompt_embeds"]
    assert not torch.allclose(with_embedding, plain)
    weighted = tokenize_chunks(pipe.tokenizer, "a red fox, (zqxstyle:1.3)", expand=spell)[0]
    assert weighted.tokens == tokens and weighted.weights[-3:] == [1.3] * 3


def test_sdxl_embeddings_fill_both_encoders_and_a_mismatch_is_refused(tmp_path: Path) -> None:
    pipe = random_pipeline("sdxl", size="tiny", seed=3)
    first, second = width(pipe.text_encoder), width(pipe.text_encoder_2)
    gen = torch.Generator().manual_seed(6)
    clip_l, clip_g = torch.randn(2, first, generator=gen), torch.randn(2, second, generator=gen)
    save_file({"clip_l": clip_l, "clip_g": clip_g}, tmp_path / "xlstyle.safetensors")
    save_file({"emb_params": torch.randn(2, first + 3)}, tmp_path / "sd15only.safetensors")
    embedding = read_embedding("xlstyle", tmp_path / "xlstyle.safetensors")
    assert embedding is not None
    load_into(pipe, [embedding])
    for encoder, tokenizer, vectors in ((pipe.text_encoder, pipe.tokenizer, clip_l),
                                        (pipe.text_encoder_2, pipe.tokenizer_2, clip_g)):  # fmt: skip
        tokens = tokenize_chunks(tokenizer, "xlstyle", expand=functools.partial(expand, pipe, tokenizer))[0].tokens
        assert torch.allclose(encoder.get_input_embeddings().weight[tokens], vectors)
    wrong = read_embedding("sd15only", tmp_path / "sd15only.safetensors")
    assert wrong is not None
    with pytest.raises(ValidationError, match=r"sd15only\.safetensors does not fit this model"):
        load_into(pipe, [wrong])


def test_pickles_and_other_files_are_not_loaded_as_embeddings(tmp_path: Path) -> None:
    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"string_to_param": {"*": [0.0]}}))
    with pytest.raises(UnsafeInputError, match=r"evil\.pt is a pickle"):
        read_embedding("evil", tmp_path / "evil.pt")
    save_file({"lora_unet_down.lora_up.weight": torch.zeros(2, 2)}, tmp_path / "lora.safetensors")
    assert read_embedding("lora", tmp_path / "lora.safetensors") is None  # a small LoRA is left alone
    save_file({"emb_params": torch.zeros(2, 3, 4)}, tmp_path / "odd.safetensors")
    with pytest.raises(ValidationError, match=r"odd\.safetensors: clip_l has shape"):
        read_embedding("odd", tmp_path / "odd.safetensors")


def test_a_render_uses_the_embedding_its_prompt_names_and_records_its_hash(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    gen = torch.Generator().manual_seed(8)
    text_width = width(random_pipeline("sd15", size="tiny", seed=3).text_encoder)
    save_file({"emb_params": 3 * torch.randn(2, text_width, generator=gen)}, folder / "zqxmood.safetensors")
    params = {"model": "random:sd15-tiny", "steps": 2, "width": 64, "height": 64, "seed": 3}

    def render(home: Path, config: str) -> Any:
        home.mkdir()
        (home / "config.toml").write_text(config)
        with Library.open(home) as lib:
            entry = lib.add("a lighthouse, zqxmood", negative_prompt="blurry", params=params)
            return lib.render(entry.id)[0]

    used = render(tmp_path / "with", f'[render]\nmodel_dirs = ["{folder}"]\n')
    without = render(tmp_path / "without", "")
    assert used.info.recipe["extra"]["TI hashes"].startswith("zqxmood: ")
    assert "TI hashes" not in without.info.recipe.get("extra", {})
    assert used.sha256 != without.sha256
    with Library.open(tmp_path / "with") as lib:
        assert lib.verify(used.id).identical  # a rerun finds and loads the embedding again
