"""Textual-inversion embeddings, the A1111 way: a word in the prompt that names an embedding file in a model folder
(``easynegative`` → ``easynegative.safetensors``) stands for that file's learned token vectors.

Files are found in ``[render] model_dirs`` (up to three levels down, like checkpoints and LoRAs) and recognised by
their tensors, not their names: A1111's ``emb_params`` (SD 1.x/2.x), ``clip_l`` + ``clip_g`` (SDXL) or
``string_to_param``. They are loaded into the pipeline's tokenizers and text encoders once (diffusers'
``load_textual_inversion``: a name with n vectors becomes n tokens); the prompt encoder expands each name to its
tokens (`expand`). Pickle files (``.pt``) are refused like pickle checkpoints. torch is imported inside functions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptlib.errors import FormatError, UnsafeInputError, ValidationError
from promptlib.render.checkpoints import check_safetensors, is_pickle, tensor_shapes

MAX_EMBEDDING_BYTES = 16 * 2**20  # real ones are kilobytes; a checkpoint or LoRA is never mistaken for one
MAX_VECTORS = 75  # a whole chunk: more could never fit in a prompt
_SUFFIXES = (".safetensors", ".pt", ".bin")
_SCAN_DEPTH = 3
_KEYS = {"emb_params", "clip_l", "clip_g"}
_LOADED = "_promptlib_embeddings"  # pipeline attribute: embedding name -> the file it was loaded from


@dataclass(frozen=True)
class Embedding:
    """A textual-inversion file: its name (the word that calls it) and vectors per text encoder (``clip_l`` is the
    first encoder, ``clip_g`` SDXL's second)."""

    name: str
    path: Path
    vectors: Mapping[str, Any]  # encoder key -> (n, width) float tensor


def candidate_files(folders: Sequence[Path]) -> dict[str, Path]:
    """Name → file for every small weight file in `folders` (first folder, then shallowest, wins), the set the
    prompt's words are checked against. Nothing is opened here."""
    found: dict[str, Path] = {}
    for folder in folders:
        level = [Path(folder).expanduser()]
        for _ in range(_SCAN_DEPTH):
            following: list[Path] = []
            for directory in level:
                try:
                    children = sorted(directory.iterdir())
                except OSError:
                    continue
                for child in children:
                    if child.name.startswith("."):
                        continue
                    if child.is_dir():
                        if not (child / "model_index.json").is_file():  # never inside a diffusers model
                            following.append(child)
                    elif child.suffix.lower() in _SUFFIXES and child.stem not in found:
                        try:
                            small = child.stat().st_size <= MAX_EMBEDDING_BYTES
                        except OSError:
                            continue
                        if small:
                            found[child.stem] = child
            level = following
    return found


def named_in(texts: Iterable[str], names: Iterable[str]) -> list[str]:
    """The names that appear as whole words in any of `texts`, in sorted order."""
    joined = "\n".join(texts)
    return sorted(n for n in names if n in joined and re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", joined))


def read_embedding(name: str, path: Path) -> Embedding | None:
    """The embedding in `path`, or None when the file holds something else (a small LoRA, a VAE...). Raises
    UnsafeInputError for a pickle and FormatError for a damaged or oversized file."""
    if is_pickle(path):
        raise UnsafeInputError(
            f"embedding {path.name} is a pickle, which can run code when loaded: refused (convert it to .safetensors)"
        )
    header = check_safetensors(path)
    shapes = tensor_shapes(header)
    keys = set(shapes)
    if not keys or not (keys <= _KEYS or all(k.startswith("string_to_param.") for k in keys)):
        return None
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    if "emb_params" in tensors:
        vectors = {"clip_l": tensors["emb_params"]}
    elif "clip_l" in tensors or "clip_g" in tensors:
        vectors = {k: tensors[k] for k in ("clip_l", "clip_g") if k in tensors}
    else:
        vectors = {"clip_l": next(iter(tensors.values()))}
    for key, value in vectors.items():
        if value.ndim == 1:
            vectors[key] = value = value.unsqueeze(0)
        if value.ndim != 2 or not 1 <= value.shape[0] <= MAX_VECTORS or not value.is_floating_point():
            raise FormatError(f"embedding {path.name}: {key} has shape {tuple(value.shape)}, not (vectors, width)")
    counts = {int(v.shape[0]) for v in vectors.values()}
    if len(counts) != 1:
        raise FormatError(f"embedding {path.name}: its encoders have different vector counts {sorted(counts)}")
    return Embedding(name, path, vectors)


def _encoders(pipe: Any) -> list[tuple[str, Any, Any]]:
    pairs = [("clip_l", pipe.text_encoder, pipe.tokenizer)]
    if getattr(pipe, "text_encoder_2", None) is not None:
        pairs.append(("clip_g", pipe.text_encoder_2, pipe.tokenizer_2))
    return pairs


def load_into(pipe: Any, embeddings: Sequence[Embedding]) -> None:
    """Add `embeddings` to the pipeline's tokenizers and text encoders (each name once per pipeline; a name that
    meets a different file later keeps the first). Raises ValidationError when a file does not fit the model."""
    loaded: dict[str, str] = getattr(pipe, _LOADED, None) or {}
    encoders = _encoders(pipe)
    for embedding in embeddings:
        if embedding.name in loaded:
            continue
        for key, encoder, _tokenizer in encoders:
            width = int(encoder.get_input_embeddings().weight.shape[1])
            found = embedding.vectors.get(key)
            if found is None and len(encoders) == 1 and len(embedding.vectors) == 1:
                found = next(iter(embedding.vectors.values()))  # SD 2.x files also say emb_params
            if found is None or int(found.shape[1]) != width:
                have = ", ".join(f"{k} {tuple(v.shape)}" for k, v in embedding.vectors.items())
                raise ValidationError(
                    f"embedding {embedding.path.name} does not fit this model ({have}; its text encoder is {width}"
                    " wide)"
                )
        for key, encoder, tokenizer in encoders:
            vectors = embedding.vectors.get(key, next(iter(embedding.vectors.values())))
            try:
                pipe.load_textual_inversion(
                    vectors.to(dtype=encoder.dtype), token=embedding.name, text_encoder=encoder, tokenizer=tokenizer
                )
            except ValueError as exc:  # diffusers: the name is already a word of the vocabulary
                raise ValidationError(f"embedding {embedding.path.name}: {str(exc).splitlines()[0][:200]}") from None
        loaded[embedding.name] = os.fspath(embedding.path)
    setattr(pipe, _LOADED, loaded)


def expand(pipe: Any, tokenizer: Any, text: str) -> str:
    """`text` with each loaded embedding's name spelled as all of its tokens (``name name_1 name_2``), what the
    tokenizer then turns into the embedding's vectors. Unchanged when the pipeline has no embeddings."""
    if not getattr(pipe, _LOADED, None):
        return text
    converted: str = pipe.maybe_convert_prompt(text, tokenizer)
    return converted
