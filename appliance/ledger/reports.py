"""Read side of the ledger: reports grouped by period and key/tenant/model, top consumers,
exports, budget sums and the measured window for TCO. Grouping runs in SQL (SQLite or
PostgreSQL); times are UTC; weeks start on Monday; a period is named by its first day."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, Select, func, nulls_first, select

from appliance.ledger.models import UsageRow
from appliance.ledger.tco import UsageWindow

PERIODS = ("day", "week", "month")
GROUPS = ("key", "tenant", "model", "route", "node")
RANKINGS = ("tokens", "cost")
EXPORT_COLUMNS = tuple(c.name for c in UsageRow.__table__.columns)
TOTAL_COLUMNS = ("requests", "prompt_tokens", "cached_tokens", "completion_tokens", "total_tokens",
                 "compute_seconds", "energy_wh", "cost")
U = UsageRow


class InvalidReport(ValueError):
    """A report parameter is invalid; the message names it."""


def _sums() -> list[ColumnElement]:
    return [func.count().label("requests"),
            func.coalesce(func.sum(U.prompt_tokens), 0).label("prompt_tokens"),
            func.coalesce(func.sum(U.cached_tokens), 0).label("cached_tokens"),
            func.coalesce(func.sum(U.completion_tokens), 0).label("completion_tokens"),
            func.coalesce(func.sum(U.compute_seconds), 0.0).label("compute_seconds"),
            func.coalesce(func.sum(U.energy_wh), 0.0).label("energy_wh"),
            func.coalesce(func.sum(U.cost), 0.0).label("cost")]


def period_start(period: str, dialect: str) -> ColumnElement:
    """SQL naming the first day (YYYY-MM-DD, UTC) of the period holding each row."""
    if period not in PERIODS:
        raise InvalidReport(f"period must be one of {PERIODS}, got {period!r}")
    if dialect == "sqlite":
        if period == "week":
            return func.date(U.created_at, "-6 days", "weekday 1")
        return func.strftime("%Y-%m-%d" if period == "day" else "%Y-%m-01", U.created_at)
    return func.to_char(func.date_trunc(period, func.timezone("UTC", U.created_at)), "YYYY-MM-DD")


def as_utc(moment: datetime | None) -> datetime | None:
    """A time bound in UTC; a bound without a timezone is taken to be UTC already."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _window(query: Select, since: datetime | None, until: datetime | None) -> Select:
    if since is not None:
        query = query.where(U.created_at >= as_utc(since))
    if until is not None:
        query = query.where(U.created_at < as_utc(until))
    return query


def report_columns(group: str) -> tuple[str, ...]:
    """The columns of a usage report grouped by `group`, in display order."""
    if group == "route":
        return ("period", "route", "tier") + TOTAL_COLUMNS
    return ("period", "key_id", "key_name") + TOTAL_COLUMNS if group == "key" else ("period", group) + TOTAL_COLUMNS


def _group_columns(group: str) -> list[ColumnElement]:
    if group == "key":
        return [U.key_id.label("key_id"), func.max(U.key_name).label("key_name")]
    if group in ("tenant", "model", "node"):
        return [getattr(U, group).label(group)]
    if group == "route":                       # route x the tier (model) that served
        return [U.route.label("route"), U.model.label("tier")]
    raise InvalidReport(f"group must be one of {GROUPS}, got {group!r}")


def usage_report(conn: Connection, period: str, group: str, since: datetime | None = None,
                 until: datetime | None = None) -> list[dict]:
    start = period_start(period, conn.dialect.name).label("period")
    grouped = _group_columns(group)
    keys = grouped if group == "route" else grouped[:1]          # key_name is an aggregate
    query = _window(select(start, *grouped, *_sums()), since, until).group_by(start, *keys)
    query = query.order_by(start, *(nulls_first(k) for k in keys))   # the same order on every database
    return [_with_total(row._asdict()) for row in conn.execute(query)]


def top_consumers(conn: Connection, n: int = 10, by: str = "tokens", since: datetime | None = None) -> list[dict]:
    if by not in RANKINGS:
        raise InvalidReport(f"by must be one of {RANKINGS}, got {by!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidReport(f"n must be a positive integer, got {n!r}")
    sums = _sums()
    rank = (sums[1] + sums[3]) if by == "tokens" else sums[6]
    query = select(U.key_id.label("key_id"), func.max(U.key_name).label("key_name"),
                   func.max(U.tenant).label("tenant"), *sums).group_by(U.key_id)
    query = _window(query, since, None).order_by(rank.desc(), U.key_id).limit(n)
    return [_with_total(row._asdict()) for row in conn.execute(query)]


def _with_total(row: dict) -> dict:
    row["total_tokens"] = row["prompt_tokens"] + row["completion_tokens"]
    return row


def export_rows(conn: Connection, since: datetime | None = None, until: datetime | None = None,
                *, key_id: str | None = None, tenant: str | None = None, model: str | None = None) -> list[dict]:
    query = _window(select(U.__table__), since, until).order_by(U.created_at, U.id)
    for column, value in (("key_id", key_id), ("tenant", tenant), ("model", model)):
        if value is not None:
            query = query.where(getattr(U, column) == value)
    return [_jsonable(row._asdict()) for row in conn.execute(query)]


def _jsonable(row: dict) -> dict:
    row["created_at"] = row["created_at"].isoformat()
    return row


def to_csv(rows: list[dict], columns: tuple[str, ...] = EXPORT_COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def tokens_used(conn: Connection, key_id: str, since: datetime | None) -> int:
    query = select(func.coalesce(func.sum(U.prompt_tokens + U.completion_tokens), 0)).where(U.key_id == key_id)
    return int(conn.execute(_window(query, since, None)).scalar_one())


def nodes(conn: Connection, since: datetime, until: datetime) -> list[str]:
    """The nodes that wrote rows in [since, until), by name (rows without a node left out)."""
    query = _window(select(U.node).distinct().where(U.node.is_not(None)), since, until).order_by(U.node)
    return list(conn.execute(query).scalars())


def usage_window(conn: Connection, since: datetime, until: datetime, node: str | None = None) -> UsageWindow:
    """Measured totals for TCO over [since, until), of one node's rows or (None) of all."""
    larger = func.max if conn.dialect.name == "sqlite" else func.greatest   # scalar max of two
    prefill = larger(func.coalesce(U.ttft_seconds - U.queue_seconds, 0.0), 0.0)
    decode = larger(func.coalesce(U.duration_seconds - U.ttft_seconds, 0.0), 0.0)
    sums = [func.coalesce(func.sum(x), 0) for x in (U.compute_seconds, prefill, decode, U.prompt_tokens,
                                                     U.cached_tokens, U.completion_tokens)]
    query = _window(select(func.count(), *sums), since, until)
    if node is not None:
        query = query.where(U.node == node)
    n, busy, pre, dec, inp, cached, out = conn.execute(query).one()
    return UsageWindow(hours=(as_utc(until) - as_utc(since)).total_seconds() / 3600, requests=n, busy_seconds=float(busy),
                       prefill_seconds=float(pre), decode_seconds=float(dec), input_tokens=int(inp),
                       cached_tokens=int(cached), output_tokens=int(out))
