"""Caches screen against the real service: a policy edited in the console is the service's policy."""
from __future__ import annotations

import openai
import pytest
from textual.widgets import Checkbox, Select, TextArea

from tui_helpers import require, text_of, until
from tui.screens.caches import CachesScreen, PinsTable
from tui.widgets.caches.pin_dialog import PinDialog
from tui.widgets.caches.policy_form import PolicyForm
from tui.widgets.common.confirm import ConfirmScreen

pytestmark = pytest.mark.anyio


def _policy(service) -> dict:
    """The default model's cache policy, as the service reports it."""
    with service.http() as http:
        return http.get("/admin/cache/policy").json()["smollm2-135m-instruct"]


async def test_policy_change_reaches_the_service(console, service) -> None:
    require(service, "GET", "/admin/cache/policy")
    before = _policy(service)
    eviction = "lfu" if before["eviction"] == "lru" else "lru"
    async with console.run_test(size=(120, 40)) as pilot:
        await pilot.press("f4")
        await until(pilot, lambda: isinstance(console.screen, CachesScreen))
        form = console.screen.query_one(PolicyForm)
        await until(pilot, lambda: bool(form.known), what="the policy in the form")
        form.query_one("#eviction", Select).value = eviction
        await pilot.click("#switch-tenant_isolation")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: _policy(service)["eviction"] == eviction, what="the new policy")
        after = _policy(service)
        assert after["tenant_isolation"] is (not before["tenant_isolation"])
        assert form.query_one("#switch-tenant_isolation", Checkbox).value is after["tenant_isolation"]


async def test_flush_asks_first(console, service) -> None:
    require(service, "POST", "/admin/cache/flush")
    _fill_prefix_cache(service)
    assert any(_cached_blocks(service)), "a finished request must leave cached blocks to flush"
    async with console.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await until(pilot, lambda: isinstance(console.screen, CachesScreen))
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(console.screen, ConfirmScreen), what="the confirmation")
        assert "Flush" in text_of(console.screen.query_one(".dialog-title"))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(console.screen, CachesScreen), what="back on the screen")
        await until(pilot, lambda: _cached_blocks(service) == [0] * len(_cached_blocks(service)), what="empty caches")
        assert _cached_blocks(service), "the cache stats name no cached_blocks"


def _fill_prefix_cache(service) -> None:
    """One chat request through a fresh key: its prompt's full blocks stay cached after it ends."""
    with service.http() as http:
        secret = http.post("/admin/keys", json={"name": "flush-test"}).json()["secret"]
    client = openai.OpenAI(base_url=f"{service.url}/v1", api_key=secret)
    system = "You are the hospital's help desk. Answer in one short sentence. " * 6
    client.chat.completions.create(model="smollm2-135m-instruct", max_tokens=4, messages=[
        {"role": "system", "content": system}, {"role": "user", "content": "Where is radiology?"}])


def _cached_blocks(service) -> list[int]:
    """Every `cached_blocks` figure in GET /admin/cache/stats, wherever it is nested."""
    with service.http() as http:
        data = http.get("/admin/cache/stats").json()
    found: list[int] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            found.extend(v for k, v in node.items() if k == "cached_blocks")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(data)
    return found


async def test_pin_and_unpin_a_prefix(console, service) -> None:
    require(service, "POST", "/admin/cache/pins")
    prompt = "You are the assistant of the radiology department. " * 4
    async with console.run_test(size=(120, 40)) as pilot:
        await pilot.press("f4")
        await until(pilot, lambda: isinstance(console.screen, CachesScreen))
        screen = console.screen
        pins = screen.query_one(PinsTable)
        await until(pilot, lambda: screen.query_one(PolicyForm).model is not None, what="the models")
        pins.focus()
        await pilot.press("p")
        await until(pilot, lambda: isinstance(console.screen, PinDialog), what="the pin dialog")
        console.screen.query_one(TextArea).text = prompt
        await pilot.click("#pin")
        await until(pilot, lambda: pins.row_count == 1, what="the pinned prefix")
        pins.focus()
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(console.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: pins.row_count == 0, what="the pin removed")
