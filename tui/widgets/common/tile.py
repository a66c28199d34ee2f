"""A labelled figure: a caption over one big value."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Label


class Tile(Widget):
    def __init__(self, caption: str, id: str | None = None) -> None:
        super().__init__(id=id, classes="tile")
        self.caption = caption

    def compose(self) -> ComposeResult:
        yield Label(self.caption, classes="tile-caption")
        yield Label("-", classes="tile-value")

    def set(self, value: str) -> None:
        self.query_one(".tile-value", Label).update(value)
