"""Appliance configuration: one typed schema per setting.

How it loads (load_config): the TOML file ($AIRLOCK_CONFIG or the path given), then
AIRLOCK_DATA_DIR and AIRLOCK_<SECTION>_<FIELD> environment overrides (for example
AIRLOCK_SERVER_PORT=9000), then command-line flags. The merged values are validated once, by
the section models below: a bad value, an unknown setting or an override of the wrong type is
a ConfigError whose one-line message names the setting (and the variable it came from).

The admin API validates run-time changes of [scheduler], [speculation] and [cache] with the
same models (merge the current values with the change, then validate), so each setting has
one name and one rule from the config file to the admin API and the console.
"""
from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from appliance.routing.route import RouteDefinition, check_set
from engine.planner import PRECISIONS

NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def default_data_dir() -> Path:
    return Path(os.environ.get("AIRLOCK_DATA_DIR", "var"))


def _matching(pattern: re.Pattern[str], what: str, allow_empty: bool = False) -> AfterValidator:
    def check(value: str) -> str:
        if not (allow_empty and not value) and not pattern.fullmatch(value):
            raise ValueError(f"must be {what}, got {value!r}")
        return value
    return AfterValidator(check)


Device = Annotated[str, _matching(DEVICE, "auto, cpu, cuda or cuda:N")]
NodeName = Annotated[str, _matching(NODE_NAME, "1-64 letters, digits, '.', '_' or '-' (starting with a letter "
                                               "or digit)", allow_empty=True)]
Quantization = Literal[("auto", *PRECISIONS)]  # type: ignore[valid-type]


class Section(BaseModel):
    """A [table] of the config file: unknown settings are refused, numbers must be finite."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8420, ge=0, le=65535)   # 0: any free port (the address is printed)
    threads: int = Field(32, ge=1)
    auth: bool = True                    # False is allowed only on a loopback host
    admin_token: str = ""                # the admin credential; empty -> generated into data_dir
    shutdown_grace_seconds: float = Field(10.0, gt=0)
    max_waiting: int = Field(256, ge=1)  # bounded queue: beyond this, 503 with Retry-After
    max_body_bytes: int = Field(16 * 1024**2, ge=1)   # larger request bodies get 413 before they are read
    max_header_bytes: int = Field(64 * 1024, ge=1)    # a larger request head gets 400
    header_timeout_seconds: float = Field(10.0, gt=0)  # a request head must arrive in full within this
    body_timeout_seconds: float = Field(30.0, gt=0)    # a request body must arrive in full within this (else 408)
    keep_alive_seconds: float = Field(5.0, gt=0)       # idle keep-alive connections are closed after this
    connection_limit: int = Field(1024, ge=1)          # open connections; beyond this, 503
    ledger_flush_seconds: float = Field(5.0, ge=0)     # at shutdown: rows not written by then are dead-lettered
    max_concurrent_per_key: int = Field(16, ge=0)      # requests one API key may have in flight (0: no cap)
    admin_hosts: str = ""                # extra Host names /admin answers to, comma-separated
    admin_from_network: bool = False     # on a wildcard host, /admin answers loopback peers only unless set
    admin_max_failures: int = Field(10, ge=1)  # wrong admin credentials per minute before a lockout
    node: NodeName = ""                  # this appliance's name in a fleet (ledger rows, /metrics); empty: hostname

    @field_validator("auth")
    @classmethod
    def _auth_off_on_loopback_only(cls, auth: bool, info: ValidationInfo) -> bool:
        from appliance.auth.admin import is_loopback

        host = info.data.get("host", "127.0.0.1")
        if not auth and not is_loopback(host):
            raise ValueError(f"= false is allowed only on a loopback host, not {host!r} (bind 127.0.0.1 or turn auth on)")
        return auth


class ModelsSettings(Section):
    store_dir: str = ""                  # empty -> <data_dir>/models
    default_model: str = "smollm2-135m-instruct"
    default_quantization: Quantization = "auto"   # auto: fp32 on CPU, fp16 on CUDA; int8 is opt-in
    kv_dtype: Literal["auto", "fp32", "fp16", "bf16", "int8"] = "auto"   # auto: planner.default_kv_dtype
    embedding_model: str = "all-minilm-l6-v2"
    memory_budget_fraction: float = Field(0.9, gt=0, le=1)   # of device memory that models and KV may use
    kv_cache_bytes: int = Field(512 * 1024**2, ge=1)          # per loaded model
    device: Device = "auto"              # auto | cpu | cuda | cuda:N
    memory_budget_bytes: int = Field(0, ge=0)   # 0: device memory x memory_budget_fraction
    default_model_file: str = ""         # empty -> <data_dir>/models/SmolLM2-135M-Instruct.Q4_1.gguf


class LedgerSettings(Section):
    database_url: str = ""               # empty -> sqlite:///<data_dir>/airlock.db
    flush_interval_seconds: float = Field(1.0, gt=0)
    host_watts: float = Field(250.0, ge=0)   # CPU-only energy estimate at full utilisation
    cloud_prices_path: str = ""          # empty -> the table shipped in appliance/ledger
    chargeback_idle: Literal["share", "central"] = "share"   # idle capacity: by busy share, or central


class CacheSettings(Section):
    """[cache]: the prefix cache of every engine and the response caches; the admin API's
    /admin/cache/policy reads and changes these same settings under the same names."""
    prefix_caching: bool = True
    capacity_blocks: int = Field(0, ge=0)   # 0: every free block may hold cached content
    eviction: Literal["lru", "lfu"] = "lru"
    tenant_isolation: bool = True
    response_cache: bool = False
    response_cache_ttl_seconds: float = Field(3600.0, gt=0)
    response_cache_max_entries: int = Field(10000, ge=1)
    response_cache_max_bytes: int = Field(256 * 1024**2, ge=1)   # per cache (exact, semantic), LRU out first
    semantic_cache: bool = False
    semantic_threshold: float = Field(0.95, gt=0, le=1)

    def prefix_policy(self) -> Any:
        """The engine's CachePolicy for these settings."""
        from engine.config import CachePolicy

        return CachePolicy(enabled=self.prefix_caching, capacity_blocks=self.capacity_blocks,
                           eviction=self.eviction, tenant_isolation=self.tenant_isolation)

    def with_prefix_policy(self, policy: Any) -> CacheSettings:
        """These settings with the prefix-cache part read from an engine's CachePolicy."""
        return self.model_copy(update={"prefix_caching": policy.enabled, "capacity_blocks": policy.capacity_blocks,
                                       "eviction": policy.eviction, "tenant_isolation": policy.tenant_isolation})


