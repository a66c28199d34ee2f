"""The admin blueprint factory (every /admin route passes admin_gate) and the lookups the
admin routes share."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from appliance.api.admin_gate import admin_gate


def admin_blueprint(name: str) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix="/admin")
    bp.before_request(admin_gate)   # host, throttle, credential, JSON bodies
    return bp


def loaded_engines(model: str | None) -> dict[str, Any]:
    """The engine of `model`, or of every loaded model when None, by served name.
    An unknown name raises ModelNotLoaded, which the API answers with a 404."""
    from appliance.services import current_appliance

    appliance = current_appliance()
    names = appliance.model_names() if model is None else [model]
    return {name: appliance.models.get(name) for name in names}
