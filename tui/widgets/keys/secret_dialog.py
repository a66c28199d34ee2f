"""Shows a new key's secret, once: it is stored only as a hash and cannot be shown again."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class SecretDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("c", "copy", "Copy")]

    def __init__(self, name: str, secret: str) -> None:
        super().__init__(classes="dialog-screen")
        self.key_name = name
        self.secret = secret

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Key {self.key_name} created", classes="dialog-title")
            yield Label("Copy the secret now: it is shown only this once.")
            yield Input(self.secret, id="secret")
            yield Label("Press c to copy it to the clipboard (OSC 52; works over SSH in most terminals),\n"
                        "or select it with the mouse.", classes="hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Copy (c)", id="copy")
                yield Button("Done", variant="primary", id="done")

    def on_mount(self) -> None:
        self.query_one("#done", Button).focus()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.secret)
        self.notify("secret copied to the clipboard")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.dismiss()
