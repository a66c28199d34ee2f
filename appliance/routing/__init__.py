"""Model tiers and routing: public model names (routes) that pick a tier per request.

route.py (definitions and their validation), rules.py (rule evaluation), classifier.py (the
local complexity model), load.py (spill signals), router.py (the set in force, decisions,
counters), metrics.py (/metrics families). `build_router(config, models)` makes the router
an Appliance holds: the stored set (<data_dir>/routing/routes.json, written by the admin API)
when present, else [[routing.routes]] from the config file.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from appliance.routing.route import RouteError
from appliance.routing.router import Router

log = logging.getLogger("airlock.routing")


def routing_dir(config: Any) -> Path:
    return Path(config.data_dir) / "routing"


def classifier_path(config: Any) -> Path:
    configured = getattr(getattr(config, "routing", None), "classifier_path", "")
    return Path(configured) if configured else routing_dir(config) / "complexity.json"


def build_router(config: Any, models: set[str]) -> Router:
    """A router with the stored (or configured) routes. At start a tier need not be loaded nor
    in the store yet (a tier may be an alias loaded later; until then requests fall back to
    the next tier); a set that does not validate otherwise is not taken: the router starts
    empty and says why in `error`, so the service still starts and serves models by name."""
    routing = getattr(config, "routing", None)
    state = routing_dir(config) / "routes.json"
    router = Router(tenant_tiers=dict(getattr(routing, "tenant_tiers", {}) or {}), state_path=state,
                    classifier_path=classifier_path(config))
    data = routing.definitions() if routing is not None else []
    source = "config routing.routes"
    if state.is_file():
        source = str(state)
        try:
            data = json.loads(state.read_text()).get("routes", [])
        except (OSError, ValueError, AttributeError) as exc:
            router.error = f"{state}: {exc}"
            return router
    if data:
        try:
            router.replace(data, models | _named_tiers(data))
        except RouteError as exc:
            router.error = f"{source}: {exc}"
            log.error("routes not taken: %s", router.error)
    return router


def _named_tiers(data: list) -> set[str]:
    """The tier names a stored set uses that are not routes of that set."""
    routes = {item.get("name") for item in data if isinstance(item, dict)}
    tiers = {t for item in data if isinstance(item, dict) and isinstance(item.get("tiers"), list)
             for t in item["tiers"] if isinstance(t, str)}
    return tiers - routes
