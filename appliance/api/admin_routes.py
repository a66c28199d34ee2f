"""/admin/routes: the routes in force with their live share of traffic; replace, create, edit
and delete routes (a refused definition leaves the running set in force); test a prompt.

A change is validated as the whole set it makes, by the router (routing.route.parse_routes: the
RouteSet models, then the store's model names), so `param` names a route's field by the route's
name (routes.auto.rules[0].tier) whichever request changed it."""
from __future__ import annotations

from flask import Response, jsonify

from appliance import audit
from appliance.api.admin import admin_blueprint
from appliance.api.bodies import RouteTest
from appliance.api.errors import ApiError
from appliance.api.validation import json_body, parse
from appliance.routing.route import RouteError
from appliance.routing.rules import RouteInput

bp = admin_blueprint("admin_routes")


def _appliance():
    from appliance.services import current_appliance

    return current_appliance()


def _listing() -> dict:
    appliance = _appliance()
    router = appliance.router
    loaded = set(appliance.model_names())
    share = router.share()
    routes = [{**route.to_dict(), "loaded": [t for t in route.resolved if t in loaded],
               "traffic": share.get(name, {"tiers": {}, "spills": 0, "fallbacks": 0})}
              for name, route in router.routes.items()]
    return {"routes": routes, "tenant_tiers": router.tenant_tiers, "error": router.error or None}


def _edit(action, *args) -> Response:
    before = _definitions()
    try:
        action(*args, _appliance().model_store_names())
    except RouteError as exc:
        raise ApiError(400, f"Route definition refused ({exc}); the running routes stay in force.",
                       param=exc.field, code="invalid_route") from None
    target = args[0] if isinstance(args[0], str) else args[0].get("name", "*") if isinstance(args[0], dict) else "*"
    audit.record(f"route.{action.__name__}", target, before, _definitions())
    return jsonify(_listing())


def _definitions() -> dict:
    return {name: route.to_dict() for name, route in _appliance().router.routes.items()}


@bp.get("/routes")
def list_routes() -> Response:
    return jsonify(_listing())


@bp.put("/routes")
def replace_routes() -> Response:
    body = json_body()
    if not isinstance(body, dict) or "routes" not in body:
        raise ApiError(400, "Send {\"routes\": [...]} with the whole route set.", param="routes",
                       code="invalid_route")
    return _edit(_appliance().router.replace, body["routes"])


@bp.put("/routes/<name>")
def put_route(name: str) -> Response:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "A route is a JSON object.", code="invalid_route")
    return _edit(_appliance().router.upsert, {**body, "name": name})


@bp.delete("/routes/<name>")
def delete_route(name: str) -> Response:
    return _edit(_appliance().router.delete, name)


@bp.post("/routes/test")
def test_route() -> Response:
    """Which tier a prompt would take now, and why (nothing is generated or counted)."""
    from appliance.api.routed import busy_check, loaded_tiers, token_count

    appliance = _appliance()
    body = parse(RouteTest)
    name, prompt = body.model, body.prompt
    route = appliance.router.get(name)
    if route is None:
        raise ApiError(404, f"No route named '{name}'; routes: {', '.join(appliance.router.routes) or 'none'}.",
                       param="model", code="route_not_found")
    engines = loaded_tiers(appliance, route)
    probe = next(iter(engines.values()), None)
    tokens = token_count(probe, prompt) if probe is not None else len(prompt.split())
    request = RouteInput(prompt, tokens, body.max_tokens, appliance.router.classifier().score)
    request.score()   # shown even when no rule of this route reads it
    decision = appliance.router.decide(route, request, route.resolved, busy_check(route, appliance.router, engines))
    return jsonify({**decision.to_dict(), "prompt_tokens": tokens,
                    "tokens_counted_by": "tier tokenizer" if probe is not None else "words (no tier loaded)"})
