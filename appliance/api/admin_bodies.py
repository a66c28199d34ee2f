"""The bodies of the admin routes that change keys, alert rules, SLO targets and pinned
prefixes, as pydantic models read with `validation.parse`; /openapi.json publishes their
schemas. Unlike the OpenAI bodies they refuse fields they do not know, by name.

Checks that need the running appliance stay with the route: a key that does not exist (404),
a rule name that is not valid (it comes from the path).
"""
from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from appliance.alerts.rules import KINDS, SEVERITIES, AlertRule
from appliance.auth.keys import MAX_LIMIT, MAX_NAME_LENGTH, NO_TENANT
from appliance.api.validation import Body


class Settings(Body):
    """An admin body: an unknown field is refused rather than ignored."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise PydanticCustomError("invalid_value", "must be a non-empty string")
    return text


def _no_comma(name: str) -> str:
    if "," in name:   # allowed_models is stored comma-separated
        raise PydanticCustomError("invalid_value", "must be a model name, without a comma")
    return name


# -- /admin/keys ----------------------------------------------------------------------------------

Name = Annotated[str, StringConstraints(max_length=MAX_NAME_LENGTH), AfterValidator(_not_blank)]
ModelName = Annotated[str, StringConstraints(min_length=1), AfterValidator(_no_comma)]
Limit = Annotated[int, Field(ge=0, le=MAX_LIMIT, description="0: unlimited")]


class KeyChanges(Settings):
    """PATCH /admin/keys/{key_id}: the settings given change, the others stay. A tenant of
    null or "" clears the key's tenant; an absent tenant leaves it as it is."""
    NULL_IS_A_VALUE: ClassVar[frozenset[str]] = frozenset({"tenant"})
    name: Name | None = None
    tenant: Name | None = Field(None, description="keys of one tenant share their caches; "
                                                  "empty or null: the key shares them with no other; "
                                                  "absent: unchanged (none for a new key)")
    allowed_models: list[ModelName] = Field([], description="empty: every model")
    requests_per_minute: Limit = 0
    tokens_per_minute: Limit = 0
    token_budget: Limit = 0

    @field_validator("tenant", mode="before")
    @classmethod
    def _empty_is_none(cls, tenant: Any) -> Any:
        return None if tenant == "" else tenant

    @field_validator("tenant")
    @classmethod
    def _not_reserved(cls, tenant: str | None) -> str | None:
        if tenant in NO_TENANT:
            raise PydanticCustomError("invalid_value", "must not be 'default' (reserved): leave tenant out for a "
                                                       "key that shares its caches with no other key")
        return tenant

    def changes(self) -> dict[str, Any]:
        """The settings the body gave (`model_fields_set`: a null tenant is given, as None)."""
        return self.model_dump(exclude_unset=True)


class NewKey(KeyChanges):
    """POST /admin/keys."""
    name: Name


# -- /admin/alerts/rules/{name} -------------------------------------------------------------------

_RULE_DEFAULTS = {f.name: f.default for f in fields(AlertRule)}
Kind = Literal[tuple(KINDS)]  # type: ignore[valid-type]
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]


class AlertRuleBody(Settings):
    """PUT /admin/alerts/rules/{name}: the rule named by the path (GET /admin/alerts/rules lists the kinds)."""
    name: str | None = Field(None, description="the path's name, if given")
    kind: Kind
    threshold: float = Field(description="in the kind's unit; fires at or above it, or below it, by kind")
    window_seconds: float = Field(_RULE_DEFAULTS["window_seconds"], gt=0)
    severity: Severity = _RULE_DEFAULTS["severity"]
    enabled: bool = _RULE_DEFAULTS["enabled"]

    def rule(self, name: str) -> dict[str, Any]:
        """The rule's settings under the path's name."""
        return {**self.model_dump(exclude={"name"}), "name": name}


# -- /admin/slo, /admin/cache/pins, /admin/cache/flush, and the model a settings change targets --

Seconds = Annotated[float, Field(gt=0, description="null or absent: no target")]


class Target(Body):
    """The loaded model a change applies to; absent: every loaded model."""
    model: str | None = None


class SloTargets(Settings):
    """PUT /admin/slo: both targets are set; one left out (or null) is none."""
    model: str | None = Field(None, description="a loaded model; absent: every one")
    ttft_p95_seconds: Seconds | None = None
    itl_p95_seconds: Seconds | None = None


class PinRequest(Settings):
    """POST /admin/cache/pins: keep the prefix the prompt fills in the model's prefix cache."""
    model: str
    prompt: str
    tenant: str | None = Field(None, description="the cache partition of that tenant's keys")
    ttl_seconds: float | None = Field(None, gt=0, description="absent: until unpinned")


class FlushRequest(Settings):
    """POST /admin/cache/flush."""
    model: str | None = Field(None, description="a loaded model; absent: every one")
