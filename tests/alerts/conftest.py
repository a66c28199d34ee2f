"""One live Airlock per alerts test module: real Appliance, SQLite, waitress on loopback and
SmolLM2, with alert rules made for the tests, a syslog socket and a webhook port on loopback.

The evaluator's own thread runs at a slow interval here; the tests call `evaluate()` at the
points they choose. Counter-based rules use a window shorter than any gap between
evaluations, so each evaluation measures exactly what happened since the one before.
"""
from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))

from api_support import MODEL, Live, make_config  # noqa: E402
from appliance.server import start_in_thread  # noqa: E402
from appliance.services import Appliance  # noqa: E402

SINCE_LAST = 0.001   # a window that reaches back to the previous evaluation only
RULES = [
    {"name": "budget-80", "kind": "budget_used", "threshold": 0.8},
    {"name": "budget-100", "kind": "budget_used", "threshold": 1.0, "severity": "critical"},
    {"name": "budget-burn", "kind": "budget_burn", "threshold": 1000, "window_seconds": 600},
    {"name": "prefix-hits", "kind": "prefix_hit_rate", "threshold": 0.5, "window_seconds": SINCE_LAST},
    {"name": "ttft", "kind": "ttft_p95", "threshold": 0.001, "window_seconds": SINCE_LAST},
    {"name": "itl", "kind": "itl_p95", "threshold": 0.001, "window_seconds": SINCE_LAST},
    {"name": "errors", "kind": "error_rate", "threshold": 0.2, "window_seconds": SINCE_LAST, "severity": "critical"},
    {"name": "overload", "kind": "rejected_rate", "threshold": 0.2, "window_seconds": SINCE_LAST},
    {"name": "queue", "kind": "queue_depth", "threshold": 1, "window_seconds": SINCE_LAST},
    {"name": "kv", "kind": "kv_usage", "threshold": 0.001, "window_seconds": SINCE_LAST},
    {"name": "cost", "kind": "cost_per_million", "threshold": 1e-9, "window_seconds": 3600},
    {"name": "idle", "kind": "utilisation", "threshold": 0.999, "window_seconds": 3600, "severity": "info"},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def syslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[socket.socket]:
    """A syslog daemon stand-in: a unix datagram socket the service sends to."""
    path = tmp_path_factory.mktemp("syslog") / "log.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(5)
    yield server
    server.close()


@pytest.fixture(scope="module")
def webhook_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory, syslog: socket.socket, webhook_port: int,
             seed_models) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("airlock")
    seed_models(data_dir, MODEL)
    config = make_config(data_dir, max_waiting=2)
    config.alerts.interval_seconds = 3600
    config.alerts.rules = RULES
    config.alerts.syslog_address = syslog.getsockname()
    config.alerts.webhook_url = f"http://127.0.0.1:{webhook_port}/hook"
    config.alerts.webhook_timeout_seconds = 1.0
    config.alerts.webhook_retries = 8
    appliance = Appliance.from_config(config, load_default=False)
    appliance.models.load(MODEL, "fp32")
    server, thread = start_in_thread(appliance)
    yield Live(appliance, server, server.url)
    server.stop()
    thread.join(timeout=30)
