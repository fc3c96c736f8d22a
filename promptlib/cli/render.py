"""Render commands: render, rerun, verify, grid, schedulers, and ``bench render``.

Each is a few lines over `Library` (`render`, `rerun`, `verify`, `grid`); progress comes back through the library's
callback and is drawn with rich on stderr, so ``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from promptlib.cli.bench import bench_app
from promptlib.cli.output import console, err_console, note, open_library, print_json
from promptlib.limits import MAX_ID

if TYPE_CHECKING:
    from promptlib.library import Library
    from promptlib.render.renderer import RenderOptions
    from promptlib.render.results import Rendered, RenderProgress

JSON = Annotated[bool, typer.Option("--json", help="Print what was stored as JSON.")]
VerifyJSON = Annotated[bool, typer.Option("--json", help="Print the verdict and the drift figures as JSON.")]
RowsJSON = Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")]
Model = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model: HF id (local cache), folder, .safetensors, or random:sd15-tiny."),
]
Sampler = Annotated[str | None, typer.Option("--sampler", help="Sampler, A1111 name ('DPM++ 2M Karras').")]
Schedule = Annotated[str | None, typer.Option("--schedule", help="Noise schedule: karras, exponential, ...")]
Steps = Annotated[int | None, typer.Option("--steps", min=1, max=1000, help="Sampling steps.")]
Cfg = Annotated[float | None, typer.Option("--cfg", min=0.0, max=50.0, help="CFG scale.")]
Seed = Annotated[str | None, typer.Option("--seed", help="Seed, or 'random' (default: the entry's, else random).")]
Size = Annotated[str | None, typer.Option("--size", help="WIDTHxHEIGHT (default: the model's native size).")]
ClipSkip = Annotated[int | None, typer.Option("--clip-skip", min=1, max=12, help="CLIP skip (A1111: 1 = none).")]
Vae = Annotated[str | None, typer.Option("--vae", help="VAE override: a diffusers VAE folder or .safetensors.")]
Loras = Annotated[
    list[str] | None,
    typer.Option(
        "--lora", metavar="PATH_OR_NAME[:WEIGHT]", help="A LoRA and its weight, e.g. detail:0.6 (repeatable)."
    ),
]
Dtype = Annotated[str | None, typer.Option("--dtype", help="fp16, bf16 or fp32 (default: fp16 on GPU, fp32 on CPU).")]
Device = Annotated[str | None, typer.Option("--device", help="cuda, cuda:1, mps or cpu (default: auto).")]
Batch = Annotated[int, typer.Option("--batch", "-b", min=1, max=64, help="Images per batch (compatible jobs).")]
Attention = Annotated[
    str,
    typer.Option(
        "--attention",
        help="auto (PyTorch SDPA, cuDNN's attention kernel first on Hopper GPUs), sdpa (FlashAttention-2 first),"
        " sdpa-cudnn or xformers.",
    ),
]
Deterministic = Annotated[
    bool, typer.Option("--deterministic", help="Deterministic algorithms, as diffusers' reproducibility guide sets.")
]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile the UNet (slow first run, cached).")]
CompileMode = Annotated[str, typer.Option("--compile-mode", help="torch.compile mode (default, max-autotune-…).")]
ChannelsLast = Annotated[
    bool | None, typer.Option("--channels-last/--no-channels-last", help="channels_last UNet/VAE (default: on GPU).")
]
FuseQkv = Annotated[bool | None, typer.Option("--fuse-qkv/--no-fuse-qkv", help="Fused QKV (default: on GPU).")]
CudaGraphs = Annotated[
    bool | None,
    typer.Option("--cuda-graphs/--no-cuda-graphs", help="Replay the UNet from CUDA graphs (default: on GPU)."),
]
VaeDtype = Annotated[
    str,
    typer.Option(
        "--vae-dtype",
        help="VAE decode dtype: auto (bf16 for SDXL's VAE on GPU), upcast (fp32, as diffusers), fp16, bf16, fp32.",
    ),
]
AttnSlicing = Annotated[bool, typer.Option("--attention-slicing", help="Sliced attention (less memory).")]
VaeSlicing = Annotated[bool, typer.Option("--vae-slicing", help="Decode one image at a time.")]
VaeTiling = Annotated[bool, typer.Option("--vae-tiling", help="Decode in tiles (large images).")]
Offload = Annotated[bool, typer.Option("--cpu-offload", help="Model CPU offload (least GPU memory).")]
AllowPickle = Annotated[
    bool,
    typer.Option(
        "--allow-pickle",
        help="Load .ckpt/.pt/.bin files you trust (weights only: their code never runs). Refused by default.",
    ),
]
AllowDownload = Annotated[
    bool, typer.Option("--allow-download", help="Fetch a Hugging Face model that is not in the local cache.")
]


def _options(lib: Library, *, device: str | None, dtype: str | None, batch: int, **speed: Any) -> RenderOptions:
    """RenderOptions from the command line; device and dtype fall back to config.toml's ``[render]`` table and the
    speed and memory options (`speed`, RenderOptions' own names) to RenderOptions' defaults."""
    from promptlib.render.renderer import RenderOptions

    return RenderOptions(
        device=device or lib.config.render_device, dtype=dtype or lib.config.render_dtype, batch_size=batch, **speed
    )


def _overrides(
    *,
    model: str | None,
    sampler: str | None,
    schedule: str | None,
    steps: int | None,
    cfg: float | None,
    seed: str | None,
    size: str | None,
    clip_skip: int | None,
    vae: str | None,
    lora: list[str] | None,
    dtype: str | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "model": model,
        "sampler": sampler,
        "schedule": schedule,
        "steps": steps,
        "cfg_scale": cfg,
        "seed": seed,
        "clip_skip": clip_skip,
        "vae": vae,
        "loras": list(lora) if lora else None,
        "dtype": dtype,
    }
    if size:
        from promptlib.errors import ValidationError
        from promptlib.render.recipes import parse_size

        try:
            values["width"], values["height"] = parse_size(size)
        except ValidationError as exc:
            raise typer.BadParameter(exc.cli_message(), param_hint="--size") from None
    return {k: v for k, v in values.items() if v is not None}


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[RenderProgress], None]]:
    """Rich bars on stderr (overall images, and the current batch's steps with it/s); nothing when not a TTY."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _p: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
    ) as bars:
        overall = bars.add_task("images", total=None, rate="")
        job = bars.add_task("batch", total=None, rate="")
        last = [0.0]
        current = [0]  # the batch the second bar shows: a new one restarts its clock

        def update(p: RenderProgress) -> None:
            now = time.monotonic()
            if p.stage == "denoising" and p.step not in (1, p.steps) and now - last[0] < 0.05:
                return
            last[0] = now
            stored = f"{p.images_stored} stored" if p.images_stored else ""
            bars.update(overall, completed=p.images_done, total=p.images_total or None, rate=stored)
            if p.stage == "done":
                bars.update(job, description="done", completed=1, total=1, rate="")
                return
            if p.job != current[0]:
                current[0] = p.job
                bars.reset(job)
            label = f"batch {p.job}/{p.jobs} {p.stage}" if p.jobs else p.message or p.stage
            rate = f"{p.it_per_s:.2f} it/s" if p.it_per_s else ""
            bars.update(job, description=label, completed=p.step, total=p.steps or None, rate=rate)

        yield update


def _renders_table(renders: list[Rendered], *, title: str | None = None) -> None:
    from rich.table import Table

    from promptlib.textsafe import rich_text

    table = Table(title=title, expand=False, pad_edge=False)
    for name in ("render", "entry", "seed", "sampler", "steps", "size", "s/img", "sha256"):
        # ids and seeds are never cut (a cut number is a wrong number); the sampler wraps and the hash gives way
        table.add_column(
            name,
            no_wrap=name != "sampler",
            justify="left" if name in ("sampler", "size", "sha256") else "right",
            min_width=None if name in ("sampler", "sha256") else len(name),
            overflow="ellipsis" if name == "sha256" else "fold",
        )
    for r in renders:
        recipe = r.info.recipe
        sampler = " ".join(str(v) for v in (recipe.get("sampler"), recipe.get("schedule")) if v)
        table.add_row(
            str(r.id),
            str(r.info.prompt_id),
            str(recipe.get("seed")),
            rich_text(sampler),
            str(recipe.get("steps")),
            f"{r.info.width}x{r.info.height}",
            f"{r.info.timings.get('seconds_per_image', 0):.2f}",
            r.info.image_sha256[:12],
        )
    console().print(table)


def _run(action: Callable[[threading.Event], Any]) -> Any:
    """Run a library call; Ctrl-C ends it with finished renders stored (the library drains its writer)."""
    cancel = threading.Event()
    try:
        return action(cancel)
    except KeyboardInterrupt:
        err_console().print("interrupted: finished renders are stored, nothing partial was written", style="yellow")
        raise typer.Exit(130) from None


def _target(words: list[str]) -> list[str]:
    """Several arguments are entry ids (``render 3 4 9``); a query with spaces is one quoted argument."""
    from promptlib.cli.entries import parse_ids

    if len(words) > 1:
        for word in words:
            try:
                parse_ids(word)
            except typer.BadParameter:
                raise typer.BadParameter(
                    f"{word!r} is not an entry id: several arguments must all be ids (3 4 9);"
                    " a query with spaces goes in quotes, as in: promptlib render 'foggy harbour'"
                ) from None
    return words


def render(
    target: Annotated[
        list[str],
        typer.Argument(
            help="Entry ids ('3', '3 4 9' or '3,4,9') or one search query ('pack:promptlib-starter').",
            callback=_target,
            metavar="IDS|QUERY",
            show_default=False,
        ),
    ],
    model: Model = None,
    sampler: Sampler = None,
    schedule: Schedule = None,
    steps: Steps = None,
    cfg: Cfg = None,
    seed: Seed = None,
    n: Annotated[int, typer.Option("--n", "-n", min=1, max=1000, help="Images per entry (seeds count up).")] = 1,
    size: Size = None,
    clip_skip: ClipSkip = None,
    vae: Vae = None,
    lora: Loras = None,
    limit: Annotated[int | None, typer.Option("--limit", "-k", min=1, help="Render at most this many entries.")] = None,
    batch: Batch = 4,
    dtype: Dtype = None,
    device: Device = None,
    attention: Attention = "auto",
    deterministic: Deterministic = False,
    compile: Compile = False,
    compile_mode: CompileMode = "default",
    channels_last: ChannelsLast = None,
    fuse_qkv: FuseQkv = None,
    cuda_graphs: CudaGraphs = None,
    vae_dtype: VaeDtype = "auto",
    attention_slicing: AttnSlicing = False,
    vae_slicing: VaeSlicing = False,
    vae_tiling: VaeTiling = False,
    cpu_offload: Offload = False,
    allow_pickle: AllowPickle = False,
    allow_download: AllowDownload = False,
    as_json: JSON = False,
) -> None:
    """Render entries (ids or a query: a whole pack with 'pack:NAME') as a queue, batching compatible jobs.

    Each image is stored as a render; its PNG embeds the recipe (A1111 'parameters' + promptlib JSON).
    Ctrl-C keeps finished renders and writes nothing partial. An entry that cannot render (a missing LoRA or
    model) is reported and the others still render; the exit code is then 1.

    Examples:

    \b
      promptlib render 12 13 --model ~/models/dreamshaper_8.safetensors --n 4 --batch 4
      promptlib render 'pack:promptlib-starter' --model stabilityai/stable-diffusion-xl-base-1.0 --steps 30 --json
    """
    wanted = " ".join(target)  # ids the library reads as ids ('3 4,9'), or the one query
    with open_library(create=False) as lib:
        options = _options(
            lib, device=device, dtype=dtype, batch=batch, attention=attention, deterministic=deterministic,
            compile=compile, compile_mode=compile_mode, channels_last=channels_last, fuse_qkv=fuse_qkv,
            cuda_graphs=cuda_graphs, vae_dtype=vae_dtype, attention_slicing=attention_slicing,
            vae_slicing=vae_slicing, vae_tiling=vae_tiling, cpu_offload=cpu_offload, allow_pickle=allow_pickle,
            allow_download=allow_download,
        )  # fmt: skip
        overrides = _overrides(
            model=model, sampler=sampler, schedule=schedule, steps=steps, cfg=cfg, seed=seed, size=size,
            clip_skip=clip_skip, vae=vae, lora=lora, dtype=dtype,
        )  # fmt: skip
        with _progress(not as_json) as progress:
            run = _run(
                lambda cancel: lib.render(
                    wanted, n=n, overrides=overrides, options=options, limit=limit, progress=progress, cancel=cancel
                )
            )
    if as_json:
        print_json(run.to_json(cli=True))
    else:
        _renders_table(list(run), title=f"{len(run)} render(s) in {run.seconds:.1f} s")
    if run.failed:  # the others were rendered and stored; say which were not, and end non-zero
        from promptlib.textsafe import rich_text

        errors: dict[str, list[int]] = {}
        for failure in run.failed:
            errors.setdefault(failure.to_json(cli=True)["reason"], []).append(failure.entry_id)
        for error, ids in errors.items():
            shown = ", ".join(f"#{i}" for i in sorted(set(ids))[:8]) + (" …" if len(set(ids)) > 8 else "")
            err_console().print(rich_text(f"not rendered ({len(ids)} image(s), {shown}): {error}", style="yellow"))
        raise typer.Exit(1)


def _replay_options(
    lib: Library, changed: bool, device: str | None, allow_pickle: bool, allow_download: bool
) -> RenderOptions | None:
    """Options for rerun/verify: None (the library's own) unless the command line changes something."""
    if not (changed or allow_pickle or allow_download):
        return None
    from promptlib.render.renderer import RenderOptions

    return RenderOptions(
        device=device or lib.config.render_device, allow_pickle=allow_pickle, allow_download=allow_download
    )


def rerun(
    render_id: Annotated[int, typer.Argument(metavar="RENDER_ID", help="The render to re-render.", min=1, max=MAX_ID)],
    loose: Annotated[
        bool, typer.Option("--loose", help="Render alone with default options, not the original batch geometry.")
    ] = False,
    device: Device = None,
    allow_pickle: AllowPickle = False,
    allow_download: AllowDownload = False,
    as_json: JSON = False,
) -> None:
    """Re-render a stored render from its recipe and store the result as a new render.

    By default the original batch geometry and pixel-affecting options are replayed, so in the same environment the
    new image is bit-identical to the old one.

    Example:

    \b
      promptlib rerun 42 --json
    """
    with open_library(create=False) as lib:
        options = _replay_options(lib, loose or bool(device), device, allow_pickle, allow_download)
        with _progress(not as_json) as progress:
            rendered = _run(
                lambda cancel: lib.rerun(render_id, options=options, exact=not loose, progress=progress, cancel=cancel)
            )
        original = lib.get_render(render_id)
    same = rendered.sha256 == original.image_sha256
    if as_json:
        print_json(rendered.to_json() | {"rerun_of": render_id, "identical_to_original": same})
        return
    _renders_table([rendered], title=f"rerun of render {render_id}")
    note("identical to the original" if same else "differs from the original: `promptlib verify` says how")


def verify(
    render_id: Annotated[int, typer.Argument(metavar="RENDER_ID", help="The render to check.", min=1, max=MAX_ID)],
    loose: Annotated[bool, typer.Option("--loose", help="Render alone, not in the original batch geometry.")] = False,
    device: Device = None,
    allow_pickle: AllowPickle = False,
    allow_download: AllowDownload = False,
    as_json: VerifyJSON = False,
) -> None:
    """Re-render a stored render (storing nothing) and report 'identical' or the drift: max abs pixel difference,
    PSNR, and which environment fingerprint fields differ. Exits 0 when identical, 3 on drift.

    Example:

    \b
      promptlib verify 42   (exit 0: identical, 3: drift)
    """
    with open_library(create=False) as lib:
        options = _replay_options(lib, loose or bool(device), device, allow_pickle, allow_download)
        with _progress(not as_json) as progress:
            report = _run(
                lambda cancel: lib.verify(render_id, options=options, exact=not loose, progress=progress, cancel=cancel)
            )
    if as_json:
        print_json(report.to_json())
    else:
        from promptlib.textsafe import rich_text

        console().print(rich_text(report.summary(), style="green" if report.identical else "yellow"))
        for key, (stored, current) in report.fingerprint_diff.items():
            console().print(rich_text(f"  {key}: {stored!r} → {current!r}"))
    if not report.identical:
        raise typer.Exit(3)


def grid(
    entry_id: Annotated[int, typer.Argument(metavar="ENTRY_ID", help="The entry to vary.", min=1, max=MAX_ID)],
    x: Annotated[str | None, typer.Option("--x", help="X axis: FIELD=V1,V2,… (seed=1,2,3).")] = None,
    y: Annotated[str | None, typer.Option("--y", help="Y axis: FIELD=V1,V2,….")] = None,
    z: Annotated[str | None, typer.Option("--z", help="Z axis: FIELD=V1,V2,… (one grid per value).")] = None,
    animate: Annotated[
        str | None, typer.Option("--animate", help="Also write the cells as frames: out.webp or out.gif.")
    ] = None,
    frame_ms: Annotated[int, typer.Option("--frame-ms", min=20, max=10_000, help="Frame duration.")] = 500,
    max_cell: Annotated[
        int | None, typer.Option("--max-cell", min=16, help="Downscale cells in the grid image to this side.")
    ] = None,
    model: Model = None,
    sampler: Sampler = None,
    schedule: Schedule = None,
    steps: Steps = None,
    cfg: Cfg = None,
    seed: Seed = None,
    size: Size = None,
    clip_skip: ClipSkip = None,
    vae: Vae = None,
    lora: Loras = None,
    batch: Batch = 4,
    dtype: Dtype = None,
    device: Device = None,
    deterministic: Deterministic = False,
    allow_pickle: AllowPickle = False,
    allow_download: AllowDownload = False,
    as_json: JSON = False,
) -> None:
    """An X/Y/Z grid (A1111's X/Y/Z plot) of one entry over any recipe field, prompt search/replace and the
    negative prompt on/off. Every cell is stored as a render linked to the grid; the labelled grid PNG is stored.

    Fields: seed, steps, cfg, sampler, schedule, size, width, height, clip_skip, model, vae, dtype,
    prompt (search/replace: the first value is searched for), negative (on/off). Number ranges, as in A1111:

    \b
      1-5        1, 2, 3, 4, 5
      1-9 (+2)   1, 3, 5, 7, 9 (a step of 2)
      4-12 [5]   4, 6, 8, 10, 12 (5 values evenly spaced)

    Example:

    \b
      promptlib grid 12 --x seed=1,2,3 --y 'sampler="Euler a","DPM++ 2M"' --animate sweep.webp
    """
    with open_library(create=False) as lib:
        options = _options(
            lib, device=device, dtype=dtype, batch=batch, deterministic=deterministic, allow_pickle=allow_pickle,
            allow_download=allow_download,
        )  # fmt: skip
        overrides = _overrides(
            model=model, sampler=sampler, schedule=schedule, steps=steps, cfg=cfg, seed=seed, size=size,
            clip_skip=clip_skip, vae=vae, lora=lora, dtype=dtype,
        )  # fmt: skip
        with _progress(not as_json) as progress:
            result = _run(
                lambda cancel: lib.grid(
                    entry_id,
                    x=x,
                    y=y,
                    z=z,
                    overrides=overrides,
                    options=options,
                    animate=animate,
                    frame_ms=frame_ms,
                    max_cell=max_cell,
                    progress=progress,
                    cancel=cancel,
                )
            )
    if as_json:
        print_json(result.to_json())
        return
    from promptlib.textsafe import rich_text

    console().print(rich_text(f"grid {result.grid_id}: {len(result.cells)} cells, {result.width}x{result.height}"))
    console().print(rich_text(str(result.path)), soft_wrap=True)  # a path stays one line, for $(promptlib grid …)
    if result.animation:
        console().print(rich_text(f"animation: {result.animation}"), soft_wrap=True)


def schedulers(as_json: RowsJSON = False) -> None:
    """The scheduler registry: A1111 name → diffusers class and overrides, recommended steps, UNet calls per step.

    Example:

    \b
      promptlib schedulers --json
    """
    from promptlib.render.schedulers import table_rows

    rows = table_rows()
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    from promptlib.textsafe import rich_text

    table = Table(expand=False, pad_edge=False)
    widest = max(len(row["name"]) for row in rows)
    # the sampler name, steps and calls never shrink; the long class names, overrides and notes wrap instead
    table.add_column("sampler", no_wrap=True, min_width=widest)
    table.add_column("diffusers class", overflow="fold")
    table.add_column("overrides", overflow="fold")
    table.add_column("steps", no_wrap=True, min_width=5)
    table.add_column("UNet/step", no_wrap=True, min_width=9, justify="right")
    table.add_column("notes", overflow="fold")
    for row in rows:
        overrides = ", ".join(f"{k}={v}" for k, v in row["overrides"].items())
        notes = [row["note"]] if row["note"] else []
        if row["stochastic"]:
            notes.insert(0, "stochastic")
        if not row["available"]:
            notes.insert(0, f"needs {', '.join(row['requires'])}")
        table.add_row(
            rich_text(row["name"]),
            row["class"],
            rich_text(overrides),
            f"{row['steps'][0]}-{row['steps'][1]}",
            str(row["unet_calls_per_step"]),
            rich_text("; ".join(notes)),
        )
    console().print(table)


def bench_render(
    arch: Annotated[str, typer.Option("--arch", help="sd15, sd2 or sdxl.")] = "sd15",
    random_weights: Annotated[
        bool, typer.Option("--random-weights", help="Architecture-identical random weights (no checkpoint needed).")
    ] = False,
    model: Model = None,
    tiny: Annotated[bool, typer.Option("--tiny", help="The tiny test architecture (CPU smoke runs).")] = False,
    scenario: Annotated[
        str | None,
        typer.Option("--scenario", help="issue (all below), sd15, sdxl or pack: the issue's exact settings."),
    ] = None,
    schedulers_: Annotated[
        str, typer.Option("--schedulers", help="Comma-separated sampler names, or 'all'.")
    ] = "Euler",
    batch: Annotated[
        str | None, typer.Option("--batch", help="Batch sizes, comma-separated (default: 1, or the scenario's).")
    ] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Steps.")] = 25,
    cfg: Annotated[float, typer.Option("--cfg", help="CFG scale.")] = 7.5,
    size: Annotated[int | None, typer.Option("--size", help="Image side (default: the architecture's).")] = None,
    variants: Annotated[
        str,
        typer.Option("--variants", help="plain,eager,default,cuda-graphs,compile,compile+cuda-graphs,…"),
    ] = "plain,eager,no-graphs,default",
    compile: Annotated[bool, typer.Option("--compile", help="Add torch.compile variants.")] = False,
    compile_mode: CompileMode = "default",
    channels_last: Annotated[bool, typer.Option("--channels-last", help="Add a channels_last-only variant.")] = False,
    fuse_qkv: Annotated[bool, typer.Option("--fuse-qkv", help="Add a fused-QKV-only variant.")] = False,
    cuda_graphs: Annotated[bool, typer.Option("--cuda-graphs", help="Add no-graphs and cuda-graphs variants.")] = False,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed runs per case (median).")] = 3,
    pack_images: Annotated[int, typer.Option("--pack-images", min=1, help="Images in the pack scenario.")] = 64,
    pack_batch: Annotated[
        int, typer.Option("--pack-batch", min=1, max=64, help="Batch size of the pack scenario.")
    ] = 8,
    device: Device = None,
    allow_pickle: AllowPickle = False,
    allow_download: AllowDownload = False,
    out: Annotated[str | None, typer.Option("--out", help="Also write the JSON here after every case.")] = None,
    as_json: RowsJSON = False,
) -> None:
    """Render speed per scheduler and option: seconds per image, img/s, it/s, UNet calls, peak GPU memory.

    Measures plain diffusers (a stock pipeline call, fp16 SDPA eager, same weights) and promptlib's render path
    with each option in one run; warm-up excluded, CUDA synchronised around timings. A --model is found and loaded
    as render finds one ([render] model_dirs, the HF cache). A failing case prints its error in its row and the
    rest still run; the exit code is then 1.

    Examples:

    \b
      promptlib bench render --random-weights --scenario issue --cuda-graphs --json --out bench.json
      promptlib bench render --random-weights --arch sdxl --batch 1,4 --schedulers all
    """
    from promptlib.render import bench

    if not random_weights and not model:
        raise typer.BadParameter("give --model or --random-weights", param_hint="--model")
    names = [v.strip() for v in variants.split(",") if v.strip()]
    if channels_last:
        names.append("channels-last")
    if fuse_qkv:
        names.append("fuse-qkv")
    if cuda_graphs:
        names += ["no-graphs", "cuda-graphs"]
    if compile:
        names += ["compile", "compile+cuda-graphs"]
    try:
        batches = [int(b) for b in (batch or "").split(",") if b.strip()]
    except ValueError:
        raise typer.BadParameter(f"{batch!r} is not a list of numbers", param_hint="--batch") from None
    if any(b < 1 for b in batches):
        raise typer.BadParameter("batch sizes must be at least 1", param_hint="--batch")
    model_dirs: tuple[str, ...] = ()
    if not random_weights:  # a model name is looked up where render looks (config.toml's [render] model_dirs)
        from promptlib.cli.models import configured_folders

        model_dirs = tuple(str(d) for d in configured_folders())
    config = bench.BenchConfig(
        arch=arch,
        model=None if random_weights else model,
        model_dirs=model_dirs,
        allow_pickle=allow_pickle,
        allow_download=allow_download,
        size_preset="tiny" if tiny else "full",
        schedulers=schedulers_,
        batches=tuple(batches) or None,
        steps=steps,
        cfg=cfg,
        side=size,
        variants=tuple(dict.fromkeys(names)),
        compile_mode=compile_mode,
        repeats=repeats,
        pack_images=pack_images,
        pack_batch=pack_batch,
        device=device or "auto",
    )
    report = bench.run(config, scenario=scenario, out=out, on_row=None if as_json else _bench_row, cli=True)
    if as_json:
        print_json(report)
    else:
        _bench_summary(report)
    if any(row["error"] for row in report["rows"]):  # partly done: the other cases were measured (docs/JSON.md)
        raise typer.Exit(1)


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _bench_row(row: Any) -> None:
    """One measured case, printed as soon as it is done (long runs show progress)."""
    from promptlib.textsafe import rich_text

    if row.error:
        text = f"{row.scenario:7} {row.variant:20} {row.scheduler:16} b={row.batch:<2} ERROR {row.error}"
        err_console().print(rich_text(text, style="red"))
        return
    text = (
        f"{row.scenario:7} {row.variant:20} {row.scheduler:16} b={row.batch:<2} {row.width}x{row.height} "
        f"{_fmt(row.seconds_per_image, '.3f')} s/img  {_fmt(row.images_per_second, '.2f')} img/s  "
        f"{_fmt(row.it_per_second, '.1f')} it/s  peak {_fmt(row.peak_gpu_mb, '.0f')} MB"
    )
    err_console().print(rich_text(text, style="dim"))


def _bench_summary(report: dict[str, Any]) -> None:
    from rich.table import Table

    from promptlib.textsafe import rich_text

    meta = report["meta"]
    title = f"{meta['device']} · torch {meta['torch']} · diffusers {meta['diffusers']}"
    table = Table(title=rich_text(title), expand=False, pad_edge=False)
    columns = ("scenario", "scheduler", "variant", "batch", "size", "s/img", "img/s", "it/s", "UNet calls",
               "peak MB", "warm-up s", "error")  # fmt: skip
    for name in columns:
        table.add_column(name, no_wrap=name != "error")
    for row in report["rows"]:
        table.add_row(
            row["scenario"], rich_text(row["scheduler"]), row["variant"], str(row["batch"]),
            f"{row['width']}x{row['height']}", _fmt(row["seconds_per_image"], ".3f"),
            _fmt(row["images_per_second"], ".2f"), _fmt(row["it_per_second"], ".1f"), _fmt(row["unet_calls"], "d"),
            _fmt(row["peak_gpu_mb"], ".0f"), _fmt(row["warmup_s"], ".1f"), rich_text(row["error"] or ""),
        )  # fmt: skip
    console().print(table)
    for name, goal in report["goals"].items():
        met = {True: "met", False: "NOT met", None: ""}[goal["met"]]
        text = f"{name}: plain {goal['plain']}, best {goal['best']} ({goal['best_variant']}), goal {goal['goal']} {met}"
        console().print(rich_text(text))


def register(app: typer.Typer) -> None:
    app.command()(render)
    app.command()(rerun)
    app.command()(verify)
    app.command()(grid)
    app.command()(schedulers)
    bench_app.command("render")(bench_render)
