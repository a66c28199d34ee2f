"""Shared helpers of the ledger tests: a fixed time, fixed TCO inputs and a record factory."""
from __future__ import annotations

from datetime import UTC, datetime

from appliance.ledger import TcoInputs, UsageRecord

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)   # a Monday
TCO = TcoInputs(hardware_price=30000, amortization_years=3, residual_value=3000, power_watts=700,
                price_per_kwh=0.15, pue=1.4, operations_per_month=200, utilisation=0.5)


def make_record(**overrides: object) -> UsageRecord:
    fields: dict[str, object] = dict(
        request_id="req-1", created_at=T0, key_id="key_a", key_name="alice", tenant="bank",
        model="smollm2-135m-instruct", quantization="int8", endpoint="chat.completions",
        prompt_tokens=100, cached_tokens=0, completion_tokens=20, finish_reason="stop",
        queue_seconds=0.1, ttft_seconds=0.5, duration_seconds=2.0, compute_seconds=1.0)
    fields.update(overrides)
    return UsageRecord(**fields)
