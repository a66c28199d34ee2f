"""Appliance configuration: a TOML file, then AIRLOCK_* environment overrides, then flags.

Each section is a dataclass; the TOML table of the same name fills it. An environment
variable AIRLOCK_<SECTION>_<FIELD> (for example AIRLOCK_SERVER_PORT=9000) overrides a field.
"""
from __future__ import annotations

import os
import re
import socket
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any


def default_data_dir() -> Path:
    return Path(os.environ.get("AIRLOCK_DATA_DIR", "var"))


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8420
    threads: int = 32
    auth: bool = True                    # False is allowed only on a loopback host
    admin_token: str = ""                # the admin credential; empty -> generated into data_dir
    shutdown_grace_seconds: float = 10.0
    max_waiting: int = 256               # bounded queue: beyond this, 503 with Retry-After
    max_body_bytes: int = 16 * 1024**2   # larger request bodies get 413 before they are read
    max_header_bytes: int = 64 * 1024    # a larger request head gets 400
    header_timeout_seconds: float = 10.0 # a request head must arrive in full within this
    body_timeout_seconds: float = 30.0   # a request body must arrive in full within this (else 408)
    keep_alive_seconds: float = 5.0      # idle keep-alive connections are closed after this
    connection_limit: int = 1024         # open connections; beyond this, 503
    ledger_flush_seconds: float = 5.0    # at shutdown: rows not written by then go to the dead-letter file
    max_concurrent_per_key: int = 16     # requests one API key may have in flight (0: no cap)
    admin_hosts: str = ""                # extra Host names /admin answers to, comma-separated
    admin_from_network: bool = False     # on a wildcard host, /admin answers loopback peers only unless set
    admin_max_failures: int = 10         # wrong admin credentials per minute before an address is locked out
    node: str = ""                       # this appliance's name in a fleet (ledger rows, /metrics); empty: hostname


@dataclass
class ModelsConfig:
    store_dir: str = ""                  # empty -> <data_dir>/models
    default_model: str = "smollm2-135m-instruct"
    default_quantization: str = "auto"   # auto: fp32 on CPU, fp16 on CUDA; int8 is opt-in
    kv_dtype: str = "auto"               # auto: the compute precision | fp32 | fp16 | bf16
    embedding_model: str = "all-minilm-l6-v2"
    memory_budget_fraction: float = 0.9  # of device memory that models and KV may use
    kv_cache_bytes: int = 512 * 1024**2  # per loaded model
    device: str = "auto"                 # auto | cpu | cuda
    memory_budget_bytes: int = 0         # 0: device memory x memory_budget_fraction
    default_model_file: str = ""         # empty -> <data_dir>/models/SmolLM2-135M-Instruct.Q4_1.gguf


@dataclass
class LedgerConfig:
    database_url: str = ""               # empty -> sqlite:///<data_dir>/airlock.db
    flush_interval_seconds: float = 1.0
    host_watts: float = 250.0            # CPU-only energy estimate at full utilisation
    cloud_prices_path: str = ""          # empty -> the table shipped in appliance/ledger
    chargeback_idle: str = "share"       # idle capacity in chargeback: "share" (by busy share) | "central"


@dataclass
class CacheConfig:
    prefix_caching: bool = True
    capacity_blocks: int = 0             # 0: every free block may hold cached content
    eviction: str = "lru"                # lru | lfu
    tenant_isolation: bool = True
    response_cache: bool = False
    response_cache_ttl_seconds: float = 3600.0
    response_cache_max_entries: int = 10000
    response_cache_max_bytes: int = 256 * 1024**2   # per cache (exact, semantic), least recent out first
    semantic_cache: bool = False
    semantic_threshold: float = 0.95


@dataclass
class SpeculationSettings:
    """[speculation]: speculative decoding of every loaded model (engine.speculation.SpeculationConfig)."""
    method: str = "none"                 # none | ngram (prompt lookup); the output does not change
    k: int = 4                           # most draft tokens verified per step and sequence
    ngram_min: int = 1
    ngram_max: int = 3
    max_batch: int = 8                   # no drafting above this many decoding sequences
    min_acceptance: float = 0.2          # a request below this rolling acceptance pauses drafting

    def engine_config(self) -> Any:
        from dataclasses import asdict

        from engine.speculation import SpeculationConfig
        try:
            return SpeculationConfig(**asdict(self))
        except ValueError as exc:
            raise ConfigError(f"[speculation] {exc}") from None


