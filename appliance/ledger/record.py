"""UsageRecord: what the API hands the ledger for each finished request."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import String

from appliance.ledger.models import UsageRow
from engine.outputs import RequestMetrics

FINISH_REASONS = ("stop", "length", "abort", "error")
MAX_LENGTHS = {c.name: c.type.length for c in UsageRow.__table__.columns   # PostgreSQL enforces them
               if isinstance(c.type, String) and c.name != "finish_reason"}


class InvalidUsage(ValueError):
    """A usage record is malformed; the message names the field."""


@dataclass(slots=True)
class UsageRecord:
    request_id: str
    created_at: datetime                     # arrival time, timezone-aware (stored as UTC)
    key_id: str | None
    key_name: str | None
    tenant: str | None
    model: str
    quantization: str
    endpoint: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    finish_reason: str
    queue_seconds: float
    ttft_seconds: float | None
    duration_seconds: float
    compute_seconds: float
    energy_wh: float | None = None           # None: the ledger computes it from power samples
    cost: float | None = None                # None: the ledger computes it from the TCO inputs
    response_cached: bool = False
    spec_draft_tokens: int = 0               # speculative decoding: draft tokens verified
    spec_accepted_tokens: int = 0            # of which the model accepted
    route: str | None = None                 # the route the client named; `model` is the tier that served
    rule: str | None = None                  # the rule that picked the tier (spill, fallback: load moved it)
    node: str | None = None                  # the appliance that served it; None: the ledger's own node

    def __post_init__(self) -> None:
        if not isinstance(self.created_at, datetime) or self.created_at.tzinfo is None:
            raise InvalidUsage(f"created_at must be a timezone-aware datetime, got {self.created_at!r}")
        for name in ("request_id", "model", "quantization", "endpoint"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InvalidUsage(f"{name} must be a non-empty string, got {getattr(self, name)!r}")
        for name, limit in MAX_LENGTHS.items():
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise InvalidUsage(f"{name} must be a string of at most {limit} characters, got {value!r}")
        if self.finish_reason not in FINISH_REASONS:
            raise InvalidUsage(f"finish_reason must be one of {FINISH_REASONS}, got {self.finish_reason!r}")
        for name in ("prompt_tokens", "cached_tokens", "completion_tokens", "spec_draft_tokens",
                     "spec_accepted_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidUsage(f"{name} must be a non-negative integer, got {value!r}")
        if self.cached_tokens > self.prompt_tokens:
            raise InvalidUsage(f"cached_tokens ({self.cached_tokens}) exceeds prompt_tokens ({self.prompt_tokens})")
        if self.spec_accepted_tokens > self.spec_draft_tokens:
            raise InvalidUsage(f"spec_accepted_tokens ({self.spec_accepted_tokens}) exceeds "
                               f"spec_draft_tokens ({self.spec_draft_tokens})")
        for name in ("queue_seconds", "ttft_seconds", "duration_seconds", "compute_seconds", "energy_wh", "cost"):
            value = getattr(self, name)
            if value is None and name in ("ttft_seconds", "energy_wh", "cost"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidUsage(f"{name} must be a finite non-negative number, got {value!r}")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_metrics(cls, metrics: RequestMetrics, *, key_id: str | None, key_name: str | None,
                     tenant: str | None, model: str, quantization: str, endpoint: str,
                     finish_reason: str, completion_tokens: int | None = None,
                     response_cached: bool = False, route: str | None = None,
                     rule: str | None = None) -> UsageRecord:
        """Durations are clamped at 0 and the TTFT at the duration. The engine times them on the
        monotonic clock, so a wall-clock step cannot move them; the clamp keeps a row valid
        whatever figures reach it (a dead letter written by an older release, a replay)."""
        duration = max(0.0, metrics.duration)
        ttft = None if metrics.ttft is None else min(max(0.0, metrics.ttft), duration)
        return cls(request_id=metrics.request_id,
                   created_at=datetime.fromtimestamp(metrics.arrival_time, UTC),
                   key_id=key_id, key_name=key_name, tenant=tenant, model=model,
                   quantization=quantization, endpoint=endpoint,
                   prompt_tokens=metrics.prompt_tokens, cached_tokens=metrics.cached_tokens,
                   completion_tokens=metrics.completion_tokens if completion_tokens is None else completion_tokens,
                   finish_reason=finish_reason, queue_seconds=min(max(0.0, metrics.queue_time), duration),
                   ttft_seconds=ttft, duration_seconds=duration,
                   compute_seconds=max(0.0, metrics.compute_seconds), response_cached=response_cached,
                   spec_draft_tokens=metrics.spec_draft_tokens, spec_accepted_tokens=metrics.spec_accepted_tokens,
                   route=route, rule=rule)
