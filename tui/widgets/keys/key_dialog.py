"""A key's name, tenant, allowed models, rate limits and token budget (for create and edit)."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from tui.payloads import ApiKey
from tui.widgets.common.field import Field, FieldError

FIELDS = [("name", "Name", str), ("tenant", "Tenant", str), ("allowed_models", "Models (comma list)", str),
          ("requests_per_minute", "Requests / minute", int), ("tokens_per_minute", "Tokens / minute", int),
          ("token_budget", "Token budget", int)]


class KeyDialog(ModalScreen[dict | None]):
    """Dismisses with the fields to send, or None when cancelled."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, key: ApiKey | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.key = key

    def compose(self) -> ComposeResult:
        title = f"Limits of key {self.key.name}" if self.key else "Create an API key"
        with VerticalScroll(classes="dialog"):
            yield Label(title, classes="dialog-title")
            for name, label, kind in FIELDS:
                if self.key and name == "name":
                    continue
                value = getattr(self.key, name) if self.key else ""
                if isinstance(value, list):
                    value = ",".join(map(str, value))
                yield Field(label, name, kind, "" if value is None else value)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save" if self.key else "Create", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def values(self) -> dict[str, Any]:
        """Empty limits mean unlimited (0); an empty model list means every model."""
        out: dict[str, Any] = {}
        for field in self.query(Field):
            value = field.value
            if field.field_name == "allowed_models":
                value = [m.strip() for m in (value or "").split(",") if m.strip()]
            elif field.kind is int:
                value = value or 0
                if value < 0:
                    raise FieldError(f"{field.label}: must not be negative")
            if value is not None:
                out[field.field_name] = value
        if not self.key and not out.get("name"):
            raise FieldError("Name: a key needs a name")
        return out

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "ok":
            self.dismiss(None)
            return
        try:
            self.dismiss(self.values())
        except FieldError as exc:
            self.notify(str(exc), severity="error")
