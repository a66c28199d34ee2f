"""Caches: every policy editable, hit rates over time, pinned prefixes, flush."""
from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label

from tui.figures import fmt_any, fmt_seconds
from tui.screens.base import ConsoleScreen
from tui.widgets.caches.cache_figures import CacheFigures
from tui.widgets.caches.pin_dialog import PinDialog
from tui.widgets.caches.policy_form import PolicyForm
from tui.widgets.common.confirm import ConfirmScreen
from tui.widgets.common.nav_bar import NavBar
from tui.widgets.common.table import RowsTable


class PinsTable(RowsTable):
    def __init__(self, **kwargs) -> None:
        super().__init__([("id", "pin_id", fmt_any), ("model", "model", fmt_any), ("tenant", "tenant", fmt_any),
                          ("tokens", "num_tokens", fmt_any), ("blocks", "blocks", fmt_any),
                          ("cached", "cached_blocks", fmt_any),
                          ("expires in", "expires_in", lambda v: fmt_seconds(v) if v is not None else "never")],
                         key="pin_id", **kwargs)


class CachesScreen(ConsoleScreen):
    HEADING = "Caches"
    BINDINGS = [Binding("ctrl+s", "apply", "Apply"), Binding("p", "pin", "Pin"),
                Binding("delete,x", "unpin", "Unpin"), Binding("ctrl+f", "flush", "Flush")]

    def body(self) -> ComposeResult:
        yield NavBar("caches")
        with Horizontal(classes="body"):
            with VerticalScroll(classes="panel", id="policy-pane"):
                yield PolicyForm(id="policy")
            with Vertical(classes="panel"):
                yield CacheFigures(id="cache-figures")
                yield Label("Pinned prefixes (p pin, del unpin)", classes="panel-title")
                yield PinsTable(id="pins")

    async def load(self) -> None:
        reply = await self.client.cache_policy()
        if self.check(reply):
            self.query_one(PolicyForm).show_policies(reply.data)
        await self.poll()

    async def poll(self) -> None:
        reply = await self.client.cache_stats()
        if self.check(reply):
            self.query_one(CacheFigures).show(reply.data)
        reply = await self.client.pins()
        if reply.ok:
            self.query_one(PinsTable).show(reply.data)

    def action_apply(self) -> None:
        self.query_one(PolicyForm).apply()

    async def on_policy_form_applied(self, message: PolicyForm.Applied) -> None:
        reply = await self.client.set_cache_policy(message.policy)
        if self.check(reply):
            self.notify("cache policy applied")
            await self.load()

    @work(group="action", exit_on_error=False)
    async def action_pin(self) -> None:
        pin = await self.app.push_screen_wait(PinDialog(self.query_one(PolicyForm).model))
        if pin and self.check(await self.client.add_pin(pin["text"], pin["model"], pin["tenant"])):
            self.notify("prefix pinned")
            await self.poll()

    @work(group="action", exit_on_error=False)
    async def action_unpin(self) -> None:
        row = self.query_one(PinsTable).selected
        if row is None:
            self.notify("no pinned prefix selected", severity="warning")
            return
        pin_id = row.pin_id
        if await self.app.push_screen_wait(ConfirmScreen(f"Remove pin {pin_id}?", "Remove")):
            if self.check(await self.client.remove_pin(pin_id)):
                self.notify(f"pin {pin_id} removed")
            await self.poll()

    @work(group="action", exit_on_error=False)
    async def action_flush(self) -> None:
        model = self.query_one(PolicyForm).model
        question = f"Flush the prefix cache of {model or 'every model'}? Cached prefixes will be recomputed."
        if await self.app.push_screen_wait(ConfirmScreen(question, "Flush")):
            if self.check(await self.client.flush_cache(model)):
                self.notify("caches flushed")
            await self.poll()
