"""Each rule kind driven to fire and to resolve against the live service (real model, real
HTTP, real ledger): budgets, overload (queue, 503s, errors), latency, the prefix cache and a
flush, KV use, cost and utilisation; then delivery to syslog, Prometheus and a webhook that
first refuses connections and then accepts them."""
from __future__ import annotations

import http.server
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from api_support import MODEL, Live
from conftest import SINCE_LAST
from prometheus_samples import sample

LONG_PROMPT = "Summarise the history of the printing press in Europe. " * 60


def _chat(live: Live, secret: str, content: str, max_tokens: int = 4) -> httpx.Response:
    with httpx.Client(base_url=live.url, timeout=120) as http:
        return http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                         json={"model": MODEL, "max_tokens": max_tokens, "temperature": 0,
                               "messages": [{"role": "user", "content": content}]})


def _evaluate(live: Live) -> dict[str, list[dict]]:
    """One evaluation; the state changes it made, by rule."""
    changes: dict[str, list[dict]] = {}
    for event in live.appliance.alerts.evaluate():
        changes.setdefault(event["rule"], []).append(event)
    return changes


def _fired(changes: dict[str, list[dict]]) -> set[str]:
    return {rule for rule, events in changes.items() if any(e["state"] == "firing" for e in events)}


def _firing(live: Live) -> set[str]:
    return {e["rule"] for e in live.appliance.alerts.firing()}


def _admin(live: Live, method: str, path: str, **kwargs) -> httpx.Response:
    with httpx.Client(base_url=live.url, timeout=60) as http:
        return http.request(method, path, headers=live.admin(), **kwargs)


@pytest.fixture(scope="module")
def secret(alerting: Live) -> str:
    return alerting.key("alerts-tester")


def test_budget_rules_fire_at_80_and_100_percent_and_resolve_when_raised(alerting: Live) -> None:
    created = _admin(alerting, "POST", "/admin/keys", json={"name": "dept-a", "token_budget": 150}).json()
    subject = f"dept-a ({created['id']})"
    for _ in range(30):
        if _chat(alerting, created["secret"], "Say hello.", max_tokens=8).status_code == 429:
            break
    alerting.appliance.ledger.flush(timeout=10)     # alerts read written rows (within flush_interval)
    changes = _evaluate(alerting)
    for rule in ("budget-80", "budget-100", "budget-burn"):
        assert [e["subject"] for e in changes[rule]] == [subject] and changes[rule][0]["state"] == "firing"
    assert changes["budget-100"][0]["value"] >= 1.0 and changes["budget-100"][0]["severity"] == "critical"
    assert "budget-100" not in _evaluate(alerting)                      # fires once, stays active
    assert {"budget-80", "budget-100", "budget-burn"} <= _firing(alerting)

    assert _admin(alerting, "PATCH", f"/admin/keys/{created['id']}", json={"token_budget": 10**9}).status_code == 200
    changes = _evaluate(alerting)
    for rule in ("budget-80", "budget-100", "budget-burn"):
        assert changes[rule][0]["state"] == "resolved" and changes[rule][0]["subject"] == subject
    assert changes["budget-80"][0]["value"] < 0.8


def test_overload_fires_queue_rejections_and_errors_then_resolves(alerting: Live, secret: str) -> None:
    _evaluate(alerting)
    seen: set[str] = set()
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(_chat, alerting, secret, f"{i} {LONG_PROMPT}", 8) for i in range(12)]
        while not all(f.done() for f in futures):
            seen |= _fired(_evaluate(alerting))
            time.sleep(0.05)
        statuses = [f.result().status_code for f in futures]
    seen |= _fired(_evaluate(alerting))
    assert 503 in statuses and 200 in statuses
    assert {"queue", "overload", "errors", "ttft", "itl"} <= seen
    changes = _evaluate(alerting)                                        # nothing since: no data, resolved
    assert not {"queue", "overload", "errors", "ttft", "itl"} & _firing(alerting)
    assert all(e["state"] == "resolved" for events in changes.values() for e in events)


def test_slow_engine_by_config_then_tuned_threshold_resolves(alerting: Live, secret: str) -> None:
    """The ITL target is stricter than the engine (0.001 s per token on two cores): it fires;
    the admin raises the target at run time and it resolves while traffic continues."""
    _evaluate(alerting)
    assert _chat(alerting, secret, "Count to five.", max_tokens=12).status_code == 200
    assert _evaluate(alerting)["itl"][0]["state"] == "firing"
    reply = _admin(alerting, "PUT", "/admin/alerts/rules/itl",
                   json={"kind": "itl_p95", "threshold": 60, "window_seconds": SINCE_LAST})
    assert reply.status_code == 200
    assert _chat(alerting, secret, "Count to five.", max_tokens=12).status_code == 200
    resolved = _evaluate(alerting)["itl"][0]
    assert resolved["state"] == "resolved" and resolved["value"] < 60


def test_prefix_hit_rate_fires_after_a_flush_and_resolves_on_reuse(alerting: Live, secret: str) -> None:
    prompt = "Reply with one word. " + LONG_PROMPT
    assert _chat(alerting, secret, prompt).status_code == 200
    _evaluate(alerting)
    assert _chat(alerting, secret, prompt).status_code == 200            # served from the prefix cache
    _evaluate(alerting)
    assert "prefix-hits" not in _firing(alerting)
    assert _admin(alerting, "POST", "/admin/cache/flush", json={}).status_code == 200
    assert _chat(alerting, secret, prompt).status_code == 200            # recomputed: a miss
    fired = _evaluate(alerting)["prefix-hits"][0]
    assert fired["state"] == "firing" and fired["value"] < 0.5
    assert _chat(alerting, secret, prompt).status_code == 200            # cached again
    resolved = _evaluate(alerting)["prefix-hits"][0]
    assert resolved["state"] == "resolved" and resolved["value"] >= 0.5


