"""``promptlib bench render``: render speed of plain diffusers and of promptlib's render path, in one run.

Cases are (scenario, variant, scheduler, batch size). The ``plain`` variant calls a stock diffusers
``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline`` built over the same components (same weights), fp16, SDPA,
eager: the baseline. The other variants run promptlib's renderer (`render_batch`) with one option set each:

=====================  ===========================================================================================
``eager``              promptlib's loop, no speed options (shows the loop's own overhead against plain)
``default``            the product's GPU defaults: channels_last, fused QKV, TF32, CUDA graphs, batched decode
``no-graphs``          the defaults without CUDA graphs
``channels-last``      channels_last only            ``fuse-qkv``   fused QKV only
``cuda-graphs``        the defaults with CUDA graphs asked for explicitly (fails, not skips, where impossible)
``compile``            defaults without graphs + ``torch.compile`` (``--compile-mode``; cache in promptlib's cache)
``compile+cuda-graphs``  both
``upcast-vae``         the defaults, but SDXL's VAE decodes in fp32 as diffusers does (not bf16)
``flash-attention``    the defaults with torch's own SDPA order (FlashAttention-2 first), where the default puts
                       cuDNN's attention first (Hopper); ``compile+cuda-graphs+flash``: the same, compiled
=====================  ===========================================================================================

Each case is warmed up once (compilation, graph capture, cuDNN/cuBLAS choices: reported as ``warmup_s``, not
timed), then timed ``repeats`` times with ``torch.cuda.synchronize`` around each run; the median is reported.
Peak memory is ``torch.cuda.max_memory_allocated`` over the timed runs. The ``pack`` scenario goes through the real
queue (`Library.render`: jobs → batches → PNG encoding + storing on the writer thread, into a temporary library)
and reports sustained images/s. A failing case records its error in its row; the others still run. Weights do not
change speed, so ``random:`` models measure what a real checkpoint of the same architecture would. A real model is
found as `Library.render` finds one (``model_dirs``, the HF cache) and loaded under the same opt-ins
(``allow_pickle``, ``allow_download``).
"""

from __future__ import annotations

import gc
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.errors import PromptlibError, ValidationError
from promptlib.recipe import Recipe
from promptlib.render import schedulers
from promptlib.render.renderer import RenderOptions, prepare, render_batch, resolve_device

if TYPE_CHECKING:
    from promptlib.render.models import ModelSource

PROMPT = "a photograph of an astronaut riding a horse on the moon, highly detailed, sharp focus"
NEGATIVE = "blurry, low quality"
VARIANTS: dict[str, dict[str, Any] | None] = {
    "plain": None,
    "eager": {"channels_last": False, "fuse_qkv": False, "tf32": False, "cuda_graphs": False},
    "channels-last": {"channels_last": True, "fuse_qkv": False, "cuda_graphs": False},
    "fuse-qkv": {"channels_last": False, "fuse_qkv": True, "cuda_graphs": False},
    "no-graphs": {"cuda_graphs": False},
    "default": {},
    "cuda-graphs": {"cuda_graphs": True},
    "compile": {"compile": True, "cuda_graphs": False},
    "compile+cuda-graphs": {"compile": True, "cuda_graphs": True},
    "upcast-vae": {"vae_dtype": "upcast"},
    "flash-attention": {"attention": "sdpa"},
    "compile+cuda-graphs+flash": {"compile": True, "cuda_graphs": True, "attention": "sdpa"},
}
# The scenarios: (arch, side, steps, batch sizes).
SCENARIOS: dict[str, tuple[str, int, int, tuple[int, ...]]] = {
    "sd15": ("sd15", 512, 25, (1, 8)),
    "sdxl": ("sdxl", 1024, 30, (1, 4)),
}
# The goals (H100) and the plain-diffusers figures it quotes.
GOALS: dict[str, dict[str, Any]] = {
    "sd15_single_s": {"goal": 0.30, "better": "lower", "issue_plain": 1.28},
    "sd15_batch8_img_s": {"goal": None, "better": "higher", "issue_plain": 5.46},
    "sd15_pack_img_s": {"goal": 12.0, "better": "higher", "issue_plain": None},
    "sdxl_single_s": {"goal": 1.0, "better": "lower", "issue_plain": 2.32},
    "sdxl_batch4_img_s": {"goal": 1.3, "better": "higher", "issue_plain": 0.74},
}


