"""Who is calling: an API key on /v1, the admin credential on /admin (or auth off on loopback)."""
from __future__ import annotations

import hmac

from flask import g, request

from appliance.api.errors import ApiError
from appliance.auth.keys import ApiKey


def bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(401, "Missing API key: send 'Authorization: Bearer <key>'.", code="missing_api_key")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Malformed Authorization header: expected 'Bearer <key>'.", code="invalid_api_key")
    return token.strip()


def require_api_key() -> None:
    """before_request of the /v1 blueprints: sets g.key (None when auth is off)."""
    from appliance.services import current_appliance

    appliance = current_appliance()
    g.key = None
    if not appliance.config.server.auth:
        return
    token = bearer()
    key = appliance.keys.verify(token)
    if key is None:
        if _is_admin(token, appliance.admin_token):
            return   # the administrator may use the API too, unrestricted
        raise ApiError(401, "Incorrect API key provided (unknown or revoked).", code="invalid_api_key")
    g.key = key


def require_admin() -> None:
    """before_request of the /admin blueprints."""
    from appliance.services import current_appliance

    appliance = current_appliance()
    if not appliance.config.server.auth:
        return
    token = bearer()
    if _is_admin(token, appliance.admin_token):
        return
    if appliance.keys.verify(token) is not None:
        raise ApiError(403, "This API key may not use the admin API; use the admin credential.",
                       code="admin_only")
    raise ApiError(401, "Incorrect admin credential.", code="invalid_api_key")


def current_key() -> ApiKey | None:
    return g.get("key")


def _is_admin(token: str, admin: str) -> bool:
    return hmac.compare_digest(token.encode(), admin.encode())
