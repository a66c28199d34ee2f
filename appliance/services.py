"""Appliance: the object that owns what the HTTP layer serves (models, keys, ledger, caches).

`Appliance.from_config(config)` builds it; `create_app(appliance)` serves it; `close()` stops
the engines and flushes the ledger. Tests build one per session on a temporary data dir.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from appliance.api.serving_metrics import ServingMetrics
from appliance.auth.admin import admin_token
from appliance.auth.keys import KeyStore
from appliance.auth.limits import RateLimiter
from appliance.config import Config

log = logging.getLogger("airlock")


@dataclass
class Appliance:
    config: Config
    models: Any                       # ModelManager: get(name) -> Engine, loaded(), load, unload
    keys: KeyStore
    admin_token: str
    ledger: Any = None                # Ledger, once its database is there
    response_cache: Any = None
    embedding_model: Any = None
    limits: RateLimiter = field(default_factory=RateLimiter)
    metrics: ServingMetrics = field(default_factory=ServingMetrics)
    started: float = field(default_factory=time.time)
    draining: bool = False

    @classmethod
    def from_config(cls, config: Config, *, load_default: bool = True) -> Appliance:
        from appliance.ledger.database import make_engine

        db = make_engine(config.database_url)
        keys = KeyStore(db)
        keys.create_tables()
        appliance = cls(config=config, models=EngineSet(config), keys=keys, admin_token=admin_token(config))
        appliance.limits = RateLimiter(budget_source=appliance._tokens_used)
        if load_default:
            appliance.models.load_default()
        return appliance

    def model_names(self) -> list[str]:
        return [getattr(m, "name", m) for m in self.models.loaded()]

    def engine_stats(self) -> dict[str, Any]:
        stats = {}
        for name in self.model_names():
            try:
                stats[name] = self.models.get(name).stats()
            except Exception:   # unloaded between the listing and the read
                continue
        return stats

    def ledger_backlog(self) -> int:
        backlog = getattr(self.ledger, "backlog", None)
        return int(backlog() if callable(backlog) else backlog or 0)

    def record_usage(self, job: Any, finish_reason: str) -> None:
        if self.ledger is None:
            return
        from appliance.ledger.record import UsageRecord

        key = job.key
        record = UsageRecord.from_metrics(
            job.stream.metrics, key_id=key.id if key else None, key_name=key.spec.name if key else None,
            tenant=key.spec.tenant if key else None, model=job.model,
            quantization=self.models.quantization_of(job.model), endpoint=job.endpoint,
            finish_reason=finish_reason)
        record.completion_tokens = job.delivered_tokens   # bill only what reached the client
        self.ledger.record(record)

    def embedder(self) -> Any:
        return self.embedding_model

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        vectors = self.embedding_model.embed(texts)
        tokens = self.embedding_model.count_tokens(texts)
        return [list(map(float, v)) for v in vectors], tokens

    def close(self) -> None:
        self.models.close()
        if self.ledger is not None:
            self.ledger.close()

    def _tokens_used(self, key: Any) -> int:
        if self.ledger is None:
            return 0
        return int(self.ledger.tokens_used(key.id, since=None))


class EngineSet:
    """The resident engines by name: the ModelManager's serving surface (get, loaded, close)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._engines: dict[str, Any] = {}
        self._quantization: dict[str, str] = {}

    def add(self, name: str, engine: Any, quantization: str = "none") -> None:
        self._engines[name] = engine
        self._quantization[name] = quantization

    def remove(self, name: str) -> Any:
        self._quantization.pop(name, None)
        return self._engines.pop(name)

    def get(self, name: str) -> Any:
        engine = self._engines.get(name)
        if engine is None:
            from appliance.models.errors import ModelNotLoaded

            raise ModelNotLoaded(name, list(self._engines))
        return engine

    def loaded(self) -> list[str]:
        return list(self._engines)

    def quantization_of(self, name: str) -> str:
        return self._quantization.get(name, "none")

    def load_default(self) -> None:
        """The configured default model: the GGUF file in the store directory named like it."""
        from engine.config import EngineConfig
        from engine.llm_engine import Engine
        from engine.loader import load_model

        models = self.config.models
        path = _default_model_file(self.config)
        quantization = "int8" if models.default_quantization == "auto" else models.default_quantization
        device = "cpu" if models.device == "auto" else models.device
        model = load_model(path, device=device, quantization=quantization)
        engine = Engine(model, EngineConfig(kv_cache_bytes=models.kv_cache_bytes,
                                            max_waiting=self.config.server.max_waiting))
        self.add(models.default_model, engine, quantization)

    def close(self) -> None:
        for engine in self._engines.values():
            engine.shutdown(abort_running=True)
        self._engines.clear()


def _default_model_file(config: Config) -> Path:
    wanted = config.models.default_model.lower()
    for folder in (config.store_path, Path("var/models")):
        for path in sorted(folder.glob("*.gguf")) if folder.is_dir() else []:
            if path.name.lower().startswith(wanted):
                return path
    raise FileNotFoundError(f"no GGUF file for the default model {config.models.default_model!r} "
                            f"in {config.store_path} or var/models")


def current_appliance() -> Appliance:
    return current_app.extensions["airlock"]
