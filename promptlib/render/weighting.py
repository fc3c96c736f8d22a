"""A1111 prompt weighting and long prompts, for SD 1.x, SD 2.x and SDXL pipelines.

``(word:1.3)`` multiplies a span's weight, ``(word)`` by 1.1, ``[word]`` divides by 1.1; brackets nest and ``\\(``
escapes. Prompts of any length are cut into 75-token chunks (moved back to the last comma within 20 tokens, as
A1111 does), each encoded as BOS + 75 tokens + EOS/padding, and the embeddings concatenated; ``BREAK`` starts a new
chunk. Weights multiply each token's embedding, then each chunk is rescaled to its original mean. Extra-network
tags (``<lora:name:0.8>``) are removed from the positive prompt before encoding, as A1111 does; the LoRAs they name
are loaded instead.

Clip skip follows A1111's numbering (1 = last layer, 2 = penultimate). SD 1.x/2.x apply the final layer norm to
the chosen layer; SDXL always conditions on the penultimate layer (what it was trained on), so its clip skip only
matters from 3 up. SDXL's pooled embedding comes from the second encoder's first chunk, unweighted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Hashable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptlib.errors import ValidationError
from promptlib.limits import MAX_PROMPT_CHARS
from promptlib.render import embeddings

if TYPE_CHECKING:
    import torch

BREAK_WEIGHT = -1.0  # the weight parse_prompt_attention gives a ("BREAK", -1.0) chunk-break marker
ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1
COMMA_BACKTRACK = 20  # A1111's comma_padding_backtrack default
MAX_CHUNKS = 64  # 4,800 tokens: far beyond any real prompt, well short of what attention can hold

_ATTENTION = re.compile(
    r"""
    \\\( | \\\) | \\\[ | \\\] | \\\\ | \\ |   # escapes
    \( | \[ |                                 # openers
    :\s*([+-]?[.\d]+)\s*\) |                  # (text:1.3) closer with a weight
    \) | \] |                                 # closers
    [^\\()\[\]:]+ |                           # plain text
    :
    """,
    re.VERBOSE,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
_EXTRA_NETWORK = re.compile(r"<(\w+):([^>]+)>")  # A1111's extra-network tags: <lora:name:0.8>, <hypernet:name:1>


def strip_extra_networks(text: str) -> str:
    """The prompt as A1111 encodes it: ``<lora:…>``-style tags name networks to load, they are not words."""
    return _EXTRA_NETWORK.sub("", text)


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:
    """Split an A1111 prompt into (text, weight) runs, merging neighbours of equal weight; ``BREAK`` becomes
    ``("BREAK", -1.0)``. Unbalanced brackets close at the end, as in A1111.

    >>> parse_prompt_attention("a (red:1.3) fox [in] snow")
    [('a ', 1.0), ('red', 1.3), (' fox ', 1.0), ('in', 0.9090909090909091), (' snow', 1.0)]
    """
    res: list[list[Any]] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply(start: int, factor: float) -> None:
        for item in res[start:]:
            item[1] *= factor

    for match in _ATTENTION.finditer(text):
        part, weight = match.group(0), match.group(1)
        if part.startswith("\\"):
            res.append([part[1:], 1.0])
        elif part == "(":
            round_open.append(len(res))
        elif part == "[":
            square_open.append(len(res))
        elif weight is not None and round_open:
            try:
                factor = float(weight)
            except ValueError:  # "(x:1.2.3)": not a number, so A1111 keeps it as text
                res.append([part, 1.0])
                continue
            multiply(round_open.pop(), factor)
        elif part == ")" and round_open:
            multiply(round_open.pop(), ROUND_MULTIPLIER)
        elif part == "]" and square_open:
            multiply(square_open.pop(), SQUARE_MULTIPLIER)
        else:
            for i, piece in enumerate(_BREAK.split(part)):
                if i > 0:
                    res.append(["BREAK", BREAK_WEIGHT])
                res.append([piece, 1.0])
    for start in round_open:
        multiply(start, ROUND_MULTIPLIER)
    for start in square_open:
        multiply(start, SQUARE_MULTIPLIER)
    if not res:
        res = [["", 1.0]]
    merged: list[list[Any]] = [res[0]]
    for item in res[1:]:
        if item[1] == merged[-1][1]:
            merged[-1][0] += item[0]
        else:
            merged.append(item)
    return [(str(t), float(w)) for t, w in merged]


# ---- chunking ---------------------------------------------------------------------------------------------------


@dataclass
class PromptChunk:
    """Up to 75 token ids and their weights, before BOS/EOS/padding are added."""

    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


def tokenize_chunks(tokenizer: Any, text: str, *, expand: Callable[[str], str] | None = None) -> list[PromptChunk]:
    """A1111's chunking: weighted runs tokenized separately, cut into ``model_max_length - 2`` token chunks, a cut
    moved back to just after the last comma when one is within 20 tokens, BREAK forcing a new chunk. `expand`
    rewrites each run before tokenizing (textual-inversion names → their tokens)."""
    if len(text) > MAX_PROMPT_CHARS:
        raise ValidationError(f"prompt is {len(text)} characters long (limit {MAX_PROMPT_CHARS})")
    size = int(tokenizer.model_max_length) - 2
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    parsed = parse_prompt_attention(text)
    texts = [expand(t) if expand is not None else t for t, _ in parsed]
    ids: list[list[int]] = tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False).input_ids
    chunks: list[PromptChunk] = []
    chunk = PromptChunk()
    last_comma = -1

    def close() -> None:
        nonlocal chunk, last_comma
        chunks.append(chunk)
        chunk = PromptChunk()
        last_comma = -1

    for tokens, (part, weight) in zip(ids, parsed, strict=True):
        if part == "BREAK" and weight == BREAK_WEIGHT:
            close()
            continue
        for token in tokens:
            if token == comma:
                last_comma = len(chunk.tokens)
            elif len(chunk.tokens) == size and last_comma != -1 and len(chunk.tokens) - last_comma <= COMMA_BACKTRACK:
                cut = last_comma + 1
                moved = PromptChunk(chunk.tokens[cut:], chunk.weights[cut:])
                chunk.tokens, chunk.weights = chunk.tokens[:cut], chunk.weights[:cut]
                close()
                chunk = moved
            if len(chunk.tokens) == size:
                close()
            chunk.tokens.append(int(token))
            chunk.weights.append(weight)
        if len(chunks) > MAX_CHUNKS:
            break
    if chunk.tokens or not chunks:
        close()
    if len(chunks) > MAX_CHUNKS:
        raise ValidationError(f"prompt is longer than {MAX_CHUNKS} chunks of {size} tokens")
    return chunks


def chunk_ids(tokenizer: Any, chunk: PromptChunk) -> tuple[list[int], list[float]]:
    """One encoder input: BOS, the chunk, EOS, then the tokenizer's pad token (EOS for SD 1.x, "!" for OpenCLIP)."""
    size = int(tokenizer.model_max_length) - 2
    pad = size - len(chunk.tokens)
    ids = [tokenizer.bos_token_id, *chunk.tokens, tokenizer.eos_token_id] + [tokenizer.pad_token_id] * pad
    return [int(i) for i in ids], [1.0, *chunk.weights, 1.0] + [1.0] * pad


