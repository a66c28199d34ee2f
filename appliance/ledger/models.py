"""The ledger's tables as SQLAlchemy 2.0 models. The schema itself is owned by migrations/:
these models must match the head revision (a test compares them)."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text, false
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; naive UTC in SQLite, `timestamp with time zone` elsewhere."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the ledger stores UTC times with a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class LedgerBase(DeclarativeBase):
    pass


class UsageRow(LedgerBase):
    """One finished request. No foreign key to api_keys: a deleted key must not erase history."""
    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_created_at", "created_at"),
        Index("ix_usage_records_key_created", "key_id", "created_at"),
        Index("ix_usage_records_tenant_created", "tenant", "created_at"),
        Index("ix_usage_records_model_created", "model", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    key_id: Mapped[str | None] = mapped_column(String(64))
    key_name: Mapped[str | None] = mapped_column(String(200))
    tenant: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    quantization: Mapped[str] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(String(64))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    cached_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    finish_reason: Mapped[str] = mapped_column(String(16))
    queue_seconds: Mapped[float] = mapped_column(Float)
    ttft_seconds: Mapped[float | None] = mapped_column(Float)
    duration_seconds: Mapped[float] = mapped_column(Float)
    compute_seconds: Mapped[float] = mapped_column(Float)
    energy_wh: Mapped[float] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float)
    response_cached: Mapped[bool] = mapped_column(Boolean, server_default=false())
    spec_draft_tokens: Mapped[int] = mapped_column(Integer, server_default="0")     # speculative drafts verified
    spec_accepted_tokens: Mapped[int] = mapped_column(Integer, server_default="0")  # of which accepted
    route: Mapped[str | None] = mapped_column(String(64))     # the route the client named, if any
    rule: Mapped[str | None] = mapped_column(String(64))      # the rule that picked the tier (model)
    node: Mapped[str | None] = mapped_column(String(64))      # the appliance that served it (fleet)


class TcoInputsRow(LedgerBase):
    """Every edit of the TCO inputs is a new row; the latest row is in effect."""
    __tablename__ = "tco_inputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    hardware_price: Mapped[float] = mapped_column(Float)
    amortization_years: Mapped[float] = mapped_column(Float)
    residual_value: Mapped[float] = mapped_column(Float)
    power_watts: Mapped[float] = mapped_column(Float)
    price_per_kwh: Mapped[float] = mapped_column(Float)
    pue: Mapped[float] = mapped_column(Float)
    operations_per_month: Mapped[float] = mapped_column(Float)
    utilisation: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(8))


class BenchRunRow(LedgerBase):
    """One point of a sweep (`airlock bench sweep`); the rows of one sweep share a run_id."""
    __tablename__ = "bench_runs"
    __table_args__ = (
        Index("ix_bench_runs_run_id", "run_id"),
        Index("ix_bench_runs_model_created", "model", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    model: Mapped[str] = mapped_column(String(200))
    quantization: Mapped[str] = mapped_column(String(32))
    workload: Mapped[str] = mapped_column(String(200))
    concurrency: Mapped[int] = mapped_column(Integer)
    max_num_seqs: Mapped[int] = mapped_column(Integer)
    max_num_batched_tokens: Mapped[int] = mapped_column(Integer)
    max_prefill_chunk: Mapped[int] = mapped_column(Integer)
    requests: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    wall_seconds: Mapped[float] = mapped_column(Float)
    output_tokens_per_s: Mapped[float] = mapped_column(Float)
    kv_peak_usage: Mapped[float] = mapped_column(Float)
    kv_peak_mib: Mapped[float] = mapped_column(Float)
    ttft_p50_s: Mapped[float | None] = mapped_column(Float)
    ttft_p95_s: Mapped[float | None] = mapped_column(Float)
    itl_p50_s: Mapped[float | None] = mapped_column(Float)
    itl_p95_s: Mapped[float | None] = mapped_column(Float)
    cost_per_million_output: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(8))
    pareto: Mapped[bool] = mapped_column(Boolean)


class AuditRow(LedgerBase):
    """One administrative change. `hash` chains each row to the one before it (appliance/audit)."""
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    before: Mapped[str] = mapped_column(Text)            # canonical JSON
    after: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AlertEventRow(LedgerBase):
    """An alert's state change (firing or resolved) with the value that caused it."""
    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    rule: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))       # firing | resolved
    severity: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))


class AlertRuleRow(LedgerBase):
    """A rule added or edited at run time; it overrides the config's rule of the same name."""
    __tablename__ = "alert_rules"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    spec: Mapped[str] = mapped_column(Text)              # JSON of AlertRule; "null": deleted
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class FleetNodeRow(LedgerBase):
    """A node's last report of itself (appliance/fleet/registry.py); one row per node name."""
    __tablename__ = "fleet_nodes"

    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    draining: Mapped[bool] = mapped_column(Boolean)
    running: Mapped[int] = mapped_column(Integer)
    waiting: Mapped[int] = mapped_column(Integer)
    models: Mapped[str] = mapped_column(Text)            # comma-separated names of the loaded models
