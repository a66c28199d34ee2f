"""Appliance: the object that owns what the HTTP layer serves (models, keys, ledger, caches).

`Appliance.from_config(config)` builds it; `create_app(appliance)` serves it; `close()` stops
the engines and flushes the ledger. Tests build one per session on a temporary data dir.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import current_app

from appliance.alerts import ResponseCounter, start_alerts
from appliance.caching.response_caches import ResponseCaches
from appliance.api.serving_metrics import ServingMetrics
from appliance.auth.admin import admin_token
from appliance.auth.budgets import KeyBudgets
from appliance.auth.keys import MAX_NAME_LENGTH, KeyStore
from appliance.auth.limits import RateLimiter
from appliance.caching.exact_cache import ExactCache
from appliance.config import Config
from appliance.ledger import dead_letter
from appliance.ledger.ledger import Ledger
from appliance.ledger.record import UsageRecord
from appliance.models.errors import ModelNotLoaded
from appliance.models.manager import ModelManager

if TYPE_CHECKING:
    from appliance.api.jobs import Job

log = logging.getLogger("airlock")


@dataclass
class Appliance:
    config: Config
    models: ModelManager
    keys: KeyStore
    admin_token: str
    ledger: Ledger | None = None
    response_caches: ResponseCaches | None = None
    embedding_model: Any = None
    limits: RateLimiter | None = None   # set by from_config: budgets need the ledger's database
    metrics: ServingMetrics = field(default_factory=ServingMetrics)
    router: Any = None                  # appliance.routing.Router: routes, rules, spill counters
    started: float = field(default_factory=time.time)
    draining: bool = False
    alerts: Any = None                   # AlertEvaluator, when alerts are on
    responses: ResponseCounter = field(default_factory=ResponseCounter)
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.response_caches is None:
            self.response_caches = ResponseCaches(self.config.cache, self.embedder)
        if self.router is None:
            from appliance.routing import build_router
            self.router = build_router(self.config, self.model_store_names())

    @classmethod
    def from_config(cls, config: Config, *, load_default: bool = True) -> Appliance:
        """Open the ledger (migrating its database), the key store on the same database and the
        model manager; load the default model unless told not to."""
        dead_letter.use(Path(config.data_dir) / dead_letter.FILE_NAME)
        ledger = Ledger.open(config.database_url, flush_interval=config.ledger.flush_interval_seconds,
                             tco=config.tco, host_watts=config.ledger.host_watts, node=config.node)
        keys = KeyStore(ledger.engine)   # api_keys is made by the ledger's migrations
        appliance = cls(config=config, models=ModelManager(config, ledger=ledger), keys=keys,
                        admin_token=admin_token(config), ledger=ledger)
        budgets = KeyBudgets(ledger.engine, config.node)
        released = budgets.release_node()   # holds of requests that died with this node's last run
        if released:
            log.warning("gave back %d budget tokens held by requests of node %s's previous run", released, config.node)
        appliance.limits = RateLimiter(budgets, max_inflight=config.server.max_concurrent_per_key)
        appliance.alerts = start_alerts(appliance)
        if load_default:
            appliance.models.ensure_default()
            appliance.models.ensure_embedding()
        return appliance

    @property
    def response_cache(self) -> ExactCache | None:
        """The exact-match response cache."""
        return self.response_caches.exact if self.response_caches is not None else None

    def model_names(self) -> list[str]:
        return [info.name for info in self.models.loaded()]

    def model_store_names(self) -> set[str]:
        """What a route's tiers may name: the models in the store, and any loaded ones."""
        return {entry.name for entry in self.models.store.list()} | set(self.model_names())

    def quantization_of(self, model: str) -> str:
        return next((i.quantization for i in self.models.loaded() if i.name == model), "unknown")

    def engine_stats(self) -> dict[str, Any]:
        stats = {}
        for name in self.model_names():
            try:
                stats[name] = self.models.get(name).stats()
            except ModelNotLoaded:   # unloaded between the listing and the read
                continue
        return stats

    def ledger_backlog(self) -> int:
        return self.ledger.backlog() if self.ledger is not None else 0

    def record_usage(self, job: Job, finish_reason: str) -> None:
        """Queue the job's ledger row, billed for what reached the client."""
        key = job.key
        route, rule, cached = job.route, job.rule, job.response_cached
        self.queue_usage(lambda: UsageRecord.from_metrics(
            job.stream.metrics, key_id=key.id if key else None, key_name=_clip(key.spec.name) if key else None,
            tenant=_clip(key.spec.tenant) if key else None, model=job.model,
            quantization=self.quantization_of(job.model), endpoint=job.endpoint, finish_reason=finish_reason,
            completion_tokens=job.delivered_tokens, response_cached=cached, route=route, rule=rule),
            fallback=lambda: _raw_row(job, finish_reason))
        if route is not None and not cached:
            self.router.observe(job.model, job.stream.metrics.ttft)

    def queue_usage(self, build: Callable[[], UsageRecord], fallback: Callable[[], dict] | None = None) -> None:
        """Queue the row `build` makes; one that cannot be built or queued goes to the dead-letter file."""
        if self.ledger is None:
            return
        try:
            self.ledger.record(build())
            return
        except Exception as exc:   # invalid figures, or the writer closed: keep the row, never drop it
            log.error("a usage row was not queued (%s); writing it to the dead-letter file", exc)
            error = str(exc)
        try:
            row = build()
        except Exception:
            row = {**(fallback() if fallback else {}), "error": error}
        dead_letter.write([row])

    def embedder(self) -> Any:
        """The sentence-embedding model (from the store, else the shipped directory), loaded on
        first use; None if absent."""
        with self._embedder_lock:
            if self.embedding_model is None:
                path = self._embedding_path()
                if path is not None:
                    from appliance.caching.embeddings import EmbeddingModel

                    self.embedding_model = EmbeddingModel(path)
            return self.embedding_model

    def _embedding_path(self) -> Path | None:
        return self.models.embedding_model_path()

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        vectors = self.embedding_model.embed(texts)
        tokens = self.embedding_model.count_tokens(texts)
        return [list(map(float, v)) for v in vectors], tokens

    def close(self) -> None:
        if self.alerts is not None:
            self.alerts.close()
        self.models.shutdown()
        if self.ledger is not None:
            self.ledger.close()


def _raw_row(job: Job, finish_reason: str) -> dict:
    """What is known of a request whose UsageRecord could not be built (for the dead-letter file)."""
    metrics, key = job.stream.metrics, job.key
    return {"request_id": metrics.request_id, "arrival_time": metrics.arrival_time, "key_id": key.id if key else None,
            "key_name": key.spec.name if key else None, "tenant": key.spec.tenant if key else None,
            "model": job.model, "quantization": "unknown", "endpoint": job.endpoint,
            "prompt_tokens": metrics.prompt_tokens, "cached_tokens": metrics.cached_tokens,
            "completion_tokens": job.delivered_tokens, "finish_reason": finish_reason}


def _clip(name: str | None) -> str | None:
    """Names longer than the ledger's columns (keys made before lengths were checked) are cut, not refused."""
    return name[:MAX_NAME_LENGTH] if name is not None else None


def current_appliance() -> Appliance:
    return current_app.extensions["airlock"]
