"""Asks for the path of a model file or directory on the appliance to import into the store."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class ImportDialog(ModalScreen[tuple[str, str | None] | None]):
    """Dismisses with (path, name or None for a name derived from the file), or None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Import a model into the store", classes="dialog-title")
            yield Label("Path on the appliance (GGUF file or Hugging Face directory)")
            yield Input(placeholder="/media/usb/model.gguf", id="path")
            yield Label("Name in the store (empty: derived from the file name)")
            yield Input(placeholder="my-model", id="name")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Import", variant="primary", id="import")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self) -> None:
        self._finish(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._finish(event.button.id == "import")

    def _finish(self, accept: bool) -> None:
        path = self.query_one("#path", Input).value.strip()
        name = self.query_one("#name", Input).value.strip() or None
        if accept and not path:
            self.notify("enter a path to import", severity="warning")
            return
        self.dismiss((path, name) if accept else None)
