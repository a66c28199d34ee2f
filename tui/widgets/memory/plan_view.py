"""The plan: weights, KV and overhead as bars against device memory, the verdict, and the
limits of each quantization option."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from tui.figures import as_list, first, fmt_any, fmt_bytes, number
from tui.widgets.common.bar import Bar
from tui.widgets.common.table import RowsTable

PARTS = [("weights", "weights_bytes|weights"), ("KV cache", "kv_bytes|kv_cache_bytes|kv"),
         ("overhead", "overhead_bytes|overhead"), ("total", "total_bytes|total")]


class PlanView(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Plan: enter the what-if on the left", id="verdict", classes="panel-title")
        for caption, _ in PARTS:
            yield Bar(caption, id=f"bar-{caption.split()[0].lower()}")
        yield Label("", id="device")
        yield Label("Limits per quantization", classes="panel-title")
        yield RowsTable([
            ("quant", "quantization", fmt_any),
            ("weights", "weights_bytes|weights", fmt_bytes),
            ("total", "total_bytes|total", fmt_bytes),
            ("fits", "fits", fmt_any),
            ("max context", "max_context|max_context_tokens", fmt_any),
            ("max concurrency", "max_concurrency", fmt_any),
        ], key="quantization", id="limits")

    def show(self, plan: Any) -> None:
        device = first(plan, "device_bytes", "device_memory_bytes", "budget_bytes", "available_bytes")
        parts = [number(first(plan, *path.split("|"))) for _, path in PARTS]
        if parts[3] is None and any(p is not None for p in parts[:3]):
            parts[3] = sum(p or 0 for p in parts[:3])
        for (caption, _), value in zip(PARTS, parts):
            self.query_one(f"#bar-{caption.split()[0].lower()}", Bar).set(value, device)
        fits = first(plan, "fits")
        verdict = {True: "[b green]fits[/]", False: "[b red]does not fit[/]"}.get(fits, "fit unknown")
        self.query_one("#verdict", Label).update(f"Plan: {verdict}  {fmt_any(first(plan, 'reason', 'message', default=''))}")
        device_name = fmt_any(first(plan, "device", default=""))
        self.query_one("#device", Label).update(f"device memory {fmt_bytes(device)}  {device_name}")
        self.query_one(RowsTable).show(as_list(plan, "options", "per_quantization", "limits", "quantizations"))
