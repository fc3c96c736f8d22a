"""Where a compiled SD 1.5 batch spends its time on a CUDA GPU (the profile behind docs/PERFORMANCE.md's render
section): text encoding one prompt at a time against one batched call, a batch with one prompt against eight
distinct ones, the compiled UNet's kernels by kind (profiled without CUDA graphs so each kernel is seen), and
batches of 16 and 32.

    python benchmarks/gpu_render_profile.py OUT.json

Random weights with the real SD 1.5 architecture (speed does not depend on the weights' values).
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from promptlib.recipe import Recipe
from promptlib.render import service, weighting
from promptlib.render.renderer import RenderOptions, prepare, render_batch

NEGATIVE = "blurry, low quality, watermark"
PROMPTS = [f"a castle on a hill at dawn, oil painting, variation {k}" for k in range(32)]


def best_of(fn: Callable[[], Any], repeats: int = 3) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return round(min(times), 4)


def kernel_kind(name: str) -> str:
    n = name.lower()
    if "triton" in n:
        return "triton (fused elementwise and norms)"
    if "sdpa" in n or "fmha" in n or "flash" in n or "attention" in n:
        return "attention"
    if "conv" in n or "fprop" in n:
        return "convolution"
    if "gemm" in n or "nvjet" in n or "cutlass" in n or "xmma" in n:
        return "matmul"
    return "other"


def recipes(n: int, *, distinct: bool) -> list[Recipe]:
    return [
        Recipe(
            prompt=PROMPTS[k] if distinct else PROMPTS[0], negative_prompt=NEGATIVE, model="random:sd15",
            sampler="Euler", steps=25, cfg_scale=7.5, seed=1000 + k, width=512, height=512,
        )
        for k in range(n)
    ]  # fmt: skip


def main(out_path: str) -> None:
    device = torch.device("cuda")
    out: dict[str, Any] = {"device": torch.cuda.get_device_name(device), "torch": torch.__version__}
    pipe = service.random_pipeline_cached("random:sd15", dtype="fp16", device=device)

    # 1. text encoding: eight prompts one at a time (positive and negative each) against one call of 16 rows
    def one_by_one() -> None:
        for prompt in PROMPTS[:8]:
            weighting.encode_prompts(pipe, prompt, NEGATIVE, device=device, dtype=torch.float16)

    ids = pipe.tokenizer(
        PROMPTS[:8] + [NEGATIVE] + [""] * 7, padding="max_length", max_length=77, return_tensors="pt"
    ).input_ids.to(device)

    def batched() -> None:
        with torch.no_grad():
            pipe.text_encoder(ids)

    out["encode_8_one_by_one_s"] = best_of(one_by_one)
    out["encode_16_rows_one_call_s"] = best_of(batched)

    # 2. a compiled batch of 8: one prompt (its encoding cached) against eight distinct prompts
    prepared = prepare(pipe, RenderOptions(device="cuda", compile=True, cuda_graphs=True), device=device, dtype="fp16")
    start = time.perf_counter()
    render_batch(prepared, recipes(8, distinct=False))
    out["compile_b8_s"] = round(time.perf_counter() - start, 1)
    out["b8_same_prompt_s"] = best_of(lambda: render_batch(prepared, recipes(8, distinct=False)))

    def distinct() -> None:
        prepared.text_cache.clear()
        render_batch(prepared, recipes(8, distinct=True))

    out["b8_distinct_prompts_s"] = best_of(distinct)

    # 3. the compiled UNet's kernels at batch 8 (16 rows with CFG), without graphs so the profiler sees each one
    compiled = pipe._promptlib_compiled["default"]
    sample = torch.randn(16, 4, 64, 64, device=device, dtype=torch.float16).to(memory_format=torch.channels_last)
    context = torch.randn(16, 77, 768, device=device, dtype=torch.float16)
    timestep = torch.tensor(500, device=device)
    calls = 5
    with torch.inference_mode():
        for _ in range(3):
            compiled(sample=sample, timestep=timestep, encoder_hidden_states=context, return_dict=False)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(calls):
                compiled(sample=sample, timestep=timestep, encoder_hidden_states=context, return_dict=False)
            torch.cuda.synchronize()
    kinds: dict[str, float] = defaultdict(float)
    kernels: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        us = float(getattr(event, "self_device_time_total", 0) or 0)
        kinds[kernel_kind(event.key)] += us
        kernels[event.key[:90]] += us
    total = sum(kinds.values())
    out["unet_b16_ms_per_call_kernels"] = round(total / calls / 1000, 2)
    out["kernel_share"] = {k: round(v / total * 100, 1) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])}
    top = sorted(kernels.items(), key=lambda kv: -kv[1])[:25]
    out["top_kernels_ms_per_call"] = {k: round(v / calls / 1000, 3) for k, v in top}

    # 4. bigger batches: does the UNet get fed better?
    out["b8_img_per_s"] = round(8 / out["b8_same_prompt_s"], 2)
    for n in (16, 32):
        start = time.perf_counter()
        render_batch(prepared, recipes(n, distinct=False))
        out[f"compile_b{n}_s"] = round(time.perf_counter() - start, 1)
        seconds = best_of(lambda n=n: render_batch(prepared, recipes(n, distinct=False)), repeats=2)
        out[f"b{n}_same_prompt_s"] = seconds
        out[f"b{n}_img_per_s"] = round(n / seconds, 2)
    with open(out_path, "w") as fh:
        json.dump(out, fh, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "render-profile.json")
