"""Display helpers: library values (untrusted text included) → safe strings and Rich `Text` for the TUI.

Everything a stranger could have written goes through `promptlib.textsafe` here, so widgets never see raw markup
or control characters.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

from promptlib.entries import Entry, RenderInfo
from promptlib.textsafe import safe_json, safe_text

# Display order and labels for the typed recipe fields (width and height are shown together as "size").
PARAM_LABELS: tuple[tuple[str, str], ...] = (
    ("model", "model"),
    ("model_hash", "model hash"),
    ("vae", "VAE"),
    ("sampler", "sampler"),
    ("schedule", "schedule"),
    ("steps", "steps"),
    ("cfg_scale", "CFG"),
    ("seed", "seed"),
    ("size", "size"),
    ("clip_skip", "clip skip"),
    ("loras", "LoRAs"),
)
_HIDDEN_PARAMS = {"width", "height", "extra", "generator", "raw", "prompt", "negative_prompt"}
_BARE_VALUE = re.compile(r'^[^\s"\\]+$')


def one_line(value: str) -> str:
    """A safe single-line form of untrusted text: newlines and tabs become spaces, controls become escapes."""
    return safe_text(value.replace("\r\n", " ").replace("\n", " ").replace("\t", " "), one_line=True)


def stars(rating: int | None) -> str:
    """Five cells: filled stars for the rating, hollow for the rest; blank when unrated."""
    if rating is None:
        return " " * 5
    return "★" * rating + "☆" * (5 - rating)


def fav_mark(favourite: bool) -> str:
    return "♥" if favourite else " "


def file_size(size: int) -> str:
    """1536 → '1.5 KB'."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover - the loop always returns


def timestamp(value: str | None) -> str:
    """SQLite's stored UTC text → 'YYYY-MM-DD HH:MM UTC' (empty when unknown)."""
    if not value:
        return ""
    return one_line(value.replace("T", " ")[:16]) + " UTC"


def param_value(value: Any) -> str:
    """A parameter value as safe one-line text."""
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict | tuple):
        return one_line(safe_json(value, indent=None))
    return one_line(str(value))


def lora_text(loras: Any) -> str:
    if not isinstance(loras, list | tuple):
        return param_value(loras)
    parts = []
    for lora in loras:
        if isinstance(lora, dict):
            parts.append(f"{one_line(str(lora.get('name', '?')))}:{param_value(lora.get('weight', 1.0))}")
        else:
            parts.append(param_value(lora))
    return ", ".join(parts)


def parameters(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs for every parameter that is set: typed fields first, then other keys and `extra`."""
    out: list[tuple[str, str]] = []
    for key, label in PARAM_LABELS:
        if key == "size":
            width, height = params.get("width"), params.get("height")
            if width or height:
                out.append((label, f"{width or '?'}×{height or '?'}"))
            continue
        value = params.get(key)
        if value in (None, "", [], {}, ()):
            continue
        out.append((label, lora_text(value) if key == "loras" else param_value(value)))
    known = {key for key, _ in PARAM_LABELS} | _HIDDEN_PARAMS
    for key, value in params.items():
        if key not in known and value not in (None, "", [], {}):
            out.append((one_line(str(key)), param_value(value)))
    extra = params.get("extra")
    if isinstance(extra, dict):
        for key, value in extra.items():
            out.append((one_line(str(key)), param_value(value)))
    return out


def render_line(render: RenderInfo, path: str) -> str:
    """'512×768 PNG 1.2 MB  images/ab/….png' for one render."""
    return f"{render.width}×{render.height} {one_line(render.format)} {file_size(render.file_size)}  {one_line(path)}"


def source_text(entry: Entry) -> str:
    """Where an entry came from: its pack and the source fields the importer recorded."""
    parts = [f"pack {one_line(entry.pack)}"] if entry.pack else []
    for key, value in entry.source.items():
        parts.append(f"{one_line(str(key))} {param_value(value)}")
    return " · ".join(parts) or "—"


def dsl_value(value: str, *, quote: bool = False) -> str:
    """A value as the query language wants it: bare when it has no spaces or quotes (unless `quote`), else quoted
    and escaped."""
    if _BARE_VALUE.match(value) and not quote:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dsl_filter(field: str, value: str, *, quote: bool = False) -> str:
    """`field:value` with the value quoted when it needs to be, or always with `quote` (``sampler:"Euler a"``)."""
    return f"{field}:{dsl_value(value, quote=quote)}"


def label(value: str, style: str = "") -> Text:
    """A Rich Text of untrusted one-line text (never parsed as markup)."""
    return Text(one_line(value), style=style)
