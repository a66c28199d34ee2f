"""A horizontal bar: one quantity against a whole (memory against the device, usage against a budget)."""
from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui.figures import fmt_bytes, number


class Bar(Widget):
    DEFAULT_CSS = "Bar { height: 1; }"

    def __init__(self, caption: str, id: str | None = None, formatter=fmt_bytes) -> None:
        super().__init__(id=id, classes="bar")
        self.caption = caption
        self.formatter = formatter
        self.value: float | None = None
        self.whole: float | None = None

    def set(self, value: object, whole: object) -> None:
        self.value, self.whole = number(value), number(whole)
        self.refresh()

    def render(self) -> Text:
        label = f"{self.caption:<10}"
        figure = f" {self.formatter(self.value)}"
        width = max(self.size.width - len(label) - len(figure) - 2, 4)
        fraction = (self.value or 0) / self.whole if self.whole else 0.0
        filled = round(min(fraction, 1.0) * width)
        style = "bold red" if fraction > 1 else "bold green"
        return Text.assemble(label, "[", ("█" * filled, style), ("·" * (width - filled), "dim"), "]", figure)
