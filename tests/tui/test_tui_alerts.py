"""Alerts in the console against a real appliance (in process, no model needed): the banner
appears on every screen while a rule fires, the alerts screen shows the history, and
acknowledging an event is stored in the ledger database and audited."""
from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tui_helpers import text_of, until
from tui.app import create_app
from tui.client import AdminClient
from tui.screens.alerts import AlertsScreen, HistoryTable
from tui.screens.dashboard import DashboardScreen

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
from api_support import make_config  # noqa: E402
from appliance.server import start_in_thread  # noqa: E402
from appliance.services import Appliance  # noqa: E402

pytestmark = pytest.mark.anyio
RULE = {"name": "ledger-disk", "kind": "disk_free", "threshold": 1e9, "severity": "critical", "window_seconds": 60}


@pytest.fixture()
def appliance(tmp_path: Path):
    config = make_config(tmp_path)
    config.alerts.interval_seconds = 0.2
    config.alerts.rules = [RULE]
    appliance = Appliance.from_config(config, load_default=False)
    server, thread = start_in_thread(appliance)
    yield appliance, server.url
    server.stop()
    thread.join(timeout=30)


async def test_banner_alerts_screen_and_acknowledge(appliance) -> None:
    service, url = appliance
    console = create_app(AdminClient(url, service.admin_token), poll_seconds=0.3)
    async with console.run_test(size=(120, 40)) as pilot:
        banner = console.screen.query_one("#alert-banner")
        await until(pilot, lambda: banner.display and "ledger-disk" in text_of(banner), what="the alert banner")
        assert isinstance(console.screen, DashboardScreen) and "critical" in text_of(banner)
        assert banner.has_class("-critical")

        await pilot.press("f8")
        await until(pilot, lambda: isinstance(console.screen, AlertsScreen), what="alerts screen")
        history = console.screen.query_one(HistoryTable)
        await until(pilot, lambda: any(r.rule == "ledger-disk" for r in history.rows_data.values()),
                    what="the firing event in the history")
        history.focus()
        history.move_cursor(row=0)
        event_id = history.selected.id
        await pilot.press("a")
        await until(pilot, lambda: history.selected is not None and history.selected.acknowledged_by, what="the acknowledgement")
        stored = next(e for e in service.alerts.store.events() if e["id"] == event_id)
        assert stored["acknowledged_by"].startswith("admin:") and " as console:" in stored["acknowledged_by"]
        assert stored["acknowledged_at"]

        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {service.admin_token}"}) as http:
            assert "alert.acknowledge" in {e["action"] for e in http.get("/admin/audit").json()["data"]}
            http.put("/admin/alerts/rules/ledger-disk", json=RULE | {"threshold": 0})
        banner = console.screen.query_one("#alert-banner")
        await until(pilot, lambda: not banner.display, what="the banner to clear once resolved")
        await until(pilot, lambda: any(r.state == "resolved" for r in history.rows_data.values()),
                    what="the resolution in the history")
