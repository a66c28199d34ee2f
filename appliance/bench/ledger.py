"""Ledger benchmark: sustained rows/s into a real SQLite file (baseline: one commit per row),
and engine step times with the ledger recording every finished request versus not (same run)."""
from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from appliance.ledger.energy import ConstantPower
from appliance.ledger.ledger import Ledger
from appliance.ledger.record import UsageRecord
from appliance.ledger.tco import TcoInputs
from engine.bench.common import Machine, Report, at_least, ratio

TCO = TcoInputs(hardware_price=30000, amortization_years=3, residual_value=3000, power_watts=700,
                price_per_kwh=0.15, pue=1.4, operations_per_month=200)


@dataclass(slots=True)
class BenchSettings:
    rows: int = 100_000              # rows recorded by the producers in the throughput test
    producers: int = 4               # threads calling record() at once
    baseline_rows: int = 3_000       # rows for the one-commit-per-row baseline
    model_path: str | None = None    # SmolLM2 GGUF; None skips the engine comparison
    quantization: str = "int8"
    requests: int = 24               # per mode and round
    concurrency: int = 8
    max_tokens: int = 24
    rounds: int = 2                  # off/on pairs, interleaved

    def __post_init__(self) -> None:
        at_least(self, 1, "rows", "producers", "baseline_rows", "requests", "concurrency", "max_tokens", "rounds")


@dataclass(slots=True)
class LedgerReport(Report):
    result: dict                 # the figures, as run() gathers them

    def as_dict(self) -> dict:
        return self.result

    def table_title(self) -> list[str]:
        return [f"Ledger benchmark; {Machine(**self.result['machine']).line()}"]

    def table_rows(self) -> list[str]:
        w = self.result["write"]
        lines = [f"{'write path':<28}{'rows':>9}{'seconds':>10}{'rows/s':>11}",
                 f"{'batched writer (record())':<28}{w['batched']['rows']:>9}{w['batched']['seconds']:>10.2f}"
                 f"{w['batched']['rows_per_s']:>11.0f}",
                 f"{'one commit per row':<28}{w['row_per_commit']['rows']:>9}{w['row_per_commit']['seconds']:>10.2f}"
                 f"{w['row_per_commit']['rows_per_s']:>11.0f}",
                 f"ratio batched / per-row: {w['ratio']:.1f}x;  record() p50 {w['batched']['record_p50_us']:.1f} us, "
                 f"p99 {w['batched']['record_p99_us']:.1f} us"]
        if "engine" in self.result:
            e = self.result["engine"]
            lines += ["", f"engine step time ({e['workload']})",
                      f"{'ledger':<8}{'steps':>7}{'p50 ms':>9}{'p90 ms':>9}{'rows':>7}",
                      *(f"{mode:<8}{e[mode]['steps']:>7}{e[mode]['p50_ms']:>9.2f}{e[mode]['p90_ms']:>9.2f}"
                        f"{e[mode]['rows']:>7}" for mode in ("off", "on")),
                      f"ratio on / off (p50): {e['ratio_p50']:.3f}"]
        return lines


def sample_record(i: int) -> UsageRecord:
    return UsageRecord(request_id=f"bench-{i}", created_at=datetime.now(UTC), key_id=f"key_{i % 50}",
                       key_name=f"app-{i % 50}", tenant=f"tenant-{i % 5}", model="smollm2-135m-instruct",
                       quantization="int8", endpoint="chat.completions", prompt_tokens=120, cached_tokens=32,
                       completion_tokens=64, finish_reason="stop", queue_seconds=0.01, ttft_seconds=0.2,
                       duration_seconds=1.5, compute_seconds=0.4)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0


def open_ledger(directory: Path, name: str) -> Ledger:
    return Ledger.open(f"sqlite:///{directory / name}", tco=TCO, host_watts=250, power_source=ConstantPower(250))


def bench_batched(directory: Path, settings: BenchSettings) -> dict:
    """Producers record as fast as they can; rows/s counts until the last row is committed."""
    ledger = open_ledger(directory, "batched.db")
    per_thread = settings.rows // settings.producers
    latencies: list[list[float]] = [[] for _ in range(settings.producers)]

    def produce(n: int) -> None:
        clock, out = time.perf_counter, latencies[n]
        for i in range(n * per_thread, (n + 1) * per_thread):
            rec = sample_record(i)
            t = clock()
            ledger.record(rec)
            out.append(clock() - t)

    start = time.perf_counter()
    threads = [threading.Thread(target=produce, args=(n,)) for n in range(settings.producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queued = time.perf_counter() - start
    ledger.flush()
    elapsed = time.perf_counter() - start
    ledger.close()
    calls = [x for per in latencies for x in per]
    rows = per_thread * settings.producers
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed, "queue_seconds": queued,
            "record_p50_us": percentile(calls, 50) * 1e6, "record_p99_us": percentile(calls, 99) * 1e6}


def bench_row_per_commit(directory: Path, settings: BenchSettings) -> dict:
    """Baseline: each row written in its own transaction, as a naive logger would."""
    ledger = open_ledger(directory, "baseline.db")
    start = time.perf_counter()
    for i in range(settings.baseline_rows):
        ledger._write([sample_record(i)])
    elapsed = time.perf_counter() - start
    ledger.close()
    return {"rows": settings.baseline_rows, "seconds": elapsed, "rows_per_s": settings.baseline_rows / elapsed}


def run(settings: BenchSettings) -> LedgerReport:
    with tempfile.TemporaryDirectory(prefix="airlock-bench-ledger-") as tmp:
        batched = bench_batched(Path(tmp), settings)
        baseline = bench_row_per_commit(Path(tmp), settings)
        result = {"write": {"batched": batched, "row_per_commit": baseline,
                            "ratio": ratio(batched["rows_per_s"], baseline["rows_per_s"])}}
        if settings.model_path:
            from appliance.bench.ledger_engine import bench_engine   # torch only when asked for
            result["engine"] = bench_engine(Path(tmp), settings)
    machine = Machine.now(with_torch=bool(settings.model_path))
    return LedgerReport({"date": machine.date, "machine": asdict(machine), **result})
