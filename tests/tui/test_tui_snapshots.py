"""Every screen at 80x24 and 120x40, replaying replies recorded from a real appliance
(recording.json, written by record_replies.py) so that the pictures are deterministic."""
from __future__ import annotations

from functools import partial

import pytest

from tui_helpers import RECORDING
from tui_tour import SCREENS, show
from tui.app import create_app
from tui.recorded import ReplayClient


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare, screen: str, size: tuple[int, int]) -> None:
    app = create_app(ReplayClient(RECORDING), poll_seconds=None)
    assert snap_compare(app, terminal_size=size, run_before=partial(_show, screen=screen))


async def _show(pilot, screen: str) -> None:
    await show(pilot, screen)
