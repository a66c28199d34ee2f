"""The admin API's replies as the console reads them: one model per response, under exactly the
field names the service sends (appliance/api/admin_*.py).

Fields the console does not show are ignored; a figure the service leaves out defaults (None,
0 or empty) so that the screens show "-" instead of failing. A reply of the wrong shape fails
validation, and the client turns that into an error reply (see `tui.client`).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


def parse(shape: Any, data: Any) -> Any:
    """`data` (decoded JSON) as `shape`: a Payload class or a typing form such as dict[str, X]."""
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        return shape.model_validate(data)
    return TypeAdapter(shape).validate_python(data)


def problem(exc: ValidationError) -> str:
    """The first validation error in one line: where in the reply, and what is wrong."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "the reply"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {error['msg']}{more}"


# GET /admin/stats ----------------------------------------------------------------------------

class PrefixCacheFigures(Payload):
    """An engine's prefix-cache counters (engine.outputs.CacheStats)."""
    queries_tokens: int = 0
    hits_tokens: int = 0
    window_hit_rate: float | None = None
    cached_blocks: int = 0
    pinned_blocks: int = 0
    evictions: int = 0


class EngineFigures(Payload):
    """One loaded model's engine figures (engine.outputs.EngineStats)."""
    model: str
    running: int = 0
    waiting: int = 0
    kv_usage: float | None = None
    prompt_tokens_total: int | None = None
    generation_tokens_total: int | None = None
    cache: PrefixCacheFigures = Field(default_factory=PrefixCacheFigures)
    spec_num_drafts: int = 0
    spec_num_draft_tokens: int = 0
    spec_num_accepted_tokens: int = 0


class Queue(Payload):
    running: int = 0
    waiting: int = 0
    max_waiting: int | None = None


class Gpu(Payload):
    name: str = "GPU"
    utilization_percent: float | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    power_watts: float | None = None
    temperature_c: float | None = None


class Machine(Payload):
    cpu_percent: float | None = None
    cpu_count: int | None = None
    ram_total_bytes: int | None = None
    ram_used_bytes: int | None = None
    gpus: list[Gpu] = []


class ResponseCacheFigures(Payload):
    """The response caches' counters (appliance.caching.response_caches.ResponseCaches.stats)."""
    enabled: bool = False
    hits: int | None = None
    misses: int | None = None
    entries: int | None = None
    max_entries: int | None = None
    hit_rate: float | None = None

    @property
    def lookup_hit_rate(self) -> float | None:
        """hits / lookups, or None while the cache has not been asked (or is off)."""
        if self.hits is None or self.misses is None or self.hits + self.misses == 0:
            return None
        return self.hits / (self.hits + self.misses)


class Stats(Payload):
    uptime_seconds: float | None = None
    models: dict[str, EngineFigures] = {}
    queue: Queue = Field(default_factory=Queue)
    response_cache: ResponseCacheFigures | None = None
    machine: Machine = Field(default_factory=Machine)


# GET /admin/models ---------------------------------------------------------------------------

class LoadedModel(Payload):
    """appliance.models.manager.LoadedInfo"""
    name: str
    quantization: str | None = None
    device: str | None = None
    kv_dtype: str | None = None
    weight_bytes: int | None = None
    kv_bytes: int | None = None
    reservation: int | None = None
    load_seconds: float | None = None
    loaded_at: float | None = None


class StoredFile(Payload):
    path: str
    size: int = 0


class StoreEntry(Payload):
    """appliance.models.store.ModelEntry, with `loaded` set while the model is loaded."""
    name: str
    architecture: str | None = None
    parameters: int | None = None
    context_length: int | None = None
    format: str | None = None
    files: list[StoredFile] = []
    loaded: LoadedModel | None = None

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)


class ModelList(Payload):
    store: list[StoreEntry] = []
    loaded: list[LoadedModel] = []
    budget_bytes: int | None = None
    free_bytes: int | None = None


