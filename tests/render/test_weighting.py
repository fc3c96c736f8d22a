"""A1111 prompt weighting and long prompts: parsing, 75-token chunking, and the embeddings that come out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from promptlib.errors import ValidationError
from promptlib.render.weighting import (
    BREAK_WEIGHT,
    chunk_ids,
    encode_prompts,
    parse_prompt_attention,
    tokenize_chunks,
)

# A1111's own doctest cases (modules/prompt_parser.py)
A1111_CASES = [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    (
        "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
        [
            ("a ", 1.0),
            ("house", 1.5730000000000004),
            (" ", 1.1),
            ("on", 1.0),
            (" a ", 1.1),
            ("hill", 0.55),
            (", sun, ", 1.1),
            ("sky", 1.4641000000000006),
            (".", 1.1),
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), A1111_CASES)
def test_parse_matches_a1111(text: str, expected: list[tuple[str, float]]) -> None:
    assert parse_prompt_attention(text) == expected


def test_parse_weights_nesting_escapes_and_break() -> None:
    assert parse_prompt_attention("[[dim]]") == [("dim", pytest.approx(1 / 1.21))]
    assert parse_prompt_attention("((a:2) b)") == [("a", pytest.approx(2.2)), (" b", pytest.approx(1.1))]
    assert parse_prompt_attention("(a:-0.5)") == [("a", -0.5)]
    assert parse_prompt_attention("a \\(b\\) \\\\ c") == [("a (b) \\ c", 1.0)]
    assert parse_prompt_attention("cat BREAK dog") == [("cat", 1.0), ("BREAK", BREAK_WEIGHT), ("dog", 1.0)]
    assert parse_prompt_attention("BREAKFAST") == [("BREAKFAST", 1.0)]  # only the whole word
    assert parse_prompt_attention("") == [("", 1.0)]
    assert parse_prompt_attention("a:b") == [("a:b", 1.0)]  # a colon outside brackets is text


# ---- chunking ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tokenizer(tiny_pipes: dict[str, Any]) -> Any:
    return tiny_pipes["sd15"].tokenizer


def test_short_prompt_is_one_chunk_framed_like_the_sd_tokenizer(tokenizer: Any) -> None:
    chunks = tokenize_chunks(tokenizer, "a photo of a cat")
    assert len(chunks) == 1 and chunks[0].tokens == [320, 1125, 539, 320, 2368]
    ids, weights = chunk_ids(tokenizer, chunks[0])
    assert ids == tokenizer("a photo of a cat", padding="max_length", max_length=77).input_ids
    assert len(ids) == len(weights) == 77 and set(weights) == {1.0}
    empty = tokenize_chunks(tokenizer, "")
    assert len(empty) == 1 and empty[0].tokens == []


def test_long_prompts_split_into_75_token_chunks(tokenizer: Any) -> None:
    text = " ".join(["cat"] * 200)  # one token each, no commas
    chunks = tokenize_chunks(tokenizer, text)
    assert [len(c.tokens) for c in chunks] == [75, 75, 50]
    for chunk in chunks:
        ids, _ = chunk_ids(tokenizer, chunk)
        assert len(ids) == 77 and ids[0] == tokenizer.bos_token_id
        assert ids[len(chunk.tokens) + 1] == tokenizer.eos_token_id


def test_a_chunk_boundary_moves_back_to_a_nearby_comma(tokenizer: Any) -> None:
    text = " ".join(["cat"] * 70) + ", " + " ".join(["dog"] * 10)
    chunks = tokenize_chunks(tokenizer, text)
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    assert chunks[0].tokens[-1] == comma and len(chunks[0].tokens) == 71
    assert len(chunks[1].tokens) == 10
    far = " ".join(["cat"] * 30) + ", " + " ".join(["dog"] * 60)  # the comma is 45 tokens back: no backtrack
    assert [len(c.tokens) for c in tokenize_chunks(tokenizer, far)] == [75, 16]


def test_break_starts_a_new_chunk_and_weights_follow_tokens(tokenizer: Any) -> None:
    chunks = tokenize_chunks(tokenizer, "red (fox:1.5) BREAK [snow]")
    assert len(chunks) == 2
    assert chunks[0].weights == [1.0, 1.5] and chunks[1].weights == [pytest.approx(1 / 1.1)]


def test_absurdly_long_prompts_are_refused(tokenizer: Any) -> None:
    with pytest.raises(ValidationError, match="longer than 64 chunks"):
        tokenize_chunks(tokenizer, "cat " * 5000)


# ---- embeddings -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["sd15", "sd2", "sdxl"])
def test_plain_prompts_encode_exactly_as_diffusers_does(arch: str, tiny_pipes: dict[str, Any]) -> None:
    import torch

    pipe = tiny_pipes[arch]
    ours = encode_prompts(pipe, "a photo of a cat", "blurry")
    if arch == "sdxl":
        theirs = pipe.encode_prompt("a photo of a cat", device="cpu", negative_prompt="blurry")
        names = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")
    else:
        theirs = pipe.encode_prompt("a photo of a cat", "cpu", 1, True, "blurry")
        names = ("prompt_embeds", "negative_prompt_embeds")
    for name, tensor in zip(names, theirs, strict=True):
        assert ours[name].shape == tensor.shape, name
        assert torch.allclose(ours[name], tensor, atol=1e-5), name


def test_a_weight_scales_its_tokens_embedding(tiny_pipes: dict[str, Any]) -> None:
    import torch

    parts = {"sd15": [slice(0, 32)], "sdxl": [slice(0, 32), slice(32, 72)]}  # each encoder rescales on its own
    for arch, widths in parts.items():
        pipe = tiny_pipes[arch]
        plain = encode_prompts(pipe, "a red fox")["prompt_embeds"][0]
        weighted = encode_prompts(pipe, "a (red:1.5) fox")["prompt_embeds"][0]
        for width in widths:
            ratio = weighted[:, width] / plain[:, width]  # positions: 0 BOS, 1 a, 2 red, 3 fox, 4 EOS, pads
            scale = ratio[0, 0]
            rest = ratio[[0, 1, 3, *range(4, 77)]]
            assert torch.allclose(rest, scale.expand_as(rest), rtol=1e-4), arch
            assert torch.allclose(ratio[2], 1.5 * scale.expand_as(ratio[2]), rtol=1e-4), arch


def test_extra_network_tags_are_not_words_in_the_positive_prompt(tiny_pipes: dict[str, Any]) -> None:
    import torch

    pipe = tiny_pipes["sd15"]
    plain = encode_prompts(pipe, "a red fox, ", "blurry")
    tagged = encode_prompts(pipe, "a red fox, <lora:foxy_v2:0.8><hypernet:fur:1>", "blurry")
    assert torch.equal(tagged["prompt_embeds"], plain["prompt_embeds"])
    # A1111 parses tags in the positive prompt only: in the negative they stay text
    negative = encode_prompts(pipe, "a red fox, ", "blurry <lora:foxy_v2:0.8>")["negative_prompt_embeds"]
    assert not torch.equal(negative, plain["negative_prompt_embeds"])


def test_weighting_restores_each_chunks_mean(tiny_pipes: dict[str, Any]) -> None:
    import torch

    pipe = tiny_pipes["sdxl"]  # SDXL conditions on un-normalised hidden states, so the mean is meaningful
    plain = encode_prompts(pipe, "a red fox")["prompt_embeds"]
    weighted = encode_prompts(pipe, "a (red:1.5) fox")["prompt_embeds"]
    assert not torch.allclose(plain, weighted)
    for part in (slice(0, 32), slice(32, 72)):  # each encoder's share of the width
        assert torch.allclose(weighted[..., part].mean(), plain[..., part].mean(), rtol=1e-4)


@pytest.mark.parametrize("arch", ["sd15", "sdxl"])
def test_long_prompts_concatenate_independent_chunks(arch: str, tiny_pipes: dict[str, Any]) -> None:
    import torch

    pipe = tiny_pipes[arch]
    first, second = " ".join(["cat"] * 75), " ".join(["dog"] * 20)
    long = encode_prompts(pipe, f"{first} {second}", "")
    assert long["prompt_embeds"].shape[1] == 154
    assert long["negative_prompt_embeds"].shape == long["prompt_embeds"].shape  # negative padded to two chunks
    assert torch.allclose(long["prompt_embeds"][:, :77], encode_prompts(pipe, first)["prompt_embeds"], atol=1e-5)
    assert torch.allclose(long["prompt_embeds"][:, 77:], encode_prompts(pipe, second)["prompt_embeds"], atol=1e-5)
    same_as_break = encode_prompts(pipe, f"{first} BREAK {second}")["prompt_embeds"]
    assert torch.allclose(same_as_break, long["prompt_embeds"], atol=1e-5)


def test_a_short_negative_is_padded_with_empty_prompt_chunks(tiny_pipes: dict[str, Any]) -> None:
    import torch

    pipe = tiny_pipes["sd15"]
    out = encode_prompts(pipe, " ".join(["cat"] * 100), "blurry")
    empty = encode_prompts(pipe, "", "")["prompt_embeds"]
    blurry = encode_prompts(pipe, "blurry", "")["prompt_embeds"]
    assert torch.allclose(out["negative_prompt_embeds"][:, :77], blurry, atol=1e-5)
    assert torch.allclose(out["negative_prompt_embeds"][:, 77:], empty, atol=1e-5)
    short_positive = encode_prompts(pipe, "cat", " ".join(["blurry"] * 100))
    assert short_positive["prompt_embeds"].shape == short_positive["negative_prompt_embeds"].shape == (1, 154, 32)


def test_sdxl_pooled_embeds_and_zeroed_empty_negative(tiny_pipes: dict[str, Any]) -> None:
    import torch

    pipe = tiny_pipes["sdxl"]
    out = encode_prompts(pipe, "a red fox", "")
    assert out["pooled_prompt_embeds"].shape == (1, 40) and out["prompt_embeds"].shape == (1, 77, 72)
    assert not out["negative_prompt_embeds"].any() and not out["negative_pooled_prompt_embeds"].any()
    long = encode_prompts(pipe, " ".join(["fox"] * 100), "")
    assert long["negative_prompt_embeds"].shape == (1, 154, 72) and not long["negative_prompt_embeds"].any()
    first_chunk = encode_prompts(pipe, " ".join(["fox"] * 75))  # pooled comes from the first chunk only
    assert torch.allclose(long["pooled_prompt_embeds"], first_chunk["pooled_prompt_embeds"], atol=1e-5)


def test_clip_skip_picks_the_layer(tiny_pipes: dict[str, Any]) -> None:
    import torch

    sd = tiny_pipes["sd15"]
    ids = torch.tensor([sd.tokenizer("a red fox", padding="max_length", max_length=77).input_ids])
    hidden = sd.text_encoder(ids, output_hidden_states=True).hidden_states
    skip2 = encode_prompts(sd, "a red fox", clip_skip=2)["prompt_embeds"]
    assert torch.allclose(skip2, sd.text_encoder.final_layer_norm(hidden[-2]), atol=1e-5)
    assert not torch.allclose(skip2, encode_prompts(sd, "a red fox", clip_skip=1)["prompt_embeds"])
    xl = tiny_pipes["sdxl"]
    penultimate = encode_prompts(xl, "a red fox")["prompt_embeds"]
    assert torch.equal(encode_prompts(xl, "a red fox", clip_skip=2)["prompt_embeds"], penultimate)
    assert not torch.allclose(encode_prompts(xl, "a red fox", clip_skip=3)["prompt_embeds"], penultimate)
    with pytest.raises(ValidationError, match="clip skip"):
        encode_prompts(sd, "a red fox", clip_skip=0)


def test_embeddings_render_like_the_plain_prompt(tiny_pipes: dict[str, Any], render_image: Callable[..., Any]) -> None:
    import numpy as np
    import torch

    for arch in ("sd15", "sdxl"):
        pipe = tiny_pipes[arch]
        embeds = encode_prompts(pipe, "a lighthouse at dusk", "fog", dtype=torch.float32)
        plain = render_image(pipe, "a lighthouse at dusk", negative_prompt="fog")
        assert np.allclose(render_image(pipe, **embeds), plain, atol=1e-5), arch
        weighted = encode_prompts(pipe, "a (lighthouse:1.6) at dusk", "fog")
        assert np.abs(render_image(pipe, **weighted) - plain).max() > 1e-3, arch


@pytest.mark.parametrize("arch", ["sd15", "sdxl"])
def test_a_cache_encodes_each_text_once_with_the_same_bits(arch: str, tiny_pipes: dict[str, Any]) -> None:
    import torch

    pipe = tiny_pipes[arch]
    encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if arch == "sdxl" else [])
    calls: list[int] = []
    hooks = [e.register_forward_hook(lambda *_: calls.append(1)) for e in encoders]
    try:
        cache: dict[Any, Any] = {}
        batch = [encode_prompts(pipe, f"a red fox, variation {k}", "blurry, watermark", cache=cache) for k in range(4)]
        # four positives and one shared negative, each through every encoder once
        assert len(calls) == 5 * len(encoders)
        del calls[:]
        again = encode_prompts(pipe, "a red fox, variation 2", "blurry, watermark", cache=cache)
        assert calls == []
        fresh = encode_prompts(pipe, "a red fox, variation 2", "blurry, watermark")
    finally:
        for hook in hooks:
            hook.remove()
    for name, tensor in fresh.items():
        assert torch.equal(again[name], tensor), name
        assert torch.equal(batch[2][name], tensor), name
    assert not torch.equal(batch[0]["prompt_embeds"], batch[1]["prompt_embeds"])
    # a clip skip is another encoding of the same text, not a cache hit
    skipped = encode_prompts(pipe, "a red fox, variation 2", "blurry, watermark", clip_skip=3, cache=cache)
    assert not torch.equal(skipped["prompt_embeds"], fresh["prompt_embeds"])
