"""Auth rules: keys, the admin credential, allowed models, rates, budgets, auth off on loopback."""
from __future__ import annotations

import os
import stat

import openai
import pytest

from appliance.auth.admin import AuthSettingError, admin_token, check_auth_setting
from appliance.auth.budgets import KeyBudgets
from appliance.auth.keys import KeySettingError, KeySpec, KeyStore, _sha256
from appliance.ledger.database import make_engine, upgrade
from appliance.auth.limits import LimitExceeded, RateLimiter
from appliance.server import start_in_thread
from appliance.services import Appliance
from api_support import MODEL, make_config


def _store(url: str) -> KeyStore:
    db = make_engine(url)
    upgrade(db)
    return KeyStore(db)


def test_missing_key_is_401(live) -> None:
    response = live.http().get("/v1/models")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"


def test_wrong_key_is_401_with_openai_error(live) -> None:
    with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
        live.client("ak-0000000000notakey").models.list()


def test_revoked_key_is_401(live) -> None:
    key, secret = live.appliance.keys.create(KeySpec(name="soon-revoked"))
    assert live.client(secret).models.list().data is not None
    response = live.http().delete(f"/admin/keys/{key.id}", headers=live.admin())
    assert response.status_code == 200 and response.json()["revoked_at"]
    with pytest.raises(openai.AuthenticationError):
        live.client(secret).models.list()


def test_api_key_cannot_use_admin_api(live) -> None:
    response = live.http().get("/admin/keys", headers={"Authorization": f"Bearer {live.key()}"})
    assert response.status_code == 403
    assert "admin credential" in response.json()["error"]["message"]


