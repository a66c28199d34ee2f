"""SLO admission benchmark: N concurrent streams through the real HTTP API, first without an SLO,
then with an ITL target, on the same loaded engine in the same run. Inter-token latency and
time to first token are measured by the client, from SSE chunk arrival times.

The load generator runs in its own process (threads for the streams), so its timing does not
share a GIL with the server and the engine. A stream refused with 503 counts as rejected and
contributes no latency; the others count as admitted.
"""
from __future__ import annotations

import multiprocessing
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import httpx

from appliance.bench.served import served_appliance
from engine.bench.common import Machine, Report, at_least, percentile, positive, ratio

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


@dataclass(slots=True)
class SloBenchConfig:
    streams: int = 128
    max_tokens: int = 64
    itl_target: float = 0.15               # seconds
    ttft_target: float | None = None       # seconds; None: no TTFT target (nothing is refused)
    model_file: str = ""
    quantization: str = "auto"
    kv_cache_mib: int = 256

    def __post_init__(self) -> None:
        at_least(self, 1, "streams")
        at_least(self, 2, "max_tokens")
        positive("itl_target", self.itl_target)
        positive("ttft_target", self.ttft_target)


@dataclass(slots=True)
class Phase:
    name: str
    admitted: int
    rejected: int
    output_tokens_per_s: float
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    itl_p50_s: float | None
    itl_p95_s: float | None
    within_itl_target: float | None        # share of admitted streams whose own p95 ITL met the target


@dataclass(slots=True)
class SloReport(Report):
    config: SloBenchConfig
    phases: list[Phase]                    # without the SLO, then with it
    machine: Machine = field(default_factory=Machine.now)

    def table_title(self) -> list[str]:
        c = self.config
        return [f"airlock bench-slo: {c.streams} concurrent streams x {c.max_tokens} tokens, "
                f"ITL target {c.itl_target * 1000:.0f} ms; {self.machine.line()}", ""]

    def table_rows(self) -> list[str]:
        head = f"{'phase':<18}{'admitted':>9}{'rejected':>9}{'out tok/s':>10}{'TTFT p50':>10}{'TTFT p95':>10}" \
               f"{'ITL p50':>9}{'ITL p95':>9}{'streams in SLO':>15}"
        return [head, *(f"{p.name:<18}{p.admitted:>9}{p.rejected:>9}{p.output_tokens_per_s:>10.1f}"
                        f"{_ms(p.ttft_p50_s):>10}{_ms(p.ttft_p95_s):>10}{_ms(p.itl_p50_s):>9}{_ms(p.itl_p95_s):>9}"
                        f"{'-' if p.within_itl_target is None else f'{p.within_itl_target:.0%}':>15}"
                        for p in self.phases)]

    def table_notes(self) -> list[str]:
        base, slo = self.phases
        itl = ratio(base.itl_p95_s, slo.itl_p95_s)
        return ["", f"p95 ITL without / with the SLO: {itl:.2f}x" if itl else "",
                f"throughput with / without: {ratio(slo.output_tokens_per_s, base.output_tokens_per_s):.2f}x"]

    def as_dict(self) -> dict:
        return {"config": asdict(self.config), "phases": [asdict(p) for p in self.phases],
                "machine": asdict(self.machine)}


def run(config: SloBenchConfig) -> SloReport:
    from engine.slo import Slo

    def tune(settings) -> None:
        settings.server.threads = config.streams + 16
        settings.server.max_waiting = max(settings.server.max_waiting, config.streams * 2)
        settings.models.kv_cache_bytes = config.kv_cache_mib * 2**20

    with served_appliance("airlock-bench-slo-", config.quantization, config.model_file, tune) as (appliance, server):
        model = appliance.model_names()[0]
        engine = appliance.models.get(model)
        _load(server.url, model, config, min(8, config.streams))          # warm-up, trains the step-time fit
        phases = [_phase("no SLO", server.url, model, config)]
        engine.set_slo(Slo(ttft_p95=config.ttft_target, itl_p95=config.itl_target))
        phases.append(_phase(f"ITL SLO {config.itl_target * 1000:.0f} ms", server.url, model, config))
    return SloReport(config, phases)


def _phase(name: str, url: str, model: str, config: SloBenchConfig) -> Phase:
    print(f"airlock bench-slo: {name}: {config.streams} streams", file=sys.stderr, flush=True)
    started = time.time()
    results = _load(url, model, config, config.streams)
    wall = time.time() - started
    admitted = [r for r in results if r["status"] == 200]
    gaps = [g for r in admitted for g in r["gaps"]]
    ttfts = [r["ttft"] for r in admitted if r["ttft"] is not None]
    own = [percentile(r["gaps"], 95) for r in admitted if r["gaps"]]
    return Phase(name, len(admitted), len(results) - len(admitted),
                 sum(r["tokens"] for r in admitted) / wall, percentile(ttfts, 50), percentile(ttfts, 95),
                 percentile(gaps, 50), percentile(gaps, 95),
                 sum(p <= config.itl_target for p in own) / len(own) if own else None)


def _load(url: str, model: str, config: SloBenchConfig, streams: int) -> list[dict]:
    """Run `streams` concurrent streams from a separate process; each result: status, ttft, gaps, tokens."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(load_generator, (url, model, streams, config.max_tokens))


def load_generator(url: str, model: str, streams: int, max_tokens: int) -> list[dict]:
    with httpx.Client(base_url=url, timeout=900, limits=httpx.Limits(max_connections=streams + 8)) as http:
        with ThreadPoolExecutor(streams) as pool:
            return list(pool.map(lambda i: _stream(http, model, max_tokens, i), range(streams)))


def _stream(http: httpx.Client, model: str, max_tokens: int, i: int) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": f"{i}: {PROMPT}"}], "max_tokens": max_tokens,
            "temperature": 0, "ignore_eos": True, "stream": True}
    started, times = time.perf_counter(), []
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            response.read()
            return {"status": response.status_code, "ttft": None, "gaps": [], "tokens": 0}
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content":"' in line and '"content":""' not in line:
                times.append(time.perf_counter())
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {"status": 200, "ttft": times[0] - started if times else None, "gaps": gaps, "tokens": len(times)}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"
