"""/admin/plan: the memory planner for a stored model (GET) or a what-if config (POST)."""
from __future__ import annotations

from flask import Response, jsonify, request

from appliance.api.admin import admin_blueprint
from appliance.api.admin_models import _call, _manager
from appliance.api.bodies import PlanRequest
from appliance.api.errors import ApiError
from appliance.api.validation import parse

bp = admin_blueprint("admin_plan")


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"'{name}' must be an integer, got {raw!r}.", param=name, code="invalid_type") from None
    if value < 1:
        raise ApiError(400, f"'{name}' must be at least 1, got {value}.", param=name, code="invalid_value")
    return value


@bp.get("/plan")
def plan() -> Response:
    model = request.args.get("model")
    if not model:
        raise ApiError(400, "'model' is required.", param="model", code="missing_required_parameter")
    report = _call(lambda: _manager().plan(model, quantization=request.args.get("quantization", "auto"),
                                           context_length=_int_arg("context"),
                                           concurrency=_int_arg("concurrency") or 1))
    return jsonify(report.to_json())


@bp.post("/plan")
def what_if() -> Response:
    body = parse(PlanRequest)
    config = body.config or None
    if (config is None) == (body.model is None):
        raise ApiError(400, "give either 'model' (a stored model) or 'config' (a config.json object).",
                       param="config", code="invalid_value")
    report = _call(lambda: _manager().plan(body.model, config=config, quantization=body.quantization,
                                           context_length=body.context, concurrency=body.concurrency))
    return jsonify(report.to_json())
