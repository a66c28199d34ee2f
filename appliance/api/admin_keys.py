"""/admin/keys: create (the secret is in this response only), list, update, revoke."""
from __future__ import annotations

from flask import Response, jsonify

from appliance import audit
from appliance.api.admin import admin_blueprint
from appliance.api.admin_bodies import KeyChanges, NewKey
from appliance.api.errors import ApiError
from appliance.api.validation import parse
from appliance.auth.keys import KeyNotFound, KeySpec

bp = admin_blueprint("admin_keys")


def _store():
    from appliance.services import current_appliance

    return current_appliance().keys


def _not_found(exc: KeyNotFound) -> ApiError:
    return ApiError(404, f"{exc}.", param="key_id", code="not_found")


@bp.get("/keys")
def list_keys() -> Response:
    return jsonify({"data": [k.public() for k in _store().list(include_revoked=True)]})


@bp.post("/keys")
def create_key() -> Response:
    key, secret = _store().create(KeySpec(**parse(NewKey).model_dump()))
    audit.record("key.create", key.id, None, key.public())
    response = jsonify({**key.public(), "secret": secret})
    response.status_code = 201
    return response


@bp.patch("/keys/<key_id>")
def update_key(key_id: str) -> Response:
    changes = parse(KeyChanges).changes()
    try:
        before = _store().get(key_id).public()
        after = _store().update(key_id, **changes).public()
    except KeyNotFound as exc:
        raise _not_found(exc) from None
    audit.record("key.update", key_id, before, after)
    return jsonify(after)


@bp.delete("/keys/<key_id>")
def revoke_key(key_id: str) -> Response:
    try:
        before = _store().get(key_id).public()
        after = _store().revoke(key_id).public()
    except KeyNotFound as exc:
        raise _not_found(exc) from None
    audit.record("key.revoke", key_id, before, after)
    return jsonify(after)
