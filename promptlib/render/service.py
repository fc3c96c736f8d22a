"""The glue between `Library` and the renderer: entries → recipes → jobs → the queue → stored renders.

`Library.render`, `rerun`, `verify` and `grid` call these functions. Recipes are completed here (request, then the
entry's own parameters, then config.toml's ``[render]`` defaults), models are resolved and loaded once per run,
and finished images are encoded as PNGs that embed their recipe (A1111 ``parameters`` + promptlib JSON) and stored
files first, then rows, on the writer thread.

Model references: a Hugging Face id in the local cache, a diffusers folder, a ``.safetensors`` file, a name found in
``[render] model_dirs``, or ``random:ARCH[-tiny][@SEED]`` (``random:sd15-tiny``): an architecture-identical
pipeline with random weights, for tests, benchmarks and examples (its images are noise).
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlib.errors import NotFoundError, PromptlibError, ValidationError
from promptlib.recipe import Recipe
from promptlib.render import environment
from promptlib.render.jobs import Failures, ProgressCallback, QueueOutcome, RenderJob, run_queue
from promptlib.render.recipes import RANDOM_PREFIX, ModelFacts, entry_fields, finish_recipe, parse_random, recipe_fields
from promptlib.render.renderer import (
    DTYPES,
    ImageResult,
    Prepared,
    RenderOptions,
    prepare,
    recipe_dtype,
    render_batch,
    replay_attention,
    resolve_device,
    scheduler_spec,
)
from promptlib.render.results import Rendered, RenderFailure, RenderProgress, RenderRun, VerifyReport

if TYPE_CHECKING:
    import numpy as np
    import torch

    from promptlib.entries import RenderInfo
    from promptlib.library import Library
    from promptlib.render.embeddings import Embedding

MAX_IMAGES_PER_RUN = 100_000
PNG_COMPRESS_LEVEL = 4  # zlib level: several times faster than Pillow's default 6, files about as small
# Pixel-affecting options recorded in the fingerprint; a rerun re-applies them to reproduce bit for bit.
REPLAYED_OPTIONS = ("channels_last", "fused_qkv", "attention_slicing", "vae_slicing", "vae_tiling")

# --- models -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelIdentity:
    """What the fingerprint and the recipe record about a model, known without loading it."""

    model_hash: str
    vae_hash: str | None = None
    lora_hashes: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadedModel:
    """A loaded pipeline and its identity."""

    ref: str
    pipe: Any
    identity: ModelIdentity
    memory_managed: bool = False  # the loader applied attention backend, slicing, tiling and offload


_RANDOM_CACHE: dict[tuple[str, str, str], Any] = {}
_RANDOM_LOCK = threading.Lock()


def random_pipeline_cached(ref: str, *, dtype: str, device: Any) -> Any:
    """The random-weight pipeline a ``random:`` reference names, built once per (ref, dtype, device) per process."""
    arch, size, seed = parse_random(ref)
    key = (ref.strip().lower(), dtype, str(device))
    with _RANDOM_LOCK:
        pipe = _RANDOM_CACHE.get(key)
        if pipe is None:
            from promptlib.render.presets import random_pipeline

            pipe = random_pipeline(
                arch, size="tiny" if size == "tiny" else "full", seed=seed, dtype=dtype, device=device
            )
            _RANDOM_CACHE[key] = pipe
    return pipe


def run_device(lib: Library, options: RenderOptions) -> torch.device:
    """The device a run with `options` renders on: theirs, or config.toml's ``[render] device`` for ``auto``."""
    return resolve_device(options.device if options.device != "auto" else lib.config.render_device)


