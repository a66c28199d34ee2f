"""The TCO inputs, editable: hardware, amortization, power, energy price, PUE, operations."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, Label

from tui.payloads import TcoInputs
from tui.widgets.common.field import Field, FieldError
from tui.widgets.common.form import SubmitsOnEnter

INPUTS = [("hardware_price", "Hardware price", float), ("amortization_years", "Amortization (y)", float),
          ("residual_value", "Residual value", float), ("power_watts", "Power (W)", float),
          ("price_per_kwh", "Price per kWh", float), ("pue", "PUE", float),
          ("operations_per_month", "Ops / month", float), ("utilisation", "Utilisation", float)]


class TcoForm(SubmitsOnEnter, Vertical):
    class Applied(Message):
        def __init__(self, inputs: dict[str, Any]) -> None:
            super().__init__()
            self.inputs = inputs

    def compose(self) -> ComposeResult:
        yield Label("TCO inputs", classes="panel-title")
        for name, label, kind in INPUTS:
            yield Field(label, name, kind)
        yield Button("Apply (ctrl+s)", variant="primary", id="apply", compact=True)

    def show(self, inputs: TcoInputs) -> None:
        for name, _, _ in INPUTS:
            if getattr(inputs, name) is not None:
                self.query_one(f"#field-{name.replace('_', '-')}", Field).set(getattr(inputs, name))

    def inputs(self) -> dict[str, Any]:
        values = {}
        for name, label, _ in INPUTS:
            value = self.query_one(f"#field-{name.replace('_', '-')}", Field).value
            if value is None:
                raise FieldError(f"{label}: a value is required")
            values[name] = value
        return values

    def message(self) -> Message:
        return self.Applied(self.inputs())
