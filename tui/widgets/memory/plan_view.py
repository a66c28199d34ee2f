"""The plan: weights, KV and overhead as bars against device memory, the verdict, and the
limits of each quantization option."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from tui.figures import fmt_any, fmt_bytes
from tui.payloads import PlanReport
from tui.widgets.common.bar import Bar
from tui.widgets.common.table import RowsTable

PARTS = [("weights", "weight_bytes"), ("KV cache", "kv_bytes"), ("overhead", "overhead_bytes"),
         ("total", "total_bytes")]


class PlanView(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Plan: enter the what-if on the left", id="verdict", classes="panel-title")
        for caption, _ in PARTS:
            yield Bar(caption, id=f"bar-{caption.split()[0].lower()}")
        yield Label("", id="device")
        yield Label("Limits per quantization", classes="panel-title")
        yield RowsTable([
            ("quant", "quantization", fmt_any),
            ("weights", "weight_bytes", fmt_bytes),
            ("total", "total_bytes", fmt_bytes),
            ("fits", "fits", fmt_any),
            ("max context", "max_context", fmt_any),
            ("max concurrency", "max_concurrency", fmt_any),
        ], key="quantization", id="limits")

    def show(self, report: PlanReport) -> None:
        """`report`: the planner's answer; its `plan` at the asked quantization, `what_if` at each."""
        plan = report.plan
        device = report.device_memory if report.device_memory is not None else report.budget_bytes
        for caption, name in PARTS:
            self.query_one(f"#bar-{caption.split()[0].lower()}", Bar).set(getattr(plan, name), device)
        verdict = {True: "[b green]fits[/]", False: "[b red]does not fit[/]"}.get(plan.fits, "fit unknown")
        if plan.fits and report.fits_now is False:
            verdict += " [yellow](not beside the models loaded now)[/]"
        self.query_one("#verdict", Label).update(f"Plan: {verdict}")
        self.query_one("#device", Label).update(
            f"{fmt_any(report.device or '')} memory {fmt_bytes(report.device_memory)}\n"
            f"budget {fmt_bytes(report.budget_bytes)}, free {fmt_bytes(report.free_bytes)}")
        self.query_one(RowsTable).show(report.what_if)
