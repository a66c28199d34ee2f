"""Models: the store and what is loaded; load with a quantization, unload, import; speculative
decoding of the selected loaded model."""
from __future__ import annotations

from collections.abc import Awaitable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label

from tui.client import Reply
from tui.payloads import Speculation
from tui.screens.base import ConsoleScreen
from tui.widgets.common.busy import Busy
from tui.widgets.common.confirm import ConfirmScreen
from tui.widgets.common.nav_bar import NavBar
from tui.widgets.models.import_dialog import ImportDialog
from tui.widgets.models.load_dialog import LoadDialog
from tui.widgets.models.model_tables import LoadedTable, StoreTable
from tui.widgets.models.routes_table import RoutesTable
from tui.widgets.models.speculation_form import SpeculationForm


class ModelsScreen(ConsoleScreen):
    HEADING = "Models"
    BINDINGS = [Binding("l", "load", "Load"), Binding("u", "unload", "Unload"),
                Binding("i", "import_model", "Import"), Binding("ctrl+s", "apply_speculation", "Apply"),
                Binding("r", "refresh", "Refresh")]

    def __init__(self) -> None:
        super().__init__()
        self.speculation: dict[str, Speculation] = {}

    def body(self) -> ComposeResult:
        yield NavBar("models")
        yield Busy(id="busy")
        with VerticalScroll(classes="body"):
            yield Label("Store  (l: load the selected model, i: import)", classes="panel-title")
            yield StoreTable(id="store")
            yield Label("Loaded  (u: unload the selected model)", classes="panel-title")
            yield LoadedTable(id="loaded")
            yield Label("Speculative decoding of the selected loaded model  (ctrl+s: apply)",
                        classes="panel-title")
            yield SpeculationForm(id="speculation")
            yield Label("Routes  (airlock routes set/test to edit and try)", classes="panel-title")
            yield RoutesTable(id="routes")

    async def load(self) -> None:
        reply = await self.client.models()
        if not self.check(reply):
            return
        self.query_one(StoreTable).show(reply.data.store)
        self.query_one(LoadedTable).show(reply.data.loaded)
        routes = await self.client.routes()
        if routes.ok:            # a service without routing answers 404: the panel stays empty
            self.query_one(RoutesTable).show(routes.data.routes)
        speculation = await self.client.speculation()
        self.speculation = speculation.data if speculation.ok else {}
        self.show_speculation()

    def show_speculation(self) -> None:
        row = self.query_one(LoadedTable).selected
        model = row.name if row is not None else None
        self.query_one(SpeculationForm).show(model, self.speculation.get(model or ""))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "loaded":
            self.show_speculation()

    def action_refresh(self) -> None:
        self.refresh_data()

    def action_apply_speculation(self) -> None:
        self.query_one(SpeculationForm).submit()

    def on_speculation_form_applied(self, message: SpeculationForm.Applied) -> None:
        self.run_worker(self._apply_speculation(message.model, message.settings), group="action",
                        exit_on_error=False)

    async def _apply_speculation(self, model: str, settings: dict) -> None:
        """PUT the settings (self and draft load a drafting model: slow); a refused value is
        shown as the service's message."""
        method = settings["method"]
        done = f"{model} now speculates with {method}" if method != "none" else f"{model} no longer speculates"
        await self._slow(f"speculation of {model}: {method}", self.client.set_speculation(model, settings), done)

    @work(group="action", exit_on_error=False)
    async def action_load(self) -> None:
        row = self.query_one(StoreTable).selected
        if row is None:
            self.notify("the store is empty: import a model first (i)", severity="warning")
            return
        quantization = await self.app.push_screen_wait(LoadDialog(row.name))
        if quantization:
            await self._slow(f"loading {row.name} ({quantization})",
                             self.client.load_model(row.name, quantization), f"{row.name} loaded")

    @work(group="action", exit_on_error=False)
    async def action_unload(self) -> None:
        row = self.query_one(LoadedTable).selected
        if row is None:
            self.notify("no model is loaded", severity="warning")
            return
        name = row.name
        if await self.app.push_screen_wait(ConfirmScreen(f"Unload {name}? Requests to it will fail.", "Unload")):
            await self._slow(f"unloading {name}", self.client.unload_model(name), f"{name} unloaded")

    @work(group="action", exit_on_error=False)
    async def action_import_model(self) -> None:
        answer = await self.app.push_screen_wait(ImportDialog())
        if answer:
            path, name = answer
            await self._slow(f"importing {path} (copying and hashing)", self.client.import_model(path, name),
                             f"{path} imported")

    async def _slow(self, what: str, call: Awaitable[Reply], done: str) -> None:
        """Run a slow admin call with the progress line showing, then refresh the tables."""
        busy = self.query_one(Busy)
        busy.start(what)
        try:
            reply = await call
        finally:
            busy.stop()
        if self.check(reply):
            self.notify(done)
        self.refresh_data()
