"""Routes: each public name, its tiers in spill order, and its live traffic per tier."""
from __future__ import annotations

from typing import Any

from tui.figures import fmt_any
from tui.widgets.common.table import RowsTable


def tier_list(value: Any) -> str:
    return " > ".join(map(str, value)) if isinstance(value, list) and value else "-"


def share(traffic: Any) -> str:
    """Requests per tier as shares of the route's traffic, e.g. 'small 75%, big 25%'."""
    tiers = traffic.get("tiers") if isinstance(traffic, dict) else None
    if not isinstance(tiers, dict) or not tiers:
        return "no traffic"
    total = sum(n for n in tiers.values() if isinstance(n, (int, float))) or 1
    return ", ".join(f"{t} {n / total:.0%}" for t, n in sorted(tiers.items(), key=lambda kv: -kv[1]))


def counter(name: str):
    return lambda traffic: fmt_any(traffic.get(name)) if isinstance(traffic, dict) else "-"


class RoutesTable(RowsTable):
    def __init__(self, **kwargs) -> None:
        super().__init__([
            ("route", "name", fmt_any),
            ("tiers", "resolved", tier_list),
            ("loaded", "loaded", tier_list),
            ("share", "traffic", share),
            ("spills", "traffic", counter("spills")),
            ("fallbacks", "traffic", counter("fallbacks")),
        ], key="name", **kwargs)