@dataclass
class TcoConfig:
    hardware_price: float = 30000.0
    amortization_years: float = 3.0
    residual_value: float = 3000.0
    power_watts: float = 700.0
    price_per_kwh: float = 0.15
    pue: float = 1.4
    operations_per_month: float = 200.0
    utilisation: float = 0.5             # share of each hour at full power, for the energy term
    currency: str = "USD"


@dataclass
class SchedulerConfig:
    """Batching limits of every engine and its service-level objective (`airlock tune` writes these)."""
    max_num_seqs: int = 128              # sequences in one step
    max_num_batched_tokens: int = 512    # tokens in one step (decodes first, then prefill chunks)
    max_prefill_chunk: int = 0           # prompt tokens of one sequence per step; 0: the step's budget
    slo_ttft_p95_seconds: float = 0.0    # 0: none; else requests that would wait past it get 503
    slo_itl_p95_seconds: float = 0.0     # 0: none; else the batch is limited to stay within it


@dataclass
class RoutingConfig:
    routes: list = field(default_factory=list)        # [[routing.routes]]: name, tiers, rules, ... (docs/routing.md)
    tenant_tiers: dict = field(default_factory=dict)  # tenant -> the tiers (or routes) it may be routed to
    classifier_path: str = ""                         # empty -> <data_dir>/routing/complexity.json


@dataclass
class AlertsConfig:
    enabled: bool = True
    interval_seconds: float = 5.0        # how often the rules are evaluated
    syslog_address: str = ""             # "/dev/log", a unix socket path or host:port; empty: off
    webhook_url: str = ""                # http://<local address>/...; empty: off
    webhook_timeout_seconds: float = 2.0
    webhook_retries: int = 3
    rules: list = field(default_factory=list)   # [[alerts.rules]] tables; empty: the built-in set


@dataclass
class Config:
    data_dir: str = field(default_factory=lambda: str(default_data_dir()))
    server: ServerConfig = field(default_factory=ServerConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    tco: TcoConfig = field(default_factory=TcoConfig)
    speculation: SpeculationSettings = field(default_factory=SpeculationSettings)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)

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


class ConfigError(ValueError):
    """The configuration file or an override is invalid; the message names the setting."""


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read `path` (or $AIRLOCK_CONFIG), then apply AIRLOCK_* environment overrides."""
    env = dict(os.environ if env is None else env)
    path = path or env.get("AIRLOCK_CONFIG")
    config = Config()
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        _fill(config, data, prefix="")
    _apply_env(config, env)
    config.speculation.engine_config()   # raises ConfigError naming a bad setting
    _check_node(config.server.node)
    return config


NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _check_node(node: str) -> None:
    """A node name goes into ledger rows, metric labels and HAProxy's config: keep it plain."""
    if node and not NODE_NAME.fullmatch(node):
        raise ConfigError(f"server.node must be 1-64 letters, digits, '.', '_' or '-' (starting with a letter "
                          f"or digit), got {node!r}")


def _fill(target: Any, data: dict[str, Any], prefix: str) -> None:
    known = {f.name: f for f in fields(target)}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"unknown setting {prefix}{key}")
        current = getattr(target, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"[{prefix}{key}] must be a table")
            _fill(current, value, prefix=f"{prefix}{key}.")
        else:
            setattr(target, key, _coerce(value, type(current), f"{prefix}{key}"))


def _apply_env(config: Config, env: dict[str, str]) -> None:
    if "AIRLOCK_DATA_DIR" in env:
        config.data_dir = env["AIRLOCK_DATA_DIR"]
    for section in fields(config):
        value = getattr(config, section.name)
        if not is_dataclass(value):
            continue
        for f in fields(value):
            name = f"AIRLOCK_{section.name}_{f.name}".upper()
            if name in env:
                setattr(value, f.name, _coerce(env[name], type(getattr(value, f.name)), name))


def _coerce(value: Any, kind: type, name: str) -> Any:
    try:
        if kind is bool and isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind is float and isinstance(value, int):
            return float(value)
        if kind in (int, float, str, bool) and not isinstance(value, kind):
            return kind(value)
        return value
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be {kind.__name__}, got {value!r}") from exc
