"""The planner's what-if inputs: a stored model or a config.json, quantization, context, concurrency."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Label, Select

from tui.widgets.common.field import Field, FieldError
from tui.widgets.common.form import SubmitsOnEnter
from tui.widgets.models.load_dialog import QUANTIZATIONS


@dataclass(slots=True)
class PlanQuery:
    model: str | None
    config: dict | None
    quantization: str
    context: int
    concurrency: int

    def __post_init__(self) -> None:
        if not self.model and self.config is None:
            raise FieldError("pick a stored model or give a config file")
        if self.context < 1 or self.concurrency < 1:
            raise FieldError("context and concurrency must be at least 1")


class PlanForm(SubmitsOnEnter, Vertical):
    class Submitted(Message):
        def __init__(self, query: PlanQuery) -> None:
            super().__init__()
            self.query = query

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field"):
            yield Label("Model", classes="field-label")
            yield Select([], prompt="model", id="model", compact=True)
        yield Field("or config file", "config_path", placeholder="/path/to/config.json")
        with Horizontal(classes="field"):
            yield Label("Quantization", classes="field-label")
            yield Select([(q, q) for q in QUANTIZATIONS], value="auto", allow_blank=False, id="quantization", compact=True)
        yield Field("Context (tokens)", "context", int, 2048)
        yield Field("Concurrency", "concurrency", int, 8)
        yield Button("Plan (enter)", variant="primary", id="plan", compact=True)

    def set_models(self, names: list[str]) -> None:
        select = self.query_one("#model", Select)
        current = select.value
        select.set_options([(n, n) for n in names])
        if current in names:
            select.value = current
        elif names:
            select.value = names[0]

    def query_value(self) -> PlanQuery:
        config_path = self.query_one("#field-config-path", Field).value
        config = _read_config(config_path) if config_path else None
        model = self.query_one("#model", Select).value
        return PlanQuery(
            model=None if config is not None or model is Select.NULL else str(model),
            config=config,
            quantization=str(self.query_one("#quantization", Select).value),
            context=self.query_one("#field-context", Field).value or 0,
            concurrency=self.query_one("#field-concurrency", Field).value or 0,
        )

    def message(self) -> Message:
        return self.Submitted(self.query_value())


def _read_config(path: str) -> dict:
    try:
        data = json.loads(Path(path).expanduser().read_text())
    except (OSError, ValueError) as exc:
        raise FieldError(f"config file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise FieldError(f"config file {path}: expected a JSON object")
    return data
