"""/admin/alerts: what is firing, the history of state changes, acknowledge; the rules,
editable at run time (every edit is audited)."""
from __future__ import annotations

from flask import Response, jsonify, request

from appliance import audit
from appliance.alerts.rules import KINDS, InvalidRule
from appliance.api.admin import admin_blueprint
from appliance.api.admin_bodies import AlertRuleBody
from appliance.api.errors import ApiError
from appliance.api.validation import parse

bp = admin_blueprint("admin_alerts")


def _alerts():
    from appliance.services import current_appliance

    evaluator = current_appliance().alerts
    if evaluator is None:
        raise ApiError(503, "Alerts are off (alerts.enabled = false) or the ledger is not open.",
                       code="alerts_unavailable")
    return evaluator


def _limit() -> int:
    raw = request.args.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise ApiError(400, f"'limit' must be an integer from 1 to 10000, got {raw!r}.", param="limit",
                       code="invalid_value")
    return int(raw)


@bp.get("/alerts")
def alerts() -> Response:
    evaluator = _alerts()
    return jsonify({"firing": evaluator.firing(), "events": evaluator.store.events(_limit()),
                    "rules": evaluator.rules_list()})


@bp.post("/alerts/events/<int:event_id>/ack")
def acknowledge(event_id: int) -> Response:
    actor = audit.request_actor()
    event = _alerts().store.acknowledge(event_id, actor)
    if event is None:
        raise ApiError(404, f"no alert event with id {event_id}.", param="event_id", code="not_found")
    audit.record("alert.acknowledge", str(event_id), None, {"rule": event["rule"], "subject": event["subject"]})
    return jsonify(event)


@bp.get("/alerts/rules")
def rules() -> Response:
    return jsonify({"rules": _alerts().rules_list(),
                    "kinds": {name: {"fires_when": "above" if k.above else "below", "unit": k.unit, "help": k.help}
                              for name, k in KINDS.items()}})


@bp.put("/alerts/rules/<name>")
def put_rule(name: str) -> Response:
    body = parse(AlertRuleBody)
    if body.name not in (None, name):
        raise ApiError(400, f"'name' must be the path's name {name!r}, got {body.name!r}.", param="name",
                       code="invalid_value")
    try:
        before, rule = _alerts().put_rule(body.rule(name))
    except InvalidRule as exc:   # the body is valid: only the path's name is left to refuse
        raise ApiError(400, f"{exc}.", param="name", code="invalid_value") from None
    audit.record("alert.rule", name, before.to_dict() if before else None, rule.to_dict())
    return jsonify(rule.to_dict())


@bp.delete("/alerts/rules/<name>")
def delete_rule(name: str) -> Response:
    try:
        removed = _alerts().delete_rule(name)
    except InvalidRule as exc:
        raise ApiError(404, str(exc), param="name", code="not_found") from None
    audit.record("alert.rule", name, removed.to_dict(), None)
    return jsonify({"name": name, "deleted": True})