# GET /admin/speculation, PUT /admin/speculation ----------------------------------------------

class Speculation(Payload):
    """One loaded model's speculative-decoding policy (appliance.config.SpeculationSettings)
    and its figures since it was loaded. Methods: none, ngram, self, draft."""
    method: str = "none"
    k: int | None = None
    ngram_min: int | None = None
    ngram_max: int | None = None
    max_batch: int | None = None
    min_acceptance: float | None = None
    window: int | None = None
    cooldown_tokens: int | None = None
    draft_model: str = ""
    draft_precision: str | None = None
    num_drafts: int = 0
    num_draft_tokens: int = 0
    num_accepted_tokens: int = 0
    acceptance_rate: float | None = None
    mean_accepted_length: float | None = None


# GET /admin/routes ---------------------------------------------------------------------------

class RouteTraffic(Payload):
    tiers: dict[str, int] = {}
    spills: int = 0
    fallbacks: int = 0


class Route(Payload):
    name: str
    tiers: list[str] = []
    resolved: list[str] = []
    loaded: list[str] = []
    traffic: RouteTraffic = Field(default_factory=RouteTraffic)


class RouteList(Payload):
    routes: list[Route] = []
    error: str | None = None


# GET /admin/plan, POST /admin/plan -----------------------------------------------------------

class Plan(Payload):
    """engine.planner.Plan"""
    quantization: str
    weight_bytes: int | None = None
    kv_bytes: int | None = None
    overhead_bytes: int | None = None
    total_bytes: int | None = None
    budget_bytes: int | None = None
    fits: bool | None = None
    max_concurrency: int | None = None
    max_context: int | None = None


class PlanReport(Payload):
    """appliance.models.plan_report.PlanReport"""
    model: str | None = None
    device: str | None = None
    device_memory: int | None = None      # None: a device this machine does not have
    budget_bytes: int | None = None
    free_bytes: int | None = None
    fits_now: bool | None = None
    plan: Plan
    what_if: list[Plan] = []


# /admin/cache/* ------------------------------------------------------------------------------

class CachePolicy(Payload):
    """One model's [cache] settings (appliance.config.CacheSettings); `reported` names the
    settings the service sent, the only ones the console offers to change."""
    prefix_caching: bool | None = None
    capacity_blocks: int | None = None
    eviction: str | None = None
    tenant_isolation: bool | None = None
    response_cache: bool | None = None
    response_cache_ttl_seconds: float | None = None
    response_cache_max_entries: int | None = None
    response_cache_max_bytes: int | None = None
    semantic_cache: bool | None = None
    semantic_threshold: float | None = None

    @property
    def reported(self) -> dict[str, Any]:
        return self.model_dump(include=self.model_fields_set)


CachePolicies = dict[str, CachePolicy]          # GET/PUT /admin/cache/policy: per loaded model


class PrefixCacheModelFigures(PrefixCacheFigures):
    blocks_total: int | None = None
    blocks_used: int | None = None


class CacheStats(Payload):
    prefix: dict[str, PrefixCacheModelFigures] = {}
    response: ResponseCacheFigures = Field(default_factory=ResponseCacheFigures)


class Pin(Payload):
    pin_id: str
    tenant: str | None = None
    num_tokens: int | None = None
    blocks: int | None = None
    cached_blocks: int | None = None
    expires_in: float | None = None      # None: never
    model: str = ""                      # the model it is pinned in (the key it is listed under)


Pins = dict[str, list[Pin]]                     # GET /admin/cache/pins: per loaded model


# /admin/keys ---------------------------------------------------------------------------------

class ApiKey(Payload):
    """appliance.auth.keys.ApiKey.public()"""
    id: str
    name: str
    prefix: str | None = None
    tenant: str | None = None
    allowed_models: list[str] = []
    requests_per_minute: int = 0          # 0: no limit
    tokens_per_minute: int = 0
    token_budget: int = 0
    created_at: str | None = None
    revoked_at: str | None = None

    @property
    def status(self) -> str:
        return "revoked" if self.revoked_at else "active"


