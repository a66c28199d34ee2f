"""The admin API against a browser on the host: JSON bodies only, Host names, a lockout after
wrong credentials, no weak admin token, loopback-only /admin on a wildcard bind. Each server
here is a real Appliance behind waitress on loopback (no model: the gate runs before handlers)."""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from api_support import make_config
from appliance.api.admin_throttle import FailureThrottle
from appliance.app import create_app
from appliance.auth.admin import AuthSettingError
from appliance.cli.console import resolve_token
from appliance.server import start_in_thread
from appliance.services import Appliance

STRONG = "adm-test-9f3Kq7Zx1Lw0"


@contextmanager
def serving(tmp_path: Path, host: str = "127.0.0.1", **server) -> Iterator[tuple[httpx.Client, Appliance]]:
    appliance = Appliance.from_config(make_config(tmp_path, host=host, **server), load_default=False)
    srv, thread = start_in_thread(appliance, host=host)
    try:
        url = srv.url.replace("0.0.0.0", "127.0.0.1")
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, appliance
    finally:
        srv.stop()
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def open_admin(tmp_path_factory) -> Iterator[tuple[httpx.Client, Appliance]]:
    """auth = false on loopback: the case a browser page on the host can reach."""
    with serving(tmp_path_factory.mktemp("gate"), auth=False, admin_hosts="airlock.lan") as pair:
        yield pair


@pytest.mark.parametrize("headers", [{"Content-Type": "text/plain"}, {},
                                     {"Content-Type": "application/x-www-form-urlencoded"}])
def test_admin_body_that_is_not_json_is_415(open_admin, headers) -> None:
    client, _ = open_admin
    response = client.post("/admin/models/unload", content=b'{"model": "smollm2"}', headers=headers)
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type" and error["type"] == "invalid_request_error"
    assert "application/json" in error["message"]


def test_admin_json_body_reaches_the_handler(open_admin) -> None:
    client, _ = open_admin
    response = client.post("/admin/models/unload", json={"model": "nothing"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
    assert client.put("/admin/tco", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.get("/admin/stats").status_code == 200   # no body, no Content-Type needed


@pytest.mark.parametrize("host, ok", [("evil.example", False), ("evil.example:8420", False),
                                      ("127.0.0.1.evil.example", False), ("localhost:1", True),
                                      ("[::1]:8420", True), ("AIRLOCK.lan:8420", True)])
def test_admin_host_header_must_name_the_appliance(open_admin, host, ok) -> None:
    client, _ = open_admin
    response = client.get("/admin/stats", headers={"Host": host})
    assert (response.status_code == 200) is ok, response.text
    if not ok:
        assert response.status_code == 403 and response.json()["error"]["code"] == "host_not_allowed"
    assert client.get("/health", headers={"Host": host}).status_code == 200   # only /admin is checked


def test_wrong_admin_tokens_lock_the_address_out(tmp_path) -> None:
    with serving(tmp_path, admin_token=STRONG, admin_max_failures=3) as (client, _):
        wrong = {"Authorization": "Bearer adm-guess-000000000000"}
        assert [client.get("/admin/stats", headers=wrong).status_code for _ in range(3)] == [401] * 3
        locked = client.get("/admin/stats", headers={"Authorization": f"Bearer {STRONG}"})
        assert locked.status_code == 429 and locked.json()["error"]["code"] == "admin_locked_out"
        assert int(locked.headers["Retry-After"]) > 0
        assert client.get("/health").status_code == 200


def test_throttle_expires_and_memory_is_bounded() -> None:
    now = [0.0]
    throttle = FailureThrottle(max_failures=2, window=10, lockout=30, max_clients=100, clock=lambda: now[0])
    throttle.failed("a")
    now[0] = 11
    throttle.failed("a")
    assert throttle.blocked_for("a") == 0          # two failures, but not within the window
    throttle.failed("a")
    assert throttle.blocked_for("a") == 30 and throttle.blocked_for("b") == 0
    now[0] = 41.5
    assert throttle.blocked_for("a") == 0
    for i in range(10_000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle) == 100


@pytest.mark.parametrize("token, reason", [("short-token", "at least 16 are required"),
                                           ("ab" * 20, "different characters")])
def test_weak_admin_token_is_refused_at_start(tmp_path, token, reason) -> None:
    appliance = Appliance.from_config(make_config(tmp_path, admin_token=token), load_default=False)
    with pytest.raises(AuthSettingError, match=reason):
        create_app(appliance)


def test_serve_refuses_a_weak_admin_token(tmp_path, monkeypatch, capsys) -> None:
    from appliance.cli import main

    monkeypatch.setenv("AIRLOCK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AIRLOCK_SERVER_ADMIN_TOKEN", "secret")
    assert main(["serve"]) == 2
    assert "admin token is too weak" in capsys.readouterr().err


def test_admin_on_wildcard_bind_answers_loopback_only(tmp_path) -> None:
    """A peer off loopback cannot be made here (the suite's air-gap guard), so this drives the
    real app through Flask's WSGI test client with the peer address it would see."""
    config = make_config(tmp_path, host="0.0.0.0", admin_token=STRONG, admin_hosts="airlock.lan")
    app = create_app(Appliance.from_config(config, load_default=False))
    client, admin = app.test_client(), {"Authorization": f"Bearer {STRONG}", "Host": "airlock.lan"}
    remote = client.get("/admin/stats", headers=admin, environ_overrides={"REMOTE_ADDR": "10.1.2.3"})
    assert remote.status_code == 403 and remote.json["error"]["code"] == "admin_loopback_only"
    assert client.get("/health", environ_overrides={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    local = client.get("/admin/stats", headers=admin, environ_overrides={"REMOTE_ADDR": "127.0.0.1"})
    assert local.status_code == 200
    config.server.admin_from_network = True
    opened = client.get("/admin/stats", headers=admin, environ_overrides={"REMOTE_ADDR": "10.1.2.3"})
    assert opened.status_code == 200


def test_console_reads_the_token_from_a_file_or_the_environment(tmp_path) -> None:
    config = make_config(tmp_path)
    (tmp_path / "tok").write_text("from-file-token\n")
    args = argparse.Namespace(admin_token=None, token_file=tmp_path / "tok")
    assert resolve_token(args, config, env={"AIRLOCK_ADMIN_TOKEN": "from-env"}) == "from-file-token"
    args.token_file = None
    assert resolve_token(args, config, env={"AIRLOCK_ADMIN_TOKEN": "from-env"}) == "from-env"
    config.server.admin_token = "from-config"
    assert resolve_token(args, config, env={}) == "from-config"
    args.token_file = tmp_path / "missing"
    with pytest.raises(OSError):
        resolve_token(args, config, env={})
