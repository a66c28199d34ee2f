"""The walk through every screen that the snapshot tests replay and the recorder records."""
from __future__ import annotations

from textual.pilot import Pilot

SCREENS = {"dashboard": "f1", "models": "f2", "memory": "f3", "caches": "f4", "cost": "f5", "keys": "f6"}


async def settle(pilot: Pilot) -> None:
    """Let every worker (the screen's data load) finish and the screen repaint."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def show(pilot: Pilot, screen: str) -> None:
    """Open `screen` and let it load; on the memory screen, also run the planner's default what-if."""
    await pilot.press(SCREENS[screen])
    await settle(pilot)
    if screen == "memory":
        await pilot.press("ctrl+r")
        await settle(pilot)
