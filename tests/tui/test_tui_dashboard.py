"""Dashboard against the real service: live figures move when requests are served."""
from __future__ import annotations

import asyncio

import openai
import pytest

from tui_helpers import text_of, until
from tui_service import TOKEN
from tui.widgets.common.tile import Tile

pytestmark = pytest.mark.anyio


MODEL = "smollm2-135m-instruct"
PASSAGE = ("Alder Bend sits where two valleys meet. Its mill, built in 1852, ground grain for the farms of "
           "the county until the railway came. The mill is a museum now, and the old station a library.")


def _chat(url: str, text: str = "Count to ten.") -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=TOKEN)
    client.chat.completions.create(model=MODEL, max_tokens=24, temperature=0,
                                   messages=[{"role": "user", "content": text}])


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
        assert value("tile-spec") == "none"                  # no model has speculated yet


async def test_dashboard_shows_speculative_acceptance(console, service) -> None:
    admin = service.http()
    admin.put("/admin/speculation", json={"model": MODEL, "method": "ngram", "k": 4}).raise_for_status()
    try:
        async with console.run_test(size=(120, 40)) as pilot:
            tile = next(t for t in console.screen.query(Tile) if t.id == "tile-spec")
            await asyncio.to_thread(_chat, service.url, f"Repeat exactly:\n\n{PASSAGE}")
            view = admin.get("/admin/speculation").json()[MODEL]        # the request has ended
            drafted, accepted = view["num_draft_tokens"], view["num_accepted_tokens"]
            assert drafted > 0
            shown = f"{100 * accepted / drafted:.1f}% of {drafted:,}"
            await until(pilot, lambda: text_of(tile.query_one(".tile-value")) == shown, what=shown)
    finally:
        admin.put("/admin/speculation", json={"model": MODEL, "method": "none"})
