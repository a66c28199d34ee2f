"""The router's counters as Prometheus families (airlock:route_*)."""
from __future__ import annotations

from prometheus_client.metrics_core import Metric

from appliance.api.prometheus import family
from appliance.routing.router import Router

PREFIX = "airlock:"


def families(router: Router) -> list[Metric]:
    with router._lock:
        requests = [({"route": r, "tier": t, "rule": rule}, n) for (r, t, rule), n in router.requests.items()]
        spills = [({"route": r, "from_tier": a, "to_tier": b}, n) for (r, a, b), n in router.spills.items()]
        fallbacks = [({"route": r, "from_tier": a}, n) for (r, a), n in router.fallbacks.items()]
    return [family(PREFIX + "route_requests_total", "counter", "Requests routed, by route, serving tier and rule.",
                   requests),
            family(PREFIX + "route_spills_total", "counter",
                   "Requests moved to another tier because the chosen tier's queue or TTFT broke the SLO.", spills),
            family(PREFIX + "route_fallbacks_total", "counter",
                   "Requests moved to another tier because the chosen tier was unloaded or failed.", fallbacks)]
