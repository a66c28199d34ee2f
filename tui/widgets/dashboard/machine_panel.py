"""The machine: CPU and RAM from psutil, and each GPU from NVML when there is one."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from tui.figures import fmt_bytes, fmt_num, fmt_pct
from tui.stats import LiveStats
from tui.widgets.common.bar import Bar


def _percent(value: float | None) -> str:
    """psutil and NVML report percentages (0-100)."""
    return fmt_pct(value / 100 if value is not None else None)


class MachinePanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("Machine", classes="panel-title")
        yield Bar("CPU", id="cpu", formatter=_percent)
        yield Bar("RAM", id="ram")
        yield Label("no GPU", id="gpus")

    def show(self, s: LiveStats) -> None:
        self.query_one("#cpu", Bar).set(s.cpu_percent, 100)
        self.query_one("#ram", Bar).set(s.ram_used, s.ram_total)
        lines = [
            f"{g.name}: util {_percent(g.utilization_percent)}  mem {fmt_bytes(g.memory_used_bytes)}/"
            f"{fmt_bytes(g.memory_total_bytes)}  {fmt_num(g.power_watts, 0)} W  {fmt_num(g.temperature_c, 0)} °C"
            for g in s.gpus
        ]
        self.query_one("#gpus", Label).update("\n".join(lines) or "no GPU")
