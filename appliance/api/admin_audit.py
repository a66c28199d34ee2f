"""/admin/audit: the audit log of administrative changes, newest last, and its verification."""
from __future__ import annotations

from flask import Response, jsonify, request

from appliance.api.admin import admin_blueprint
from appliance.api.errors import ApiError
from appliance.audit import AuditLog

bp = admin_blueprint("admin_audit")


def _log() -> AuditLog:
    from appliance.services import current_appliance

    ledger = current_appliance().ledger
    if ledger is None:
        raise ApiError(503, "The ledger database is not open.", code="ledger_unavailable")
    return AuditLog(ledger.engine)


@bp.get("/audit")
def entries() -> Response:
    raw = request.args.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise ApiError(400, f"'limit' must be an integer from 1 to 10000, got {raw!r}.", param="limit",
                       code="invalid_value")
    return jsonify({"data": [e.to_dict() for e in _log().entries(limit=int(raw), action=request.args.get("action"))]})


@bp.get("/audit/verify")
def verify() -> Response:
    checked, broken = _log().verify()
    return jsonify({"rows": checked, "intact": broken is None,
                    "first_broken_row": broken.row_id if broken else None, "reason": broken.reason if broken else None})