class Models:
    """Resolves, hashes and loads the models of one run. Only the pipeline in use is held (the queue runs each
    model's batches back to back), so a second model can take the first one's GPU memory; the loader's process-level
    cache (`promptlib.render.models.load_pipeline`, random ones here) makes going back cheap."""

    def __init__(self, lib: Library, options: RenderOptions) -> None:
        self.lib = lib
        self.options = options
        self.device = run_device(lib, options)
        self._facts: dict[str, ModelFacts] = {}
        self._identities: dict[tuple[Any, ...], ModelIdentity] = {}
        self._current: tuple[tuple[Any, ...], LoadedModel, Prepared] | None = None
        self._embedding_files: dict[str, Path] | None = None
        self._embeddings: dict[str, Embedding | None] = {}
        self._wanted: dict[str | None, dict[str, Embedding]] = {}  # model -> the embeddings its recipes name

    def resolving(self) -> dict[str, Any]:
        """`models.resolve_model` keyword arguments: the model folders and what the user allowed."""
        return {
            "folders": self.folders(),
            "allow_pickle": self.options.allow_pickle,
            "allow_download": self.options.allow_download,
        }

    def folders(self) -> tuple[Path, ...]:
        dirs = getattr(self.lib.config, "render_model_dirs", ()) or ()
        return tuple(Path(d).expanduser() for d in dirs)

    def facts(self, ref: str) -> ModelFacts:
        found = self._facts.get(ref)
        if found is None:
            from promptlib.render.presets import preset

            if ref.startswith(RANDOM_PREFIX):
                arch, size, _ = parse_random(ref)
            else:
                from promptlib.render import models

                source = models.resolve_model(ref, **self.resolving())
                arch, size = str(source.arch), "full"
            resolution = preset(arch, size).resolution if arch in ("sd15", "sd2", "sdxl") else 512
            path = Path(ref).expanduser()
            # a path is recorded absolute, so a rerun from another folder finds the same file
            found = ModelFacts(str(path.absolute()) if path.exists() else ref, arch, resolution)
            self._facts[ref] = found
        return found

    def identity(self, recipe: Recipe) -> ModelIdentity:
        """The model's sha256 and its VAE's and LoRAs' (files hashed once, cached by path, mtime and size)."""
        ref = recipe.model or ""
        key = (ref, recipe.vae, tuple(lora.name for lora in recipe.loras))
        found = self._identities.get(key)
        if found is not None:
            return found
        if ref.startswith(RANDOM_PREFIX):
            if recipe.vae or recipe.loras:
                raise ValidationError("a random-weight model takes no VAE or LoRA")
            found = ModelIdentity(_random_hash(ref))
        else:
            from promptlib.render import models
            from promptlib.render.hashing import folder_sha256

            source = models.resolve_model(ref, **self.resolving())
            vae_hash = None
            if recipe.vae:
                # a path, or a name found in the configured model folders (checked by header, pickles refused)
                vae = models.resolve_vae(
                    recipe.vae, folders=self.folders(), allow_pickle=self.options.allow_pickle
                ).path
                assert vae is not None  # a resolved VAE is always a local file or folder
                vae_hash = folder_sha256(vae) if vae.is_dir() else models.file_sha256(vae)
            loras = {}
            for lora in recipe.loras:
                path = _lora_file(lora.name, self.folders())
                if path is not None:
                    loras[lora.name] = models.file_sha256(path)
            found = ModelIdentity(models.model_hash(source), vae_hash, loras)
        self._identities[key] = found
        return found

    def embeddings(self, recipe: Recipe) -> list[Embedding]:
        """The textual-inversion files the recipe's prompts name (words matching a file in the model folders that
        holds an embedding), read once per run."""
        from promptlib.render.embeddings import candidate_files, named_in, read_embedding

        if self._embedding_files is None:
            self._embedding_files = candidate_files(self.folders())
        found = []
        for name in named_in((recipe.prompt, recipe.negative_prompt), self._embedding_files):
            if name not in self._embeddings:
                self._embeddings[name] = read_embedding(name, self._embedding_files[name])
            embedding = self._embeddings[name]
            if embedding is not None:
                found.append(embedding)
                self._wanted.setdefault(recipe.model, {})[name] = embedding
        return found

    def prepared(self, recipe: Recipe) -> tuple[Prepared, LoadedModel]:
        """The prepared pipeline for `recipe`, loading it (and letting go of the previous one) when needed, with the
        embeddings named by the prompts of every recipe for this model seen so far (a batch is prepared for its
        first recipe: its other prompts may name others)."""
        from promptlib.render.embeddings import load_into

        dtype = recipe_dtype(recipe, self.options, self.device)
        loras = tuple((lora.name, lora.weight) for lora in recipe.loras)
        key = (recipe.model, recipe.vae, loras, dtype)
        if self._current is None or self._current[0] != key:
            self._current = None  # drop our reference first: the loader may evict it to make room
            loaded = self._load(recipe, dtype, loras)
            prepared = prepare(
                loaded.pipe, self.options, device=self.device, dtype=dtype, manage_memory=not loaded.memory_managed
            )
            self._current = (key, loaded, prepared)
        self.embeddings(recipe)
        load_into(self._current[1].pipe, list(self._wanted.get(recipe.model, {}).values()))
        return self._current[2], self._current[1]

    def _load(self, recipe: Recipe, dtype: str, loras: tuple[tuple[str, float], ...]) -> LoadedModel:
        ref = recipe.model or ""
        identity = self.identity(recipe)
        if ref.startswith(RANDOM_PREFIX):
            return LoadedModel(ref, random_pipeline_cached(ref, dtype=dtype, device=self.device), identity)
        from promptlib.render import models

        source = models.resolve_model(ref, **self.resolving())
        opts = self.options
        memory = models.MemoryOptions(
            attention_slicing=opts.attention_slicing,
            vae_slicing=opts.vae_slicing,
            vae_tiling=opts.vae_tiling,
            cpu_offload="model" if opts.cpu_offload else "none",
            xformers=opts.attention == "xformers",
        )
        pipe = models.load_pipeline(
            source,
            dtype=dtype,
            device=str(self.device),
            vae=models.resolve_vae(recipe.vae, folders=self.folders(), allow_pickle=self.options.allow_pickle)
            if recipe.vae
            else None,
            loras=loras,
            memory=memory,
            lora_folders=self.folders(),
        )
        return LoadedModel(ref, pipe, identity, memory_managed=True)


