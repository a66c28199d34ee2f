"""Cost screen against the real service: a TCO input edited in the console moves the figures."""
from __future__ import annotations

import pytest

from tui_helpers import require, text_of, type_into, until
from tui.screens.cost import CostScreen
from tui.widgets.common.tile import Tile

pytestmark = pytest.mark.anyio


async def test_tco_input_moves_the_figures(console, service) -> None:
    require(service, "GET", "/admin/tco")
    async with console.run_test(size=(120, 40)) as pilot:
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(console.screen, CostScreen))
        price = console.screen.query_one("#field-hardware-price Input")
        hourly = console.screen.query_one("#tco-hour", Tile).query_one(".tile-value")
        await until(pilot, lambda: price.value != "" and text_of(hourly) != "-", what="the TCO figures")
        before = text_of(hourly)
        await type_into(pilot, "#field-hardware-price Input", str(float(price.value) * 3 + 1000))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: text_of(hourly) != before, what="the cost per hour to move")
    with service.http() as http:
        data = http.get("/admin/tco").json()
    assert data["inputs"]["hardware_price"] == float(price.value)
