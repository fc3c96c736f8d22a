"""The bulk import fast paths behave exactly like the reference code they stand in for.

- `fast_params_from_dict` (plain-Python checks) against `params_from_dict` (pydantic): same values, same types,
  same fields set; every input it does not take goes to pydantic, so errors are pydantic's, word for word.
- `prepare_entry`'s combined text test against the per-field `_check_text` messages.
- fingerprints against the original byte-for-byte sha256 recipe (libraries store them: dedupe depends on it).
- `insert_entries`' pipelined FTS fill, dedupe and tags against what a plain query says afterwards.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticValidationError

from promptlib.errors import ValidationError
from promptlib.library import Library, _check_text, make_params
from promptlib.limits import MAX_NOTES_CHARS, MAX_PROMPT_CHARS, MAX_TITLE_CHARS
from promptlib.recipe import (
    _FAST_KINDS,
    PARAM_FIELDS,
    GenerationParams,
    LoraRef,
    fast_params_from_dict,
    params_from_dict,
)
from promptlib.store.bulk import NewEntry, fingerprint, insert_entries
from promptlib.store.tags import clean_tag_tuple, clean_tags

# --- parameters ------------------------------------------------------------------------------------------------

SAMPLER_NAMES = ["DPM++ 2M", " Euler a ", "dpmpp_2m_sde_gpu", "DPM++ 2M Karras", "k_euler", "my sampler", "", "  "]
SCHEDULE_NAMES = ["karras", "Karras", "automatic", "AYS", "sgm uniform", "", " ", "custom thing"]

texts = st.one_of(st.sampled_from(SAMPLER_NAMES + SCHEDULE_NAMES), st.text(max_size=12))
numbers = st.one_of(
    st.integers(min_value=-5, max_value=30),
    st.integers(min_value=7_990, max_value=10_010),
    st.integers(min_value=16_380, max_value=16_390),
    st.integers(min_value=2**64 - 3, max_value=2**64 + 3),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1, max_value=101),
    st.sampled_from([0.0, -0.0, 7.5, 100.0, 100.00001, 30.0, 1e300]),
)
odd = st.one_of(
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.tuples(),
    st.just([]),
    st.just({}),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["30", " 7.5 ", b"bytes", "DPM++ 2M"]),
)
values = st.one_of(st.none(), texts, numbers, odd)
loras = st.one_of(
    st.just([]),
    st.just(()),
    st.lists(st.fixed_dictionaries({"name": st.text(max_size=5), "weight": st.floats(-2, 2)}), max_size=2),
    st.lists(st.builds(LoraRef, name=st.text(max_size=5)), max_size=1),
    st.none(),
    st.just("not loras"),
)
extras = st.one_of(
    st.none(),
    st.just({}),
    st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), st.integers(), max_size=3),
    st.sampled_from([0, "", [], [("a", 1)], "text", 5]),
)
keys = st.one_of(st.sampled_from([*PARAM_FIELDS, "extra", "denoise", "hires"]), st.text(max_size=6), st.integers())


@st.composite
def param_dicts(draw: st.DrawFn) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for name in draw(st.lists(keys, max_size=9)):
        if name == "loras":
            out[name] = draw(loras)
        elif name == "extra":
            out[name] = draw(extras)
        else:
            out[name] = draw(values)
    return out


def _outcome(call: Any, params: dict[Any, Any]) -> tuple[str, Any]:
    try:
        result = call(params)
    except (PydanticValidationError, ValidationError, TypeError, ValueError) as exc:
        return "error", (type(exc), str(exc))
    return "ok", result


def _same_model(a: GenerationParams, b: GenerationParams) -> None:
    assert type(a) is type(b) is GenerationParams
    assert a == b
    assert list(a.__dict__) == list(b.__dict__)  # field order: model_dump, the fingerprint's tuple
    assert [type(v) for v in a.__dict__.values()] == [type(v) for v in b.__dict__.values()]  # 7 vs 7.0
    assert a.model_fields_set == b.model_fields_set
    assert a.__pydantic_extra__ == b.__pydantic_extra__
    assert a.__pydantic_private__ == b.__pydantic_private__
    assert a.model_dump() == b.model_dump()
    assert a.model_dump_json() == b.model_dump_json()


def reference_make_params(params: dict[Any, Any]) -> GenerationParams:
    """What make_params did before the fast path: pydantic, its first error as one line."""
    try:
        return params_from_dict(params)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        raise ValidationError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(param_dicts())
@example({"steps": True})
@example({"cfg_scale": 7})
@example({"cfg_scale": float("nan")})
@example({"seed": 2**64 - 1, "width": 8, "height": 16_384, "clip_skip": 24, "steps": 10_000})
@example({"seed": 2**64})
@example({"sampler": "\x1c DPM++ 2M \x1f"})
@example({"sampler": "", "schedule": ""})
@example({"sampler": " ", "schedule": None})
@example({"sampler": 5, "schedule": "karras"})
@example({"extra": {"a": 1}, "a": 2, "b": 3})
@example({"extra": {1: 2}})
@example({"loras": []})
@example({"loras": [{"name": "x", "weight": 0.5}]})
def test_fast_params_match_pydantic_on_any_input(params: dict[Any, Any]) -> None:
    fast = fast_params_from_dict(params)
    kind, reference = _outcome(reference_make_params, params)
    if fast is not None:
        assert kind == "ok", f"fast path accepted what pydantic rejects: {params!r} -> {reference}"
        _same_model(fast, reference)
    # make_params (fast path first, pydantic for the rest) says exactly what the reference says
    got_kind, got = _outcome(make_params, params)
    assert got_kind == kind
    if kind == "ok":
        _same_model(got, reference)
    else:
        assert got == reference


def test_fast_params_take_the_usual_bulk_input() -> None:
    usual = {"sampler": "DPM++ 2M Karras", "steps": 30, "cfg_scale": 7, "seed": 123, "width": 512, "height": 768}
    fast = fast_params_from_dict(usual | {"denoise": 0.4, "loras": [], "extra": {"hires": True}})
    assert fast is not None
    assert (fast.sampler, fast.schedule, fast.cfg_scale) == ("DPM++ 2M", "karras", 7.0)
    assert type(fast.cfg_scale) is float
    assert fast.extra == {"hires": True, "denoise": 0.4}
    assert fast_params_from_dict({"steps": 0}) is None  # out of range: left to pydantic's message
    with pytest.raises(ValidationError, match=r"^steps: Input should be greater than or equal to 1$"):
        make_params({"steps": 0})


def test_fast_path_knows_every_scalar_field_of_the_model() -> None:
    # a new field on GenerationParams must be taught to the fast path (or it would drop the field silently)
    assert set(_FAST_KINDS) | {"loras", "extra"} == set(GenerationParams.model_fields)


# --- entry text checks -----------------------------------------------------------------------------------------


def _reference_checks(prompt: str, negative: str, title: str, notes: str) -> str | None:
    try:
        _check_text("prompt", prompt, MAX_PROMPT_CHARS, required=True)
        _check_text("negative prompt", negative, MAX_PROMPT_CHARS)
        _check_text("title", title, MAX_TITLE_CHARS)
        _check_text("notes", notes, MAX_NOTES_CHARS)
    except ValidationError as exc:
        return str(exc)
    return None


edge_text = st.one_of(
    st.text(alphabet=st.sampled_from(["a", " ", "\x00", "\t", "\x1c", "\u3000", "\u200b", "\x85"]), max_size=6),
    st.sampled_from(["", " ", "x" * (MAX_TITLE_CHARS + 1), "y" * (MAX_PROMPT_CHARS + 1)]),
)


@pytest.fixture(scope="module")
def shared_lib(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    with Library.open(tmp_path_factory.mktemp("lib")) as library:
        yield library


@settings(max_examples=400, deadline=None)
@given(edge_text, edge_text, edge_text, edge_text)
def test_prepare_entry_text_errors_match_the_field_checks(
    shared_lib: Library, prompt: str, negative: str, title: str, notes: str
) -> None:
    expected = _reference_checks(prompt, negative, title, notes)
    if expected is None:
        entry = shared_lib.prepare_entry(prompt, negative_prompt=negative, title=title, notes=notes)
        assert (entry.prompt, entry.title) == (prompt, title.strip())
    else:
        with pytest.raises(ValidationError) as caught:
            shared_lib.prepare_entry(prompt, negative_prompt=negative, title=title, notes=notes)
        assert str(caught.value) == expected


def test_checked_entry_equals_the_dataclass_one(lib: Library) -> None:
    params = make_params({"steps": 20})
    made = lib.prepare_entry(
        " lighthouse ", negative_prompt="fog", title=" t ", notes="n", tags=["B", "a", "b"], params={"steps": 20},
        rating=3, favourite=True, source={"k": 1},
    )  # fmt: skip
    plain = NewEntry(
        prompt=" lighthouse ", negative_prompt="fog", title="t", notes="n", tags=("b", "a"), params=params,
        rating=3, favourite=True, source={"k": 1},
    )  # fmt: skip
    assert made == plain
    assert repr(made) == repr(plain)
    with pytest.raises(AttributeError):
        made.prompt = "changed"  # type: ignore[misc]


def test_cached_tag_cleaning_matches_clean_tags() -> None:
    names = ("  Sea  Scape", "sea scape", "\x07Fog", "")
    assert clean_tag_tuple(names) == tuple(clean_tags(names)) == ("sea scape", "fog")
    with pytest.raises(ValidationError, match="longer than"):
        clean_tag_tuple(("x" * 500,))
    with pytest.raises(ValidationError, match="longer than"):  # errors are not cached away
        clean_tag_tuple(("x" * 500,))


# --- fingerprints ----------------------------------------------------------------------------------------------


def original_fingerprint(entry: NewEntry) -> str:
    """The fingerprint as first written (stored in existing libraries): must never change."""
    digest = hashlib.sha256()
    digest.update(entry.prompt.encode("utf-8", "surrogatepass"))
    digest.update(b"\x00")
    digest.update(entry.negative_prompt.encode("utf-8", "surrogatepass"))
    if entry.params is not None:
        r = entry.params
        values = (r.model, r.model_hash, r.vae, r.sampler, r.schedule, r.steps, r.cfg_scale, r.seed, r.width,
                  r.height, r.clip_skip)  # fmt: skip
        digest.update(b"\x00" + repr(values).encode("utf-8", "surrogatepass"))
        if r.loras:
            digest.update(repr([(lo.name, lo.weight) for lo in r.loras]).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


@settings(max_examples=300, deadline=None)
@given(
    st.text(min_size=1),
    st.text(),
    st.one_of(
        st.none(),
        st.builds(
            GenerationParams,
            model=st.one_of(st.none(), st.text(max_size=8)),
            steps=st.one_of(st.none(), st.integers(1, 100)),
            cfg_scale=st.one_of(st.none(), st.floats(0, 100)),
            seed=st.one_of(st.none(), st.integers(0, 2**64 - 1)),
            loras=st.lists(st.builds(LoraRef, name=st.text(max_size=5), weight=st.floats(-2, 2)), max_size=2).map(
                tuple
            ),
        ),
    ),
)
def test_fingerprint_bytes_are_unchanged(prompt: str, negative: str, params: GenerationParams | None) -> None:
    entry = NewEntry(prompt=prompt, negative_prompt=negative, params=params)
    assert entry.fingerprint() == fingerprint(prompt, negative, params) == original_fingerprint(entry)


def test_fingerprint_of_a_known_entry() -> None:
    # a print stored by earlier versions: dedupe against existing libraries depends on it
    params = GenerationParams(sampler="Euler a", steps=20, cfg_scale=7.0, seed=1, width=512, height=512)
    got = fingerprint("a lighthouse\ud800", "fog", params)
    assert got == original_fingerprint(NewEntry(prompt="a lighthouse\ud800", negative_prompt="fog", params=params))
    assert fingerprint("x", "", None) == hashlib.sha256(b"x\x00").hexdigest()


# --- the pipelined insert ---------------------------------------------------------------------------------------


def _entries(lib: Library, count: int, *, start: int = 0) -> Iterator[NewEntry]:
    for n in range(start, start + count):
        yield lib.prepare_entry(
            f"lighthouse number {n} word{n % 7}",
            tags=[f"t{n % 5}", "all"],
            params={"steps": 10 + n % 20, "sampler": "k_euler_ancestral", "seed": n} if n % 4 else None,
            source={"format": "test"},
        )


def _fts_count(conn: sqlite3.Connection, word: str) -> int:
    return int(conn.execute("SELECT count(*) FROM prompts_fts WHERE prompts_fts MATCH ?", (word,)).fetchone()[0])


def test_bulk_insert_indexes_every_batch_and_dedupes_across_batches(lib: Library) -> None:
    lib.add("lighthouse number 3 word3", tags=["t3", "all"], params={"steps": 13, "sampler": "Euler a", "seed": 3})
    batch = list(_entries(lib, 1_000))
    with lib.db.write() as conn:
        result = insert_entries(conn, [*batch, *batch[:10]], batch_size=64, bulk=True)
    # entry 3 was there before the call; the last ten repeat entries of the first batch
    assert len(result.ids) == 999
    assert result.skipped == 11
    assert result.all_ids[3] == 1
    assert result.all_ids[1_000:] == result.all_ids[:10]
    conn = lib.db.conn
    assert _fts_count(conn, "lighthouse") == 1_000
    assert _fts_count(conn, "word6") == len([n for n in range(1_000) if n % 7 == 6])
    conn.execute("INSERT INTO prompts_fts(prompts_fts) VALUES ('integrity-check')")
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"prompts_fts_ai", "prompts_fts_ad", "prompts_fts_au"} <= triggers
    # tags and recipes: rows match what was prepared
    assert list(lib.get(result.all_ids[5]).tags) == ["all", "t0"]
    assert lib.get(result.all_ids[5]).params["sampler"] == "Euler a"
    assert conn.execute("SELECT count(*) FROM prompt_tags").fetchone()[0] == 2 * 1_000
    assert conn.execute("SELECT count(*) FROM recipes").fetchone()[0] == 1 + 750 - 1  # n % 4 == 0: no params
    # a later single add goes through the re-created triggers
    lib.add("a zeppelin")
    assert _fts_count(conn, "zeppelin") == 1


def test_bulk_add_many_is_idempotent_and_matches_single_adds(lib: Library, tmp_path: Any) -> None:
    first = lib.add_many(_entries(lib, 300))
    again = lib.add_many(_entries(lib, 300))
    assert (first.added, again.added, again.skipped) == (300, 0, 300)
    with Library.open(tmp_path / "one-by-one") as other:
        for new in _entries(other, 300):
            other.add(new.prompt, tags=new.tags, params=new.params, source=new.source)
        assert _rows(other.db.conn) == _rows(lib.db.conn)


def _rows(conn: sqlite3.Connection) -> list[list[tuple[Any, ...]]]:
    """Every stored row an entry makes, less the timestamps."""
    return [
        conn.execute(
            "SELECT id, title, prompt, negative_prompt, notes, rating, favourite, pack_id, source, tag_text,"
            " fingerprint FROM prompts ORDER BY id"
        ).fetchall(),
        conn.execute("SELECT * FROM recipes ORDER BY prompt_id").fetchall(),
        conn.execute(
            "SELECT pt.prompt_id, t.name FROM prompt_tags pt JOIN tags t ON t.id = pt.tag_id ORDER BY 1, 2"
        ).fetchall(),
        conn.execute("SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH 'lighthouse' ORDER BY rowid").fetchall(),
    ]


def test_a_failing_bulk_import_leaves_nothing_behind(lib: Library) -> None:
    def entries() -> Iterator[NewEntry]:
        yield from _entries(lib, 12_000)  # more than two batches: an FTS fill is in flight
        lib.prepare_entry("")  # raises

    with pytest.raises(ValidationError, match="prompt is empty"):
        lib.add_many(entries())
    conn = lib.db.conn
    assert conn.execute("SELECT count(*) FROM prompts").fetchone()[0] == 0
    assert _fts_count(conn, "lighthouse") == 0
    conn.execute("INSERT INTO prompts_fts(prompts_fts) VALUES ('integrity-check')")
    assert (
        conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'prompts_fts%'"
        ).fetchone()[0]
        == 3
    )
    lib.add("lighthouse after the failure")
    assert _fts_count(conn, "lighthouse") == 1


def test_fast_cfg_scale_is_a_float_in_the_store(lib: Library) -> None:
    entry = lib.add("x", params={"cfg_scale": 7})
    assert entry.params["cfg_scale"] == 7.0
    assert math.isclose(lib.db.conn.execute("SELECT cfg_scale FROM recipes").fetchone()[0], 7.0)
    assert type(lib.db.conn.execute("SELECT cfg_scale FROM recipes").fetchone()[0]) is float


def test_statement_chunks_cover_every_row_whatever_the_variable_limit(lib: Library) -> None:
    from promptlib.store import bulk

    conn = lib.db.conn
    conn.execute("CREATE TEMP TABLE t(a, b, c)")
    for count, limit in [(1, 250_000), (2_500, 250_000), (3_777, 250_000), (100, 7), (100, 3), (37, 2)]:
        conn.execute("DELETE FROM t")
        flat = [v for n in range(count) for v in (n, f"x{n}", None if n % 2 else n * 0.5)]
        bulk._insert_rows(conn, "t", ("a", "b", "c"), flat, max_variables=limit)
        rows = conn.execute("SELECT a, b, c FROM t ORDER BY a").fetchall()
        assert rows == [(n, f"x{n}", None if n % 2 else n * 0.5) for n in range(count)], (count, limit)


def test_nulls_are_stored_as_null_not_nan(lib: Library) -> None:
    lib.add_many(_entries(lib, 8))
    conn = lib.db.conn
    assert conn.execute("SELECT DISTINCT typeof(rating), typeof(pack_id) FROM prompts").fetchall() == [("null", "null")]
    kinds = conn.execute("SELECT DISTINCT typeof(model), typeof(vae), typeof(clip_skip), typeof(steps) FROM recipes")
    assert kinds.fetchall() == [("null", "null", "null", "integer")]


def test_bulk_settings_are_restored_even_when_the_insert_fails(lib: Library) -> None:
    import gc
    import sys

    interval = sys.getswitchinterval()
    assert gc.isenabled()
    good = list(_entries(lib, 6_000))
    bad = NewEntry(prompt="rated too high", rating=9)  # bypasses prepare_entry: the CHECK constraint refuses it
    with pytest.raises(sqlite3.IntegrityError):
        lib.add_many([*good, bad])  # fails on the helper thread, after a batch was written
    assert lib.count() == 0
    assert sys.getswitchinterval() == interval
    assert gc.isenabled()
    assert lib.db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert lib.add_many(good).added == 6_000
    assert _fts_count(lib.db.conn, "lighthouse") == 6_000


def test_checked_params_become_a_model_only_when_asked(lib: Library) -> None:
    import copy
    import dataclasses
    import pickle

    params = {"sampler": "dpmpp_2m", "schedule": "karras", "steps": 30, "cfg_scale": 7, "denoise": 0.5}
    entry = lib.prepare_entry("x", params=params)
    assert type(entry.__dict__["params"]) is tuple  # checked, not built
    for other in (copy.copy(entry), pickle.loads(pickle.dumps(entry)), dataclasses.replace(entry, title="t")):
        _same_model(other.params, make_params(params))  # type: ignore[arg-type]
    _same_model(entry.params, make_params(params))  # type: ignore[arg-type]
    assert entry.params is entry.params  # built once
    assert NewEntry.params is None  # the dataclass default
    assert lib.prepare_entry("y", params=None).params is None
