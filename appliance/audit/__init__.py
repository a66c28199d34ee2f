"""The audit log of administrative changes. Every admin endpoint and CLI command that changes
something calls one function after the change succeeds:

    from appliance import audit
    audit.record("key.update", key_id, before, after)            # in a Flask request
    audit.record("key.create", key_id, None, after, engine=db)    # in the CLI (actor: the OS user)

In a request the actor is the admin credential's fingerprint and the caller's address (plus
the name the console sends in X-Airlock-Actor); outside one it is `cli:<user>`.
"""
from __future__ import annotations

import getpass
import hashlib
import logging
import os
import weakref
from typing import Any

from sqlalchemy import Engine

from appliance.audit.chain import AuditEntry, AuditLog, ChainBreak, canonical

__all__ = ["AuditEntry", "AuditLog", "ChainBreak", "canonical", "cli_actor", "record", "request_actor"]
log = logging.getLogger("airlock.audit")
ACTOR_HEADER = "X-Airlock-Actor"
_logs: weakref.WeakKeyDictionary[Engine, AuditLog] = weakref.WeakKeyDictionary()


def record(action: str, target: str, before: Any = None, after: Any = None, *,
           actor: str | None = None, engine: Engine | None = None) -> AuditEntry | None:
    """Append one change to the chain. Never raises: a change that was made must not be
    reported as failed because its audit row could not be written (that is logged as an error)."""
    try:
        engine = engine or _request_engine()
        entry = _log_for(engine).append(actor or _default_actor(), action, target, before, after)
        log.info("audit %s %s %s by %s", entry.id, action, target, entry.actor)
        return entry
    except Exception:
        log.exception("could not write the audit row for %s %s", action, target)
        return None


def request_actor() -> str:
    """The caller of the current admin request."""
    from flask import request

    from appliance.services import current_appliance

    token = current_appliance().admin_token
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:8]
    actor = f"admin:{fingerprint}@{request.remote_addr or '-'}"
    named = request.headers.get(ACTOR_HEADER, "").strip()
    return f"{actor} as {named[:60]}" if named else actor


def cli_actor() -> str:
    user = os.environ.get("SUDO_USER") or _login()
    return f"cli:{user}"


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):   # no passwd entry (containers)
        return f"uid{os.getuid()}"


def _default_actor() -> str:
    from flask import has_request_context

    return request_actor() if has_request_context() else cli_actor()


def _request_engine() -> Engine:
    from appliance.services import current_appliance

    return current_appliance().ledger.engine


def _log_for(engine: Engine) -> AuditLog:
    """One AuditLog (and its append lock) per database engine."""
    if engine not in _logs:
        _logs[engine] = AuditLog(engine)
    return _logs[engine]
