"""/admin/usage and /admin/tco: usage reports from the ledger, TCO inputs and figures (the inputs
have the [tco] section's schema)."""
from __future__ import annotations

from flask import Response, jsonify, request

from appliance import audit
from appliance.api.admin import admin_blueprint
from appliance.api.errors import ApiError
from appliance.api.fields import changed_settings
from appliance.api.validation import json_body
from appliance.config import TcoSettings

bp = admin_blueprint("admin_usage")
CHOICES = {"period": ("day", "week", "month"), "group": ("key", "tenant", "model", "route"), "format": ("json", "csv")}


def _ledger():
    from appliance.services import current_appliance

    ledger = current_appliance().ledger
    if ledger is None:
        raise ApiError(503, "The usage ledger is not open.", code="ledger_unavailable")
    return ledger


def _arg(name: str, default: str) -> str:
    value = request.args.get(name, default)
    if value not in CHOICES[name]:
        raise ApiError(400, f"'{name}' must be one of {', '.join(CHOICES[name])}, got {value!r}.", param=name,
                       code="invalid_value")
    return value


@bp.get("/usage")
def usage() -> Response:
    period, group, fmt = _arg("period", "day"), _arg("group", "key"), _arg("format", "json")
    if fmt == "csv":
        return Response(_ledger().report_csv(period, group), mimetype="text/csv")
    return jsonify({"period": period, "group": group, "rows": _ledger().report(period, group)})


@bp.get("/tco")
def tco() -> Response:
    ledger = _ledger()
    return jsonify({**ledger.tco().to_dict(), **ledger.tier_costs()})


@bp.put("/tco")
def set_tco() -> Response:
    before = _ledger().tco_inputs.to_dict()
    inputs = changed_settings(TcoSettings, before, json_body())   # a 400 names the setting
    report = _ledger().set_tco(inputs.model_dump())
    audit.record("tco.inputs", "tco", before, report.inputs.to_dict())
    return jsonify(report.to_dict())
