"""The jobs panel: queued, running and finished background jobs with progress bars; cancel with ``x``."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Label, ListItem, ListView, ProgressBar, Static

from promptlib.tui.format import one_line
from promptlib.tui.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Job

_MARKS = {QUEUED: ("·", "dim"), RUNNING: ("▶", "bold cyan"), DONE: ("✓", "green"), FAILED: ("✗", "red")}
_MARKS[CANCELLED] = ("■", "yellow")


class JobRow(ListItem):
    """One job: a mark, its title, a progress bar and its status line."""

    def __init__(self, job: Job) -> None:
        super().__init__(id=f"job-{job.id}")
        self.job = job

    def compose(self) -> ComposeResult:
        with Horizontal(classes="job-row"):
            yield Label(id="job-title", classes="job-title")
            yield ProgressBar(total=None, show_eta=False, id="job-bar", classes="job-bar")
            yield Label(id="job-status", classes="job-status")

    def on_mount(self) -> None:
        self.refresh_job()

    def refresh_job(self) -> None:
        job = self.job
        mark, style = _MARKS[job.state]
        title = Text(f"{mark} ", style=style)
        title.append(one_line(job.title))
        self.query_one("#job-title", Label).update(title)
        bar = self.query_one("#job-bar", ProgressBar)
        progress = job.progress
        if job.state == DONE:
            bar.update(total=max(progress.total, 1), progress=max(progress.total, 1))
        elif progress.total:
            bar.update(total=progress.total, progress=progress.done)
        self.query_one("#job-status", Label).update(Text(one_line(job.status_line()), style=style))


class JobsPanel(Vertical):
    """Lists every job of this session, newest last. ``x`` cancels the highlighted one, ``Enter`` shows details."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x,delete", "cancel_job", "Cancel job"),
        Binding("enter", "job_details", "Details", show=False),
    ]

    class DetailsRequested(Message):
        def __init__(self, job: Job) -> None:
            super().__init__()
            self.job = job

    class CancelRequested(Message):
        def __init__(self, job: Job) -> None:
            super().__init__()
            self.job = job

    def compose(self) -> ComposeResult:
        yield Static(Text("Jobs   (J hides · x cancels · Enter shows details)"), classes="pane-title")
        yield ListView(id="job-list")

    @property
    def list_view(self) -> ListView:
        return self.query_one("#job-list", ListView)

    def rows(self) -> list[JobRow]:
        return list(self.query(JobRow))

    def update_job(self, job: Job) -> None:
        for row in self.query(JobRow):
            if row.job.id == job.id:
                row.job = job
                row.refresh_job()
                return
        self.list_view.append(JobRow(job))

    def focus_latest(self) -> None:
        """Focus the list with the newest job highlighted (unless one is highlighted already)."""
        view = self.list_view
        if view.index is None and len(view.children):
            view.index = len(view.children) - 1
        view.focus()

    def _highlighted(self) -> Job | None:
        item = self.list_view.highlighted_child
        if isinstance(item, JobRow):
            return item.job
        rows = self.rows()
        return rows[-1].job if rows else None

    def action_cancel_job(self) -> None:
        job = self._highlighted()
        if job is not None and not job.finished:
            self.post_message(self.CancelRequested(job))

    def action_job_details(self) -> None:
        job = self._highlighted()
        if job is not None:
            self.post_message(self.DetailsRequested(job))

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        if isinstance(event.item, JobRow):
            self.post_message(self.DetailsRequested(event.item.job))