class SpeculationSettings(Section):
    """[speculation]: speculative decoding of every loaded model (engine.speculation.SpeculationConfig)."""
    # ngram: prompt lookup; self: the model's own int8 copy drafts; draft: draft_model drafts.
    # The output does not change (docs/speculation.md).
    method: Literal["none", "ngram", "self", "draft"] = "none"
    k: int = Field(4, ge=1, le=16)       # most draft tokens verified per step and sequence
    ngram_min: int = Field(1, ge=1)
    ngram_max: int = Field(3, ge=1, validate_default=True)
    max_batch: int = Field(8, ge=1)      # no drafting above this many decoding sequences
    min_acceptance: float = Field(0.2, ge=0, le=1)   # a request below this rolling acceptance pauses drafting
    window: int = Field(8, ge=1)         # verifications the rolling acceptance is taken over
    cooldown_tokens: int = Field(32, ge=0)   # generated tokens a paused request waits before drafting again
    draft_model: str = Field("", validate_default=True)   # method draft: a model of the store sharing the tokenizer
    draft_precision: Literal["int8", "nf4", "bf16", "fp16", "fp32"] = "int8"   # of the drafting model

    @field_validator("ngram_max")
    @classmethod
    def _ngram_range(cls, ngram_max: int, info: ValidationInfo) -> int:
        ngram_min = info.data.get("ngram_min", 1)
        if ngram_max < ngram_min:
            raise ValueError(f"must be at least ngram_min ({ngram_min}), got {ngram_max}")
        return ngram_max

    @field_validator("draft_model")
    @classmethod
    def _draft_named(cls, draft_model: str, info: ValidationInfo) -> str:
        if info.data.get("method") == "draft" and not draft_model:
            raise ValueError("must name the draft model when method is draft")
        return draft_model

    def engine_config(self, draft_path: str = "") -> Any:
        """The engine's policy; draft_path: the file of draft_model's weights (the manager resolves it)."""
        from engine.speculation import SpeculationConfig

        return SpeculationConfig(**{**self.model_dump(), "draft_model": draft_path or self.draft_model})


