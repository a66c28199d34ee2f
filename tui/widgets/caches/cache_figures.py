"""Cache hit rates now and their history since the console attached."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from tui.figures import fmt_any, fmt_pct
from tui.payloads import CacheStats
from tui.widgets.common.trend import Trend

COUNTS = ("queries_tokens", "hits_tokens", "cached_blocks", "pinned_blocks", "evictions")


def prefix_totals(stats: CacheStats) -> dict[str, float | None]:
    """The prefix-cache figures summed over the models, with the hit rate of the sliding
    window (the best model's)."""
    models = list(stats.prefix.values())
    totals: dict[str, float | None] = {name: sum(getattr(m, name) for m in models) for name in COUNTS}
    rates = [m.window_hit_rate for m in models if m.window_hit_rate is not None]
    totals["window_hit_rate"] = max(rates, default=None)
    return totals


class CacheFigures(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Hit rates", classes="panel-title")
        yield Label("-", id="prefix-now")
        yield Trend("prefix hits", fmt_pct, 1.0, id="prefix-history")
        yield Label("-", id="response-now")
        yield Trend("response hits", fmt_pct, 1.0, id="response-history")

    def show(self, stats: CacheStats) -> None:
        prefix, response = prefix_totals(stats), stats.response
        self.query_one("#prefix-now", Label).update(
            f"prefix: {prefix['hits_tokens']:.0f} of {prefix['queries_tokens']:.0f} prompt tokens hit; "
            f"{prefix['cached_blocks']:.0f} blocks cached, {prefix['pinned_blocks']:.0f} pinned, "
            f"{prefix['evictions']:.0f} evictions")
        self.query_one("#response-now", Label).update(
            f"response cache {'on' if response.enabled else 'off'}: {fmt_any(response.hits)} hits, "
            f"{fmt_any(response.misses)} misses, {fmt_any(response.entries)}/{fmt_any(response.max_entries)} entries")
        self.query_one("#prefix-history", Trend).add(prefix["window_hit_rate"])
        self.query_one("#response-history", Trend).add(response.lookup_hit_rate)
