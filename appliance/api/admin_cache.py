"""/admin/cache: prefix-cache policy (per loaded model) and response-cache policy (for all),
statistics, pins and flush."""
from __future__ import annotations

from dataclasses import asdict

from flask import Response, jsonify

from appliance import audit
from appliance.api.admin import admin_blueprint, loaded_engines
from appliance.api.admin_bodies import FlushRequest, PinRequest
from appliance.api.errors import ApiError
from appliance.api.fields import changed_settings, settings_change
from appliance.api.validation import parse
from appliance.auth.keys import tenant_scope
from appliance.caching.response_caches import PolicyError
from appliance.config import CacheSettings

bp = admin_blueprint("admin_cache")


def _appliance():
    from appliance.services import current_appliance

    return current_appliance()


def _policy(engine) -> CacheSettings:
    """An engine's [cache] settings: its prefix-cache policy and the response caches' settings."""
    return _appliance().response_caches.settings.with_prefix_policy(engine.cache_policy)


@bp.get("/cache/policy")
def get_policy() -> Response:
    return jsonify({name: _policy(engine).model_dump() for name, engine in loaded_engines(None).items()})


@bp.put("/cache/policy")
def set_policy() -> Response:
    model, changes = settings_change()
    caches = _appliance().response_caches
    response = changed_settings(CacheSettings, caches.settings.model_dump(), changes)
    engines = loaded_engines(model)
    before = {name: _policy(engine) for name, engine in engines.items()}
    after = {name: changed_settings(CacheSettings, policy.model_dump(), changes) for name, policy in before.items()}
    try:
        caches.configure(response)          # first: the semantic cache may be unavailable
    except PolicyError as exc:
        raise ApiError(400, f"{exc}.", param="semantic_cache", code="invalid_value") from None
    for name, engine in engines.items():
        engine.set_cache_policy(after[name].prefix_policy())
    audit.record("cache.policy", model or "*", {name: p.model_dump() for name, p in before.items()},
                 {name: p.model_dump() for name, p in after.items()})
    return jsonify({name: _policy(engine).model_dump() for name, engine in engines.items()})


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
    body = parse(PinRequest)
    engine = _appliance().models.get(body.model)   # ModelNotLoaded -> 404
    token_ids = list(engine.tokenizer(body.prompt)["input_ids"])
    pin = engine.pin_prefix(token_ids, tenant=tenant_scope(body.tenant), ttl_seconds=body.ttl_seconds)
    pinned = {"model": body.model, "pin_id": pin.pin_id, "num_tokens": pin.num_tokens, "blocks": len(pin.hashes)}
    audit.record("cache.pin", pin.pin_id, None, pinned | {"tenant": body.tenant})
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
    model = parse(FlushRequest).model
    flushed = {name: engine.flush_prefix_cache() for name, engine in loaded_engines(model).items()}
    result = {"prefix_blocks_flushed": flushed, "response_entries_flushed": _appliance().response_caches.flush(model)}
    audit.record("cache.flush", model or "*", None, result)
    return jsonify(result)