def test_kv_use_fires_while_a_prefix_is_pinned(alerting: Live) -> None:
    _evaluate(alerting)
    assert "kv" not in _firing(alerting)
    pin = _admin(alerting, "POST", "/admin/cache/pins", json={"model": MODEL, "prompt": LONG_PROMPT}).json()
    engine = alerting.appliance.models.get(MODEL)

    def warmed_up() -> bool:   # the pin computes its blocks in a request of its own; wait for it to end
        stats = engine.stats()
        return stats.running == stats.waiting == 0 and all(p["cached_blocks"] == p["blocks"] for p in engine.pins())
    deadline = time.monotonic() + 120
    while not warmed_up() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _evaluate(alerting)["kv"][0]["state"] == "firing"
    _admin(alerting, "DELETE", f"/admin/cache/pins/{pin['pin_id']}")
    _admin(alerting, "POST", "/admin/cache/flush", json={})
    assert _evaluate(alerting)["kv"][0]["state"] == "resolved"


def test_cost_and_idle_capacity_fire_from_the_ledger_and_resolve_when_tuned(alerting: Live) -> None:
    alerting.appliance.ledger.flush(timeout=10)
    _evaluate(alerting)
    assert {"cost", "idle"} <= _firing(alerting)
    cost = next(e for e in alerting.appliance.alerts.firing() if e["rule"] == "cost")
    assert cost["value"] > 0
    _admin(alerting, "PUT", "/admin/alerts/rules/cost", json={"kind": "cost_per_million", "threshold": 1e12})
    _admin(alerting, "PUT", "/admin/alerts/rules/idle", json={"kind": "utilisation", "threshold": 0.0})
    changes = _evaluate(alerting)
    assert changes["cost"][0]["state"] == changes["idle"][0]["state"] == "resolved"


def test_history_in_the_database_ack_and_audit(alerting: Live) -> None:
    body = _admin(alerting, "GET", "/admin/alerts", params={"limit": 500}).json()
    states = {(e["rule"], e["state"]) for e in body["events"]}
    assert {("budget-100", "firing"), ("budget-100", "resolved"), ("overload", "firing")} <= states
    event = body["events"][0]
    acked = _admin(alerting, "POST", f"/admin/alerts/events/{event['id']}/ack", json={}).json()
    assert acked["acknowledged_by"].startswith("admin:") and acked["acknowledged_at"]
    assert _admin(alerting, "POST", "/admin/alerts/events/999999/ack", json={}).status_code == 404
    bad = _admin(alerting, "PUT", "/admin/alerts/rules/x", json={"kind": "nope", "threshold": 1})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "kind"
    audit = _admin(alerting, "GET", "/admin/audit", params={"limit": 1000}).json()["data"]
    actions = {e["action"] for e in audit}
    assert {"key.create", "key.update", "alert.rule", "alert.acknowledge", "cache.flush", "cache.pin",
            "cache.unpin"} <= actions
    assert _admin(alerting, "GET", "/admin/audit/verify").json()["intact"] is True


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_delivery_to_syslog_prometheus_and_a_webhook_that_refuses_first(alerting: Live, syslog, webhook_port: int) -> None:
    sink = next(s for s in alerting.appliance.alerts.sinks if type(s).__name__ == "WebhookSink")
    while True:                                    # empty the syslog socket of earlier tests' messages
        syslog.settimeout(0.05)
        try:
            syslog.recv(4096)
        except TimeoutError:
            break
    syslog.settimeout(5)
    attempts = sink.attempts
    _admin(alerting, "PUT", "/admin/alerts/rules/disk", json={"kind": "disk_free", "threshold": 1e9,
                                                              "severity": "critical"})
    started = time.perf_counter()
    fired = _evaluate(alerting)["disk"][0]
    assert time.perf_counter() - started < 3.0     # the dead webhook (retrying 0.5 s, 1 s, 2 s...) holds nothing up

    message = syslog.recv(4096).decode()
    while "alert firing disk" not in message:      # other rules' changes of this evaluation come too
        message = syslog.recv(4096).decode()
    assert message.startswith("<26>airlock: ")    # daemon (3) x 8 + crit (2)
    metrics = httpx.get(alerting.url + "/metrics").text
    assert sample(metrics, "airlock:alerts", alertname="disk", kind="disk_free", severity="critical",
                  alertstate="firing") == 1.0

    deadline = time.monotonic() + 60
    while sink.attempts < attempts + 2 and time.monotonic() < deadline:   # refused twice (nobody listens)
        time.sleep(0.05)
    assert sink.attempts >= attempts + 2
    server = http.server.ThreadingHTTPServer(("127.0.0.1", webhook_port), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        while not any(e["id"] == fired["id"] for e in _Hook.received) and time.monotonic() < deadline:
            time.sleep(0.1)
        delivered = next(e for e in _Hook.received if e["id"] == fired["id"])
        assert delivered["source"] == "airlock" and delivered["state"] == "firing" and delivered["value"] > 0
    finally:
        server.shutdown()
        server.server_close()
