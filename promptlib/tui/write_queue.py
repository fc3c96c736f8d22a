"""One queue for the TUI's changes to the library, applied in order by a single thread worker at a time.

Separate workers per change could take the library lock out of order (press 3 then 4 quickly and end up with 3);
the queue keeps the order the user asked for. Outcomes come back to the owning screen as messages.
"""

from __future__ import annotations

from collections import deque

from textual.dom import DOMNode

from promptlib.errors import PromptlibError
from promptlib.tui import messages as msg
from promptlib.tui.access import LibraryAccess
from promptlib.tui.operations import WriteOp


class WriteQueue:
    """Queue `WriteOp`s; posts WriteDone / WriteFailed per op and WriterIdle to `owner` when drained."""

    def __init__(self, owner: DOMNode) -> None:
        self._owner = owner
        self._ops: deque[tuple[WriteOp, bool]] = deque()
        self._running = False
        self.access: LibraryAccess | None = None

    @property
    def busy(self) -> bool:
        return self._running or bool(self._ops)

    def submit(self, op: WriteOp, *, is_undo: bool = False) -> None:
        self._ops.append((op, is_undo))
        self._start()

    def _start(self) -> None:
        if not self._running and self._ops and self.access is not None:
            self._running = True
            self._owner.run_worker(self._drain, thread=True, group="writes", name="write-queue")

    def _drain(self) -> None:
        assert self.access is not None
        while self._ops:
            op, is_undo = self._ops.popleft()
            try:
                with self.access.use() as lib:
                    outcome = op(lib)
            except PromptlibError as exc:
                self._owner.post_message(msg.WriteFailed(str(exc)))
                continue
            except Exception as exc:  # shown, never raised into the UI
                self._owner.post_message(msg.WriteFailed(f"the change failed: {exc}"))
                continue
            self._owner.post_message(msg.WriteDone(outcome, is_undo))
        self._owner.post_message(msg.WriterIdle())

    def idle(self) -> None:
        """The worker finished (call on WriterIdle, in the UI thread): restart it if more was queued meanwhile."""
        self._running = False
        self._start()
