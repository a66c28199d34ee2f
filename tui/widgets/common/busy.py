"""A progress line shown while something slow runs (load, import, flush)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar


class Busy(Horizontal):
    DEFAULT_CSS = "Busy { height: 1; display: none; } Busy.-active { display: block; } Busy > Label { width: auto; padding-right: 1; }"

    def compose(self) -> ComposeResult:
        yield Label("", id="busy-what")
        yield ProgressBar(total=None, show_eta=False, show_percentage=False)

    def start(self, what: str) -> None:
        self.query_one("#busy-what", Label).update(what)
        self.add_class("-active")

    def stop(self) -> None:
        self.remove_class("-active")

    @property
    def active(self) -> bool:
        return self.has_class("-active")
