"""Memory budget: the planner's what-if before anything is loaded."""
from __future__ import annotations

from functools import partial

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal

from tui.screens.base import ConsoleScreen
from tui.widgets.common.nav_bar import NavBar
from tui.widgets.memory.plan_form import PlanForm, PlanQuery
from tui.widgets.memory.plan_view import PlanView


class MemoryScreen(ConsoleScreen):
    HEADING = "Memory planner"
    BINDINGS = [Binding("ctrl+r", "plan", "Plan")]
    models_known = False

    def body(self) -> ComposeResult:
        yield NavBar("memory")
        with Horizontal(classes="body"):
            yield PlanForm(id="plan-form", classes="panel")
            yield PlanView(id="plan-view", classes="panel")

    async def load(self) -> None:
        reply = await self.client.models()
        if self.check(reply):
            names = [m.name for m in reply.data.store] + [m.name for m in reply.data.loaded]
            self.query_one(PlanForm).set_models(list(dict.fromkeys(names)))
            self.models_known = True

    async def poll(self) -> None:
        """Keeps the connection state current; the form stays as typed."""
        if not self.models_known:
            await self.load()
        else:
            await self.client.stats()

    def action_plan(self) -> None:
        self.query_one(PlanForm).submit()

    async def on_plan_form_submitted(self, message: PlanForm.Submitted) -> None:
        self.run_worker(partial(self._plan, message.query), exclusive=True, group="plan", exit_on_error=False)

    async def _plan(self, q: PlanQuery) -> None:
        if q.config is not None:
            reply = await self.client.plan_config(q.config, q.quantization, q.context, q.concurrency)
        else:
            reply = await self.client.plan(q.model or "", q.quantization, q.context, q.concurrency)
        if self.check(reply):
            self.query_one(PlanView).show(reply.data)
