"""The plan: weights, KV and overhead as bars against device memory, the verdict, and the
limits of each quantization option."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from tui.figures import as_list, first, fmt_any, fmt_bytes
from tui.widgets.common.bar import Bar
from tui.widgets.common.table import RowsTable

PARTS = [("weights", "weight_bytes|weights_bytes"), ("KV cache", "kv_bytes|kv_cache_bytes"),
         ("overhead", "overhead_bytes"), ("total", "total_bytes")]


class PlanView(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Plan: enter the what-if on the left", id="verdict", classes="panel-title")
        for caption, _ in PARTS:
            yield Bar(caption, id=f"bar-{caption.split()[0].lower()}")
        yield Label("", id="device")
        yield Label("Limits per quantization", classes="panel-title")
        yield RowsTable([
            ("quant", "quantization", fmt_any),
            ("weights", "weight_bytes|weights_bytes", fmt_bytes),
            ("total", "total_bytes", fmt_bytes),
            ("fits", "fits", fmt_any),
            ("max context", "max_context|max_context_tokens", fmt_any),
            ("max concurrency", "max_concurrency", fmt_any),
        ], key="quantization", id="limits")

    def show(self, report: Any) -> None:
        """`report`: the planner's answer; its `plan` (or the report itself) at the asked quantization."""
        plan = first(report, "plan", default=report)
        device = first(report, "device_memory", "device_bytes", "budget_bytes")
        for caption, path in PARTS:
            self.query_one(f"#bar-{caption.split()[0].lower()}", Bar).set(first(plan, *path.split("|")), device)
        fits, fits_now = first(plan, "fits"), first(report, "fits_now")
        verdict = {True: "[b green]fits[/]", False: "[b red]does not fit[/]"}.get(fits, "fit unknown")
        if fits and fits_now is False:
            verdict += " [yellow](not beside the models loaded now)[/]"
        self.query_one("#verdict", Label).update(f"Plan: {verdict}")
        self.query_one("#device", Label).update(
            f"{fmt_any(first(report, 'device', default=''))} memory {fmt_bytes(device)}\n"
            f"budget {fmt_bytes(first(report, 'budget_bytes', 'plan.budget_bytes'))}, "
            f"free {fmt_bytes(first(report, 'free_bytes'))}")
        self.query_one(RowsTable).show(as_list(report, "what_if", "options", "per_quantization"))
