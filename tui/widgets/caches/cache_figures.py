"""Cache hit rates now and their history since the console attached."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from tui.figures import first, fmt_any, fmt_pct, number
from tui.widgets.common.trend import Trend


class CacheFigures(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Hit rates", classes="panel-title")
        yield Label("-", id="prefix-now")
        yield Trend("prefix hits", fmt_pct, 1.0, id="prefix-history")
        yield Label("-", id="response-now")
        yield Trend("response hits", fmt_pct, 1.0, id="response-history")

    def show(self, stats: Any) -> None:
        prefix = first(stats, "prefix", "prefix_cache", default=stats)
        response = first(stats, "response", "response_cache", default={})
        p_rate = number(first(prefix, "window_hit_rate", "hit_rate"))
        r_rate = number(first(response, "hit_rate", "window_hit_rate"))
        self.query_one("#prefix-now", Label).update(
            f"prefix: hits {fmt_any(first(prefix, 'hits_tokens'))}/{fmt_any(first(prefix, 'queries_tokens'))} "
            f"tokens, cached {fmt_any(first(prefix, 'cached_blocks'))}, pinned {fmt_any(first(prefix, 'pinned_blocks'))} "
            f"blocks, evictions {fmt_any(first(prefix, 'evictions'))}")
        self.query_one("#response-now", Label).update(
            f"response: hits {fmt_any(first(response, 'hits'))}, entries {fmt_any(first(response, 'entries', 'size'))}")
        self.query_one("#prefix-history", Trend).add(p_rate)
        self.query_one("#response-history", Trend).add(r_rate)
