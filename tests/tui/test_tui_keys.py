"""Keys screen against the real service: create (secret shown once), then revoke with confirmation."""
from __future__ import annotations

import httpx
import pytest

from tui_helpers import type_into, until
from tui.screens.keys import KeysScreen, KeysTable
from tui.widgets.common.confirm import ConfirmScreen
from tui.widgets.keys.key_dialog import KeyDialog
from tui.widgets.keys.secret_dialog import SecretDialog

pytestmark = pytest.mark.anyio


def _status(service, secret: str) -> int:
    return httpx.get(f"{service.url}/v1/models", headers={"Authorization": f"Bearer {secret}"}).status_code


async def test_create_and_revoke_key(console, service) -> None:
    async with console.run_test(size=(120, 40)) as pilot:
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(console.screen, KeysScreen), what="keys screen")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(console.screen, KeyDialog), what="key dialog")
        await type_into(pilot, "#field-name Input", "pilot-app")
        await type_into(pilot, "#field-token-budget Input", "5000")
        await pilot.click("#ok")
        await until(pilot, lambda: isinstance(console.screen, SecretDialog), what="the secret")
        secret = console.screen.query_one("#secret").value
        assert secret and _status(service, secret) == 200
        await pilot.click("#done")

        screen = console.screen
        table = screen.query_one(KeysTable)
        await until(pilot, lambda: any(r.name == "pilot-app" for r in table.rows_data.values()),
                    what="the new key in the table")
        key_id = next(k for k, r in table.rows_data.items() if r.name == "pilot-app")
        assert table.rows_data[key_id].token_budget == 5000
        table.move_cursor(row=table.get_row_index(key_id))
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(console.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: table.rows_data[key_id].status == "revoked", what="revoked")
        assert _status(service, secret) == 401
        with service.http() as http:
            keys = {k["id"]: k for k in http.get("/admin/keys").json()["data"]}
        assert keys[key_id]["revoked_at"] is not None


async def test_revoke_asks_first_and_cancel_keeps_the_key(console, service) -> None:
    with service.http() as http:
        key = http.post("/admin/keys", json={"name": "kept"}).json()
    async with console.run_test(size=(120, 40)) as pilot:
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(console.screen, KeysScreen))
        table = console.screen.query_one(KeysTable)
        await until(pilot, lambda: key["id"] in table.rows_data, what="the key in the table")
        table.move_cursor(row=table.get_row_index(key["id"]))
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(console.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause(0.5)
    assert _status(service, key["secret"]) == 200
