"""The admin API with the admin credential: keys, stats, models, plan, cache, usage, TCO."""
from __future__ import annotations

import openai
import pytest

from api_support import MODEL


@pytest.fixture(scope="module")
def admin(served):
    client = served.http()
    client.headers.update(served.admin())
    return client


def test_key_lifecycle_secret_shown_once(served, admin) -> None:
    created = admin.post("/admin/keys", json={"name": "team-a", "tenant": "a", "allowed_models": [MODEL],
                                              "requests_per_minute": 100})
    assert created.status_code == 201
    body = created.json()
    secret = body["secret"]
    assert secret.startswith(body["prefix"])
    listing = admin.get("/admin/keys").text
    assert body["id"] in listing and secret not in listing
    assert served.client(secret).models.list().data[0].id == MODEL
    patched = admin.patch(f"/admin/keys/{body['id']}", json={"token_budget": 5000})
    assert patched.json()["token_budget"] == 5000
    assert admin.delete(f"/admin/keys/{body['id']}").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        served.client(secret).models.list()


@pytest.mark.parametrize("body, param", [({"tenant": "x"}, "name"), ({"name": "x", "rpm": 3}, "rpm"),
                                         ({"name": "x", "token_budget": -5}, "token_budget")])
def test_bad_key_settings_are_400(admin, body, param) -> None:
    response = admin.post("/admin/keys", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_unknown_key_is_404(admin) -> None:
    assert admin.delete("/admin/keys/key_nope").status_code == 404


def test_stats_and_models(admin) -> None:
    stats = admin.get("/admin/stats").json()
    assert stats["models"][MODEL]["blocks_total"] > 0 and stats["machine"]["cpu_count"] >= 1
    assert stats["machine"]["cpu_isa"]["level"] in ("portable", "avx2", "avx512", "amx")
    models = admin.get("/admin/models").json()
    assert [m["name"] for m in models["loaded"]] == [MODEL] and models["loaded"][0]["quantization"] == "fp32"
    assert any(entry["name"] == MODEL and entry["loaded"] for entry in models["store"])
    assert admin.post("/admin/models/load", json={"model": "nothing"}).status_code == 404
    assert models["loaded"][0]["kv_dtype"] == "fp32"
    refused = admin.post("/admin/models/load", json={"model": MODEL, "kv_dtype": "fp4"})
    assert refused.status_code == 400 and "kv_dtype must be auto or one of" in refused.json()["error"]["message"]
    assert admin.post("/admin/models/unload", json={"model": "nothing"}).status_code == 404


def test_plan(admin) -> None:
    plan = admin.get("/admin/plan", params={"model": MODEL, "quantization": "int8", "context": 2048})
    assert plan.status_code == 200, plan.text
    assert admin.get("/admin/plan", params={"model": MODEL, "context": "lots"}).json()["error"]["param"] == "context"


def test_cache_policy_pins_and_flush(admin) -> None:
    policy = admin.get("/admin/cache/policy").json()[MODEL]
    changed = admin.put("/admin/cache/policy", json={"model": MODEL, "eviction": "lfu"}).json()[MODEL]
    assert changed["eviction"] == "lfu"
    bad = admin.put("/admin/cache/policy", json={"eviction": "random"})
    assert bad.status_code == 400 and "eviction" in bad.json()["error"]["message"]
    admin.put("/admin/cache/policy", json={"model": MODEL, **policy})
    pin = admin.post("/admin/cache/pins", json={"model": MODEL, "prompt": "You are a helpful assistant. " * 6})
    assert pin.status_code == 201, pin.text
    assert admin.delete(f"/admin/cache/pins/{pin.json()['pin_id']}").json()["unpinned"]
    assert admin.delete("/admin/cache/pins/pin-nope").status_code == 404
    assert MODEL in admin.post("/admin/cache/flush", json={}).json()["prefix_blocks_flushed"]
    assert admin.get("/admin/cache/stats").json()["prefix"][MODEL]["blocks_total"] > 0


def test_cache_settings_have_the_config_files_names(admin) -> None:
    from appliance.config import CacheSettings

    policy = admin.get("/admin/cache/policy").json()[MODEL]
    assert set(policy) == set(CacheSettings.model_fields)
    off = admin.put("/admin/cache/policy", json={"model": MODEL, "prefix_caching": False})
    assert off.status_code == 200 and off.json()[MODEL]["prefix_caching"] is False
    admin.put("/admin/cache/policy", json={"model": MODEL, "prefix_caching": policy["prefix_caching"]})
    old_name = admin.put("/admin/cache/policy", json={"enabled": True}).json()["error"]
    assert (old_name["param"], old_name["message"]) == ("enabled", "unknown setting enabled.")
    wrong = admin.put("/admin/cache/policy", json={"capacity_blocks": -1}).json()["error"]
    assert (wrong["param"], wrong["message"]) == ("capacity_blocks", "capacity_blocks must be at least 0, got -1.")


def test_usage_report_and_tco(served, admin) -> None:
    secret = served.key("usage-report", tenant="reporting")
    served.client(secret).completions.create(model=MODEL, prompt="Hello", max_tokens=2, temperature=0)
    rows = admin.get("/admin/usage", params={"group": "tenant"}).json()["rows"]
    assert any(row.get("tenant") == "reporting" for row in rows), rows
    assert "tenant" in admin.get("/admin/usage", params={"group": "tenant", "format": "csv"}).text
    assert admin.get("/admin/usage", params={"period": "year"}).json()["error"]["param"] == "period"
    assert admin.get("/admin/tco").status_code == 200
    assert admin.put("/admin/tco", json={"power_watts": 500}).status_code == 200
