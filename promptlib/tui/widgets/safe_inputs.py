"""Input widgets that never hold raw control characters.

A pasted escape sequence would otherwise be drawn straight to the terminal by Input / TextArea. These show it as a
visible escape (``\\x1b``) instead, the same as every other place untrusted text appears.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input, TextArea

from promptlib.textsafe import safe_text


class SafeInput(Input):
    """An Input whose value is always display-safe (one line, controls escaped)."""

    def validate_value(self, value: str) -> str:
        return safe_text(value, one_line=True)


class SafeTextArea(TextArea):
    """A TextArea whose pastes are display-safe (newlines and tabs kept, other controls escaped)."""

    async def _on_paste(self, event: events.Paste) -> None:
        # Runs before TextArea's own paste handler (Textual dispatches down the MRO), which inserts event.text.
        event.text = safe_text(event.text)
