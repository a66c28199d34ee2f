"""Pilot helpers for the console tests: wait for a condition, type into an input, fail a test
whose admin route the service does not have."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widget import Widget

from tui_service import ServedProcess

RECORDING = Path(__file__).parent / "recording.json"


def require(service: Service, method: str, path: str) -> None:
    """Fail when the service has no such admin route (the router's 404/405, not a resource's):
    the console depends on it, so a removed route is a defect, not a reason to skip."""
    with service.http() as http:
        response = http.request(method, path)
    if response.status_code == 405 or "no such endpoint" in response.text.lower():
        pytest.fail(f"the admin API has no {method} {path}, which the console uses")


def text_of(widget: Widget) -> str:
    return str(widget.render())


async def type_into(pilot: Pilot, selector: str, text: str) -> None:
    """Focus an input by clicking it, clear it, and type `text` key by key."""
    await pilot.click(selector)
    widget = pilot.app.screen.query_one(selector)
    widget.value = ""
    await pilot.press(*text)


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        await pilot.pause(0.1)
