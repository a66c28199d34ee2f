"""The serving figures of the moment: throughput, queue, latency, KV, cache hits and how many
speculative draft tokens were accepted."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid

from tui.figures import fmt_num, fmt_pct, fmt_seconds
from tui.stats import LiveStats
from tui.widgets.common.tile import Tile

TILES = [("tps", "output tok/s"), ("queue", "running / waiting"), ("ttft", "TTFT p50 / p95"),
         ("itl", "ITL p50 / p95"), ("kv", "KV usage"), ("hits", "prefix / response hits"),
         ("spec", "draft tokens accepted"), ("models", "loaded")]


class LiveTiles(Grid):
    def compose(self) -> ComposeResult:
        for key, caption in TILES:
            yield Tile(caption, id=f"tile-{key}")

    def show(self, s: LiveStats) -> None:
        values = {
            "tps": fmt_num(s.tokens_per_second),
            "queue": f"{s.running} / {s.waiting}",
            "ttft": f"{fmt_seconds(s.ttft_p50)} / {fmt_seconds(s.ttft_p95)}",
            "itl": f"{fmt_seconds(s.itl_p50)} / {fmt_seconds(s.itl_p95)}",
            "kv": fmt_pct(s.kv_usage),
            "hits": f"{fmt_pct(s.prefix_hit_rate)} / {fmt_pct(s.response_hit_rate)}",
            "spec": _acceptance(s),
            "models": ", ".join(s.models) or "none",
        }
        for key, value in values.items():
            self.query_one(f"#tile-{key}", Tile).set(value)


def _acceptance(s: LiveStats) -> str:
    """Share of draft tokens accepted, of how many; "none" until a model has speculated."""
    if s.spec_acceptance is None:
        return "none"
    return f"{fmt_pct(s.spec_acceptance)} of {fmt_num(s.spec_draft_tokens, 0)}"
