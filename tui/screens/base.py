"""The frame every console screen shares: header, body, status bar, footer, and data loading."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import Worker, WorkerState

from tui.client import AdminClient, Reply
from tui.widgets.alerts.banner import AlertBanner
from tui.widgets.common.status_bar import StatusBar


class ConsoleScreen(Screen):
    """Subclasses compose `body()` and fetch their data in `load()` (run as a worker)."""

    HEADING = "Airlock"

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="▣")
        yield AlertBanner(id="alert-banner")
        yield from self.body()
        yield StatusBar(id="status")
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    @property
    def client(self) -> AdminClient:
        return self.app.client  # type: ignore[attr-defined]

    def on_screen_resume(self) -> None:
        self.sub_title = self.HEADING
        self.refresh_data()

    def refresh_data(self) -> None:
        self.run_worker(self.load, exclusive=True, group="load", exit_on_error=False)

    def poll_data(self) -> None:
        """Start a periodic refresh unless a load or the previous refresh is still running
        (a slow service must not pile up requests, nor have a full load cancelled)."""
        if not any(w.node is self and w.group in ("load", "poll") and w.is_running for w in self.workers):
            self.run_worker(self.poll, group="poll", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failing worker is reported, never fatal: the console keeps running."""
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.name}: {event.worker.error}", title="Console error", severity="error")

    async def load(self) -> None:
        """Fetch this screen's data from the service and show it (on entering the screen)."""

    async def poll(self) -> None:
        """The periodic refresh; screens with forms override it so edits are not overwritten.
        While the service is down this is also the retry."""
        await self.load()

    def check(self, reply: Reply) -> bool:
        """True when the call succeeded; otherwise show the service's error (the status bar
        already says when the service is unreachable)."""
        if not reply.ok and reply.status != 0:
            self.notify(reply.error or "error", title="Service error", severity="error")
        return reply.ok