class KeyList(Payload):
    data: list[ApiKey] = []


class CreatedKey(ApiKey):
    secret: str                           # shown in this reply only


# /admin/usage, /admin/tco --------------------------------------------------------------------

class UsageRow(Payload):
    """A row of the ledger's report (appliance.ledger.reports): the period, the group's columns
    (key_id and key_name, or tenant, model or route) and the totals."""
    period: str | None = None
    key_id: str | None = None
    key_name: str | None = None
    tenant: str | None = None
    model: str | None = None
    route: str | None = None
    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float | None = None


class UsageReport(Payload):
    period: str | None = None
    group: str | None = None
    rows: list[UsageRow] = []


class TcoInputs(Payload):
    """appliance.ledger.tco.TcoInputs"""
    hardware_price: float | None = None
    amortization_years: float | None = None
    residual_value: float | None = None
    power_watts: float | None = None
    price_per_kwh: float | None = None
    pue: float | None = None
    operations_per_month: float | None = None
    utilisation: float | None = None
    currency: str = ""


class CloudComparison(Payload):
    provider: str | None = None
    model: str
    price_date: str | None = None
    source: str | None = None
    cloud_cost: float | None = None
    on_prem_cost: float | None = None
    savings: float | None = None


class TcoReport(Payload):
    """appliance.ledger.tco.TcoReport.to_dict() (GET also adds the tier costs, unread here)."""
    inputs: TcoInputs = Field(default_factory=TcoInputs)
    cost_per_million_input: float | None = None
    cost_per_million_output: float | None = None
    measured_utilisation: float | None = None
    cost_per_hour_owned: float | None = None
    idle_cost: float | None = None
    cached_savings: float | None = None
    cloud: list[CloudComparison] = []


# GET /admin/frontier -------------------------------------------------------------------------

class FrontierPoint(Payload):
    """engine.bench.frontier.SweepPoint: one measured point of a sweep."""
    output_tokens_per_s: float | None = None
    itl_p95_s: float | None = None
    cost_per_million_output: float | None = None
    pareto: bool = False


class Sweep(Payload):
    currency: str = ""
    points: list[FrontierPoint] = []


class Batching(Payload):
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    max_prefill_chunk: int | None = None


class SloLive(Payload):
    """The model's SLO attainment over the live window, with its batching limits."""
    ttft_p95_target_s: float | None = None
    itl_p95_target_s: float | None = None
    requests: int | None = None
    rejected: int | None = None
    attainment: float | None = None
    output_tokens_per_s: float | None = None
    itl_p95_s: float | None = None
    batching: Batching = Field(default_factory=Batching)
    seq_limit: int | None = None


class Frontier(Payload):
    model: str | None = None
    sweep: Sweep | None = None
    chosen: FrontierPoint | None = None
    explanation: list[str] = []
    live: SloLive = Field(default_factory=SloLive)


# /admin/alerts, /admin/fleet -----------------------------------------------------------------

class AlertEvent(Payload):
    """A state change of an alert (appliance.alerts.store.EVENT_COLUMNS)."""
    id: int
    at: str | None = None
    rule: str = ""
    kind: str | None = None
    subject: str | None = None
    state: str | None = None
    severity: str = "warning"
    value: float | None = None
    threshold: float | None = None
    message: str | None = None
    acknowledged_at: str | None = None
    acknowledged_by: str | None = None


class Alerts(Payload):
    firing: list[AlertEvent] = []
    events: list[AlertEvent] = []


class FleetNode(Payload):
    node: str
    address: str | None = None
    up: bool = False
    draining: bool = False
    running: int | None = None
    waiting: int | None = None
    models: list[str] = []
    seen_seconds_ago: float | None = None

    @property
    def state(self) -> str:
        return "down" if not self.up else "draining" if self.draining else "up"


class Fleet(Payload):
    node: str | None = None
    nodes: list[FleetNode] = []
