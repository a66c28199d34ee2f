"""Trends since the console attached, one line per figure."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from tui.figures import fmt_num, fmt_pct, fmt_seconds
from tui.stats import LiveStats
from tui.widgets.common.trend import Trend

SERIES = [("tokens_per_second", "output tok/s", fmt_num, None),
          ("running", "running", lambda v: fmt_num(v, 0), None),
          ("ttft_p50", "TTFT p50", fmt_seconds, None),
          ("kv_usage", "KV usage", fmt_pct, 1.0),
          ("prefix_hit_rate", "prefix hits", fmt_pct, 1.0),
          ("cpu_percent", "CPU", lambda v: fmt_pct((v or 0) / 100), 100.0)]


class HistoryPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("History", classes="panel-title")
        for attr, caption, fmt, ceiling in SERIES:
            yield Trend(caption, fmt, ceiling, id=f"trend-{attr.replace('_', '-')}")

    def add(self, s: LiveStats) -> None:
        for attr, *_ in SERIES:
            self.query_one(f"#trend-{attr.replace('_', '-')}", Trend).add(getattr(s, attr))
