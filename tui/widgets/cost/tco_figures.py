"""What the TCO inputs come to over the report window: cost per million tokens, utilisation,
the cost per hour owned, idle cost and what the prefix cache saved."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid

from tui.figures import fmt_money, fmt_num, fmt_pct
from tui.payloads import TcoReport
from tui.widgets.common.tile import Tile

FIGURES = [
    ("cpm-in", "1M input tok", "cost_per_million_input", "money"),
    ("cpm-out", "1M output tok", "cost_per_million_output", "money"),
    ("util", "utilisation", "measured_utilisation", "pct"),
    ("hour", "cost / hour", "cost_per_hour_owned", "money"),
    ("idle", "idle cost", "idle_cost", "money"),
    ("savings", "cache savings", "cached_savings", "money"),
]


class TcoFigures(Grid):
    def compose(self) -> ComposeResult:
        for key, caption, _, _ in FIGURES:
            yield Tile(caption, id=f"tco-{key}")

    def show(self, report: TcoReport, currency: str) -> None:
        for key, _, name, kind in FIGURES:
            value = getattr(report, name)
            text = {"money": lambda v: fmt_money(v, currency), "pct": fmt_pct,
                    "num": lambda v: fmt_num(v, 0)}[kind](value)
            self.query_one(f"#tco-{key}", Tile).set(text)
