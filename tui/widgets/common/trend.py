"""A one-line history from a zero baseline: each column one reading, the newest on the right.

Unlike a min-max sparkline, a flat zero series stays empty and a flat high one stays high.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable

from rich.text import Text
from textual.widget import Widget

LEVELS = " ▁▂▃▄▅▆▇█"


class Trend(Widget):
    DEFAULT_CSS = "Trend { height: 1; }"

    def __init__(self, caption: str, fmt: Callable[[float | None], str], ceiling: float | None = None,
                 keep: int = 240, **kwargs) -> None:
        super().__init__(**kwargs)
        self.caption, self.fmt, self.ceiling = caption, fmt, ceiling
        self.values: deque[float | None] = deque(maxlen=keep)

    def add(self, value: float | None) -> None:
        self.values.append(value)
        self.refresh()

    def render(self) -> Text:
        last = self.fmt(self.values[-1]) if self.values else "-"
        label = f"{self.caption:<15}"
        width = max(self.size.width - len(label) - 11, 4)
        shown = [v or 0.0 for v in list(self.values)[-width:]]
        top = self.ceiling or max(shown, default=0.0) or 1.0
        bars = "".join(LEVELS[min(round(v / top * 8), 8)] for v in shown)
        return Text.assemble(label, (bars.rjust(width, " "), "green on #202020"), f" {last:>9}")
