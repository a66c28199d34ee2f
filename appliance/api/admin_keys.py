"""/admin/keys: create (the secret is in this response only), list, update, revoke."""
from __future__ import annotations

from dataclasses import fields

from flask import Response, jsonify

from appliance import audit
from appliance.api.admin import admin_blueprint
from appliance.api.errors import ApiError
from appliance.api.validation import json_body
from appliance.auth.keys import KeySettingError, KeySpec

bp = admin_blueprint("admin_keys")
SETTINGS = tuple(f.name for f in fields(KeySpec))


def _store():
    from appliance.services import current_appliance

    return current_appliance().keys


def _settings(body: dict) -> dict:
    unknown = sorted(set(body) - set(SETTINGS))
    if unknown:
        raise ApiError(400, f"unknown key setting(s): {', '.join(unknown)}; known: {', '.join(SETTINGS)}.",
                       param=unknown[0], code="invalid_value")
    if body.get("tenant") == "":
        body["tenant"] = None   # an empty field means no tenant: caches of its own
    return body


def _invalid(exc: KeySettingError) -> ApiError:
    message = str(exc)
    param = next((s for s in SETTINGS if message.startswith(s)), None)
    status = 404 if message.startswith("no API key") else 400
    return ApiError(status, message, param=param, code="invalid_value" if status == 400 else "not_found")


@bp.get("/keys")
def list_keys() -> Response:
    return jsonify({"data": [k.public() for k in _store().list(include_revoked=True)]})


@bp.post("/keys")
def create_key() -> Response:
    body = _settings(json_body())
    if "name" not in body:
        raise ApiError(400, "'name' is required.", param="name", code="missing_required_parameter")
    try:
        key, secret = _store().create(KeySpec(**body))
    except KeySettingError as exc:
        raise _invalid(exc) from None
    audit.record("key.create", key.id, None, key.public())
    response = jsonify({**key.public(), "secret": secret})
    response.status_code = 201
    return response


@bp.patch("/keys/<key_id>")
def update_key(key_id: str) -> Response:
    try:
        before = _store().get(key_id).public()
        after = _store().update(key_id, **_settings(json_body())).public()
    except KeySettingError as exc:
        raise _invalid(exc) from None
    audit.record("key.update", key_id, before, after)
    return jsonify(after)


@bp.delete("/keys/<key_id>")
def revoke_key(key_id: str) -> Response:
    try:
        before = _store().get(key_id).public()
        after = _store().revoke(key_id).public()
    except KeySettingError as exc:
        raise _invalid(exc) from None
    audit.record("key.revoke", key_id, before, after)
    return jsonify(after)
