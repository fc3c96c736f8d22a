"""The library screen: search bar, filter sidebar, the virtual entry list and the detail pane.

All database work happens in thread workers that post messages back: queries (exclusive, so a stale result is
dropped), page fetches (inside `EntryList`), the detail of the entry under the cursor, sidebar facets, and one
write queue so changes are applied in the order they were asked for. Undo keeps the previous state of what each
change touched (see `operations`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Footer, Input, Static
from textual.worker import get_current_worker

from promptlib.entries import Entry, ImportReport
from promptlib.errors import PromptlibError
from promptlib.tui import messages as msg
from promptlib.tui import operations as ops
from promptlib.tui import render_jobs
from promptlib.tui.format import one_line
from promptlib.tui.jobs import DONE, FAILED, Job, JobChanged, JobQueue
from promptlib.tui.pagecache import PageRequest
from promptlib.tui.screens.compare import CompareScreen
from promptlib.tui.screens.confirm import ConfirmScreen, delete_question
from promptlib.tui.screens.edit import EditScreen
from promptlib.tui.screens.help import QueryHelpScreen, TextScreen
from promptlib.tui.screens.pickers import CollectionScreen, StylePickerScreen
from promptlib.tui.screens.render_dialog import GridDialog, GridRequest, RenderDialog, RenderRequest
from promptlib.tui.screens.transfer import ExportScreen, ImportScreen, exporter, importer
from promptlib.tui.widgets.detail import DetailPane
from promptlib.tui.widgets.entry_list import EntryList
from promptlib.tui.widgets.jobs_panel import JobsPanel
from promptlib.tui.widgets.search_bar import SearchBar, SearchInput
from promptlib.tui.widgets.sidebar import FilterSidebar
from promptlib.tui.write_queue import WriteQueue

if TYPE_CHECKING:
    from promptlib.tui.access import LibraryAccess

SORTS = ("new", "old", "rating", "title", "score")
SEARCH_DEBOUNCE_S = 0.04
SEARCH_MODES = ("lexical", "hybrid", "semantic")
RANKED_LIMIT = 500  # a semantic or hybrid result lists the best this many
DETAIL_DEBOUNCE_S = 0.05
UNDO_LIMIT = 100


class LibraryScreen(Screen[None]):
    """Browse, search, preview and edit the library."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search"),
        Binding("escape", "focus_list", "To list", show=False),
        Binding("s", "cycle_sort", "Sort"),
        Binding("ctrl+o", "cycle_search_mode", "Search mode", key_display="^o"),
        Binding("f", "toggle_sidebar", "Filters"),
        Binding("e", "edit", "Edit"),
        Binding("n", "add", "New"),
        Binding("0", "rate(0)", "Rate 0", show=False),
        Binding("1", "rate(1)", "Rate 1", show=False),
        Binding("2", "rate(2)", "Rate 2", show=False),
        Binding("3", "rate(3)", "Rate 3", show=False),
        Binding("4", "rate(4)", "Rate 4", show=False),
        Binding("5", "rate(5)", "Rate 5", show=False),
        Binding("minus", "rate(-1)", "Clear rating", show=False),
        Binding("asterisk,F", "favourite", "Favourite", key_display="*"),
        Binding("d", "duplicate", "Duplicate"),
        Binding("delete", "delete", "Delete"),
        Binding("a", "apply_style", "Style", show=False),
        Binding("c", "collect", "Collect", show=False),
        Binding("u", "undo", "Undo"),
        Binding("r", "render", "Render"),
        Binding("R", "rerun", "Rerun", show=False),
        Binding("v", "verify", "Verify", show=False),
        Binding("g", "grid", "Grid", show=False),
        Binding("m", "mark", "Mark for compare", show=False),
        Binding("C", "compare", "Compare", show=False),
        Binding("J", "toggle_jobs", "Jobs"),
        Binding("i", "import", "Import", show=False),
        Binding("x", "export", "Export", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.access: LibraryAccess | None = None
        self.sort = "new"
        self.query_text = ""
        self.search_mode = "lexical"
        self._ranked: tuple[tuple[str, str, str], list[int]] = (("", "", ""), [])
        self.count = 0
        self.last_query_seconds = 0.0  # database time of the last query (count + first page)
        self.results_shown_at = 0.0  # perf_counter when the last result reached the list
        self.undo_stack: list[ops.UndoStep] = []
        self._ticket = 0
        self._focus_after_query: int | None = None
        self._search_timer: Timer | None = None
        self._detail_timer: Timer | None = None
        self._detail_id: int | None = None
        self.writes = WriteQueue(self)
        self.jobs = JobQueue(self)
        self.marked_render: tuple[int, int] | None = None  # (entry id, render id) chosen with m for compare

    def compose(self) -> ComposeResult:
        yield SearchBar(id="search-bar")
        with Horizontal(id="body"):
            yield FilterSidebar(id="sidebar")
            yield EntryList(self._fetch_page, id="entries")
            yield DetailPane(id="detail")
        yield JobsPanel(id="jobs")
        yield Static(Text("opening library…"), id="status")
        yield Footer()

    @property
    def entry_list(self) -> EntryList:
        return self.query_one(EntryList)

    @property
    def search_bar(self) -> SearchBar:
        return self.query_one(SearchBar)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def sidebar(self) -> FilterSidebar:
        return self.query_one(FilterSidebar)

    @property
    def busy(self) -> bool:
        """True while a debounce timer, a worker or a queued write is outstanding (tests wait on this)."""
        timers = self._search_timer is not None or self._detail_timer is not None
        workers = any(not w.is_finished for w in self.app.workers if w.group != "jobs")
        return timers or self.writes.busy or workers

    @property
    def jobs_panel(self) -> JobsPanel:
        return self.query_one(JobsPanel)

    def on_mount(self) -> None:
        self.entry_list.focus()

    def start(self, access: LibraryAccess) -> None:
        """The library is open: run the first query."""
        self.access = access
        self.writes.access = access
        self.jobs.library_path = access.path
        self.run_query()
        self._detect_index()

    @work(thread=True, exclusive=True, group="index-status")
    def _detect_index(self) -> None:
        """Searches are hybrid by default once the library has a semantic index with vectors in it."""
        assert self.access is not None
        try:
            with self.access.use() as lib:
                status = lib.index_status()
        except Exception:  # no ML extra, no model configured: lexical search is all there is
            return
        if any(kind.embedded and kind.state != "missing" for kind in status.kinds):
            self.post_message(msg.IndexDetected())

    def on_index_detected(self) -> None:
        if self.search_mode == "lexical":
            self.search_mode = "hybrid"
            self.search_bar.show_mode(self.search_mode)
            self._update_status()
            if self.query_text.strip():
                self.run_query(keep_position=True)

    def show_failure(self, error: str) -> None:
        self.query_one("#status", Static).update(Text(one_line(error), style="bold red"))
        self.detail.show_message(error)

    def notify_plain(self, message: str, *, error: bool = False) -> None:
        self.app.notify(one_line(message), severity="error" if error else "information", markup=False)

    # --- queries ------------------------------------------------------------------------------------------------

    def run_query(self, *, keep_position: bool = False, focus_id: int | None = None) -> None:
        if self.access is None:
            return
        self._ticket += 1
        self._focus_after_query = focus_id
        self._query(self._ticket, self.query_text, self.sort, keep_position)

    @work(thread=True, exclusive=True, group="query")
    def _query(self, ticket: int, query: str, sort: str, keep_position: bool) -> None:
        assert self.access is not None
        worker = get_current_worker()
        started = time.perf_counter()
        mode = self.search_mode if query.strip() else "lexical"
        try:
            if mode != "lexical":
                with self.access.use() as lib:
                    hits = lib.search(query, limit=RANKED_LIMIT, mode=mode).hits
                ranked = [hit.entry.id for hit in hits]
                rows = [hit.entry for hit in hits[: self.entry_list.cache.page_size]]
                total = len(ranked)
            else:
                ranked = []
                with self.access.use() as lib:
                    total = lib.reachable(query)
                if worker.is_cancelled:
                    return
                with self.access.use() as lib:
                    rows = lib.entries(limit=self.entry_list.cache.page_size, offset=0, sort=sort, query=query)
        except PromptlibError as exc:  # QueryError for a malformed query; no index for semantic search
            self.post_message(msg.QueryFailed(ticket, query, str(exc)))
            return
        except Exception as exc:  # a database hiccup is shown, not raised into the UI
            self.post_message(msg.QueryFailed(ticket, query, f"search failed: {exc}"))
            return
        if not worker.is_cancelled:
            seconds = time.perf_counter() - started
            self._ranked = (self._ranked_key(query, sort, mode), ranked)
            self.post_message(msg.QueryLoaded(ticket, query, sort, total, rows, seconds, keep_position))

    def _ranked_key(self, query: str, sort: str, mode: str) -> tuple[str, str, str]:
        return (query, sort, mode)

    def _fetch_page(self, request: PageRequest) -> list[Entry]:
        """Runs in the list's page worker. A semantic or hybrid result is a ranked list of ids held here."""
        assert self.access is not None
        key, ranked = self._ranked
        if ranked and key[:2] == (request.query, request.sort):
            with self.access.use() as lib:
                return lib.get_many(ranked[request.offset : request.offset + request.limit], with_renders=False)
        with self.access.use() as lib:
            return lib.entries(limit=request.limit, offset=request.offset, sort=request.sort, query=request.query)

    def action_cycle_search_mode(self) -> None:
        """lexical → hybrid → semantic: hybrid and semantic need the semantic index (``promptlib index build``)."""
        self.search_mode = SEARCH_MODES[(SEARCH_MODES.index(self.search_mode) + 1) % len(SEARCH_MODES)]
        self.search_bar.show_mode(self.search_mode)
        self._update_status()
        self.run_query()

    def on_query_loaded(self, message: msg.QueryLoaded) -> None:
        if message.ticket != self._ticket:
            return
        self.count = message.total
        self.last_query_seconds = message.seconds
        self.search_bar.clear_error()
        entries = self.entry_list
        entries.reset(
            total=message.total,
            query=message.query,
            sort=message.sort,
            first_page=message.first_page,
            keep_position=message.keep_position,
        )
        if self._focus_after_query is not None:
            index = entries.cache.index_of(self._focus_after_query)
            if index is not None:
                entries.cursor = index
        if not message.total:
            self.detail.show_message("No entries match." if message.query.strip() else "The library is empty.")
        self.results_shown_at = time.perf_counter()
        self._update_status()

    def on_query_failed(self, message: msg.QueryFailed) -> None:
        if message.ticket == self._ticket:
            self.search_bar.show_error(message.error)

    def _update_status(self) -> None:
        shown = self.entry_list.total
        text = Text(f"{self.count:,} {'entry' if self.count == 1 else 'entries'}")
        if shown < self.count:
            text.append(f" (the best {shown:,} listed)", style="dim")
        text.append("  ·  sort: ")
        text.append(self.sort, style="bold")
        if self.search_mode != "lexical":
            text.append("  ·  mode: ")
            text.append(self.search_mode, style="bold magenta")
        if self.query_text.strip():
            text.append("  ·  query: ")
            text.append(one_line(self.query_text), style="italic")
        if self.undo_stack:
            text.append(f"  ·  u undoes: {self.undo_stack[-1].description}", style="dim")
        self.query_one("#status", Static).update(text)

    @on(Input.Changed, "#search-input")
    def _search_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DEBOUNCE_S, self._search_now)

    def _search_now(self) -> None:
        self._search_timer = None
        self.run_query()

    @on(Input.Submitted, "#search-input")
    def _search_submitted(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_now()
        self.entry_list.focus()

    def on_search_input_help_requested(self) -> None:
        self.app.push_screen(QueryHelpScreen())

    def on_search_input_leave_requested(self) -> None:
        self.entry_list.focus()

    @on(Button.Pressed, "#search-help-button")
    def _help_button(self) -> None:
        self.app.push_screen(QueryHelpScreen())

    def on_entry_list_page_failed(self, message: EntryList.PageFailed) -> None:
        self.notify_plain(message.error, error=True)

    def on_entry_list_header_clicked(self) -> None:
        self.action_cycle_sort()

    # --- detail -------------------------------------------------------------------------------------------------

    def on_entry_list_highlighted(self, message: EntryList.Highlighted) -> None:
        self._update_status()
        if message.entry.id == self._detail_id and self.detail.entry is not None:
            return
        self._detail_id = message.entry.id
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DEBOUNCE_S, self._detail_now)

    def _detail_now(self) -> None:
        self._detail_timer = None
        if self._detail_id is not None and self.access is not None:
            self._load_detail(self._detail_id)

    def reload_detail(self) -> None:
        entry = self.entry_list.current
        self._detail_id = entry.id if entry else None
        if entry is not None and self.access is not None:
            self._load_detail(entry.id)

    @work(thread=True, exclusive=True, group="detail")
    def _load_detail(self, entry_id: int) -> None:
        assert self.access is not None
        try:
            with self.access.use() as lib:
                entry = lib.get(entry_id)
                paths = [str(lib.image_path(render)) for render in entry.renders]
        except PromptlibError as exc:
            self.post_message(msg.DetailFailed(entry_id, str(exc)))
            return
        except Exception as exc:  # shown, never raised into the UI
            self.post_message(msg.DetailFailed(entry_id, f"could not load #{entry_id}: {exc}"))
            return
        first = paths[0] if paths and Path(paths[0]).is_file() else None
        self.post_message(msg.DetailLoaded(entry, paths, first))

    def on_detail_loaded(self, message: msg.DetailLoaded) -> None:
        if message.entry.id == self._detail_id:
            self.detail.show(message.entry, render_paths=message.render_paths, image_path=message.image_path)

    def on_detail_failed(self, message: msg.DetailFailed) -> None:
        if message.entry_id == self._detail_id:
            self.detail.show_message(message.error)

    # --- sidebar ------------------------------------------------------------------------------------------------

    def action_toggle_sidebar(self) -> None:
        sidebar = self.sidebar
        sidebar.toggle_class("visible")
        if sidebar.has_class("visible"):
            if not sidebar.loaded:
                self._load_facets()
            sidebar.query_one("#filter-options").focus()
        else:
            self.entry_list.focus()

    @work(thread=True, exclusive=True, group="facets")
    def _load_facets(self) -> None:
        assert self.access is not None
        try:
            with self.access.use() as lib:
                tags = lib.tags(limit=15)
                stats = lib.stats()
                collections = lib.collections()[:15]
        except Exception as exc:  # the sidebar is optional: say what failed and carry on
            self.post_message(msg.WriteFailed(f"could not load filters: {exc}"))
            return
        packs = list(stats.get("top_packs", {}).items())
        samplers = list(stats.get("top_samplers", {}).items())
        models = list(stats.get("top_models", {}).items())
        self.post_message(msg.FacetsLoaded(tags, packs, samplers, stats, models, collections))

    def on_facets_loaded(self, message: msg.FacetsLoaded) -> None:
        self.sidebar.show_facets(
            tags=message.tags,
            packs=message.packs,
            samplers=message.samplers,
            totals=message.totals,
            models=message.models,
            collections=message.collections,
        )

    def on_filter_sidebar_filter_chosen(self, message: FilterSidebar.FilterChosen) -> None:
        self.search_bar.add_filter(message.clause)

    # --- navigation and view actions ----------------------------------------------------------------------------

    def action_focus_search(self) -> None:
        self.query_one(SearchInput).focus()

    def action_focus_list(self) -> None:
        self.entry_list.focus()

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._update_status()
        self.run_query()

    # --- renders, grids, compare (jobs run in their own worker with their own library connection) -------------

    def action_toggle_jobs(self) -> None:
        panel = self.jobs_panel
        panel.toggle_class("visible")
        if panel.has_class("visible"):
            panel.focus_latest()
        else:
            self.entry_list.focus()

    def _queue(self, job: Job) -> None:
        self.jobs.submit(job)
        self.jobs_panel.add_class("visible")

    def on_job_changed(self, message: JobChanged) -> None:
        job = message.job
        self.jobs_panel.update_job(job)
        if job.state == FAILED:
            self.notify_plain(f"{job.title}: {job.error}", error=True)
        elif job.state == DONE and job.result is not None:
            self.notify_plain(f"{job.title}: {job.result.summary}")
            shown = self.detail.entry
            if shown is not None and shown.id in job.result.entry_ids:
                self.reload_detail()  # new renders appear without a restart
            if job.result.render_ids:
                self.run_query(keep_position=True)

    def on_jobs_panel_cancel_requested(self, message: JobsPanel.CancelRequested) -> None:
        self.jobs.cancel(message.job)

    def on_jobs_panel_details_requested(self, message: JobsPanel.DetailsRequested) -> None:
        job = message.job
        body = Text(job.status_line())
        if job.result is not None and job.result.detail:
            body.append("\n\n")
            body.append(job.result.detail)
        self.app.push_screen(TextScreen(one_line(job.title), body))

    def _latest_render(self, entry: Entry) -> int | None:
        full = self.detail.entry if self.detail.entry is not None and self.detail.entry.id == entry.id else None
        renders = (full or entry).renders
        if not renders:
            self.notify_plain(f"#{entry.id} has no renders yet: press r to render it")
            return None
        return max(render.id for render in renders)

    def action_render(self) -> None:
        entry = self._selected()
        if entry is None or self.access is None:
            return

        def done(request: RenderRequest | None) -> None:
            if request is not None:
                self._queue(render_jobs.render_job([entry.id], request))

        self.app.push_screen(RenderDialog(f"#{entry.id} {one_line(entry.title or entry.prompt)[:60]}"), done)

    def action_rerun(self) -> None:
        entry = self._selected()
        render_id = self._latest_render(entry) if entry is not None else None
        if entry is not None and render_id is not None:
            self._queue(render_jobs.rerun_job(entry.id, render_id))

    def action_verify(self) -> None:
        entry = self._selected()
        render_id = self._latest_render(entry) if entry is not None else None
        if entry is not None and render_id is not None:
            self._queue(render_jobs.verify_job(entry.id, render_id))

    def action_grid(self) -> None:
        entry = self._selected()
        if entry is None or self.access is None:
            return

        def done(request: GridRequest | None) -> None:
            if request is not None:
                self._queue(render_jobs.grid_job(entry.id, request))

        subject = f"#{entry.id} {one_line(entry.title or entry.prompt)[:60]}"
        self.app.push_screen(GridDialog(subject, render_jobs.check_axes), done)

    def action_mark(self) -> None:
        entry = self._selected()
        render_id = self._latest_render(entry) if entry is not None else None
        if entry is not None and render_id is not None:
            self.marked_render = (entry.id, render_id)
            self.notify_plain(f"render #{render_id} marked: select another entry and press C to compare")

    def action_compare(self) -> None:
        entry = self._selected()
        if entry is None or self.access is None:
            return
        self._load_compare(entry.id, self.marked_render[1] if self.marked_render else None)

    @work(thread=True, exclusive=True, group="compare")
    def _load_compare(self, entry_id: int, marked: int | None) -> None:
        assert self.access is not None
        try:
            with self.access.use() as lib:
                renders = sorted(lib.get(entry_id).renders, key=lambda r: r.id, reverse=True)
                if marked is not None and renders and renders[0].id != marked:
                    pair = [lib.get_render(marked), renders[0]]
                else:
                    pair = renders[:2]
                sides = [(render, str(lib.image_path(render))) for render in pair]
        except PromptlibError as exc:
            self.post_message(msg.WriteFailed(str(exc)))
            return
        if len(sides) < 2:
            self.post_message(msg.WriteFailed("compare needs two renders: mark one with m, or render this entry twice"))
            return
        self.post_message(msg.CompareLoaded(sides[0], sides[1]))

    def on_compare_loaded(self, message: msg.CompareLoaded) -> None:
        self.app.push_screen(CompareScreen(message.left, message.right))

    # --- changes ------------------------------------------------------------------------------------------------

    def _selected(self) -> Entry | None:
        entry = self.entry_list.current
        if entry is None:
            self.notify_plain("no entry selected")
        return entry

    def submit(self, op: ops.WriteOp, *, is_undo: bool = False) -> None:
        """Queue a change; the queue applies changes in the order they were asked for."""
        if self.access is not None:
            self.writes.submit(op, is_undo=is_undo)

    def on_writer_idle(self) -> None:
        self.writes.idle()

    def on_write_done(self, message: msg.WriteDone) -> None:
        outcome = message.outcome
        if outcome.undo is not None and not message.is_undo:
            self.undo_stack.append(outcome.undo)
            del self.undo_stack[:-UNDO_LIMIT]
        self.notify_plain(outcome.message)
        self._detail_id = None
        self.run_query(keep_position=True, focus_id=outcome.focus_id)

    def on_write_failed(self, message: msg.WriteFailed) -> None:
        self.notify_plain(message.error, error=True)

    def action_rate(self, rating: int) -> None:
        entry = self._selected()
        if entry is not None:
            self.submit(ops.rate(entry.id, None if rating < 0 else rating))

    def action_favourite(self) -> None:
        entry = self._selected()
        if entry is not None:
            self.submit(ops.toggle_favourite(entry.id))

    def action_duplicate(self) -> None:
        entry = self._selected()
        if entry is not None:
            self.submit(ops.duplicate(entry.id))

    def action_undo(self) -> None:
        if not self.undo_stack:
            self.notify_plain("nothing to undo")
            return
        self.submit(ops.undo(self.undo_stack.pop()), is_undo=True)

    def action_delete(self) -> None:
        entry = self._selected()
        if entry is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.submit(ops.delete([entry.id]))

        self.app.push_screen(ConfirmScreen(delete_question(entry), yes="Delete"), done)

    def _validate(self, fields: dict[str, Any]) -> None:
        assert self.access is not None
        self.access.validate_entry(fields)

    def action_edit(self) -> None:
        entry = self._selected()
        if entry is None or self.access is None:
            return
        if self.detail.entry is not None and self.detail.entry.id == entry.id:
            entry = self.detail.entry  # the fuller copy (with renders and collections)

        def done(changes: dict[str, Any] | None) -> None:
            if changes is None:
                return
            if not changes:
                self.notify_plain("nothing changed")
                return
            self.submit(ops.edit(entry.id, changes))

        self.app.push_screen(EditScreen(entry, validate=self._validate), done)

    def on_entry_list_chosen(self, message: EntryList.Chosen) -> None:
        self.action_edit()

    def action_add(self) -> None:
        if self.access is None:
            return

        def done(fields: dict[str, Any] | None) -> None:
            if fields:
                self.submit(ops.add(fields))

        self.app.push_screen(EditScreen(None, validate=self._validate), done)

    def action_apply_style(self) -> None:
        entry = self._selected()
        if entry is not None:
            self._load_choices(entry.id, "styles")

    def action_collect(self) -> None:
        entry = self._selected()
        if entry is not None:
            self._load_choices(entry.id, "collections")

    @work(thread=True, exclusive=True, group="choices")
    def _load_choices(self, entry_id: int, what: str) -> None:
        assert self.access is not None
        try:
            with self.access.use() as lib:
                if what == "styles":
                    self.post_message(msg.StylesLoaded(entry_id, lib.styles()))
                else:
                    self.post_message(msg.CollectionsLoaded(entry_id, lib.collections()))
        except Exception as exc:  # shown, never raised into the UI
            self.post_message(msg.WriteFailed(f"could not load {what}: {exc}"))

    def on_styles_loaded(self, message: msg.StylesLoaded) -> None:
        def done(name: str | None) -> None:
            if name:
                self.submit(ops.apply_style(message.entry_id, name))

        self.app.push_screen(StylePickerScreen(message.styles), done)

    def on_collections_loaded(self, message: msg.CollectionsLoaded) -> None:
        def done(name: str | None) -> None:
            if name:
                self.submit(ops.collect(name, [message.entry_id]))

        self.app.push_screen(CollectionScreen(message.collections), done)

    def action_import(self) -> None:
        if self.access is None:
            return

        def done(report: ImportReport | None) -> None:
            if report is not None:
                self.sidebar.loaded = False
                if self.sidebar.has_class("visible"):
                    self._load_facets()
                self.run_query(keep_position=True)

        self.app.push_screen(ImportScreen(importer(self.access)), done)

    def action_export(self) -> None:
        if self.access is not None:
            self.app.push_screen(ExportScreen(exporter(self.access), query=self.query_text))
