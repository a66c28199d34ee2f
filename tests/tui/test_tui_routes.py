"""The routes panel on the models screen: each route's tiers, live share per tier, spills,
from replies of the admin API (replayed, so the figures are fixed)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui_helpers import until
from tui.app import create_app
from tui.recorded import ReplayClient
from tui.screens.models import ModelsScreen
from tui.widgets.models.routes_table import RoutesTable

pytestmark = pytest.mark.anyio
ROUTES = {"routes": [{"name": "auto", "tiers": ["fast", "gemma3"], "resolved": ["smollm2-int8", "gemma3"],
                      "loaded": ["smollm2-int8", "gemma3"],
                      "traffic": {"tiers": {"smollm2-int8": 30, "gemma3": 10}, "spills": 4, "fallbacks": 1}},
                     {"name": "best", "tiers": ["gemma3"], "resolved": ["gemma3"], "loaded": [],
                      "traffic": {"tiers": {}, "spills": 0, "fallbacks": 0}}], "error": None}


async def test_the_models_screen_shows_routes_and_their_share(tmp_path: Path) -> None:
    recording = tmp_path / "replies.json"
    recording.write_text(json.dumps({"GET /admin/models": {"status": 200, "data": {"store": [], "loaded": []}},
                                     "GET /admin/routes": {"status": 200, "data": ROUTES}}))
    console = create_app(ReplayClient(recording), poll_seconds=None)
    async with console.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(console.screen, ModelsScreen))
        table = console.screen.query_one(RoutesTable)
        await until(pilot, lambda: table.row_count == 2, what="the routes")
        auto = [str(cell) for cell in table.get_row("auto")]
        assert auto == ["auto", "smollm2-int8 > gemma3", "smollm2-int8 > gemma3", "smollm2-int8 75%, gemma3 25%",
                        "4", "1"]
        assert [str(cell) for cell in table.get_row("best")][2:4] == ["-", "no traffic"]
