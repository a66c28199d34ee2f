"""KeyStore: create, list, update, revoke and verify API keys on the ledger's database.

A secret looks like `ak-<prefix><rest>`. The prefix (public, shown in listings) finds the
candidate key; the sha256 of the whole secret is then compared in constant time. Active keys
are held in memory so that verifying a request costs no database round trip.

Isolation by default: a key without a tenant shares its prefix and response caches with no
other key; keys share them only when they name the same tenant explicitly.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from appliance.auth.key_table import ApiKeyRow

log = logging.getLogger("airlock.auth")
SECRET_PREFIX = "ak-"
PREFIX_LEN = 8
MAX_NAME_LENGTH = 200      # api_keys.name/tenant and usage_records.key_name/tenant are String(200)
MAX_LIMIT = 2**31 - 1      # the ledger's integer columns (32-bit on PostgreSQL)
NO_TENANT = ("", "default")   # stored for a key without a tenant ("default": as older versions did)


class KeySettingError(ValueError):
    """A key setting is invalid or the key does not exist; the message names the problem."""


class KeyNotFound(KeySettingError):
    """No key has this id."""


@dataclass(slots=True)
class KeySpec:
    """What an administrator sets on a key; validated on construction."""
    name: str
    tenant: str | None = None                                 # None: shares caches with no other key
    allowed_models: list[str] = field(default_factory=list)   # empty: every model
    requests_per_minute: int = 0                              # 0: unlimited
    tokens_per_minute: int = 0
    token_budget: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise KeySettingError("name must be a non-empty string")
        if len(self.name) > MAX_NAME_LENGTH:
            raise KeySettingError(f"name must be at most {MAX_NAME_LENGTH} characters, got {len(self.name)}")
        if self.tenant is not None:
            _check_tenant(self.tenant)
        if not isinstance(self.allowed_models, list) or not all(
                isinstance(m, str) and m and "," not in m for m in self.allowed_models):
            raise KeySettingError("allowed_models must be a list of model names")
        for name in ("requests_per_minute", "tokens_per_minute", "token_budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
                raise KeySettingError(f"{name} must be an integer from 0 (unlimited) to {MAX_LIMIT:,}, got {value!r}")


@dataclass(slots=True, frozen=True)
class ApiKey:
    id: str
    prefix: str
    spec: KeySpec
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def cache_scope(self) -> str:
        """The prefix/response cache partition: the tenant's when named, else this key's own."""
        return tenant_scope(self.spec.tenant) if self.spec.tenant is not None else f"key:{self.id}"

    def allows(self, model: str) -> bool:
        return not self.spec.allowed_models or model in self.spec.allowed_models

    def public(self) -> dict:
        return {"id": self.id, "prefix": SECRET_PREFIX + self.prefix, "name": self.spec.name,
                "tenant": self.spec.tenant, "allowed_models": list(self.spec.allowed_models),
                "requests_per_minute": self.spec.requests_per_minute,
                "tokens_per_minute": self.spec.tokens_per_minute, "token_budget": self.spec.token_budget,
                "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


REFRESH_SECONDS = 2.0   # the longest a revocation made by another process goes unseen


class KeyStore:
    def __init__(self, db: Engine | str) -> None:
        self.db = create_engine(db) if isinstance(db, str) else db
        self._lock = threading.Lock()
        self._active: dict[str, tuple[str, ApiKey]] = {}   # prefix -> (sha256, key)
        self._loaded_at = 0.0
        self._generation = 0   # bumped by every reload and revocation
        self._reload()

    def create(self, spec: KeySpec) -> tuple[ApiKey, str]:
        """A new key and its secret; the secret is returned here once and never again."""
        prefix = secrets.token_hex(PREFIX_LEN // 2)
        secret = SECRET_PREFIX + prefix + secrets.token_urlsafe(24)
        row = ApiKeyRow(id="key_" + secrets.token_hex(6), prefix=prefix, secret_sha256=_sha256(secret),
                        created_at=datetime.now(UTC).replace(tzinfo=None), **_spec_columns(spec))
        with Session(self.db) as session, session.begin():
            session.add(row)
            key = _to_key(row)
        self._reload()
        return key, secret

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        with Session(self.db) as session:
            rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)).all()
            keys = [_to_key(r) for r in rows]
        return [k for k in keys if include_revoked or k.revoked_at is None]

    def get(self, key_id: str) -> ApiKey:
        with Session(self.db) as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise KeyNotFound(f"no API key with id {key_id!r}")
            return _to_key(row)

    def update(self, key_id: str, **changes: object) -> ApiKey:
        spec = replace(self.get(key_id).spec, **changes)   # KeySpec validates the result
        with Session(self.db) as session, session.begin():
            row = session.get(ApiKeyRow, key_id)
            for column, value in _spec_columns(spec).items():
                setattr(row, column, value)
            key = _to_key(row)
        self._reload()
        return key

    def revoke(self, key_id: str) -> ApiKey:
        with Session(self.db) as session, session.begin():
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise KeyNotFound(f"no API key with id {key_id!r}")
            row.revoked_at = row.revoked_at or datetime.now(UTC).replace(tzinfo=None)
            key = _to_key(row)
        self._forget(key.prefix)
        self._reload()
        return key

    def verify(self, secret: str) -> ApiKey | None:
        """The active key whose secret this is, or None."""
        if not secret.startswith(SECRET_PREFIX):
            return None
        prefix = secret[len(SECRET_PREFIX):len(SECRET_PREFIX) + PREFIX_LEN]
        self._refresh_if_older_than(REFRESH_SECONDS)
        entry = self._active.get(prefix) or self._read_prefix(prefix)
        if entry is None:
            hmac.compare_digest(_sha256(secret), _sha256(""))   # same work either way
            return None
        digest, key = entry
        return key if hmac.compare_digest(_sha256(secret), digest) else None

    def _read_prefix(self, prefix: str) -> tuple[str, ApiKey] | None:
        """An active key unknown here may have been made by another process (`airlock keys`).
        It joins the table only if no reload (a revocation here) happened while it was read."""
        generation = self._generation
        try:
            with Session(self.db) as session:
                row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix,
                                                              ApiKeyRow.revoked_at.is_(None))).first()
                entry = (row.secret_sha256, _to_key(row)) if row is not None else None
        except Exception as exc:   # the table does not exist yet, or the database is locked
            log.warning("could not look up API key prefix %s: %s", prefix, exc)
            return None
        with self._lock:
            if entry is None or generation != self._generation:
                return None
            self._active = {**self._active, prefix: entry}
        return entry

    def _forget(self, prefix: str) -> None:
        """Drop a key revoked here at once, even if the reload that follows fails."""
        with self._lock:
            self._active = {p: e for p, e in self._active.items() if p != prefix}
            self._generation += 1

    def _refresh_if_older_than(self, seconds: float) -> None:
        """Revocations made by another process (`airlock keys`) are seen within seconds."""
        if time.monotonic() - self._loaded_at >= seconds:
            self._reload()

    def _reload(self) -> None:
        """Read the active keys; on a database error keep the last good table (and say so)."""
        try:
            with Session(self.db) as session:
                rows = session.scalars(select(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))).all()
                active = {r.prefix: (r.secret_sha256, _to_key(r)) for r in rows}
        except Exception as exc:   # no migration run yet, or the database is locked or gone
            log.error("could not reload API keys (keeping the %d known): %s", len(self._active), exc)
            with self._lock:
                self._loaded_at = time.monotonic()   # retry after REFRESH_SECONDS, not on every request
            return
        with self._lock:
            self._active = active
            self._loaded_at = time.monotonic()
            self._generation += 1


def tenant_scope(tenant: str | None) -> str | None:
    """The cache partition of a named tenant (the salt the engine hashes); None: the shared one."""
    return f"tenant:{tenant}" if tenant else None


def _check_tenant(tenant: object) -> None:
    if not isinstance(tenant, str) or not tenant.strip():
        raise KeySettingError("tenant must be a non-empty string (leave it out for a key of its own)")
    if tenant in NO_TENANT:
        raise KeySettingError("tenant 'default' is reserved: leave tenant out for a key that shares "
                              "its caches with no other key, or name a tenant to share them")
    if len(tenant) > MAX_NAME_LENGTH:
        raise KeySettingError(f"tenant must be at most {MAX_NAME_LENGTH} characters, got {len(tenant)}")


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _spec_columns(spec: KeySpec) -> dict:
    return {"name": spec.name, "tenant": spec.tenant or "", "allowed_models": ",".join(spec.allowed_models),
            "requests_per_minute": spec.requests_per_minute, "tokens_per_minute": spec.tokens_per_minute,
            "token_budget": spec.token_budget}


def _to_key(row: ApiKeyRow) -> ApiKey:
    spec = KeySpec(name=row.name, tenant=None if row.tenant in NO_TENANT else row.tenant,
                   allowed_models=[m for m in row.allowed_models.split(",") if m],
                   requests_per_minute=row.requests_per_minute, tokens_per_minute=row.tokens_per_minute,
                   token_budget=row.token_budget)
    return ApiKey(id=row.id, prefix=row.prefix, spec=spec, created_at=row.created_at, revoked_at=row.revoked_at)
