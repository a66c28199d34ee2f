"""Models screen against the real service: import into the store, unload, load with a chosen
quantization (int8: not the default, so the choice must travel from the dialog to the service)."""
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
DEFAULT = "smollm2-135m-instruct"


def _loaded(service) -> dict[str, dict]:
    with service.http() as http:
        data = http.get("/admin/models").json()
    return {m["name"]: m for m in data["loaded"]}


async def test_import_unload_and_load(console, service, gemma3_path) -> None:
    require(service, "GET", "/admin/models")
    async with console.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(console.screen, ModelsScreen))
        screen = console.screen
        store, loaded = screen.query_one(StoreTable), screen.query_one(LoadedTable)
        await until(pilot, lambda: DEFAULT in loaded.rows_data, what="the default model")
        assert _loaded(service)[DEFAULT]["quantization"] != "int8", "the default must differ from the choice"
        stored = store.row_count

        await pilot.press("i")
        await until(pilot, lambda: isinstance(console.screen, ImportDialog))
        await type_into(pilot, "#path", str(gemma3_path))
        await pilot.press("enter")
        await until(pilot, lambda: store.row_count == stored + 1, timeout=120, what="the imported model")
        assert any("gemma" in name for name in store.rows_data)

        loaded.focus()
        loaded.move_cursor(row=loaded.get_row_index(DEFAULT))
        await pilot.press("u")
        await until(pilot, lambda: isinstance(console.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: DEFAULT not in _loaded(service), timeout=60, what="the unload")
        await until(pilot, lambda: DEFAULT not in loaded.rows_data, what="the table to follow")

        store.focus()
        store.move_cursor(row=store.get_row_index(DEFAULT))
        await pilot.press("l")
        await until(pilot, lambda: isinstance(console.screen, LoadDialog))
        console.screen.query_one(Select).value = "int8"
        await pilot.click("#load")
        await until(pilot, lambda: DEFAULT in _loaded(service), timeout=300, what="the load")
        assert _loaded(service)[DEFAULT]["quantization"] == "int8"
        await until(pilot, lambda: DEFAULT in loaded.rows_data, what="the loaded table")
        assert loaded.rows_data[DEFAULT].quantization == "int8"
