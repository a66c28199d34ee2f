"""GET /health (the process answers) and GET /ready (a model is loaded and serving)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> Response:
    from appliance.services import current_appliance

    return jsonify({"status": "ok", "node": current_appliance().config.node})


@bp.get("/ready")
def ready() -> Response:
    from appliance.services import current_appliance

    appliance = current_appliance()
    models = appliance.model_names()
    ready = bool(models) and not appliance.draining
    response = jsonify({"status": "ready" if ready else "not ready", "models": models,
                        "draining": appliance.draining, "node": appliance.config.node})
    response.status_code = 200 if ready else 503
    return response
