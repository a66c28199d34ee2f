"""The checks every /admin request passes before its handler, against a browser on the host.

A page in a browser on the appliance's host can send "simple" cross-origin requests (text/plain
POST, no preflight) and, through DNS rebinding, reach 127.0.0.1 under a foreign Host name. So:
- the peer must be on loopback when the API listens on a wildcard address, unless
  server.admin_from_network is set (then the admin uses a name listed in server.admin_hosts);
- the Host header must name this appliance: 127.0.0.1, localhost, ::1, server.host, or one of
  server.admin_hosts (comma-separated);
- a client that sends too many wrong admin credentials is locked out for a while (429);
- every POST, PUT and PATCH must be `application/json`, which a browser cannot send
  cross-origin without a preflight that Airlock never approves.
"""
from __future__ import annotations

from flask import current_app, request

from appliance.api.admin_throttle import FailureThrottle
from appliance.api.errors import ApiError
from appliance.api.guard import require_admin
from appliance.auth.admin import is_loopback
from appliance.config import ServerSettings

WILDCARDS = ("0.0.0.0", "::", "")
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def admin_gate() -> None:
    """before_request of the /admin blueprints (replaces plain require_admin)."""
    from appliance.services import current_appliance

    server = current_appliance().config.server
    _check_peer(server)
    _check_host(server)
    throttle = _throttle(server)
    peer = request.remote_addr or ""
    wait = throttle.blocked_for(peer)
    if wait > 0:
        raise ApiError(429, "Too many wrong admin credentials from this address; try again later.",
                       code="admin_locked_out", retry_after=wait)
    try:
        require_admin()
    except ApiError as exc:
        if exc.status == 401 and exc.code == "invalid_api_key":
            throttle.failed(peer)
        raise
    _check_content_type()


def allowed_hosts(server: ServerSettings) -> frozenset[str]:
    extra = {name.strip().lower() for name in server.admin_hosts.split(",") if name.strip()}
    own = {server.host.lower()} if server.host not in WILDCARDS else set()
    return LOOPBACK_NAMES | own | extra


def host_name(header: str) -> str:
    """The name part of a Host header: 'a:80' -> 'a', '[::1]:80' -> '::1'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def _check_peer(server: ServerSettings) -> None:
    if server.host in WILDCARDS and not server.admin_from_network and not is_loopback(request.remote_addr or ""):
        raise ApiError(403, "The admin API answers only on loopback while the API listens on all addresses; "
                            "use 127.0.0.1 on the host, or set server.admin_from_network.",
                       code="admin_loopback_only")


def _check_host(server: ServerSettings) -> None:
    name = host_name(request.headers.get("Host", ""))
    if name not in allowed_hosts(server):
        raise ApiError(403, f"Host {name or '(none)'!r} is not a name of this appliance; the admin API answers "
                            "to 127.0.0.1, localhost, server.host and server.admin_hosts.",
                       code="host_not_allowed")


def _check_content_type() -> None:
    if request.method in BODY_METHODS and request.mimetype != "application/json":
        sent = request.mimetype or "none"
        raise ApiError(415, f"The admin API accepts only 'Content-Type: application/json' bodies, got {sent!r}.",
                       code="unsupported_media_type")


def _throttle(server: ServerSettings) -> FailureThrottle:
    extensions = current_app.extensions
    if "airlock_admin_throttle" not in extensions:
        extensions["airlock_admin_throttle"] = FailureThrottle(max_failures=server.admin_max_failures)
    return extensions["airlock_admin_throttle"]
