"""The service stops and comes back under a running console: it says so and recovers."""
from __future__ import annotations

import asyncio

import pytest

from tui_helpers import text_of, until
from tui.client import DISCONNECTED

pytestmark = pytest.mark.anyio


async def test_console_survives_a_service_restart(console, service) -> None:
    async with console.run_test(size=(80, 24)) as pilot:
        status = console.screen.query_one("#status")
        await until(pilot, lambda: text_of(status).startswith("connected"), what="connected")
        await asyncio.to_thread(service.stop)
        await until(pilot, lambda: DISCONNECTED in text_of(status), what="the outage report")
        await pilot.press("f2")                                 # still usable while down
        await pilot.press("f1")
        await asyncio.to_thread(service.start)
        await until(pilot, lambda: text_of(console.screen.query_one("#status")).startswith("connected"),
                    timeout=30, what="reconnection")
        assert console.is_running
