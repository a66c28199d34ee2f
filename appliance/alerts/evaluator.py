"""AlertEvaluator: the rules, evaluated every few seconds on one background thread.

Invariants:
- An alert is one (rule, subject). It fires once when its rule is breached, stays active
  (no repeats) while the breach holds, and resolves when it no longer does, when the subject
  has nothing to measure any more, or when its rule is removed or disabled.
- Each firing and each resolution is one row in alert_events, with the value and threshold
  that caused it, and is handed to every sink; a sink never blocks the evaluator.
- Alerts still firing in the database when the service starts are taken up again, not
  fired twice.
- Serving never waits on the evaluator: it reads counters the request path already keeps.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics_core import Metric

from appliance.api.prometheus import family
from appliance.alerts.rules import AlertRule, InvalidRule, rules_from_config
from appliance.alerts.signals import Signals
from appliance.alerts.store import AlertStore

log = logging.getLogger("airlock.alerts")


@dataclass(slots=True)
class Active:
    event: dict               # the firing event
    value: float | None       # the latest value while firing


class AlertEvaluator:
    def __init__(self, appliance: Any, config: Any, sinks: list | None = None, interval: float | None = None) -> None:
        self.config = config
        self.interval = config.interval_seconds if interval is None else interval
        self.store = AlertStore(appliance.ledger.engine)
        self.sinks = sinks or []
        self._configured = {r.name: r for r in rules_from_config(config.rules)}
        self._lock = threading.RLock()
        self.rules = self._merged_rules()
        self.signals = Signals(appliance, horizon=self._horizon())
        self.active: dict[tuple[str, str], Active] = {
            (e["rule"], e["subject"]): Active(e, e["value"]) for e in self.store.firing()}
        self.evaluations = 0
        self.seconds_spent = 0.0        # wall time in evaluate()
        self.cpu_seconds_spent = 0.0    # this thread's CPU time in evaluate(): its real cost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- rules ------------------------------------------------------------------------------

    def _merged_rules(self) -> dict[str, AlertRule]:
        rules = dict(self._configured)
        for name, rule in self.store.rule_overrides().items():
            if rule is None:
                rules.pop(name, None)
            else:
                rules[name] = rule
        return rules

    def _horizon(self) -> float:
        return max((r.window_seconds for r in self.rules.values()), default=300.0) + 2 * self.interval

    def put_rule(self, data: dict) -> tuple[AlertRule | None, AlertRule]:
        """Add or replace a rule (kept in the database); (before, after)."""
        rule = AlertRule.from_mapping(data)
        with self._lock:
            before = self.rules.get(rule.name)
            self.store.save_rule(rule.name, rule)
            self.rules[rule.name] = rule
            self.signals.history_horizon(self._horizon())
        return before, rule

    def delete_rule(self, name: str) -> AlertRule:
        with self._lock:
            if name not in self.rules:
                raise InvalidRule(f"no alert rule named {name!r}")
            self.store.save_rule(name, None)
            return self.rules.pop(name)

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(self) -> list[dict]:
        """One pass over every rule; the state changes it made."""
        started, cpu = time.perf_counter(), time.thread_time()
        with self._lock:
            self.signals.sample()
            changes: list[dict] = []
            seen: set[tuple[str, str]] = set()
            for rule in self.rules.values():
                if rule.enabled:
                    changes += self._evaluate_rule(rule, seen)
            for key in [k for k in self.active if k not in seen]:
                changes.append(self._resolve(key))
        self.evaluations += 1
        self.seconds_spent += time.perf_counter() - started
        self.cpu_seconds_spent += time.thread_time() - cpu
        for event in changes:
            self._deliver(event)
        return changes

    def _evaluate_rule(self, rule: AlertRule, seen: set) -> list[dict]:
        try:
            values = self.signals.read(rule.kind, rule.window_seconds)
        except Exception:   # one broken reading (a locked database, NVML) must not stop the others
            log.exception("alert rule %s could not read %s", rule.name, rule.kind)
            seen.update(k for k in self.active if k[0] == rule.name)   # keep its state as it was
            return []
        changes = []
        for subject, value in values.items():
            key = (rule.name, subject)
            if not rule.breached(value):
                continue
            seen.add(key)
            if key in self.active:
                self.active[key].value = value
            else:
                event = self.store.add_event(rule, subject, "firing", value, rule.describe(subject, value))
                self.active[key] = Active(event, value)
                changes.append(event)
        return changes

    def _resolve(self, key: tuple[str, str]) -> dict:
        """Resolve with the value now measured (None: nothing measured, or the rule is gone)."""
        active = self.active.pop(key)
        rule = self.rules.get(key[0])
        value = self.signals.read(rule.kind, rule.window_seconds).get(key[1]) if rule else None
        rule = rule or AlertRule.from_mapping({k: active.event[k] for k in ("kind", "threshold", "severity")}
                                              | {"name": key[0]})
        return self.store.add_event(rule, key[1], "resolved", value, rule.describe(key[1], value))

    def _deliver(self, event: dict) -> None:
        level = logging.WARNING if event["state"] == "firing" else logging.INFO
        log.log(level, "alert %s %s: %s", event["state"], event["rule"], event["message"])
        for sink in self.sinks:
            try:
                sink.deliver(event)
            except Exception:
                log.exception("alert sink %s failed", type(sink).__name__)

    # -- reading ----------------------------------------------------------------------------

    def firing(self) -> list[dict]:
        with self._lock:
            return [a.event | {"value": a.value} for a in self.active.values()]

    def metric_family(self) -> Metric:
        """An ALERTS-style gauge: one sample per rule (1 while any subject fires) and one per
        firing subject."""
        with self._lock:
            samples = []
            for rule in self.rules.values():
                subjects = [s for (name, s) in self.active if name == rule.name]
                labels = {"alertname": rule.name, "kind": rule.kind, "severity": rule.severity}
                samples.append((labels | {"alertstate": "firing" if subjects else "inactive"}, 1.0 if subjects else 0.0))
                samples += [(labels | {"alertstate": "firing", "subject": s}, 1.0) for s in subjects if s]
        return family("airlock:alerts", "gauge", "Alert rules: 1 while firing (per rule, and per subject).", samples)

    def rules_list(self) -> list[dict]:
        with self._lock:
            return [r.to_dict() for r in self.rules.values()]

    # -- the thread -------------------------------------------------------------------------

    def start(self) -> AlertEvaluator:
        self._thread = threading.Thread(target=self._run, name="airlock-alerts", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.evaluate()
            except Exception:   # the service keeps serving; the next pass tries again
                log.exception("alert evaluation failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for sink in self.sinks:
            sink.close()
