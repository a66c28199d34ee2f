"""The console's pieces that need no service: histogram percentiles, the client's outage
reply, and the `airlock console` defaults from the config file."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from appliance.cli.console import default_token, default_url
from appliance.config import load_config
from tui.client import DISCONNECTED, AdminClient
from tui.prometheus import histogram, quantile, since
from tui_service import free_port

METRICS = """# TYPE airlock:time_to_first_token_seconds histogram
airlock:time_to_first_token_seconds_bucket{model_name="a",le="0.1"} 2
airlock:time_to_first_token_seconds_bucket{model_name="a",le="0.5"} 8
airlock:time_to_first_token_seconds_bucket{model_name="a",le="+Inf"} 10
airlock:time_to_first_token_seconds_bucket{model_name="b",le="0.1"} 0
airlock:time_to_first_token_seconds_bucket{model_name="b",le="0.5"} 0
airlock:time_to_first_token_seconds_bucket{model_name="b",le="+Inf"} 0
airlock:time_to_first_token_seconds_count{model_name="a"} 10
"""


def test_histogram_sums_label_sets_and_interpolates() -> None:
    buckets = histogram(METRICS, "airlock:time_to_first_token_seconds")
    assert buckets == {0.1: 2, 0.5: 8, math.inf: 10}
    assert quantile(buckets, 0.5) == pytest.approx(0.1 + 0.4 * (3 / 6))
    assert quantile(buckets, 0.95) == 0.5            # in +Inf: the highest finite bound
    assert quantile({}, 0.5) is None


def test_since_keeps_only_the_new_observations() -> None:
    before = {0.1: 2.0, 0.5: 8.0, math.inf: 10.0}
    now = {0.1: 2.0, 0.5: 9.0, math.inf: 11.0}
    assert since(now, before) == {0.1: 0.0, 0.5: 1.0, math.inf: 1.0}
    assert quantile(since(now, before), 0.5) == pytest.approx(0.3)
    assert quantile(since(before, before), 0.5) is None


@pytest.mark.anyio
async def test_unreachable_service_is_a_reply_not_an_exception() -> None:
    seen: list[bool] = []
    client = AdminClient(f"http://127.0.0.1:{free_port()}", "t")
    client.on_connection = seen.append
    reply = await client.stats()
    await client.close()
    assert (reply.ok, reply.status, reply.error) == (False, 0, DISCONNECTED)
    assert seen == [False]


def test_client_rejects_a_url_without_scheme() -> None:
    with pytest.raises(ValueError, match="must start with http"):
        AdminClient("127.0.0.1:8420")


def test_console_defaults_come_from_the_config(tmp_path: Path) -> None:
    config_file = tmp_path / "airlock.toml"
    config_file.write_text('[server]\nhost = "0.0.0.0"\nport = 9001\n')
    config = load_config(config_file, env={"AIRLOCK_DATA_DIR": str(tmp_path)})
    assert default_url(config) == "http://127.0.0.1:9001"
    assert default_token(config) == ""
    (tmp_path / "admin_token").write_text("from-file\n")
    assert default_token(config) == "from-file"
    config.server.admin_token = "from-config"
    assert default_token(config) == "from-config"


def test_console_command_reports_bad_arguments(capsys: pytest.CaptureFixture, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from appliance.cli import main

    monkeypatch.setenv("AIRLOCK_DATA_DIR", str(tmp_path))
    assert main(["console", "--admin-token", "t", "--url", "localhost:8420"]) == 2
    assert "must start with http://" in capsys.readouterr().out
    assert main(["console", "--admin-token", "t", "--poll", "0"]) == 2
    assert "--poll must be positive" in capsys.readouterr().out
    assert main(["console"]) == 2
    assert "no admin token" in capsys.readouterr().out