def _lora_file(name: str, folders: Sequence[Path]) -> Path | None:
    """The LoRA file a name refers to (a path, or a file in a model folder), as the loader finds it."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    for folder in folders:
        for candidate in (folder / name, folder / f"{name}.safetensors"):
            if candidate.is_file():
                return candidate
    return None


def _random_hash(ref: str) -> str:
    arch, size, seed = parse_random(ref)
    return hashlib.sha256(f"promptlib-random:{arch}:{size}:{seed}".encode()).hexdigest()


# --- storing ------------------------------------------------------------------------------------------------------


def encode_png(result: ImageResult) -> bytes:
    """The image as a PNG with its recipe embedded (A1111 ``parameters`` + promptlib JSON)."""
    from PIL import Image

    from promptlib.metadata.writer import embed_recipe

    buf = io.BytesIO()
    Image.fromarray(result.pixels, "RGB").save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return embed_recipe(buf.getvalue(), result.recipe)


class Storer:
    """Stores finished images (called on the writer thread): PNGs encoded in parallel, then each file and row."""

    def __init__(
        self,
        lib: Library,
        environments: Callable[[ImageResult], dict[str, Any]],
        *,
        on_stored: Callable[[ImageResult, Rendered], None] | None = None,
    ) -> None:
        self.lib = lib
        self.environments = environments
        self.on_stored = on_stored
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="promptlib-png")

    def __call__(self, results: list[ImageResult]) -> list[Rendered]:
        pngs = list(self.pool.map(encode_png, results))
        stored: list[Rendered] = []
        for result, png in zip(results, pngs, strict=True):
            job: RenderJob = result.tag
            info = self.lib.add_image(
                job.entry_id,
                png,
                recipe=result.recipe,
                kind="render",
                environment=self.environments(result),
                timings=result.timings,
            )
            rendered = Rendered(info, self.lib.image_path(info))
            stored.append(rendered)
            if self.on_stored is not None:
                self.on_stored(result, rendered)
        if stored:
            from PIL import Image

            self.lib._on_new_renders([r.info for r in stored], [Image.fromarray(r.pixels, "RGB") for r in results])
        return stored

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class Fingerprints:
    """Environment fingerprints, computed on the rendering thread when a pipeline is prepared (`prime`) and read by
    the writer thread, plus each image's batch position."""

    def __init__(self, models: Models, *, extra: Mapping[str, Any] | None = None) -> None:
        self.models = models
        self.extra = dict(extra or {})
        self._cache: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(recipe: Recipe) -> tuple[Any, ...]:
        loras = tuple((lora.name, lora.weight) for lora in recipe.loras)
        extra = recipe.extra
        return (
            recipe.model,
            recipe.vae,
            loras,
            extra.get("dtype"),
            extra.get("attention"),
            repr(extra.get("scheduler")),
        )

    def prime(self, recipe: Recipe, prepared: Prepared) -> None:
        key = self._key(recipe)
        with self._lock:
            if key in self._cache:
                return
        identity = self.models.identity(recipe)
        spec = scheduler_spec(recipe)
        env = environment.fingerprint(
            device=prepared.device,
            dtype=prepared.dtype,
            attention=prepared.attention,
            deterministic=environment.is_deterministic(),
            model_hash=identity.model_hash,
            vae_hash=identity.vae_hash,
            lora_hashes=identity.lora_hashes,
            scheduler={"class": spec.cls, "overrides": dict(spec.overrides)},
            options=prepared.state,
        )
        with self._lock:
            self._cache[key] = env

    def __call__(self, result: ImageResult) -> dict[str, Any]:
        with self._lock:
            found = self._cache.get(self._key(result.recipe))
        if found is None:
            raise RuntimeError("fingerprint asked for before its pipeline was prepared")
        env = dict(found)
        env["batch"] = {"size": result.batch_size, "index": result.batch_index}
        env.update(self.extra)
        return env


