"""Chargeback: the period's cost of ownership split between tenants, honest about idle time.

Assumptions:
- The period's cost is the TCO report's window cost over the same [since, until): cost per
  hour owned at the measured utilisation u, times the hours. Of it, u is used capacity and
  (1 - u) idle capacity, exactly as the TCO report splits it.
- A tenant's share is its share of compute (busy) seconds. Used capacity is charged by that
  share. Idle capacity is its own line: charged by the same share ("share"), or kept as one
  central line that no tenant pays ("central"); the config chooses (ledger.chargeback_idle).
  With no compute at all in the period, idle capacity stays central.
- Cached-token savings are a tenant's cached prompt tokens at the period's cost per million
  computed input tokens (the TCO report's rate), so they add up to its cached_savings.
- Requests without a key have no tenant; they are charged as "(no key)".
"""
from __future__ import annotations

import csv
import html
import io
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, select

from appliance.ledger.models import UsageRow as U
from appliance.ledger.reports import InvalidReport, _window, as_utc
from appliance.ledger.tco import MILLION, TcoReport

IDLE_CHOICES = ("share", "central")
IDLE_LINE = "(idle capacity)"
NO_KEY = "(no key)"
COLUMNS = ("tenant", "requests", "prompt_tokens", "cached_tokens", "completion_tokens", "total_tokens",
           "compute_seconds", "compute_share", "used_cost", "idle_cost", "total_cost", "cached_savings")


@dataclass(slots=True)
class TenantCharge:
    tenant: str
    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    compute_seconds: float = 0.0
    compute_share: float = 0.0
    used_cost: float = 0.0
    idle_cost: float = 0.0
    total_cost: float = 0.0
    cached_savings: float = 0.0


@dataclass(slots=True)
class Chargeback:
    since: datetime
    until: datetime
    currency: str
    idle_allocation: str
    hours: float
    utilisation: float
    period_cost: float                  # = used_cost + idle_cost = the TCO report's window cost
    used_cost: float
    idle_cost: float
    rows: list[TenantCharge] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["since"], data["until"] = self.since.isoformat(), self.until.isoformat()
        return data


