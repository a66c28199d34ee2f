"""Models screen against the real service: import into the store, load with a quantization, unload."""
from __future__ import annotations

import pytest
from textual.widgets import Select

from tui_helpers import require, type_into, until
from tui.screens.models import ModelsScreen
from tui.widgets.common.confirm import ConfirmScreen
from tui.widgets.models.import_dialog import ImportDialog
from tui.widgets.models.load_dialog import LoadDialog
from tui.widgets.models.model_tables import LoadedTable, StoreTable

pytestmark = pytest.mark.anyio


def _loaded(service) -> list[str]:
    with service.http() as http:
        data = http.get("/admin/models").json()
    return [m.get("name") or m.get("model") for m in data["loaded"]]


async def test_import_load_and_unload(console, service, smollm2_path) -> None:
    require(service, "GET", "/admin/models")
    async with console.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(console.screen, ModelsScreen))
        screen = console.screen
        store, loaded = screen.query_one(StoreTable), screen.query_one(LoadedTable)
        await until(pilot, lambda: loaded.row_count >= 1, what="the default model")
        already = set(_loaded(service))

        await pilot.press("i")
        await until(pilot, lambda: isinstance(console.screen, ImportDialog))
        await type_into(pilot, "#path", str(smollm2_path))
        await pilot.press("enter")
        await until(pilot, lambda: store.row_count >= 1, timeout=120, what="the imported model")

        store.focus()
        store.move_cursor(row=0)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(console.screen, LoadDialog))
        console.screen.query_one(Select).value = "int8"
        await pilot.click("#load")
        await until(pilot, lambda: len(_loaded(service)) == len(already) + 1, timeout=300, what="the load")
        new = (set(_loaded(service)) - already).pop()
        await until(pilot, lambda: new in loaded.rows_data, what="the loaded table")
        assert loaded.rows_data[new]["quantization"] == "int8"

        loaded.move_cursor(row=loaded.get_row_index(new))
        await pilot.press("u")
        await until(pilot, lambda: isinstance(console.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: new not in _loaded(service), timeout=60, what="the unload")
        await until(pilot, lambda: new not in loaded.rows_data, what="the table to follow")
