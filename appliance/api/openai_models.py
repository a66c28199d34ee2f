"""GET /v1/models and /v1/models/{id}: the loaded models this key may use."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from appliance.api.errors import model_not_found
from appliance.api.guard import current_key, require_api_key
from appliance.api.route_listing import visible_routes

bp = Blueprint("openai_models", __name__)
bp.before_request(require_api_key)


def _visible() -> list[dict]:
    from appliance.services import current_appliance

    appliance = current_appliance()
    key = current_key()
    models = [{"id": name, "object": "model", "created": int(appliance.started), "owned_by": "airlock"}
              for name in appliance.model_names() if key is None or key.allows(name)]
    return models + visible_routes(appliance, key)


@bp.get("/v1/models")
def list_models() -> Response:
    return jsonify({"object": "list", "data": _visible()})


@bp.get("/v1/models/<path:model>")
def get_model(model: str) -> Response:
    for entry in _visible():
        if entry["id"] == model:
            return jsonify(entry)
    raise model_not_found(model, [m["id"] for m in _visible()])
