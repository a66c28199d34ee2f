"""Routes: each public name, its tiers in spill order, and its live traffic per tier."""
from __future__ import annotations

from tui.figures import fmt_any
from tui.payloads import RouteTraffic
from tui.widgets.common.table import RowsTable


def tier_list(tiers: list[str]) -> str:
    return " > ".join(tiers) if tiers else "-"


def share(traffic: RouteTraffic) -> str:
    """Requests per tier as shares of the route's traffic, e.g. 'small 75%, big 25%'."""
    if not traffic.tiers:
        return "no traffic"
    total = sum(traffic.tiers.values()) or 1
    return ", ".join(f"{t} {n / total:.0%}" for t, n in sorted(traffic.tiers.items(), key=lambda kv: -kv[1]))


class RoutesTable(RowsTable):
    """Rows: tui.payloads.Route"""

    def __init__(self, **kwargs) -> None:
        super().__init__([
            ("route", "name", fmt_any),
            ("tiers", "resolved", tier_list),
            ("loaded", "loaded", tier_list),
            ("share", "traffic", share),
            ("spills", lambda route: route.traffic.spills, fmt_any),
            ("fallbacks", lambda route: route.traffic.fallbacks, fmt_any),
        ], key="name", **kwargs)
