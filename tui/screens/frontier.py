"""Frontier: the latest sweep's throughput/latency curve, the point the SLO picks, and where the
server is now (live SLO attainment over the last five minutes)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Static

from tui.figures import fmt_any, number
from tui.payloads import Frontier, SloLive
from tui.screens.base import ConsoleScreen
from tui.widgets.common.nav_bar import NavBar
from tui.widgets.frontier.frontier_chart import FrontierChart


def _ms(value) -> str:
    seconds = number(value)
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _share(value) -> str:
    share = number(value)
    return "-" if share is None else f"{share:.0%}"


class FrontierScreen(ConsoleScreen):
    HEADING = "Frontier"

    def body(self) -> ComposeResult:
        yield NavBar("frontier")
        with Horizontal(classes="body"):
            yield FrontierChart(id="frontier-chart", classes="panel")
            with VerticalScroll(classes="panel", id="frontier-side"):
                yield Label("SLO now", classes="panel-title")
                yield Static(id="slo-live")
                yield Label("Chosen point", classes="panel-title")
                yield Static(id="slo-choice")

    async def load(self) -> None:
        reply = await self.client.frontier()
        if self.check(reply):
            self.show(reply.data)

    def show(self, data: Frontier) -> None:
        sweep, live = data.sweep, data.live
        self.query_one(FrontierChart).show(sweep.points if sweep else [], data.chosen, live,
                                           sweep.currency if sweep else "")
        self.query_one("#slo-live", Static).update(self._live_text(data.model, live))
        lines = data.explanation or (["no SLO set"] if sweep else ["no sweep yet: run airlock bench sweep"])
        self.query_one("#slo-choice", Static).update("\n".join(lines))

    @staticmethod
    def _live_text(model: str | None, live: SloLive) -> str:
        batching, rate = live.batching, live.output_tokens_per_s
        return "\n".join([
            f"model       {fmt_any(model)}",
            f"targets     TTFT p95 {_ms(live.ttft_p95_target_s)}, ITL p95 {_ms(live.itl_p95_target_s)}",
            f"attainment  {_share(live.attainment)} of {fmt_any(live.requests)} requests (5 min)",
            f"rejected    {fmt_any(live.rejected)}",
            f"live        {'-' if rate is None else f'{rate:.1f}'} tok/s, ITL p95 {_ms(live.itl_p95_s)}",
            f"batching    seqs {fmt_any(batching.max_num_seqs)}, budget "
            f"{fmt_any(batching.max_num_batched_tokens)}, limit {fmt_any(live.seq_limit)}",
        ])
