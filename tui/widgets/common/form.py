"""Forms whose fields are sent together: Enter in a field or the form's button sends them."""
from __future__ import annotations

from textual.widgets import Button


class SubmitsOnEnter:
    """A mixin for a form widget (before its widget base) that defines `submit()`."""

    def submit(self) -> None:
        raise NotImplementedError

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()

    def on_input_submitted(self) -> None:
        self.submit()
