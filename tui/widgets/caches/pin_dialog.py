"""Asks for a prefix to pin in the prefix cache (text, model, tenant)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, TextArea

from tui.widgets.common.field import Field


class PinDialog(ModalScreen[dict | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, model: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.model = model or ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Pin a prefix (e.g. a shared system prompt)", classes="dialog-title")
            yield TextArea(id="text")
            yield Field("Model", "model", value=self.model, placeholder="model name")
            yield Field("Tenant", "tenant", placeholder="shared")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Pin", variant="primary", id="pin")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "pin":
            self.dismiss(None)
            return
        text = self.query_one(TextArea).text
        if not text.strip():
            self.notify("enter the prefix text to pin", severity="warning")
            return
        if not self.query_one("#field-model", Field).value:
            self.notify("enter the model whose cache holds the pin", severity="warning")
            return
        self.dismiss({"text": text, "model": self.query_one("#field-model", Field).value,
                      "tenant": self.query_one("#field-tenant", Field).value})
