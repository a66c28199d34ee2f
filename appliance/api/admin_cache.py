"""/admin/cache: prefix-cache policy (per loaded model) and response-cache policy (for all),
statistics, pins and flush."""
from __future__ import annotations

from dataclasses import asdict, fields, replace

from flask import Response, jsonify

from appliance import audit
from appliance.api.admin import admin_blueprint, loaded_engines
from appliance.api.errors import ApiError
from appliance.auth.keys import tenant_scope
from appliance.api.fields import Fields, json_body
from appliance.caching.response_caches import SETTINGS

bp = admin_blueprint("admin_cache")


def _appliance():
    from appliance.services import current_appliance

    return current_appliance()


@bp.get("/cache/policy")
def get_policy() -> Response:
    response = _appliance().response_caches.policy()
    return jsonify({name: asdict(engine.cache_policy) | response for name, engine in loaded_engines(None).items()})


@bp.put("/cache/policy")
def set_policy() -> Response:
    from engine.config import CachePolicy

    body = json_body()
    model = Fields(body).string("model")
    changes = {k: v for k, v in body.items() if k != "model"}
    known = {f.name for f in fields(CachePolicy)}
    unknown = sorted(set(changes) - known - set(SETTINGS))
    if unknown:
        raise ApiError(400, f"unknown cache setting(s): {', '.join(unknown)}; "
                       f"known: {', '.join(sorted(known | set(SETTINGS)))}.",
                       param=unknown[0], code="invalid_value")
    engines = loaded_engines(model)
    prefix = {k: v for k, v in changes.items() if k in known}
    before = {name: asdict(engine.cache_policy) | _appliance().response_caches.policy()
              for name, engine in engines.items()}
    try:
        policies = {name: replace(engine.cache_policy, **prefix) for name, engine in engines.items()}
        response = _appliance().response_caches.configure(changes)   # applied only if all are valid
    except ValueError as exc:   # CachePolicy and the response settings validate themselves
        raise ApiError(400, str(exc), param=str(exc).split()[0], code="invalid_value") from None
    for name, engine in engines.items():
        engine.set_cache_policy(policies[name])
    after = {name: asdict(engine.cache_policy) | response for name, engine in engines.items()}
    audit.record("cache.policy", model or "*", before, after)
    return jsonify(after)


@bp.get("/cache/stats")
def stats() -> Response:
    appliance = _appliance()
    prefix = {name: asdict(s.cache) | {"blocks_total": s.blocks_total, "blocks_used": s.blocks_used}
              for name, s in appliance.engine_stats().items()}
    return jsonify({"prefix": prefix, "response": appliance.response_caches.stats()})


@bp.get("/cache/pins")
def list_pins() -> Response:
    return jsonify({name: engine.pins() for name, engine in loaded_engines(None).items()})


@bp.post("/cache/pins")
def pin() -> Response:
    body = Fields(json_body())
    model = body.string("model", required=True)
    prompt = body.string("prompt", required=True)
    engine = _appliance().models.get(model)   # ModelNotLoaded -> 404
    token_ids = list(engine.tokenizer(prompt)["input_ids"])
    tenant = tenant_scope(body.string("tenant"))
    pin = engine.pin_prefix(token_ids, tenant=tenant, ttl_seconds=body.number("ttl_seconds"))
    pinned = {"model": model, "pin_id": pin.pin_id, "num_tokens": pin.num_tokens, "blocks": len(pin.hashes)}
    audit.record("cache.pin", pin.pin_id, None, pinned | {"tenant": body.string("tenant")})
    response = jsonify(pinned)
    response.status_code = 201
    return response


@bp.delete("/cache/pins/<pin_id>")
def unpin(pin_id: str) -> Response:
    for name, engine in loaded_engines(None).items():
        if engine.unpin(pin_id):
            audit.record("cache.unpin", pin_id, {"model": name}, None)
            return jsonify({"model": name, "pin_id": pin_id, "unpinned": True})
    raise ApiError(404, f"no pin with id {pin_id!r}.", param="pin_id", code="not_found")


@bp.post("/cache/flush")
def flush() -> Response:
    body = Fields(json_body())
    model = body.string("model")
    flushed = {name: engine.flush_prefix_cache() for name, engine in loaded_engines(model).items()}
    result = {"prefix_blocks_flushed": flushed, "response_entries_flushed": _appliance().response_caches.flush(model)}
    audit.record("cache.flush", model or "*", None, result)
    return jsonify(result)
