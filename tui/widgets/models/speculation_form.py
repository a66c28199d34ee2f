"""Speculative decoding of one loaded model: the method, K and the draft model, editable, and
how well the drafts do (acceptance rate, mean accepted length, drafts and accepted tokens)."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Label, Select

from tui.figures import fmt_num, fmt_pct
from tui.payloads import Speculation
from tui.widgets.common.field import Field, FieldError
from tui.widgets.common.form import SubmitsOnEnter

METHODS = [("none", "none"), ("ngram (prompt lookup)", "ngram"), ("self (int8 copy drafts)", "self"),
           ("draft (a store model)", "draft")]


def describe(view: Speculation) -> str:
    """The policy in force and its figures, as the service reports them."""
    policy = f"in force: {view.method}"
    if view.method != "none":
        policy += f", k {fmt_num(view.k, 0)}"
    if view.method == "draft":
        policy += f", draft {view.draft_model or '-'} ({view.draft_precision or '-'})"
    elif view.method == "self":
        policy += f", {view.draft_precision or '-'} copy drafts"
    return (f"{policy}\n"
            f"acceptance {fmt_pct(view.acceptance_rate)}, mean accepted length "
            f"{fmt_num(view.mean_accepted_length, 2)}\n"
            f"{fmt_num(view.num_drafts, 0)} drafts, {fmt_num(view.num_accepted_tokens, 0)} of "
            f"{fmt_num(view.num_draft_tokens, 0)} draft tokens accepted")


class SpeculationForm(SubmitsOnEnter, Vertical):
    class Applied(Message):
        def __init__(self, model: str, settings: dict[str, Any]) -> None:
            super().__init__()
            self.model = model
            self.settings = settings

    model: str | None = None             # the loaded model shown; None: none is loaded

    def compose(self) -> ComposeResult:
        with Horizontal(id="spec-row"):
            with Vertical(id="spec-inputs"):
                with Horizontal(classes="field"):
                    yield Label("Method", classes="field-label")
                    yield Select(METHODS, value="none", allow_blank=False, id="spec-method", compact=True)
                yield Field("K (draft tokens)", "k", int)
                yield Field("Draft model", "draft_model", str, placeholder="for method draft")
                yield Button("Apply (ctrl+s)", variant="primary", id="spec-apply", compact=True)
            with Vertical(id="spec-side"):
                yield Label("no model is loaded", id="spec-model")
                yield Label("", id="spec-figures")

    def on_mount(self) -> None:
        self._enable(False)

    def show(self, model: str | None, view: Speculation | None) -> None:
        """Show `model`'s policy and figures. The inputs are filled only when the model shown
        changes, so a poll does not overwrite what is being typed."""
        if model is None or view is None:
            self.model = None
            self.query_one("#spec-model", Label).update("no model is loaded" if model is None
                                                        else f"{model}: no speculation figures")
            self.query_one("#spec-figures", Label).update("")
            self._enable(False)
            return
        if model != self.model:
            if view.method in (value for _, value in METHODS):
                self.query_one("#spec-method", Select).value = view.method
            self.query_one("#field-k", Field).set(view.k)
            self.query_one("#field-draft-model", Field).set(view.draft_model)
        self.model = model
        self._enable(True)
        self.query_one("#spec-model", Label).update(f"[b]{model}[/b]")
        self.query_one("#spec-figures", Label).update(describe(view))

    @property
    def method(self) -> str:
        return str(self.query_one("#spec-method", Select).value)

    def _enable(self, on: bool) -> None:
        for widget in (self.query_one("#spec-method"), self.query_one("#field-k", Field).input,
                       self.query_one("#spec-apply")):
            widget.disabled = not on
        self.query_one("#field-draft-model", Field).input.disabled = not on or self.method != "draft"

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "spec-method":
            self._enable(self.model is not None)

    def settings(self) -> dict[str, Any]:
        """The settings to send: the method and K, and the draft model for method draft; the
        service checks them (a refused value comes back as its error message)."""
        k = self.query_one("#field-k", Field).value
        if k is None:
            raise FieldError("K (draft tokens): a value is required")
        values: dict[str, Any] = {"method": self.method, "k": k}
        if self.method == "draft":     # the service names what is wrong with it (or its absence)
            values["draft_model"] = self.query_one("#field-draft-model", Field).value or ""
        return values

    def message(self) -> Message | None:
        if self.model is None:
            self.notify("no loaded model to change", severity="warning")
            return None
        return self.Applied(self.model, self.settings())
