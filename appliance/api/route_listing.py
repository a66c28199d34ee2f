"""The routes a key sees in /v1/models: those with at least one tier it may be routed to."""
from __future__ import annotations

from typing import Any

from appliance.auth.keys import ApiKey


def visible_routes(appliance: Any, key: ApiKey | None) -> list[dict]:
    router = appliance.router
    if router is None:
        return []
    out = []
    for route in router.routes.values():
        allowed = router.allowed_tiers(route, key.spec.allowed_models if key else [], key.spec.tenant if key else None)
        if allowed:
            out.append({"id": route.name, "object": "model", "created": int(appliance.started),
                        "owned_by": "airlock", "route": {"tiers": list(allowed)}})
    return out
