"""Memory screen against the real service: the planner's what-if for a stored model."""
from __future__ import annotations

import pytest
from textual.widgets import Select

from tui_helpers import require, text_of, type_into, until
from tui.screens.memory import MemoryScreen
from tui.widgets.common.bar import Bar

pytestmark = pytest.mark.anyio


async def test_plan_shows_bars_and_verdict(console, service) -> None:
    require(service, "GET", "/admin/plan")
    async with console.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(console.screen, MemoryScreen))
        select = console.screen.query_one("#model", Select)
        await until(pilot, lambda: select.value is not Select.NULL, what="the stored models")
        await pilot.press("ctrl+r")
        verdict = console.screen.query_one("#verdict")
        await until(pilot, lambda: "fit" in text_of(verdict) and "unknown" not in text_of(verdict), what="a verdict")
        assert console.screen.query_one("#bar-weights", Bar).value > 0
        assert console.screen.query_one("#limits").row_count >= 1


async def test_service_error_is_shown_not_fatal(console, service, tmp_path) -> None:
    require(service, "POST", "/admin/plan")
    config = tmp_path / "config.json"
    config.write_text('{"model_type": "no-such-architecture", "hidden_size": 8}')
    async with console.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(console.screen, MemoryScreen))
        await type_into(pilot, "#field-config-path Input", str(config))
        await pilot.press("enter")
        errors = lambda: [n for n in console._notifications if n.severity == "error"]  # noqa: E731
        await until(pilot, lambda: bool(errors()), what="the service's error in the console")
        assert "Service error" in errors()[0].title
        assert console.is_running and isinstance(console.screen, MemoryScreen)
