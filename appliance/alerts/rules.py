"""Alert rules: what is watched, against which threshold, over which window, how loudly.

A rule's kind fixes what is measured and in which direction it is bad (`KINDS`). A kind may
measure several subjects at once (budgets: one per key; GPUs: one per device); each subject
fires and resolves on its own. Rules come from [[alerts.rules]] in the config (or the
built-in set below) and may be added, edited or removed at run time through the admin API.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields

SEVERITIES = ("info", "warning", "critical")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


class InvalidRule(ValueError):
    """A rule setting is invalid; the message names it."""


@dataclass(frozen=True, slots=True)
class Kind:
    above: bool          # True: fires when value >= threshold; False: when value < threshold
    unit: str
    help: str


KINDS: dict[str, Kind] = {
    "budget_used": Kind(True, "fraction", "share of a key's token budget used"),
    "budget_burn": Kind(False, "hours", "hours until a key exhausts its token budget at its rate over the window"),
    "prefix_hit_rate": Kind(False, "fraction", "prefix-cache hit rate (tokens) over the window"),
    "response_hit_rate": Kind(False, "fraction", "response-cache hit rate (requests) over the window"),
    "ttft_p95": Kind(True, "seconds", "p95 time to first token over the window"),
    "itl_p95": Kind(True, "seconds", "p95 inter-token latency over the window"),
    "error_rate": Kind(True, "fraction", "share of API responses with status 5xx over the window"),
    "rejected_rate": Kind(True, "fraction", "share of API responses that were 503 (overload) over the window"),
    "kv_usage": Kind(True, "fraction", "KV-cache blocks in use (highest loaded model)"),
    "queue_depth": Kind(True, "requests", "requests waiting to be scheduled (all models)"),
    "host_memory": Kind(True, "fraction", "host memory in use"),
    "disk_free": Kind(False, "GiB", "free disk under the ledger database"),
    "gpu_memory": Kind(True, "fraction", "GPU memory in use (NVML), per device"),
    "gpu_temperature": Kind(True, "celsius", "GPU temperature (NVML), per device"),
    "cost_per_million": Kind(True, "money", "owned cost per million computed tokens over the window"),
    "utilisation": Kind(False, "fraction", "busy share of the window (idle hardware costs money)"),
}


@dataclass(slots=True)
class AlertRule:
    name: str
    kind: str
    threshold: float
    window_seconds: float = 300.0
    severity: str = "warning"
    enabled: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidRule(f"name must be 1-100 letters, digits or _.:- , got {self.name!r}")
        if not isinstance(self.kind, str) or self.kind not in KINDS:
            raise InvalidRule(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for name in ("threshold", "window_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidRule(f"{name} must be a finite number, got {value!r}")
            setattr(self, name, float(value))
        if self.window_seconds <= 0:
            raise InvalidRule(f"window_seconds must be positive, got {self.window_seconds}")
        if self.severity not in SEVERITIES:
            raise InvalidRule(f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")
        if not isinstance(self.enabled, bool):
            raise InvalidRule(f"enabled must be true or false, got {self.enabled!r}")

    @classmethod
    def from_mapping(cls, data: object) -> AlertRule:
        if not isinstance(data, dict):
            raise InvalidRule("a rule must be an object with name, kind and threshold")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRule(f"unknown rule setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        missing = [n for n in ("name", "kind", "threshold") if n not in data]
        if missing:
            raise InvalidRule(f"missing rule setting(s): {', '.join(missing)}")
        return cls(**data)

    @property
    def above(self) -> bool:
        return KINDS[self.kind].above

    def breached(self, value: float) -> bool:
        return value >= self.threshold if self.above else value < self.threshold

    def describe(self, subject: str, value: float | None) -> str:
        where = f" ({subject})" if subject else ""
        kind = KINDS[self.kind]
        if value is None:
            return f"{self.name}{where}: {kind.help}: nothing to measure now (rule {self.threshold:g})"
        sign = ">=" if self.above else "<"
        return f"{self.name}{where}: {kind.help} is {value:.4g} {kind.unit} ({sign} {self.threshold:g})"

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT_RULES = (
    AlertRule("budget-80", "budget_used", 0.8, severity="warning"),
    AlertRule("budget-100", "budget_used", 1.0, severity="critical"),
    AlertRule("budget-burn-24h", "budget_burn", 24.0, window_seconds=3600, severity="warning"),
    AlertRule("ttft-p95", "ttft_p95", 10.0, severity="warning"),
    AlertRule("itl-p95", "itl_p95", 1.0, severity="warning"),
    AlertRule("errors", "error_rate", 0.05, severity="critical"),
    AlertRule("overload", "rejected_rate", 0.05, severity="warning"),
    AlertRule("kv-full", "kv_usage", 0.95, window_seconds=60, severity="warning"),
    AlertRule("queue", "queue_depth", 128, window_seconds=60, severity="warning"),
    AlertRule("host-memory", "host_memory", 0.92, window_seconds=60, severity="warning"),
    AlertRule("ledger-disk", "disk_free", 2.0, window_seconds=60, severity="critical"),
    AlertRule("gpu-memory", "gpu_memory", 0.97, window_seconds=60, severity="warning"),
    AlertRule("gpu-hot", "gpu_temperature", 85, window_seconds=60, severity="critical"),
)


def rules_from_config(entries: list) -> list[AlertRule]:
    """[[alerts.rules]] from the config, or the built-in set when there are none."""
    if not entries:
        return [AlertRule(**r.to_dict()) for r in DEFAULT_RULES]
    rules = [AlertRule.from_mapping(dict(e)) if isinstance(e, dict) else AlertRule.from_mapping(e) for e in entries]
    names = [r.name for r in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidRule(f"alert rule name(s) used twice: {', '.join(duplicates)}")
    return rules