@dataclass(frozen=True)
class BenchConfig:
    arch: str = "sd15"
    model: str | None = None  # None: random weights
    model_dirs: tuple[str, ...] = ()  # where a model name is looked up, as config.toml's [render] model_dirs
    allow_pickle: bool = False  # as RenderOptions: load a pickle checkpoint you trust (weights only)
    allow_download: bool = False  # as RenderOptions: fetch a Hugging Face id that is not in the local cache
    size_preset: str = "full"  # "tiny" for CPU smoke runs
    schedulers: str = "Euler"
    batches: tuple[int, ...] | None = None  # None: (1,), or a scenario's own batch sizes
    steps: int = 25
    cfg: float = 7.5
    side: int | None = None
    variants: tuple[str, ...] = ("plain", "eager", "default")
    compile_mode: str = "default"
    repeats: int = 3
    pack_images: int = 64
    pack_batch: int = 8
    device: str = "auto"


@dataclass
class Row:
    scenario: str
    arch: str
    variant: str
    scheduler: str
    batch: int
    width: int
    height: int
    steps: int
    seconds_per_batch: float | None = None
    seconds_per_image: float | None = None
    images_per_second: float | None = None
    it_per_second: float | None = None  # UNet calls per second, end to end (text encoding and decoding included)
    unet_calls: int | None = None  # UNet evaluations per batch (each on 2×batch latents with CFG)
    peak_gpu_mb: float | None = None
    warmup_s: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mb(device: Any) -> float | None:
    import torch

    if device.type != "cuda":
        return None
    return round(float(torch.cuda.max_memory_allocated(device)) / 2**20, 1)


def _free(device: Any) -> None:
    gc.collect()
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()


def _timed(fn: Callable[[], Any], *, device: Any, repeats: int) -> tuple[float, float, float | None, Any]:
    """(warm-up seconds, median seconds, peak MB, last result) of `fn`."""
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    warmup = time.perf_counter() - t0
    _reset_peak(device)
    times, result = [], None
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        result = fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return warmup, statistics.median(times), _peak_mb(device), result


