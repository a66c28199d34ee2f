"""/admin/cache: prefix-cache policy, statistics, pins and flush, per loaded model."""
from __future__ import annotations

from dataclasses import asdict, fields, replace

from flask import Response, jsonify

from appliance.api.admin import admin_blueprint
from appliance.api.errors import ApiError
from appliance.api.fields import Fields, json_body

bp = admin_blueprint("admin_cache")


def _appliance():
    from appliance.services import current_appliance

    return current_appliance()


def _engines(model: str | None) -> dict:
    appliance = _appliance()
    names = appliance.model_names() if model is None else [model]
    return {name: appliance.models.get(name) for name in names}   # ModelNotLoaded -> 404


@bp.get("/cache/policy")
def get_policy() -> Response:
    return jsonify({name: asdict(engine.cache_policy) for name, engine in _engines(None).items()})


@bp.put("/cache/policy")
def set_policy() -> Response:
    from engine.config import CachePolicy

    body = json_body()
    model = Fields(body).string("model")
    changes = {k: v for k, v in body.items() if k != "model"}
    known = {f.name for f in fields(CachePolicy)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ApiError(400, f"unknown cache setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}.",
                       param=unknown[0], code="invalid_value")
    result = {}
    for name, engine in _engines(model).items():
        try:
            policy = replace(engine.cache_policy, **changes)   # CachePolicy validates itself
        except ValueError as exc:
            raise ApiError(400, str(exc), param=str(exc).split()[0], code="invalid_value") from None
        engine.set_cache_policy(policy)
        result[name] = asdict(engine.cache_policy)
    return jsonify(result)


@bp.get("/cache/stats")
def stats() -> Response:
    appliance = _appliance()
    prefix = {name: asdict(s.cache) | {"blocks_total": s.blocks_total, "blocks_used": s.blocks_used}
              for name, s in appliance.engine_stats().items()}
    response_cache = appliance.response_cache
    return jsonify({"prefix": prefix,
                    "response": asdict(response_cache.stats()) if response_cache is not None else None})


@bp.get("/cache/pins")
def list_pins() -> Response:
    return jsonify({name: engine.pins() for name, engine in _engines(None).items()})


@bp.post("/cache/pins")
def pin() -> Response:
    body = Fields(json_body())
    model = body.string("model", required=True)
    prompt = body.string("prompt", required=True)
    engine = _appliance().models.get(model)   # ModelNotLoaded -> 404
    token_ids = list(engine.tokenizer(prompt)["input_ids"])
    pin = engine.pin_prefix(token_ids, tenant=body.string("tenant"), ttl_seconds=body.number("ttl_seconds"))
    response = jsonify({"model": model, "pin_id": pin.pin_id, "num_tokens": pin.num_tokens,
                        "blocks": len(pin.hashes)})
    response.status_code = 201
    return response


@bp.delete("/cache/pins/<pin_id>")
def unpin(pin_id: str) -> Response:
    for name, engine in _engines(None).items():
        if engine.unpin(pin_id):
            return jsonify({"model": name, "pin_id": pin_id, "unpinned": True})
    raise ApiError(404, f"no pin with id {pin_id!r}.", param="pin_id", code="not_found")


@bp.post("/cache/flush")
def flush() -> Response:
    body = Fields(json_body())
    model = body.string("model")
    flushed = {name: engine.flush_prefix_cache() for name, engine in _engines(model).items()}
    cache = _appliance().response_cache
    return jsonify({"prefix_blocks_flushed": flushed,
                    "response_entries_flushed": cache.flush(model) if cache is not None else 0})
