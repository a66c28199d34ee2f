"""The admin blueprint factory: every /admin route requires the admin credential."""
from __future__ import annotations

from flask import Blueprint

from appliance.api.guard import require_admin


def admin_blueprint(name: str) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix="/admin")
    bp.before_request(require_admin)
    return bp
