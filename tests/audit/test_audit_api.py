"""Admin API changes land in the audit chain with the admin's identity, before and after;
a row edited in SQLite behind the service's back is named by /admin/audit/verify."""
from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
from api_support import make_config  # noqa: E402
from appliance.server import start_in_thread  # noqa: E402
from appliance.services import Appliance  # noqa: E402


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    data_dir = tmp_path_factory.mktemp("audit")
    appliance = Appliance.from_config(make_config(data_dir), load_default=False)
    server, thread = start_in_thread(appliance)
    headers = {"Authorization": f"Bearer {appliance.admin_token}", "X-Airlock-Actor": "alice"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
        yield http, data_dir / "airlock.db"
    server.stop()
    thread.join(timeout=30)


def test_key_budget_tco_and_rule_changes_are_audited(admin) -> None:
    http, _ = admin
    key = http.post("/admin/keys", json={"name": "dept-x", "token_budget": 100}).json()
    http.patch(f"/admin/keys/{key['id']}", json={"token_budget": 500, "tokens_per_minute": 60})
    http.delete(f"/admin/keys/{key['id']}")
    http.put("/admin/tco", json={"hardware_price": 40000})
    http.put("/admin/alerts/rules/slow", json={"kind": "ttft_p95", "threshold": 2})
    assert http.put("/admin/tco", json={"pue": 0.5}).status_code == 400         # refused: not audited
    rows = http.get("/admin/audit").json()["data"]
    assert [r["action"] for r in rows] == ["key.create", "key.update", "key.revoke", "tco.inputs", "alert.rule"]
    assert all(r["actor"].startswith("admin:") and r["actor"].endswith("@127.0.0.1 as alice") for r in rows)
    update = rows[1]
    assert (update["before"]["token_budget"], update["after"]["token_budget"]) == (100, 500)
    assert (update["before"]["tokens_per_minute"], update["after"]["tokens_per_minute"]) == (0, 60)
    assert (rows[3]["before"]["hardware_price"], rows[3]["after"]["hardware_price"]) == (30000, 40000)
    assert "secret" not in rows[0]["after"]                                      # never the key's secret
    assert http.get("/admin/audit/verify").json() == {"rows": 5, "intact": True, "first_broken_row": None,
                                                      "reason": None}


def test_verify_names_a_row_edited_in_sqlite(admin) -> None:
    http, db = admin
    http.post("/admin/keys", json={"name": "later"})
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = 4")
    result = http.get("/admin/audit/verify").json()
    assert result["intact"] is False and result["first_broken_row"] == 4 and "edited" in result["reason"]