# ---- encoding ---------------------------------------------------------------------------------------------------


def _final_norm(encoder: Any) -> Any:
    # transformers >= 5.6 flattened CLIPTextModel; CLIPTextModelWithProjection still wraps a text_model
    norm = getattr(encoder, "final_layer_norm", None)
    return norm if norm is not None else encoder.text_model.final_layer_norm


def _encode(
    encoder: Any, tokenizer: Any, chunks: list[PromptChunk], *, layer: int | None, norm: bool, device: Any
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Embeddings [1, chunks x 77, width] with weights applied per chunk, and the pooled projection of the first
    chunk when the encoder has one."""
    import torch

    rows = [chunk_ids(tokenizer, c) for c in chunks]
    ids = torch.tensor([r[0] for r in rows], dtype=torch.long, device=device)
    weights = torch.tensor([r[1] for r in rows], dtype=torch.float32, device=device)
    out = encoder(ids, output_hidden_states=layer is not None)
    if layer is None:
        z = out.last_hidden_state
    else:
        z = out.hidden_states[layer]
        if norm:
            z = _final_norm(encoder)(z)
    z = z.float()
    before = z.mean(dim=(1, 2), keepdim=True)
    z = z * weights.unsqueeze(-1)
    after = z.mean(dim=(1, 2), keepdim=True)
    # a chunk whose mean is ~0 (untrained layer norms) has no mean to restore: dividing would only amplify noise
    degenerate = after.abs() <= 1e-6 * z.abs().mean(dim=(1, 2), keepdim=True)
    z = z * torch.where(degenerate, torch.ones_like(after), before / torch.where(degenerate, 1.0, after))
    pooled = getattr(out, "text_embeds", None)
    return z.reshape(1, -1, z.shape[-1]), (pooled[:1].float() if pooled is not None else None)


def _layer(clip_skip: int | None, *, xl: bool) -> int | None:
    if clip_skip is not None and clip_skip < 1:
        raise ValidationError(f"clip skip must be 1 or more, not {clip_skip}")
    skip = clip_skip or 1
    if xl:
        return -max(2, skip)
    return None if skip == 1 else -skip


def _pad_chunks(z: torch.Tensor, empty: torch.Tensor, count: int) -> torch.Tensor:
    import torch

    missing = count - z.shape[1] // empty.shape[1]
    return torch.cat([z, *[empty] * missing], dim=1) if missing > 0 else z


# One text's encoding: embeddings [1, chunks x 77, width] (float32, weights applied) and the pooled projection
Encoded = tuple["torch.Tensor", "torch.Tensor | None"]


def encode_prompts(
    pipe: Any,
    prompt: str,
    negative_prompt: str = "",
    *,
    clip_skip: int | None = None,
    device: Any = None,
    dtype: Any = None,
    cache: MutableMapping[Hashable, Encoded] | None = None,
) -> dict[str, torch.Tensor]:
    """The keyword arguments to call ``pipe`` with instead of ``prompt``/``negative_prompt``: ``prompt_embeds`` and
    ``negative_prompt_embeds`` (padded to the same number of chunks), plus ``pooled_prompt_embeds`` and
    ``negative_pooled_prompt_embeds`` for SDXL. ``device`` and ``dtype`` default to the pipeline's. An empty SDXL
    negative prompt gives zeros when the pipeline says ``force_zeros_for_empty_prompt``, as A1111 and diffusers do.

    ``cache`` keeps each text's encoding between calls (keyed by text and clip skip; the caller keeps one per
    pipeline and device): a pack's shared negative prompt is encoded once. Each text is still encoded alone, so a
    cached encoding has the same bits as a fresh one.

    Raises ValidationError for a prompt over the length limits or a clip skip below 1.
    """
    import torch

    xl = getattr(pipe, "text_encoder_2", None) is not None
    device = device if device is not None else pipe._execution_device
    dtype = dtype if dtype is not None else (pipe.unet.dtype if pipe.unet is not None else pipe.text_encoder.dtype)
    layer = _layer(clip_skip, xl=xl)
    encoders = [(pipe.text_encoder, pipe.tokenizer)]
    if xl:
        encoders.append((pipe.text_encoder_2, pipe.tokenizer_2))

    def encode(text: str) -> Encoded:
        key = (text, layer)
        if cache is not None and key in cache:
            return cache[key]
        parts: list[torch.Tensor] = []
        pooled: torch.Tensor | None = None
        for encoder, tokenizer in encoders:
            chunks = tokenize_chunks(tokenizer, text, expand=functools.partial(embeddings.expand, pipe, tokenizer))
            z, pooled = _encode(encoder, tokenizer, chunks, layer=layer, norm=not xl, device=device)
            parts.append(z)
        encoded = torch.cat(parts, dim=-1), pooled
        if cache is not None:
            cache[key] = encoded
        return encoded

    with torch.no_grad():
        positive, pooled = encode(strip_extra_networks(prompt))  # A1111 parses tags in the positive prompt only
        zero_negative = xl and not negative_prompt and bool(getattr(pipe.config, "force_zeros_for_empty_prompt", False))
        if zero_negative:
            negative, negative_pooled = (
                torch.zeros_like(positive),
                (torch.zeros_like(pooled) if pooled is not None else None),
            )
        else:
            negative, negative_pooled = encode(negative_prompt)
            if negative.shape[1] != positive.shape[1]:
                empty, _ = encode("")
                count = max(positive.shape[1], negative.shape[1]) // empty.shape[1]
                positive, negative = _pad_chunks(positive, empty, count), _pad_chunks(negative, empty, count)
    out = {
        "prompt_embeds": positive.to(device=device, dtype=dtype),
        "negative_prompt_embeds": negative.to(device=device, dtype=dtype),
    }
    if xl:
        assert pooled is not None and negative_pooled is not None  # the second SDXL encoder has a projection
        out["pooled_prompt_embeds"] = pooled.to(device=device, dtype=dtype)
        out["negative_pooled_prompt_embeds"] = negative_pooled.to(device=device, dtype=dtype)
    return out
