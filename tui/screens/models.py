"""Models: the store and what is loaded; load with a quantization, unload, import."""
from __future__ import annotations

from collections.abc import Awaitable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Label

from tui.client import Reply
from tui.figures import as_list, first
from tui.screens.base import ConsoleScreen
from tui.widgets.common.busy import Busy
from tui.widgets.common.confirm import ConfirmScreen
from tui.widgets.common.nav_bar import NavBar
from tui.widgets.models.import_dialog import ImportDialog
from tui.widgets.models.load_dialog import LoadDialog
from tui.widgets.models.model_tables import LoadedTable, StoreTable
from tui.widgets.models.routes_table import RoutesTable


class ModelsScreen(ConsoleScreen):
    HEADING = "Models"
    BINDINGS = [Binding("l", "load", "Load"), Binding("u", "unload", "Unload"),
                Binding("i", "import_model", "Import"), Binding("r", "refresh", "Refresh")]

    def __init__(self) -> None:
        super().__init__()
        self.quantizations: list[str] | None = None

    def body(self) -> ComposeResult:
        yield NavBar("models")
        yield Busy(id="busy")
        with VerticalScroll(classes="body"):
            yield Label("Store  (l: load the selected model, i: import)", classes="panel-title")
            yield StoreTable(id="store")
            yield Label("Loaded  (u: unload the selected model)", classes="panel-title")
            yield LoadedTable(id="loaded")
            yield Label("Routes  (airlock routes set/test to edit and try)", classes="panel-title")
            yield RoutesTable(id="routes")

    async def load(self) -> None:
        reply = await self.client.models()
        if not self.check(reply):
            return
        loaded = as_list(reply.data, "loaded")
        names = {str(first(m, "name", "model")) for m in loaded}
        store = [dict(m, loaded=str(first(m, "name", "model")) in names) for m in as_list(reply.data, "store", "models")]
        self.quantizations = first(reply.data, "quantizations") or self.quantizations
        self.query_one(StoreTable).show(store)
        self.query_one(LoadedTable).show(loaded)
        routes = await self.client.routes()
        if routes.ok:            # a service without routing answers 404: the panel stays empty
            self.query_one(RoutesTable).show(as_list(routes.data, "routes"))

    def action_refresh(self) -> None:
        self.refresh_data()

    @work(group="action", exit_on_error=False)
    async def action_load(self) -> None:
        row = self.query_one(StoreTable).selected
        if row is None:
            self.notify("the store is empty: import a model first (i)", severity="warning")
            return
        name = str(first(row, "name", "model"))
        quantization = await self.app.push_screen_wait(LoadDialog(name, self.quantizations))
        if quantization:
            await self._slow(f"loading {name} ({quantization})", self.client.load_model(name, quantization),
                             f"{name} loaded")

    @work(group="action", exit_on_error=False)
    async def action_unload(self) -> None:
        row = self.query_one(LoadedTable).selected
        if row is None:
            self.notify("no model is loaded", severity="warning")
            return
        name = str(first(row, "name", "model"))
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
