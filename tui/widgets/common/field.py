"""A labelled input row for forms; `value` parses the text into the field's type."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label


class FieldError(ValueError):
    """A form field holds text that is not a valid value; the message names the field."""


class Field(Horizontal):
    DEFAULT_CSS = "Field { height: auto; } Field > Label { width: 18; } Field > Input { width: 1fr; }"

    def __init__(self, label: str, name: str, kind: type = str, value: Any = "", placeholder: str = "") -> None:
        super().__init__(id=f"field-{name.replace('_', '-')}", classes="field")
        self.label, self.field_name, self.kind = label, name, kind
        self.initial, self.placeholder = value, placeholder

    def compose(self) -> ComposeResult:
        yield Label(self.label)
        input_type = {int: "integer", float: "number"}.get(self.kind, "text")
        yield Input(str(self.initial), placeholder=self.placeholder, type=input_type, compact=True)

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    def set(self, value: Any) -> None:
        self.input.value = "" if value is None else str(value)

    @property
    def value(self) -> Any:
        text = self.input.value.strip()
        if self.kind is str or text == "":
            return text or None
        try:
            return self.kind(text)
        except ValueError:
            raise FieldError(f"{self.label}: {text!r} is not a valid {self.kind.__name__}") from None
