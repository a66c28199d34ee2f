"""Forms whose fields are sent together: Enter in a field or the form's button sends them."""
from __future__ import annotations

from textual.message import Message
from textual.widgets import Button

from tui.widgets.common.field import FieldError


class SubmitsOnEnter:
    """A mixin for a form widget (before its widget base) that says what it sends (`message`).
    A field's bad value becomes a notification naming the field, and nothing is sent."""

    def message(self) -> Message | None:
        """The message to post, or None when there is nothing to send (having said why)."""
        raise NotImplementedError

    def submit(self) -> None:
        try:
            message = self.message()
        except FieldError as exc:
            self.notify(str(exc), severity="error")
            return
        if message is not None:
            self.post_message(message)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()

    def on_input_submitted(self) -> None:
        self.submit()