def test_admin_api_needs_credential(live) -> None:
    assert live.http().get("/admin/stats").status_code == 401
    assert live.http().get("/admin/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert live.http().get("/admin/stats", headers=live.admin()).status_code == 200


def test_key_not_allowed_model_is_403(served) -> None:
    client = served.client(served.key("narrow", allowed_models=["other-model"]))
    with pytest.raises(openai.PermissionDeniedError, match=f"may not use model '{MODEL}'"):
        client.completions.create(model=MODEL, prompt="Hi", max_tokens=1)
    assert client.models.list().data == []   # it sees only what it may use


def test_request_rate_is_429_with_retry_after(served) -> None:
    client = served.client(served.key("slow", requests_per_minute=2))
    for _ in range(2):
        client.completions.create(model=MODEL, prompt="Hi", max_tokens=1, temperature=0)
    with pytest.raises(openai.RateLimitError, match="2 requests per minute") as info:
        client.completions.create(model=MODEL, prompt="Hi", max_tokens=1)
    assert 1 <= int(info.value.response.headers["Retry-After"]) <= 60


def test_token_budget_is_429(served) -> None:
    client = served.client(served.key("budget", token_budget=20))
    client.completions.create(model=MODEL, prompt="Once upon a time there was", max_tokens=8, temperature=0)
    with pytest.raises(openai.RateLimitError, match="token budget"):   # what is left cannot hold 1 + 8
        client.completions.create(model=MODEL, prompt="Hi", max_tokens=8)


def test_rate_limiter_windows() -> None:
    now = [0.0]
    key = _store("sqlite://")
    requests = key.create(KeySpec(name="r", requests_per_minute=1))[0]
    tokens = key.create(KeySpec(name="t", tokens_per_minute=100))[0]
    limiter = RateLimiter(KeyBudgets(key.db, "n1"), clock=lambda: now[0])
    limiter.reserve(requests, 1).settle(1, 1)
    with pytest.raises(LimitExceeded) as info:
        limiter.reserve(requests, 1)
    assert info.value.retry_after == pytest.approx(60.0) and info.value.limit == "requests_per_minute"
    now[0] = 61.0
    limiter.reserve(requests, 1)
    limiter.reserve(tokens, 100).settle(100, 60)    # held 100, billed 60: 40 come back at once
    now[0] = 100.0
    limiter.reserve(tokens, 40).settle(40, 40)
    with pytest.raises(LimitExceeded, match="100 tokens per minute") as info:
        limiter.reserve(tokens, 1)
    assert info.value.retry_after == pytest.approx(21.0)
    now[0] = 122.0
    limiter.reserve(tokens, 60)                      # the first minute's 60 tokens have passed


def test_reservations_hold_the_worst_case_and_settle_to_actual() -> None:
    store = _store("sqlite://")
    key = store.create(KeySpec(name="b", token_budget=100))[0]
    budgets = KeyBudgets(store.db, "n1")
    budgets.settle(key.id, 0, 10)                    # 10 used before this process
    limiter = RateLimiter(budgets, max_inflight=2)
    first = limiter.reserve(key, 60, prompts=2)
    with pytest.raises(LimitExceeded, match="held by requests in flight") as info:
        limiter.reserve(key, 31)
    assert info.value.limit == "token_budget"
    second = limiter.reserve(key, 30)
    with pytest.raises(LimitExceeded) as info:
        limiter.reserve(key, 0)
    assert info.value.limit == "concurrency"
    first.settle(30, 25)
    first.settle(30, 5)                              # the last part settles, the slot is free
    first.cancel()                                   # settled already: no effect
    second.cancel()                                  # never ran: bills nothing
    assert limiter.used(key) == (40, 0)
    limiter.reserve(key, 60).settle(60, 60)
    with pytest.raises(LimitExceeded, match="used its token budget"):
        limiter.reserve(key, 1)


def test_secret_is_stored_only_as_hash(tmp_path) -> None:
    store = _store(f"sqlite:///{tmp_path / 'k.db'}")
    key, secret = store.create(KeySpec(name="x", tenant="t"))
    assert store.verify(secret) == key
    assert store.verify(secret + "x") is None and store.verify(secret[:-1] + "?") is None
    files = [tmp_path / "k.db", tmp_path / "k.db-wal"]   # in WAL mode a new row sits in the -wal file
    stored = b"".join(f.read_bytes() for f in files if f.exists())
    assert _sha256(secret).encode() in stored          # the digest is there, so the search reads the row
    assert secret.encode() not in stored and secret[len("ak-"):].encode() not in stored
    with pytest.raises(KeySettingError, match="token_budget"):
        KeySpec(name="x", token_budget=-1)
    with pytest.raises(KeySettingError, match="tokens_per_minute must be an integer from 0 .unlimited. to 2,147,483,647"):
        KeySpec(name="x", tokens_per_minute=2**31)          # past the ledger's 32-bit integer columns


def test_admin_token_generated_with_mode_0600(tmp_path) -> None:
    config = make_config(tmp_path)
    token = admin_token(config)
    path = tmp_path / "admin_token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert admin_token(config) == token and len(token) > 30


def test_auth_off_refused_off_loopback(tmp_path) -> None:
    with pytest.raises(AuthSettingError, match="loopback"):
        check_auth_setting(make_config(tmp_path, auth=False, host="0.0.0.0"))
    check_auth_setting(make_config(tmp_path, auth=False, host="127.0.0.1"))


def test_auth_off_on_loopback_serves_without_key(tmp_path) -> None:
    appliance = Appliance.from_config(make_config(tmp_path, auth=False), load_default=False)
    server, thread = start_in_thread(appliance)
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="anything", max_retries=0)
        assert client.models.list().data == []
    finally:
        server.stop()
        thread.join(timeout=30)


def test_key_table_survives_a_database_error(tmp_path) -> None:
    store = _store(f"sqlite:///{tmp_path / 'k.db'}")
    key, secret = store.create(KeySpec(name="kept"))
    with store.db.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE api_keys RENAME TO api_keys_gone")   # every read now fails
    store._loaded_at = 0.0                     # due for a reload
    assert store.verify(secret) == key         # the last good table is kept, not emptied


def test_revoked_key_does_not_come_back_through_a_prefix_read(tmp_path, monkeypatch) -> None:
    import appliance.auth.keys as keys

    url = f"sqlite:///{tmp_path / 'k.db'}"
    server, cli = _store(url), _store(url)
    key, secret = cli.create(KeySpec(name="made-elsewhere"))   # unknown to `server` until it reads it
    to_key, revoking = keys._to_key, []

    def revoke_during_read(row):
        if row.id == key.id and not revoking:   # the admin revokes while a request reads the prefix
            revoking.append(True)
            server.revoke(key.id)
        return to_key(row)

    monkeypatch.setattr(keys, "_to_key", revoke_during_read)
    server.verify(secret)
    assert revoking and server.verify(secret) is None   # not put back into the table by the late read


def test_key_names_and_tenants_are_bounded() -> None:
    with pytest.raises(KeySettingError, match="name must be at most 200"):
        KeySpec(name="n" * 201)
    with pytest.raises(KeySettingError, match="tenant must be at most 200"):
        KeySpec(name="x", tenant="t" * 201)
    with pytest.raises(KeySettingError, match="reserved"):
        KeySpec(name="x", tenant="default")
