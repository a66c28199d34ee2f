"""Dashboard: live serving figures, the machine, and their history."""
from __future__ import annotations

import time
from collections import deque

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll

from tui.prometheus import histogram, quantile, since
from tui.screens.base import ConsoleScreen
from tui.stats import LiveStats, read_stats, with_rate
from tui.widgets.common.nav_bar import NavBar
from tui.widgets.dashboard.history_panel import HistoryPanel
from tui.widgets.dashboard.live_tiles import LiveTiles
from tui.widgets.dashboard.machine_panel import MachinePanel


LATENCY_WINDOW = 60.0   # seconds of requests behind the latency percentiles


class DashboardScreen(ConsoleScreen):
    HEADING = "Dashboard"

    def __init__(self) -> None:
        super().__init__()
        self.previous: tuple[float, LiveStats] | None = None
        self.readings: deque[tuple[float, str]] = deque()   # (time, /metrics text)

    def body(self) -> ComposeResult:
        yield NavBar("dashboard")
        with VerticalScroll(classes="body"):
            yield LiveTiles(id="live")
            with Horizontal(classes="row"):
                yield MachinePanel(id="machine", classes="panel")
                yield HistoryPanel(id="history", classes="panel")

    async def load(self) -> None:
        reply = await self.client.stats()
        if not self.check(reply):
            return
        now = time.monotonic()
        stats = read_stats(reply.data)
        if self.previous:
            with_rate(stats, self.previous[1], now - self.previous[0])
        self.previous = (now, stats)
        await self._latency(stats)
        self.query_one(LiveTiles).show(stats)
        self.query_one(MachinePanel).show(stats)
        self.query_one(HistoryPanel).add(stats)

    async def _latency(self, stats: LiveStats) -> None:
        """TTFT and ITL percentiles over the last LATENCY_WINDOW seconds, from the difference
        of two readings of the /metrics histograms (the whole run until there are two)."""
        reply = await self.client.metrics()
        if not reply.ok or not isinstance(reply.data, str):
            return
        now = time.monotonic()
        self.readings.append((now, reply.data))
        while len(self.readings) > 2 and self.readings[1][0] <= now - LATENCY_WINDOW:
            self.readings.popleft()
        oldest = self.readings[0][1] if len(self.readings) > 1 else None
        for key, name in (("ttft", "airlock:time_to_first_token_seconds"),
                          ("itl", "airlock:inter_token_latency_seconds")):
            window = since(histogram(reply.data, name), histogram(oldest, name) if oldest else None)
            if getattr(stats, f"{key}_p50") is None:
                setattr(stats, f"{key}_p50", quantile(window, 0.5))
                setattr(stats, f"{key}_p95", quantile(window, 0.95))
