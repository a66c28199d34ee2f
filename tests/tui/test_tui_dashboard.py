"""Dashboard against the real service: live figures move when requests are served."""
from __future__ import annotations

import asyncio

import openai
import pytest

from tui_helpers import text_of, until
from tui_service import TOKEN
from tui.widgets.common.tile import Tile

pytestmark = pytest.mark.anyio


def _chat(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=TOKEN)
    client.chat.completions.create(model="smollm2-135m-instruct", max_tokens=24,
                                   messages=[{"role": "user", "content": "Count to ten."}])


async def test_dashboard_follows_traffic(console, service) -> None:
    async with console.run_test(size=(120, 40)) as pilot:
        tiles = {t.id: t for t in console.screen.query(Tile)}
        value = lambda name: text_of(tiles[name].query_one(".tile-value"))  # noqa: E731
        await until(pilot, lambda: "smollm2" in value("tile-models"), what="the loaded model")
        await asyncio.to_thread(_chat, service.url)
        await until(pilot, lambda: value("tile-ttft") != "- / -", what="TTFT percentiles")
        await until(pilot, lambda: value("tile-itl") != "- / -", what="ITL percentiles")
        assert "ms" in value("tile-ttft") or " s" in value("tile-ttft")
        assert "%" in value("tile-kv")
        assert "CPU" in text_of(console.screen.query_one("#cpu"))
