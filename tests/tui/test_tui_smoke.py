"""The console attaches to a real appliance and shows its figures."""
from __future__ import annotations

from conftest import until
from tui.widgets.common.tile import Tile


async def test_dashboard_shows_loaded_model(console) -> None:
    async with console.run_test(size=(120, 40)) as pilot:
        tile = console.screen.query_one("#tile-models", Tile)
        await until(pilot, lambda: "smollm2" in str(tile.query_one(".tile-value").render()), what="loaded model")
