"""Cost per tier from the ledger, and what routing saved against "always the largest tier".

Assumptions:
- A tier is the model that served a row (`model`, with its quantization). Its cost per 1M
  tokens is its rows' cost (compute seconds at the TCO cost per hour owned) over their
  prompt + completion tokens, so it already carries each tier's real speed on this machine.
- "Always the largest" prices every routed row's tokens at the most expensive tier per token
  among the tiers that served routed rows in the window; savings = that - what was spent.
  With one tier (or none) routed, nothing was saved.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, case, func, select

from appliance.ledger.models import UsageRow
from appliance.ledger.reports import _window

MILLION = 1_000_000
U = UsageRow


def tier_costs(conn: Connection, since: datetime | None = None, until: datetime | None = None) -> dict:
    """Per tier: requests, tokens, cost and cost per 1M tokens; then the routing savings."""
    routed = case((U.route.is_not(None), 1), else_=0)
    tokens = U.prompt_tokens + U.completion_tokens
    query = select(U.model, func.max(U.quantization), func.count(), func.coalesce(func.sum(tokens), 0),
                   func.coalesce(func.sum(U.cost), 0.0), func.coalesce(func.sum(routed), 0),
                   func.coalesce(func.sum(routed * tokens), 0), func.coalesce(func.sum(routed * U.cost), 0.0))
    query = _window(query, since, until).group_by(U.model).order_by(U.model)
    tiers = [_tier(*row) for row in conn.execute(query)]
    return {"tiers": [t["public"] for t in tiers], "routing": _savings(tiers)}


def _tier(model, quantization, requests, tokens, cost, routed_requests, routed_tokens, routed_cost) -> dict:
    per_million = cost / tokens * MILLION if tokens else None
    return {"public": {"tier": model, "quantization": quantization, "requests": requests, "tokens": int(tokens),
                       "cost": float(cost), "cost_per_million_tokens": per_million,
                       "routed_requests": int(routed_requests)},
            "routed_tokens": int(routed_tokens), "routed_cost": float(routed_cost)}


def _savings(tiers: list[dict]) -> dict:
    used = [t for t in tiers if t["routed_tokens"] and t["public"]["cost_per_million_tokens"] is not None]
    if not used:
        return {"largest_tier": None, "routed_cost": 0.0, "always_largest_cost": 0.0, "savings": 0.0}
    largest = max(used, key=lambda t: t["public"]["cost_per_million_tokens"])
    spent = sum(t["routed_cost"] for t in used)
    if_largest = sum(t["routed_tokens"] for t in used) * largest["public"]["cost_per_million_tokens"] / MILLION
    return {"largest_tier": largest["public"]["tier"], "routed_cost": spent, "always_largest_cost": if_largest,
            "savings": if_largest - spent}