def period_bounds(period: str, start: datetime | None = None, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[first instant, end) of the day, week (from Monday) or month holding `start` (default:
    now), the end capped at now: a running period is charged up to now."""
    now = as_utc(now) or datetime.now(UTC)
    day = (as_utc(start) or now).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        since, until = day, day + timedelta(days=1)
    elif period == "week":
        since = day - timedelta(days=day.weekday())
        until = since + timedelta(days=7)
    elif period == "month":
        since = day.replace(day=1)
        until = (since + timedelta(days=32)).replace(day=1)
    else:
        raise InvalidReport(f"period must be one of day, week, month, got {period!r}")
    if since >= now:
        raise InvalidReport(f"the {period} starting {since.date()} has not begun yet")
    return since, min(until, now)


def tenant_totals(conn: Connection, since: datetime, until: datetime) -> list[TenantCharge]:
    tenant = func.coalesce(U.tenant, NO_KEY)
    query = _window(select(tenant, func.count(), func.sum(U.prompt_tokens), func.sum(U.cached_tokens),
                           func.sum(U.completion_tokens), func.sum(U.compute_seconds)), since, until)
    rows = conn.execute(query.group_by(tenant).order_by(tenant)).all()
    return [TenantCharge(tenant=t, requests=n, prompt_tokens=int(p), cached_tokens=int(c), completion_tokens=int(o),
                         total_tokens=int(p) + int(o), compute_seconds=float(s)) for t, n, p, c, o, s in rows]


def chargeback(tenants: list[TenantCharge], report: TcoReport, since: datetime, until: datetime,
               idle_allocation: str = "share") -> Chargeback:
    if idle_allocation not in IDLE_CHOICES:
        raise InvalidReport(f"idle allocation must be one of {', '.join(IDLE_CHOICES)}, got {idle_allocation!r}")
    busy = sum(t.compute_seconds for t in tenants)
    idle, used = report.idle_cost, report.window_cost - report.idle_cost
    by_share = idle_allocation == "share" and busy > 0
    rate = (report.cost_per_million_input or 0.0) / MILLION
    for t in tenants:
        t.compute_share = t.compute_seconds / busy if busy > 0 else 0.0
        t.used_cost = used * t.compute_share
        t.idle_cost = idle * t.compute_share if by_share else 0.0
        t.total_cost = t.used_cost + t.idle_cost
        t.cached_savings = t.cached_tokens * rate
    rows = list(tenants)
    if not by_share:
        rows.append(TenantCharge(IDLE_LINE, idle_cost=idle, total_cost=idle))
    return Chargeback(since=since, until=until, currency=report.inputs.currency,
                      idle_allocation="share" if by_share else "central", hours=report.window.hours,
                      utilisation=report.window.utilisation, period_cost=report.window_cost, used_cost=used,
                      idle_cost=idle, rows=rows)


def build(ledger, since: datetime, until: datetime, idle_allocation: str = "share") -> Chargeback:
    """The chargeback of `ledger` over [since, until), from the same figures as its TCO report."""
    report = ledger.tco(since, until)
    with ledger.engine.connect() as conn:
        tenants = tenant_totals(conn, since, until)
    return chargeback(tenants, report, since, until, idle_allocation)


def to_csv(charge: Chargeback) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS)
    writer.writeheader()
    writer.writerows(asdict(row) for row in charge.rows)
    return out.getvalue()


def to_html(charge: Chargeback) -> str:
    """A printable, self-contained report (no scripts, no fetched assets) with a bar chart."""
    money = charge.currency
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(getattr(r, c)))}</td>" for c in COLUMNS) + "</tr>"
                   for r in charge.rows)
    title = f"Airlock chargeback {charge.since.date()} to {charge.until.date()}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #111; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
th, td {{ border: 1px solid #999; padding: 0.25em 0.5em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.used {{ fill: #2f5d8a; }} .idle {{ fill: #b9c9da; }}
@media print {{ body {{ margin: 0; }} @page {{ size: A4 landscape; margin: 1.5cm; }} }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Period cost {charge.period_cost:,.2f} {money} over {charge.hours:,.1f} hours:
used capacity {charge.used_cost:,.2f} {money}, idle capacity {charge.idle_cost:,.2f} {money}
(utilisation {charge.utilisation:.1%}; idle capacity {"allocated by compute share" if charge.idle_allocation == "share" else "kept central"}).</p>
{_chart(charge)}
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
</body></html>
"""


def _chart(charge: Chargeback) -> str:
    """Horizontal bars per row: used capacity, then idle capacity, to one scale."""
    width, bar, label = 520, 22, 160
    top = max((r.total_cost for r in charge.rows), default=0.0) or 1.0
    parts = [f'<svg role="img" aria-label="cost per tenant" width="{label + width + 120}" '
             f'height="{(len(charge.rows) + 1) * (bar + 8) + 10}" xmlns="http://www.w3.org/2000/svg">']
    for i, row in enumerate(charge.rows):
        y = 10 + i * (bar + 8)
        used, idle = row.used_cost / top * width, row.idle_cost / top * width
        parts += [f'<text x="0" y="{y + bar * 0.7}">{html.escape(row.tenant[:24])}</text>',
                  f'<rect class="used" x="{label}" y="{y}" width="{used:.1f}" height="{bar}"/>',
                  f'<rect class="idle" x="{label + used:.1f}" y="{y}" width="{idle:.1f}" height="{bar}"/>',
                  f'<text x="{label + used + idle + 6:.1f}" y="{y + bar * 0.7}">{row.total_cost:,.2f}</text>']
    y = 10 + len(charge.rows) * (bar + 8)
    parts += [f'<rect class="used" x="{label}" y="{y}" width="12" height="12"/>',
              f'<text x="{label + 16}" y="{y + 11}">used capacity</text>',
              f'<rect class="idle" x="{label + 130}" y="{y}" width="12" height="12"/>',
              f'<text x="{label + 146}" y="{y + 11}">idle capacity</text>', "</svg>"]
    return "\n".join(parts)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}"
    return f"{value:,}" if isinstance(value, int) else str(value)
