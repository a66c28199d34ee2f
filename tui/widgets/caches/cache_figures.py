"""Cache hit rates now and their history since the console attached."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from tui.figures import first, fmt_any, fmt_pct, number
from tui.widgets.common.trend import Trend

COUNTS = ("queries_tokens", "hits_tokens", "cached_blocks", "pinned_blocks", "evictions")


def prefix_totals(stats: Any) -> dict[str, float]:
    """The prefix-cache figures summed over the models ({"prefix": {model: figures}}),
    with the hit rate of the sliding window (the best model's)."""
    per_model = first(stats, "prefix", default={}) or {}
    models = [m for m in per_model.values() if isinstance(m, dict)] if isinstance(per_model, dict) else []
    totals = {name: sum(number(m.get(name)) or 0 for m in models) for name in COUNTS}
    rates = [number(m.get("window_hit_rate")) for m in models]
    totals["window_hit_rate"] = max((r for r in rates if r is not None), default=None)
    return totals


def response_hit_rate(stats: Any) -> float | None:
    """hits / lookups of the response cache, or None when it is off or unused."""
    response = first(stats, "response", default=None)
    hits, misses = number(first(response, "hits")), number(first(response, "misses"))
    if hits is None or misses is None or hits + misses == 0:
        return None
    return hits / (hits + misses)


class CacheFigures(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Hit rates", classes="panel-title")
        yield Label("-", id="prefix-now")
        yield Trend("prefix hits", fmt_pct, 1.0, id="prefix-history")
        yield Label("-", id="response-now")
        yield Trend("response hits", fmt_pct, 1.0, id="response-history")

    def show(self, stats: Any) -> None:
        prefix = prefix_totals(stats)
        response = first(stats, "response", default=None) or {}
        self.query_one("#prefix-now", Label).update(
            f"prefix: {prefix['hits_tokens']:.0f} of {prefix['queries_tokens']:.0f} prompt tokens hit; "
            f"{prefix['cached_blocks']:.0f} blocks cached, {prefix['pinned_blocks']:.0f} pinned, "
            f"{prefix['evictions']:.0f} evictions")
        state = "on" if first(response, "enabled") else "off"
        self.query_one("#response-now", Label).update(
            f"response cache {state}: {fmt_any(first(response, 'hits'))} hits, {fmt_any(first(response, 'misses'))} "
            f"misses, {fmt_any(first(response, 'entries'))}/{fmt_any(first(response, 'max_entries'))} entries")
        self.query_one("#prefix-history", Trend).add(prefix["window_hit_rate"])
        self.query_one("#response-history", Trend).add(response_hit_rate(stats))
