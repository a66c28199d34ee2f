"""Service alerts: rules (rules.py) over signals read from the running appliance
(signals.py), evaluated on a background thread (evaluator.py), stored in the ledger database
(store.py) and delivered to syslog and a local webhook (delivery.py)."""
from __future__ import annotations

from typing import Any

from appliance.alerts.delivery import sinks_from_config
from appliance.alerts.evaluator import AlertEvaluator
from appliance.alerts.rules import KINDS, AlertRule, InvalidRule
from appliance.alerts.responses import ResponseCounter

__all__ = ["KINDS", "AlertEvaluator", "AlertRule", "InvalidRule", "ResponseCounter", "start_alerts"]


def start_alerts(appliance: Any) -> AlertEvaluator | None:
    """The evaluator for `appliance`, started; None when alerts are off or there is no ledger.
    A bad rule or delivery setting stops start-up with a message naming it."""
    from appliance.config import ConfigError

    config = appliance.config.alerts
    if not config.enabled or appliance.ledger is None:
        return None
    try:
        return AlertEvaluator(appliance, config, sinks_from_config(config)).start()
    except (InvalidRule, ValueError) as exc:
        raise ConfigError(f"alerts: {exc}") from None
