"""The parts of the alerts that need no service: rule validation, windowed counters,
percentiles from histogram buckets, and the local-network rule for webhooks."""
from __future__ import annotations

import pytest

from appliance.alerts.delivery import check_webhook_url
from appliance.alerts.rules import DEFAULT_RULES, AlertRule, InvalidRule, rules_from_config
from appliance.alerts.signals import CounterHistory, percentile


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "a", "kind": "nope", "threshold": 1}, "kind must be one of"),
    ({"name": "a", "kind": ["kv_usage"], "threshold": 1}, "kind must be one of"),
    ({"name": "a", "kind": "kv_usage"}, "missing rule setting(s): threshold"),
    ({"name": "a", "kind": "kv_usage", "threshold": 1, "window_seconds": 0}, "window_seconds must be positive"),
    ({"name": "a", "kind": "kv_usage", "threshold": "high"}, "threshold must be a finite number"),
    ({"name": "a", "kind": "kv_usage", "threshold": 1, "severity": "loud"}, "severity must be one of"),
    ({"name": "a b", "kind": "kv_usage", "threshold": 1}, "name must be"),
    ({"name": "a", "kind": "kv_usage", "threshold": 1, "colour": "red"}, "unknown rule setting(s): colour"),
])
def test_a_bad_rule_is_refused_with_the_setting_named(data: dict, message: str) -> None:
    with pytest.raises(InvalidRule, match=message.replace("(", r"\(").replace(")", r"\)")):
        AlertRule.from_mapping(data)


def test_direction_of_each_kind_and_the_config_set() -> None:
    assert AlertRule("x", "budget_used", 0.8).breached(0.8)
    assert not AlertRule("x", "disk_free", 2).breached(2.0) and AlertRule("x", "disk_free", 2).breached(1.9)
    assert [r.name for r in rules_from_config([])] == [r.name for r in DEFAULT_RULES]
    with pytest.raises(InvalidRule, match="used twice: a"):
        rules_from_config([{"name": "a", "kind": "kv_usage", "threshold": 1}] * 2)


def test_counter_history_differences_over_a_window() -> None:
    history = CounterHistory(horizon=10)
    assert history.delta(5) is None
    for t, value in ((0, 0), (1, 10), (2, 30), (3, 60)):
        history.add(t, (value,))
    assert history.delta(0.001) == (30,)           # since the previous sample
    assert history.delta(2) == (50,)               # since t = 1
    assert history.delta(100) == (60,)             # younger than the window: since the oldest
    history.add(4, (5,))                           # the counter restarted (a model reloaded)
    assert history.delta(0.001) is None


def test_percentile_is_the_bucket_bound_holding_it() -> None:
    bounds = (0.1, 0.5, 1.0)
    assert percentile(bounds, (0, 0, 0, 0), 0.95) is None
    assert percentile(bounds, (90, 10, 0, 0), 0.95) == 0.5
    assert percentile(bounds, (0, 0, 0, 7), 0.95) == 1.0   # overflow: the largest bound


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/h", "http://10.1.2.3/h", "https://192.168.0.5/x",
                                 "http://alerts.plant.local/h", "http://[::1]:8080/"])
def test_webhooks_on_the_local_network_are_accepted(url: str) -> None:
    check_webhook_url(url)


@pytest.mark.parametrize(("url", "message"), [("http://8.8.8.8/h", "public address"),
                                              ("ftp://10.0.0.1/x", "http:// or https://")])
def test_webhooks_elsewhere_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_webhook_url(url)


def test_config_names_bad_alert_and_chargeback_settings(tmp_path) -> None:
    from appliance.config import ConfigError, load_config

    assert load_config(env={}).alerts.rules == []
    path = tmp_path / "airlock.toml"
    path.write_text('[ledger]\nchargeback_idle = "nobody"\n[alerts]\nwebhook_url = "http://8.8.8.8/hook"\n'
                    '[[alerts.rules]]\nname = "x"\nkind = "kv_usage"\nthreshold = 1\nseverity = "loud"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    problems = str(refused.value).split("; ")
    assert len(problems) == 3 and problems[0].startswith("ledger.chargeback_idle must be share or central")
    assert "alerts.webhook_url" in problems[1] and "public address" in problems[1]
    assert problems[2].startswith("alerts.rules is not valid: severity must be one of")