def _one_line(exc: BaseException, *, cli: bool = False) -> str:
    """The error as a row shows it; with `cli`, a promptlib error in the CLI's words (`PromptlibError.cli_message`)."""
    message = exc.cli_message() if cli and isinstance(exc, PromptlibError) else str(exc)
    text = " ".join(message.split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


def _scheduler_names(text: str) -> list[str]:
    if text.strip().lower() == "all":
        return [spec.name for spec in schedulers.registry() if spec.available]
    return [name.strip() for name in text.split(",") if name.strip()]


class Bench:
    """Runs cases and collects rows; `on_row` sees each row as soon as it is measured; with `cli`, a row's error
    names opt-ins as the CLI spells them (``--allow-pickle``, not ``allow_pickle=True``)."""

    def __init__(
        self, config: BenchConfig, *, on_row: Callable[[Row], None] | None, out: str | None, cli: bool = False
    ) -> None:
        self.config = config
        self.cli = cli
        self.device = resolve_device(config.device)
        self.on_row = on_row
        self.out = Path(out) if out else None
        self.rows: list[Row] = []
        self.meta = self._meta()

    def _meta(self) -> dict[str, Any]:
        from promptlib.render.environment import fingerprint

        env = fingerprint(
            device=self.device, dtype=self._dtype(), attention="sdpa", deterministic=False, model_hash=None
        )
        keep = ("python", "torch", "diffusers", "transformers", "cuda", "cudnn", "device", "platform")
        return {k: env[k] for k in keep} | {"config": asdict(self.config)}

    def _dtype(self) -> str:
        return "fp16" if self.device.type == "cuda" else "fp32"

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if self.on_row is not None:
            self.on_row(row)
        if self.out is not None:
            tmp = self.out.with_name(self.out.name + ".tmp")
            tmp.write_text(json.dumps(self.report(), indent=2) + "\n", encoding="utf-8")
            tmp.replace(self.out)

    def report(self) -> dict[str, Any]:
        return {"meta": self.meta, "rows": [asdict(r) for r in self.rows], "goals": goals(self.rows)}

    # --- pipelines ------------------------------------------------------------------------------------------------

    def model_source(self) -> ModelSource:
        """The given model, resolved as `Library.render` resolves one: in ``model_dirs`` and the HF cache, under
        the config's opt-ins. Raises NotFoundError, FormatError, UnsafeInputError."""
        from promptlib.render import models

        assert self.config.model
        return models.resolve_model(
            self.config.model,
            folders=tuple(Path(d).expanduser() for d in self.config.model_dirs),
            allow_pickle=self.config.allow_pickle,
            allow_download=self.config.allow_download,
        )

    def pipeline(self, arch: str) -> tuple[Any, str]:
        """The pipeline for `arch` (random weights unless a model was given) and its model reference (a given
        model's path or HF id, which a library without ``model_dirs`` finds too)."""
        from promptlib.render import service

        if self.config.model:
            from promptlib.render import models

            source = self.model_source()
            return models.load_pipeline(source, dtype=self._dtype(), device=str(self.device)), source.location
        suffix = "-tiny" if self.config.size_preset == "tiny" else ""
        ref = f"random:{arch}{suffix}"
        return service.random_pipeline_cached(ref, dtype=self._dtype(), device=self.device), ref

    # --- cases ----------------------------------------------------------------------------------------------------

    def run_cases(self, scenario: str, arch: str, side: int, steps: int, batches: tuple[int, ...]) -> None:
        try:
            pipe, ref = self.pipeline(arch)
        except Exception as exc:
            self.add(Row(scenario, arch, "-", "-", 0, side, side, steps, error=_one_line(exc, cli=self.cli)))
            return
        for name in _scheduler_names(self.config.schedulers):
            for batch in batches:
                for variant in self.config.variants:
                    row = Row(scenario, arch, variant, name, batch, side, side, steps)
                    try:
                        self._case(row, pipe, ref)
                    except Exception as exc:  # one failing option must not stop the others
                        row.error = _one_line(exc, cli=self.cli)
                    finally:
                        pipe._promptlib_graphs = {}
                        _free(self.device)
                    self.add(row)

    def _case(self, row: Row, pipe: Any, ref: str) -> None:
        if row.variant not in VARIANTS:
            raise ValidationError(f"unknown variant {row.variant!r} (known: {', '.join(VARIANTS)})")
        spec = schedulers.resolve(row.scheduler)
        base = dict(getattr(pipe, "_promptlib_scheduler_config", None) or pipe.scheduler.config)
        pipe._promptlib_scheduler_config = base
        changes = VARIANTS[row.variant]
        if changes is None:
            seconds, warmup, peak = self._plain(row, pipe, spec, base)
            row.unet_calls = spec.unet_calls(row.steps)
        else:
            options = replace(RenderOptions(compile_mode=self.config.compile_mode), **changes)
            prepared = prepare(pipe, options, device=self.device, dtype=self._dtype())
            recipes = [
                Recipe(
                    prompt=PROMPT,
                    negative_prompt=NEGATIVE,
                    model=ref,
                    sampler=spec.sampler,
                    schedule=spec.schedule,
                    steps=row.steps,
                    cfg_scale=self.config.cfg,
                    seed=1000 + k,
                    width=row.width,
                    height=row.height,
                )
                for k in range(row.batch)
            ]
            warmup, seconds, peak, results = _timed(
                lambda: render_batch(prepared, recipes), device=self.device, repeats=self.config.repeats
            )
            row.unet_calls = int(results[0].timings["unet_calls"])
            row.extra = {
                "denoise_it_per_second": results[0].timings["it_per_second"],
                "decode_seconds": results[0].timings["decode_seconds"],
                "applied": prepared.state,
            }
            if row.batch > 1:  # the batch-vs-single drift on this device and dtype (docs/RENDERING.md)
                from promptlib.render.environment import compare_pixels

                alone = render_batch(prepared, recipes[:1])[0]
                drift = compare_pixels(results[0].pixels, alone.pixels)
                row.extra["batch_vs_single"] = drift.to_json()
        row.seconds_per_batch = round(seconds, 4)
        row.seconds_per_image = round(seconds / row.batch, 4)
        row.images_per_second = round(row.batch / seconds, 3)
        row.it_per_second = round((row.unet_calls or 0) / seconds, 2)
        row.peak_gpu_mb = peak
        row.warmup_s = round(warmup, 2)

    def _plain(
        self, row: Row, pipe: Any, spec: schedulers.SchedulerSpec, base: dict[str, Any]
    ) -> tuple[float, float, float | None]:
        import torch

        # the stock pipeline over the same modules, restored to plain SDPA, contiguous, unfused
        prepare(
            pipe,
            RenderOptions(channels_last=False, fuse_qkv=False, tf32=False, vae_dtype="upcast"),
            device=self.device,
            dtype=self._dtype(),
        )
        components = dict(pipe.components)
        if "text_encoder_2" in components:
            components["force_zeros_for_empty_prompt"] = pipe.config.force_zeros_for_empty_prompt
        else:
            components["requires_safety_checker"] = False
        plain = type(pipe)(**components)
        plain.set_progress_bar_config(disable=True)
        plain.scheduler = schedulers.make_scheduler(spec, base)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False

        def call() -> Any:
            generator = torch.Generator("cpu").manual_seed(0)
            return plain(
                prompt=PROMPT,
                negative_prompt=NEGATIVE,
                num_images_per_prompt=row.batch,
                num_inference_steps=row.steps,
                guidance_scale=self.config.cfg,
                height=row.height,
                width=row.width,
                generator=generator,
            ).images

        warmup, seconds, peak, _ = _timed(call, device=self.device, repeats=self.config.repeats)
        return seconds, warmup, peak

    def run_pack(self, arch: str, side: int, steps: int) -> None:
        """The pack scenario: `pack_images` entries rendered through `Library.render` into a temp library."""
        from promptlib.library import Library

        for variant in [v for v in self.config.variants if v != "plain"] or ["default"]:
            changes = VARIANTS.get(variant)
            row = Row("pack", arch, variant, "Euler", self.config.pack_batch, side, side, steps)
            try:
                if changes is None:
                    raise ValidationError(f"unknown variant {variant!r}")
                # the library loads a given model itself: resolve it only (its refusals land in this row)
                ref = self.model_source().location if self.config.model else self.pipeline(arch)[1]
                options = replace(
                    RenderOptions(
                        compile_mode=self.config.compile_mode,
                        batch_size=self.config.pack_batch,
                        allow_pickle=self.config.allow_pickle,
                        allow_download=self.config.allow_download,
                    ),
                    device=str(self.device),
                    **changes,
                )
                with (
                    tempfile.TemporaryDirectory(prefix="promptlib-bench-") as tmp,
                    Library.open(Path(tmp) / "lib") as lib,
                ):
                    warm = [lib.add(f"{PROMPT}, warm-up {k}").id for k in range(self.config.pack_batch)]
                    ids = [
                        lib.add(f"{PROMPT}, variation {k}", negative_prompt=NEGATIVE).id
                        for k in range(self.config.pack_images)
                    ]
                    fields = {"model": ref, "steps": steps, "cfg_scale": self.config.cfg, "sampler": "Euler", "seed": 1}
                    _sync(self.device)
                    t0 = time.perf_counter()
                    lib.render(warm, size=(side, side), options=options, overrides=fields)
                    warmup = time.perf_counter() - t0
                    _reset_peak(self.device)
                    t0 = time.perf_counter()
                    run = lib.render(ids, size=(side, side), options=options, overrides=fields)
                    _sync(self.device)
                    seconds = time.perf_counter() - t0
                    stored = len(run)
                row.seconds_per_batch = round(seconds * self.config.pack_batch / max(stored, 1), 4)
                row.seconds_per_image = round(seconds / max(stored, 1), 4)
                row.images_per_second = round(stored / seconds, 3)
                row.unet_calls = schedulers.resolve("Euler").unet_calls(steps)
                row.it_per_second = round(row.unet_calls * stored / self.config.pack_batch / seconds, 2)
                row.peak_gpu_mb = _peak_mb(self.device)
                row.warmup_s = round(warmup, 2)
                row.extra = {"images": stored, "wall_seconds": round(seconds, 3)}
            except Exception as exc:
                row.error = _one_line(exc, cli=self.cli)
            finally:
                _free(self.device)
            self.add(row)


def _best(rows: list[Row], pick: Callable[[Row], bool], key: str, better: str) -> tuple[float | None, str | None]:
    values = [(getattr(r, key), r.variant) for r in rows if pick(r) and getattr(r, key) is not None]
    if not values:
        return None, None
    value, variant = (min if better == "lower" else max)(values)
    return float(value), str(variant)


def goals(rows: list[Row]) -> dict[str, Any]:
    """The issue's goals against the measured figures (plain and best promptlib variant per goal)."""
    out: dict[str, Any] = {}
    checks: dict[str, tuple[Callable[[Row], bool], str]] = {
        "sd15_single_s": (lambda r: r.scenario == "sd15" and r.batch == 1, "seconds_per_image"),
        "sd15_batch8_img_s": (lambda r: r.scenario == "sd15" and r.batch == 8, "images_per_second"),
        "sd15_pack_img_s": (lambda r: r.scenario == "pack", "images_per_second"),
        "sdxl_single_s": (lambda r: r.scenario == "sdxl" and r.batch == 1, "seconds_per_image"),
        "sdxl_batch4_img_s": (lambda r: r.scenario == "sdxl" and r.batch == 4, "images_per_second"),
    }
    for name, (pick, key) in checks.items():
        goal = GOALS[name]
        plain, _ = _best(rows, lambda r, p=pick: p(r) and r.variant == "plain", key, goal["better"])  # type: ignore[misc]
        best, variant = _best(rows, lambda r, p=pick: p(r) and r.variant != "plain", key, goal["better"])  # type: ignore[misc]
        if plain is None and best is None:
            continue
        met = None
        if goal["goal"] is not None and best is not None:
            met = best <= goal["goal"] if goal["better"] == "lower" else best >= goal["goal"]
        out[name] = {"plain": plain, "best": best, "best_variant": variant, "goal": goal["goal"], "met": met,
                     "issue_plain": goal["issue_plain"]}  # fmt: skip
    return out


def run(
    config: BenchConfig,
    *,
    scenario: str | None = None,
    out: str | None = None,
    on_row: Callable[[Row], None] | None,
    cli: bool = False,
) -> dict[str, Any]:
    """Run the benchmark; returns the JSON report (meta, rows, goals; with `cli`, rows' errors in the CLI's words).
    Raises ValidationError for a bad scenario."""
    bench = Bench(config, on_row=on_row, out=out, cli=cli)
    if scenario is None:
        from promptlib.render.presets import preset

        side = config.side or preset(config.arch, config.size_preset).resolution
        bench.run_cases("custom", config.arch, side, config.steps, config.batches or (1,))
        return bench.report()
    names = ("sd15", "sdxl", "pack") if scenario == "issue" else (scenario,)
    for name in names:
        if name == "pack":
            side = 64 if config.size_preset == "tiny" else 512
            bench.run_pack("sd15", side, 4 if config.size_preset == "tiny" else 25)
        elif name in SCENARIOS:
            arch, side, steps, batches = SCENARIOS[name]
            if config.size_preset == "tiny":
                side, steps = 64, 4
            bench.run_cases(name, arch, side, steps, config.batches or batches)
        else:
            raise ValidationError(f"unknown scenario {name!r}: expected issue, sd15, sdxl or pack")
    return bench.report()
