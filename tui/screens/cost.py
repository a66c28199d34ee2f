"""Cost: TCO inputs and figures, the cloud comparison, cost per day, per key and per model."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label

from tui.figures import fmt_any, fmt_money
from tui.payloads import TcoReport, UsageRow
from tui.screens.base import ConsoleScreen
from tui.widgets.common.nav_bar import NavBar
from tui.widgets.common.table import RowsTable
from tui.widgets.cost.cost_chart import CostChart
from tui.widgets.cost.tco_figures import TcoFigures
from tui.widgets.cost.tco_form import TcoForm


def _key(row: UsageRow) -> str | None:
    """A key row by its name; a key's name may be unknown to the ledger, then its id."""
    return row.key_name or row.key_id


def usage_table(group: str, **kwargs) -> RowsTable:
    """Rows: tui.payloads.UsageRow of the report grouped by `group` (key or model)."""
    name = _key if group == "key" else group
    return RowsTable([(group, name, fmt_any),
                      ("requests", "requests", fmt_any), ("prompt", "prompt_tokens", fmt_any),
                      ("completion", "completion_tokens", fmt_any), ("cached", "cached_tokens", fmt_any),
                      ("cost", "cost", fmt_money)], key="key_id" if group == "key" else group, **kwargs)


class CostScreen(ConsoleScreen):
    HEADING = "Cost"
    BINDINGS = [Binding("ctrl+s", "apply", "Apply")]

    currency = ""

    def body(self) -> ComposeResult:
        yield NavBar("cost")
        with Horizontal(classes="body"):
            with VerticalScroll(classes="panel", id="tco-pane"):
                yield TcoForm(id="tco-form")
            with VerticalScroll(classes="panel"):
                yield TcoFigures(id="tco-figures")
                yield Label("Cloud comparison", classes="panel-title")
                yield RowsTable([("provider", "provider", fmt_any), ("model", "model", fmt_any),
                                 ("cloud cost", "cloud_cost", fmt_money), ("on-prem", "on_prem_cost", fmt_money),
                                 ("savings", "savings", fmt_money), ("prices of", "price_date", fmt_any)],
                                key="model", id="cloud")
                yield CostChart(id="cost-chart")
                yield Label("Per key (this month)", classes="panel-title")
                yield usage_table("key", id="per-key")
                yield Label("Per model (this month)", classes="panel-title")
                yield usage_table("model", id="per-model")

    async def load(self) -> None:
        reply = await self.client.tco()
        if self.check(reply):
            self.query_one(TcoForm).show(reply.data.inputs)
            self.show_figures(reply.data)
        await self.poll()

    async def poll(self) -> None:
        for group in ("key", "model"):
            reply = await self.client.usage("month", group)
            if self.check(reply):
                self.query_one(f"#per-{group}", RowsTable).show(reply.data.rows)
        reply = await self.client.usage("day", "model")
        if reply.ok:
            self.query_one(CostChart).show(reply.data.rows, self.currency)

    def show_figures(self, report: TcoReport) -> None:
        self.currency = report.inputs.currency
        self.query_one(TcoFigures).show(report, self.currency)
        self.query_one("#cloud", RowsTable).show(report.cloud)

    def action_apply(self) -> None:
        self.query_one(TcoForm).submit()

    async def on_tco_form_applied(self, message: TcoForm.Applied) -> None:
        reply = await self.client.set_tco(message.inputs)
        if self.check(reply):
            self.notify("TCO inputs saved")
            self.show_figures(reply.data)
