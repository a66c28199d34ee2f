"""Models screen against the real service: import into the store, unload, load with a chosen
quantization (int8: not the default, so the choice must travel from the dialog to the service);
speculative decoding of a loaded model changed from the console."""
from __future__ import annotations

import pytest
from textual.widgets import Select

from tui_helpers import require, text_of, type_into, until
from tui.screens.models import ModelsScreen
from tui.widgets.common.confirm import ConfirmScreen
from tui.widgets.models.import_dialog import ImportDialog
from tui.widgets.models.load_dialog import LoadDialog
from tui.widgets.models.model_tables import LoadedTable, StoreTable
from tui.widgets.models.speculation_form import SpeculationForm

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


def _speculation(service) -> dict:
    with service.http() as http:
        return http.get("/admin/speculation").json()[DEFAULT]


async def test_speculation_method_applied_and_a_refused_value_shown(console, service) -> None:
    """ngram on, a K the service refuses (its message shown, nothing changed), then none again."""
    require(service, "GET", "/admin/speculation")
    assert _speculation(service)["method"] == "none"
    with service.http() as http:      # what the service says about K 99, to find in the console
        refused = http.put("/admin/speculation", json={"model": DEFAULT, "method": "ngram", "k": 99})
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]
    try:
        async with console.run_test(size=(120, 40)) as pilot:
            await pilot.press("f2")
            await until(pilot, lambda: isinstance(console.screen, ModelsScreen))
            form = console.screen.query_one(SpeculationForm)
            shown = lambda: text_of(form.query_one("#spec-figures"))  # noqa: E731
            await until(pilot, lambda: form.model == DEFAULT and "in force: none" in shown(), what="the policy")

            form.query_one("#spec-method", Select).value = "ngram"
            await pilot.click("#spec-apply")
            await until(pilot, lambda: _speculation(service)["method"] == "ngram", what="ngram at the service")
            await until(pilot, lambda: "in force: ngram, k 4" in shown(), what="ngram in the view")

            await type_into(pilot, "#field-k Input", "99")
            await pilot.press("ctrl+s")
            errors = lambda: [n for n in console._notifications if n.severity == "error"]  # noqa: E731
            await until(pilot, lambda: bool(errors()), what="the service's error")
            assert errors()[0].message == message and "Traceback" not in message
            assert _speculation(service)["k"] == 4 and "in force: ngram, k 4" in shown()

            await type_into(pilot, "#field-k Input", "4")
            form.query_one("#spec-method", Select).value = "none"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: _speculation(service)["method"] == "none", what="none at the service")
            await until(pilot, lambda: "in force: none" in shown(), what="none in the view")
    finally:
        with service.http() as http:
            http.put("/admin/speculation", json={"model": DEFAULT, "method": "none", "k": 4})
