"""Untrusted text → safe display text: no terminal control sequences, no markup.

Prompts come from strangers. On a terminal, ESC, BEL, C1 controls (U+0080–U+009F) and bidi overrides can retitle
windows, clear screens or disguise text; in Rich, ``[bold]`` or ``[link=…]`` would be interpreted as markup. This
module turns every such character into a visible escape (``\\x1b``) and gives Rich `Text` objects that are never
parsed for markup.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 controls except tab and newline, DEL, C1 controls, bidi overrides/isolates, line/paragraph separators.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_UNSAFE_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# json.dumps already escapes C0 inside strings; raw newlines in its output are structure, not data.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: str, *, one_line: bool = False) -> str:
    """`value` with every control or bidi character replaced by a visible escape (newlines kept unless one_line)."""
    pattern = _UNSAFE_ONE_LINE if one_line else _UNSAFE
    return pattern.sub(_escape, value)


def safe_json(data: Any, *, indent: int | None = 2) -> str:
    """JSON text that is also safe to print on a terminal (C1 and bidi characters escaped as \\uXXXX)."""
    text = json.dumps(data, ensure_ascii=False, indent=indent, default=str)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def rich_text(value: str, *, style: str = "", one_line: bool = False) -> Any:
    """A Rich `Text` of the escaped value: square brackets stay literal, nothing is parsed as markup."""
    from rich.text import Text

    return Text(safe_text(value, one_line=one_line), style=style)
