"""Serving a request whose model may be a route: pick the tier, start it there, fall back.

The endpoints hand over two callables: how to read the routing input (prompt text and its
token count, on a tier's tokenizer) and how to start the request on a given engine under a
given model name. A plain model name goes straight to its engine, as before. A route name
goes through the router; a tier that is unloaded or refuses the request at submit (queue
full, engine stopping) passes it on to the next tier, so the client gets an answer from some
tier rather than an error while any allowed tier can take it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.api.errors import ApiError
from appliance.api.models_access import engine_for
from appliance.auth.keys import ApiKey
from appliance.models.errors import ModelNotLoaded
from appliance.routing.load import in_flight
from appliance.routing.route import Route
from appliance.routing.router import Busy, Decision, Router
from appliance.routing.rules import RouteInput
from engine.errors import EngineStopped, QueueFull

Start = Callable[[Any, str], Any]             # (engine, model name) -> Job | JobGroup
ReadInput = Callable[[Any], RouteInput]       # (a tier's engine) -> what the rules read

PASS_ON = (ModelNotLoaded, EngineStopped, QueueFull)


def serve_model(appliance: Any, model: str, key: ApiKey | None, read_input: ReadInput, start: Start) -> Any:
    router: Router = appliance.router
    route = router.get(model) if router is not None else None
    if route is None:
        return start(engine_for(appliance, model, key), model)
    engines = loaded_tiers(appliance, route)
    allowed = router.allowed_tiers(route, key.spec.allowed_models if key else [], key.spec.tenant if key else None)
    if not allowed:
        raise ApiError(403, f"API key '{key.spec.name if key else ''}' may use none of route '{model}''s tiers "
                       f"({', '.join(route.resolved)}).", param="model", code="model_not_allowed")
    probe = next((engines[t] for t in allowed if t in engines), None)
    if probe is None:
        raise _none_loaded(route, allowed)
    routing_input = read_input(probe)
    with router.load.deciding:
        decision = router.decide(route, routing_input, allowed, busy_check(route, router, engines))
        router.load.claim(decision.tier)
    try:
        return _start_first(appliance, router, decision, engines, start, route, allowed)
    finally:
        router.load.release(decision.tier)


def _start_first(appliance: Any, router: Router, decision: Decision, engines: dict[str, Any], start: Start,
                 route: Route, allowed: tuple[str, ...]) -> Any:
    failure: Exception | None = None
    for tier, rule in decision.attempts:
        try:
            engine = engines.get(tier) or appliance.models.get(tier)
            served = start(engine, tier)
        except PASS_ON as exc:
            failure = exc
            continue
        router.count(decision, tier, rule if failure is None else "fallback")
        for job in getattr(served, "jobs", [served]):
            job.route, job.rule = route.name, rule if failure is None else "fallback"
        return served
    if failure is not None:
        raise failure
    raise _none_loaded(route, allowed)


def loaded_tiers(appliance: Any, route: Route) -> dict[str, Any]:
    engines = {}
    for tier in route.resolved:
        try:
            engines[tier] = appliance.models.get(tier)
        except ModelNotLoaded:
            continue
    return engines


def busy_check(route: Route, router: Router, engines: dict[str, Any]) -> Callable[[str], Busy | None]:
    def busy(tier: str) -> Busy | None:
        engine = engines.get(tier)
        if engine is None:
            return Busy("unloaded", "not loaded")
        if route.max_queue:
            queued = in_flight(engine) + router.load.claimed(tier)
            if queued >= route.max_queue:
                return Busy("load", f"{queued} requests in flight >= max_queue {route.max_queue}",
                            queued / route.max_queue)
        if route.slo_ttft_seconds:
            ttft = router.load.recent_ttft(tier)
            if ttft is not None and ttft > route.slo_ttft_seconds:
                return Busy("load", f"recent TTFT {ttft:.3f}s > slo_ttft_seconds {route.slo_ttft_seconds}",
                            ttft / route.slo_ttft_seconds)
        return None
    return busy


def _none_loaded(route: Route, allowed: tuple[str, ...]) -> ApiError:
    return ApiError(503, f"No tier of route '{route.name}' is loaded (tiers: {', '.join(allowed)}); "
                    "load one with /admin/models/load.", param="model", code="route_unavailable", retry_after=5)


def token_count(engine: Any, text: str) -> int:
    """The prompt's length in the tier's tokens (without the chat template)."""
    return len(engine.tokenizer.encode(text, add_special_tokens=False)) if text else 0
