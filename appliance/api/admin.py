"""The admin blueprint factory: every /admin route passes admin_gate."""
from __future__ import annotations

from flask import Blueprint

from appliance.api.admin_gate import admin_gate


def admin_blueprint(name: str) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix="/admin")
    bp.before_request(admin_gate)   # host, throttle, credential, JSON bodies
    return bp
