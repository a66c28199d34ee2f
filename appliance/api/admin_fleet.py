"""GET /admin/fleet: every node on this database, as each last reported itself (docs/fleet.md)."""
from __future__ import annotations

from flask import Response, jsonify

from appliance.api.admin import admin_blueprint
from appliance.api.errors import ApiError

bp = admin_blueprint("admin_fleet")


@bp.get("/fleet")
def fleet() -> Response:
    from sqlalchemy.exc import SQLAlchemyError

    from appliance.fleet.registry import fleet_status
    from appliance.services import current_appliance

    appliance = current_appliance()
    if appliance.ledger is None:
        raise ApiError(503, "No ledger database: there is no fleet to list.", code="fleet_unavailable")
    try:
        nodes = fleet_status(appliance.ledger.engine)
    except SQLAlchemyError:
        raise ApiError(503, "The database that lists the fleet cannot be reached; retry shortly.",
                       code="fleet_unavailable", retry_after=5) from None
    return jsonify({"node": appliance.config.node, "nodes": nodes})
