"""Asks which quantization to load a model with."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select

QUANTIZATIONS = ["auto", "fp32", "fp16", "bf16", "int8", "nf4"]   # nf4 needs a GPU


class LoadDialog(ModalScreen[str | None]):
    """Dismisses with the chosen quantization, or None when cancelled."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, model: str, choices: list[str] | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.model = model
        self.choices = choices or QUANTIZATIONS

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Load {self.model}", classes="dialog-title")
            yield Label("Quantization")
            yield Select([(q, q) for q in self.choices], value=self.choices[0], allow_blank=False, id="quantization")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Load", variant="primary", id="load")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.query_one(Select).value if event.button.id == "load" else None)
