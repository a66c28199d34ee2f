"""What the TCO inputs come to: cost per million tokens, utilisation, idle cost, cache savings."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid

from tui.figures import first, fmt_money, fmt_num, fmt_pct
from tui.widgets.common.tile import Tile

FIGURES = [
    ("cpm", "cost / 1M tokens", "cost_per_million_tokens|cost_per_million", "money"),
    ("util", "utilisation", "utilization|utilisation", "pct"),
    ("idle", "idle cost / day", "idle_cost_per_day|idle_cost", "money"),
    ("savings", "cache savings", "cache_savings|savings_from_cache", "money"),
    ("day", "cost / day", "cost_per_day|daily_cost", "money"),
    ("tokens", "tokens / day", "tokens_per_day", "num"),
]


class TcoFigures(Grid):
    def compose(self) -> ComposeResult:
        for key, caption, _, _ in FIGURES:
            yield Tile(caption, id=f"tco-{key}")

    def show(self, figures: Any, currency: str) -> None:
        for key, _, names, kind in FIGURES:
            value = first(figures, *names.split("|"))
            text = {"money": lambda v: fmt_money(v, currency), "pct": fmt_pct,
                    "num": lambda v: fmt_num(v, 0)}[kind](value)
            self.query_one(f"#tco-{key}", Tile).set(text)