def _with_hash(recipe: Recipe, models: Models) -> Recipe:
    """The recipe with A1111's short model hash (first 10 hex digits of the sha256) and LoRA hashes filled in."""
    identity = models.identity(recipe)
    loras = tuple(
        lora.model_copy(update={"hash": identity.lora_hashes[lora.name][:10]})
        if lora.name in identity.lora_hashes
        else lora
        for lora in recipe.loras
    )
    update: dict[str, Any] = {"model_hash": identity.model_hash[:10], "loras": loras}
    used = models.embeddings(recipe)
    if used:  # A1111's "TI hashes" parameter: name: short sha256, for each embedding the prompts use
        from promptlib.render.hashing import file_sha256

        hashes = ", ".join(f"{e.name}: {file_sha256(e.path)[:10]}" for e in used)
        update["extra"] = {**recipe.extra, "TI hashes": hashes}
    return recipe.model_copy(update=update)


# --- the operations -----------------------------------------------------------------------------------------------


def _apply_deterministic(options: RenderOptions) -> None:
    if options.deterministic or environment.is_deterministic():
        environment.set_deterministic(options.deterministic)


def _targets(lib: Library, target: int | str | Sequence[int], limit: int | None) -> list[int]:
    if isinstance(target, bool):
        raise ValidationError("render target must be entry ids or a query")
    if isinstance(target, int):
        ids = [target]
    elif isinstance(target, str):
        text = target.strip()
        ids = (
            [int(p) for p in text.replace(",", " ").split()]
            if text.replace(",", " ").replace(" ", "").isdigit()
            else []
        )
        if not ids:
            ids = lib.entry_ids(text, sort="score")  # in `promptlib search` order: --limit N renders its top N
            if not ids:
                raise NotFoundError(f"no entries match {text!r}")
    else:
        ids = [int(i) for i in target]
    if limit is not None:
        ids = ids[:limit]
    found = {e.id for e in lib.get_many(ids, with_renders=False)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(f"no prompt with id {missing[0]}")
    return ids


def build_jobs(
    lib: Library,
    entry_ids: Sequence[int],
    overrides: Mapping[str, Any],
    *,
    n: int,
    models: Models,
    failures: Failures | None = None,
) -> list[RenderJob]:
    """One job per image: `n` per entry with consecutive seeds (A1111's batch count). All recipes are completed
    and checked (model found, sampler known, size usable) before anything renders; an entry whose recipe fails
    goes to `failures` when given (the others still render), else its error propagates."""
    if n < 1:
        raise ValidationError(f"images per entry must be at least 1, not {n}")
    if len(entry_ids) * n > MAX_IMAGES_PER_RUN:
        raise ValidationError(f"{len(entry_ids) * n:,} images in one run; the limit is {MAX_IMAGES_PER_RUN:,}")
    jobs = []
    for entry in lib.get_many(list(entry_ids), with_renders=False):
        try:
            fields = entry_fields(entry, overrides, lib)
            facts = models.facts(str(fields["model"]))
            base = finish_recipe(fields, facts, device=models.device, options=models.options)
        except PromptlibError as exc:
            if failures is None:
                raise
            failures.append((entry.id, exc))
            continue
        for k in range(n):
            recipe = base if k == 0 else base.model_copy(update={"seed": (int(base.seed or 0) + k) % 2**64})
            jobs.append(RenderJob(entry.id, recipe))
    return jobs


def run_jobs(
    lib: Library,
    jobs: list[RenderJob],
    models: Models,
    *,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    env_extra: Mapping[str, Any] | None = None,
    on_stored: Callable[[ImageResult, Rendered], None] | None = None,
    failures: Failures | None = None,
) -> QueueOutcome[Rendered]:
    """Render and store `jobs`; with a `failures` list, jobs that cannot render are listed there and the rest go
    on (see `run_queue`)."""
    _apply_deterministic(models.options)
    if progress is not None:
        progress(RenderProgress(0, 0, 0, 0, 0, len(jobs), 0, 0.0, "loading", "loading model"))
    hashed = []
    for job in jobs:
        try:
            hashed.append(replace(job, recipe=_with_hash(job.recipe, models)))
        except PromptlibError as exc:
            if failures is None:
                raise
            failures.append((job.entry_id, exc))
    jobs = hashed
    fingerprints = Fingerprints(models, extra=env_extra)
    storer = Storer(lib, fingerprints, on_stored=on_stored)

    def prepare_for(recipe: Recipe) -> Prepared:
        prepared, _ = models.prepared(recipe)
        fingerprints.prime(recipe, prepared)  # here, on the rendering thread; the writer only reads it
        return prepared

    try:
        return run_queue(
            jobs,
            batch_size=models.options.batch_size,
            prepare_for=prepare_for,
            store=storer,
            progress=progress,
            cancel=cancel,
            failures=failures,
        )
    finally:
        storer.close()


def render(
    lib: Library,
    target: int | str | Sequence[int],
    *,
    overrides: Mapping[str, Any],
    n: int = 1,
    options: RenderOptions,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> RenderRun:
    """Render entries (ids or a query) as a queue; see `Library.render`. An entry that cannot render is listed in
    the run's ``failed`` and the others go on; when none could, the first error is raised."""
    models = Models(lib, options)
    failures: Failures = []
    jobs = build_jobs(lib, _targets(lib, target, limit), overrides, n=n, models=models, failures=failures)
    outcome = run_jobs(lib, jobs, models, progress=progress, cancel=cancel, failures=failures)
    if failures and not outcome.stored and not outcome.cancelled:
        raise failures[0][1]
    failed = [RenderFailure(entry_id, str(exc), exc.cli_message()) for entry_id, exc in failures]
    return RenderRun(outcome.stored, outcome.cancelled, outcome.images_total, outcome.seconds, failed)


def _stored_recipe(info: RenderInfo) -> Recipe:
    try:
        return Recipe.model_validate(info.recipe)
    except ValueError as exc:
        raise ValidationError(f"render {info.id} has no usable recipe") from exc


def options_for_replay(env: Mapping[str, Any], base: RenderOptions, *, device: torch.device) -> RenderOptions:
    """`base` with the pixel-affecting options the original render used (so a rerun can be bit-identical), as far
    as `device`, where the replay runs, can use them (see `replay_attention`)."""
    changes: dict[str, Any] = {}
    for name in REPLAYED_OPTIONS:
        if isinstance(env.get(name), bool):
            changes["fuse_qkv" if name == "fused_qkv" else name] = env[name]
    if isinstance(env.get("deterministic"), bool):
        changes["deterministic"] = env["deterministic"]
    recorded = env.get("attention")
    if recorded in ("sdpa", "xformers", "sdpa-cudnn"):  # renders from before the cuDNN choice recorded "sdpa"
        changes["attention"] = replay_attention(recorded, device)
    # renders made before the VAE dtype was recorded decoded by diffusers' rule
    vae_dtype = env.get("vae_dtype", "upcast")
    changes["vae_dtype"] = vae_dtype if vae_dtype in DTYPES else "upcast"
    return replace(base, **changes)


def _replay_job(info: RenderInfo, models: Models, *, exact: bool) -> RenderJob:
    """The job that renders stored render `info` again (in its original batch geometry when `exact`)."""
    render_id = info.id
    recipe = _stored_recipe(info)
    fields = recipe_fields(recipe)
    if not fields["model"]:
        raise ValidationError(f"render {render_id}'s recipe names no model")
    for name in ("steps", "cfg_scale", "seed"):
        if fields[name] is None:
            raise ValidationError(f"render {render_id}'s recipe has no {name.replace('_scale', '')}")
    facts = models.facts(str(fields["model"]))
    finished = finish_recipe(fields, facts, device=models.device, options=models.options)
    batch = info.environment.get("batch") if exact else None
    pad_to, slot = 1, 0
    size, index = (batch.get("size"), batch.get("index")) if isinstance(batch, dict) else (None, None)
    if isinstance(size, int) and isinstance(index, int) and 1 < size <= 64 and 0 <= index < size:
        pad_to, slot = size, index
    return RenderJob(info.prompt_id, finished, pad_to=pad_to, slot=slot)


def _replay(
    lib: Library, render_id: int, options: RenderOptions | None, *, exact: bool
) -> tuple[RenderInfo, Models, RenderJob]:
    """The models and job that render a stored render again. `exact` replays the pixel-affecting options it was
    made with over `options` (which still choose the device and what may be loaded); loose uses `options` as given."""
    info = lib.get_render(render_id)
    base = options if options is not None else RenderOptions()
    if exact:
        base = options_for_replay(info.environment, base, device=run_device(lib, base))
    models = Models(lib, base)
    return info, models, _replay_job(info, models, exact=exact)


def rerun(
    lib: Library,
    render_id: int,
    *,
    options: RenderOptions | None,
    exact: bool = True,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Rendered | None:
    """Re-render a stored render from its recipe and store the result; None when cancelled."""
    _, models, job = _replay(lib, render_id, options, exact=exact)
    outcome = run_jobs(lib, [job], models, progress=progress, cancel=cancel, env_extra={"rerun_of": render_id})
    return outcome.stored[0] if outcome.stored else None


def _read_pixels(path: Path) -> np.ndarray[Any, Any]:
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        raise ValidationError(f"the stored image {path} is not a readable image ({type(exc).__name__})") from None


def verify(
    lib: Library,
    render_id: int,
    *,
    options: RenderOptions | None,
    exact: bool = True,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> VerifyReport | None:
    """Re-render a stored render without storing it and compare: ``identical`` or the drift, plus the
    fingerprint fields that differ. None when cancelled."""
    info, models, job = _replay(lib, render_id, options, exact=exact)
    stored_path = lib.image_path(info)  # read before rendering: a missing or broken file is known at once
    if not stored_path.is_file():
        raise NotFoundError(f"render {render_id}'s image file is missing: {stored_path}")
    stored_pixels = _read_pixels(stored_path)
    opts = models.options
    job = replace(job, recipe=_with_hash(job.recipe, models))
    _apply_deterministic(opts)
    prepared, _ = models.prepared(job.recipe)
    recipes = [job.recipe] * job.pad_to
    steps_total = [0]

    def on_step(step: int, steps: int) -> None:
        steps_total[0] = steps
        if progress is not None:
            progress(RenderProgress(1, 1, step, steps, 0, 1, 0, 0.0, "denoising", f"verifying render {render_id}"))

    from promptlib.render.renderer import RenderCancelled

    try:
        results = render_batch(prepared, recipes, on_step=on_step, cancel=cancel)
    except RenderCancelled:
        return None
    result = results[job.slot]
    fingerprints = Fingerprints(models)
    fingerprints.prime(job.recipe, prepared)
    current = fingerprints(result)
    try:
        drift = environment.compare_pixels(stored_pixels, result.pixels)
    except ValueError as exc:
        raise ValidationError(f"render {render_id}: {exc}") from exc
    diff = environment.fingerprint_diff(info.environment, current)
    return VerifyReport(
        render_id=render_id,
        verdict="identical" if drift.identical else "drift",
        max_abs_diff=drift.max_abs,
        mean_abs_diff=round(drift.mean_abs, 6),
        psnr=None if drift.identical else round(drift.psnr, 3),
        changed_fraction=round(drift.changed_fraction, 6),
        fingerprint_diff=diff,
        stored_sha256=hashlib.sha256(stored_pixels.tobytes()).hexdigest(),
        new_sha256=hashlib.sha256(result.pixels.tobytes()).hexdigest(),
    )


# --- grids --------------------------------------------------------------------------------------------------------