class TcoSettings(Section):
    hardware_price: float = Field(30000.0, ge=0)
    amortization_years: float = Field(3.0, gt=0)
    residual_value: float = Field(3000.0, ge=0, validate_default=True)
    power_watts: float = Field(700.0, ge=0)
    price_per_kwh: float = Field(0.15, ge=0)
    pue: float = Field(1.4, ge=1)
    operations_per_month: float = Field(200.0, ge=0)
    utilisation: float = Field(0.5, ge=0, le=1)   # share of each hour at full power, for the energy term
    currency: str = Field("USD", min_length=1, max_length=8)

    @field_validator("residual_value")
    @classmethod
    def _residual_within_price(cls, residual: float, info: ValidationInfo) -> float:
        price = info.data.get("hardware_price", residual)
        if residual > price:
            raise ValueError(f"must not exceed hardware_price ({price}), got {residual}")
        return residual


class SchedulerSettings(Section):
    """Batching limits of every engine and its service-level objective (`airlock tune` writes these)."""
    max_num_seqs: int = Field(128, ge=1)             # sequences in one step
    max_num_batched_tokens: int = Field(512, ge=1, validate_default=True)   # tokens in one step (decodes first, then prefill chunks)
    max_prefill_chunk: int = Field(0, ge=0)          # prompt tokens of one sequence per step; 0: the step's budget
    slo_ttft_p95_seconds: float = Field(0.0, ge=0)   # 0: none; else requests that would wait past it get 503
    slo_itl_p95_seconds: float = Field(0.0, ge=0)    # 0: none; else the batch is limited to stay within it

    @field_validator("max_num_batched_tokens")
    @classmethod
    def _room_for_every_sequence(cls, tokens: int, info: ValidationInfo) -> int:
        seqs = info.data.get("max_num_seqs", 1)
        if tokens < seqs:
            raise ValueError(f"must be at least max_num_seqs ({seqs}) so every running sequence can decode "
                             f"each step, got {tokens}")
        return tokens


class RoutingSettings(Section):
    """[routing]: the routes as RouteSet validates them (whether a tier is in the store is
    checked when the router takes them: a tier may be a model imported later)."""
    routes: list[RouteDefinition] = Field(default_factory=list)   # [[routing.routes]] (docs/routing.md)
    tenant_tiers: dict[str, Any] = Field(default_factory=dict)   # tenant -> the tiers (or routes) it may use
    classifier_path: str = ""                                    # empty -> <data_dir>/routing/complexity.json

    @field_validator("routes")
    @classmethod
    def _consistent(cls, routes: list[RouteDefinition]) -> list[RouteDefinition]:
        return check_set(routes)

    def definitions(self) -> list[dict[str, Any]]:
        """The routes as written, for the router."""
        return [route.model_dump(exclude_unset=True) for route in self.routes]


