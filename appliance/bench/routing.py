"""`airlock bench --route auto`: a mixed workload through a route against always the largest
tier, in the same run, on the real HTTP server with a real ledger.

Assumptions:
- Two tiers: the small one (SmolLM2-135M int8, alias smollm2-int8) and the large one (Gemma 3
  270M fp32). `auto` sends complex or long requests to the large tier, the rest to the small
  one; `large` is the same workload always on the large tier.
- The workload alternates short factual questions (few tokens out) with long open tasks
  (more tokens out), sent `concurrency` at a time, streamed so TTFT is measured at the client.
- Cost per query is the ledger's: each row's compute seconds at the TCO cost per hour owned.
- The data directory is kept between runs (var/bench-route by default) so the model store's
  GGUF conversion cache makes reruns start in seconds.
"""
from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from engine.bench.common import Machine, Report, at_least, ratio

SHORT = ["What is the capital of France?", "How many days are in a week?", "What is 7 times 6?",
         "Who wrote Hamlet?", "What is the boiling point of water in Celsius?", "What colour is the sky?"]
LONG = ["Write a detailed essay on how rivers shape valleys over thousands of years, with examples.",
        "Explain step by step how a bank should plan a migration of its mail servers, with risks and milestones.",
        "Compare the trade-offs of three caching strategies for a web service and recommend one.",
        "Write a short story about a lighthouse keeper who finds a message in a bottle.",
        "Describe in detail how vaccines train the immune system and how trials establish safety.",
        "Design a database schema for a hospital with patients, admissions and billing, and justify it."]
SMALL, LARGE = "smollm2-int8", "gemma3"


@dataclass(slots=True)
class RouteBenchConfig:
    route: str = "auto"
    requests: int = 12            # per arm, half short and half long
    concurrency: int = 2
    short_tokens: int = 8
    long_tokens: int = 48
    data_dir: str = "var/bench-route"
    smollm2_file: str = "var/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    gemma3_file: str = "var/models/gemma-3-270m-q4_k_m.gguf"

    def __post_init__(self) -> None:
        at_least(self, 1, "requests", "concurrency", "short_tokens", "long_tokens")


@dataclass(slots=True)
class ArmResult:
    route: str
    requests: int
    cost_per_query: float
    ttft_p50_s: float
    ttft_p95_s: float
    wall_s: float
    tiers: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class RouteBenchReport(Report):
    machine: Machine
    arms: list[ArmResult]
    cost_ratio: float             # routed / always-large
    ttft_p95_ratio: float

    def as_dict(self) -> dict:
        return {**Report.as_dict(self), "cpu": self.machine.arch, "isa": self.machine.cpu_isa}

    def table_title(self) -> list[str]:
        return [self.machine.line()]

    def table_rows(self) -> list[str]:
        lines = [f"{'route':10} {'requests':>8} {'cost/query':>12} {'TTFT p50 s':>11} {'TTFT p95 s':>11} {'wall s':>8}  tiers"]
        for a in self.arms:
            tiers = ", ".join(f"{t} {n}" for t, n in sorted(a.tiers.items()))
            lines.append(f"{a.route:10} {a.requests:>8} {a.cost_per_query:>12.3e} {a.ttft_p50_s:>11.3f} "
                         f"{a.ttft_p95_s:>11.3f} {a.wall_s:>8.1f}  {tiers}")
        return lines

    def table_notes(self) -> list[str]:
        return [f"{self.arms[0].route} / always-large: cost per query {self.cost_ratio:.2f}x, "
                f"TTFT p95 {self.ttft_p95_ratio:.2f}x"]


def run_route_bench(config: RouteBenchConfig, progress=lambda line: None) -> RouteBenchReport:
    from appliance.server import start_in_thread

    appliance = _appliance(config, progress)
    server, thread = start_in_thread(appliance)
    try:
        arms, since = [], datetime.now(UTC)
        for route in (config.route, "large"):
            progress(f"{route}: {config.requests} requests, {config.concurrency} at a time")
            arms.append(_arm(appliance, server.url, route, config, since))
        return RouteBenchReport(machine=Machine.now(), arms=arms,
                                cost_ratio=ratio(arms[0].cost_per_query, arms[1].cost_per_query),
                                ttft_p95_ratio=ratio(arms[0].ttft_p95_s, arms[1].ttft_p95_s))
    finally:
        server.stop()
        thread.join(timeout=30)
        appliance.close()


def _appliance(config: RouteBenchConfig, progress):
    from appliance.config import Config
    from appliance.services import Appliance

    settings = Config(data_dir=config.data_dir)
    settings.server.auth = False
    settings.models.kv_cache_bytes = 128 * 1024**2      # per tier: ample for `concurrency` short streams
    appliance = Appliance.from_config(settings, load_default=False)
    models = appliance.models
    for name, path in (("smollm2", config.smollm2_file), (LARGE, config.gemma3_file)):
        if name not in models.store:
            progress(f"importing {path} as {name}")
            models.store.import_path(path, name=name)
    progress("loading smollm2 int8 (small tier) and gemma3 fp32 (large tier)")
    models.load("smollm2", "int8", alias=SMALL)
    models.load(LARGE, "fp32")
    appliance.router.replace([
        {"name": "auto", "tiers": [SMALL, LARGE], "description": "small unless long or complex",
         "rules": [{"name": "long-prompt", "prompt_tokens_above": 200, "tier": LARGE},
                   {"name": "long-answer", "max_tokens_above": 128, "tier": LARGE},
                   {"name": "complex", "complexity_above": 0.5, "tier": LARGE}]},
        {"name": "large", "tiers": [LARGE]}], appliance.model_store_names())
    return appliance


def _arm(appliance, url: str, route: str, config: RouteBenchConfig, since: datetime) -> ArmResult:
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=600)
    work = [(SHORT[i // 2 % len(SHORT)], config.short_tokens) if i % 2 == 0 else
            (LONG[i // 2 % len(LONG)], config.long_tokens) for i in range(config.requests)]
    started = time.perf_counter()
    with ThreadPoolExecutor(config.concurrency) as pool:
        ttfts = list(pool.map(lambda w: _ttft(client, route, *w), work))
    wall = time.perf_counter() - started
    rows = _rows(appliance, route, since)
    cost = sum(r["cost"] for r in rows) / max(1, len(rows))
    tiers: dict[str, int] = {}
    for row in rows:
        tiers[row["model"]] = tiers.get(row["model"], 0) + 1
    q = statistics.quantiles(ttfts, n=20, method="inclusive")
    return ArmResult(route, len(rows), cost, statistics.median(ttfts), q[18], wall, tiers)


def _ttft(client, route: str, prompt: str, max_tokens: int) -> float:
    started = time.perf_counter()
    first = None
    for chunk in client.completions.create(model=route, prompt=prompt, max_tokens=max_tokens, temperature=0,
                                           stream=True):   # completions: Gemma 3 270M base has no chat template
        if first is None and chunk.choices and chunk.choices[0].text:
            first = time.perf_counter() - started
    return first if first is not None else time.perf_counter() - started


def _rows(appliance, route: str, since: datetime) -> list[dict]:
    """This run's ledger rows of the route (the data directory keeps earlier runs' rows)."""
    appliance.ledger.flush(timeout=30)
    return [r for r in appliance.ledger.export_json(since) if r["route"] == route]