class AlertsSettings(Section):
    enabled: bool = True
    interval_seconds: float = Field(5.0, gt=0)   # how often the rules are evaluated
    syslog_address: str = ""             # "/dev/log", a unix socket path or host:port; empty: off
    webhook_url: str = ""                # http://<local address>/...; empty: off
    webhook_timeout_seconds: float = Field(2.0, gt=0)
    webhook_retries: int = Field(3, ge=0)
    rules: list[dict[str, Any]] = Field(default_factory=list)   # [[alerts.rules]] tables; empty: the built-in set

    @field_validator("webhook_url")
    @classmethod
    def _local_webhook(cls, url: str) -> str:
        from appliance.alerts.delivery import check_webhook_url

        if url:
            check_webhook_url(url)       # its message names alerts.webhook_url
        return url

    @field_validator("rules")
    @classmethod
    def _valid_rules(cls, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from appliance.alerts.rules import InvalidRule, rules_from_config

        try:
            rules_from_config(rules)
        except InvalidRule as exc:
            raise ValueError(f"is not valid: {exc}") from None
        return rules


class Config(Section):
    data_dir: str = Field(default_factory=lambda: str(default_data_dir()), min_length=1)
    server: ServerSettings = Field(default_factory=ServerSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    tco: TcoSettings = Field(default_factory=TcoSettings)
    speculation: SpeculationSettings = Field(default_factory=SpeculationSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)

    @property
    def store_path(self) -> Path:
        return Path(self.models.store_dir or Path(self.data_dir) / "models")

    @property
    def node(self) -> str:
        """This appliance's node name: `[server] node`, else the host name."""
        return self.server.node or socket.gethostname()

    @property
    def database_url(self) -> str:
        return self.ledger.database_url or f"sqlite:///{Path(self.data_dir) / 'airlock.db'}"


SECTIONS = tuple(name for name in Config.model_fields if name != "data_dir")


class ConfigError(ValueError):
    """The configuration file, an override or a changed setting is invalid: one line naming the
    setting. `setting` is the first bad setting's dotted name (or field name, for one section)."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                flags: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
    """Read `path` (or $AIRLOCK_CONFIG), apply AIRLOCK_* overrides from `env` (default: the
    process environment) and then `flags` ({section: {field: value}}), and validate the result."""
    env = dict(os.environ if env is None else env)
    path = path or env.get("AIRLOCK_CONFIG")
    values = _merged(_merged(read_file(path) if path else {}, env_overrides(env)), flags or {})
    try:
        return Config.model_validate(values)
    except ValidationError as exc:
        raise config_error(exc, env) from None


def read_file(path: str | Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """AIRLOCK_DATA_DIR and every AIRLOCK_<SECTION>_<FIELD>, as {section: {field: text}}. A field
    the section does not have stays in, so that it is refused by name."""
    values: dict[str, Any] = {"data_dir": env["AIRLOCK_DATA_DIR"]} if "AIRLOCK_DATA_DIR" in env else {}
    for section in SECTIONS:
        prefix = f"AIRLOCK_{section.upper()}_"
        fields = {name[len(prefix):].lower(): value for name, value in env.items() if name.startswith(prefix)}
        if fields:
            values[section] = fields
    return values


def env_name(setting: str) -> str:
    """The environment variable that overrides a dotted setting: server.port -> AIRLOCK_SERVER_PORT."""
    return "AIRLOCK_" + setting.replace(".", "_").upper()


def _merged(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged


# ----- one line per error ---------------------------------------------------------------------
_RULES: dict[str, Any] = {
    "greater_than": lambda c: "must be positive" if c["gt"] == 0 else f"must be greater than {c['gt']}",
    "greater_than_equal": lambda c: f"must be at least {c['ge']}",
    "less_than": lambda c: f"must be less than {c['lt']}",
    "less_than_equal": lambda c: f"must be at most {c['le']}",
    "literal_error": lambda c: f"must be {c['expected'].replace(chr(39), '')}",
    "string_too_short": lambda c: "must not be empty" if c["min_length"] == 1
    else f"must be at least {c['min_length']} characters",
    "string_too_long": lambda c: f"must be at most {c['max_length']} characters",
    "finite_number": lambda c: "must be a finite number",
    "bool_type": lambda c: "must be true or false", "bool_parsing": lambda c: "must be true or false",
    "int_type": lambda c: "must be an integer", "int_parsing": lambda c: "must be an integer",
    "int_from_float": lambda c: "must be an integer",
    "float_type": lambda c: "must be a number", "float_parsing": lambda c: "must be a number",
    "string_type": lambda c: "must be a string", "list_type": lambda c: "must be a list",
    "dict_type": lambda c: "must be a table", "model_type": lambda c: "must be a table",
    "model_attributes_type": lambda c: "must be a table",
}


def config_error(exc: ValidationError, env: Mapping[str, str] | None = None) -> ConfigError:
    """pydantic's errors as one line, each naming its setting (and the AIRLOCK_ variable it came from)."""
    errors = exc.errors(include_url=False)
    lines = [_describe(error, env or {}) for error in errors]
    return ConfigError("; ".join(lines), setting=_setting(errors[0]) if errors else None)


def _setting(error: Mapping[str, Any]) -> str:
    """The error's dotted setting; a check across fields places its error in ctx["at"]
    (routing.routes.1.name for a route defined twice)."""
    return ".".join(map(str, (*error["loc"], *(error.get("ctx") or {}).get("at", ()))))


def _describe(error: Mapping[str, Any], env: Mapping[str, str]) -> str:
    setting = _setting(error)
    source = f" (from {env_name(setting)})" if env_name(setting) in env else ""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"unknown setting {setting}{source}"
    if kind == "missing":
        return f"{setting} is required"
    if kind == "value_error":
        text = str(ctx.get("error", error["msg"]))
        return (text if text.startswith(setting) else f"{setting} {text}") + source
    rule = _RULES.get(kind)
    text = rule(ctx) if rule else error["msg"][0].lower() + error["msg"][1:]
    return f"{setting} {text}, got {error['input']!r}{source}"
