"""Signals: the current value of each alert kind, read from the running appliance.

Assumptions:
- Every read is cheap: in-memory counters and engine statistics, two grouped ledger queries
  for all budgeted keys, one range query for the cost kinds; NVML and psutil calls where present.
- Rates and percentiles over a window come from cumulative counters sampled once per
  evaluation (`CounterHistory`): the difference between now and the sample nearest to
  `now - window` (the oldest one while the service is younger than the window).
- A kind with nothing to measure (no traffic, no GPU, no budgets) returns no subjects:
  its alerts resolve rather than fire on missing data.
"""
from __future__ import annotations

import bisect
import shutil
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import func, select

from appliance.api.prometheus import ITL_BUCKETS, TTFT_BUCKETS
from appliance.ledger import reports
from appliance.ledger.models import UsageRow
from appliance.ledger.tco import MILLION, tco_report

Values = dict[str, float]      # subject ("" when there is one) -> value


class CounterHistory:
    """Samples of cumulative counters, kept for `horizon` seconds."""

    def __init__(self, horizon: float) -> None:
        self.horizon = horizon
        self._samples: deque[tuple[float, tuple]] = deque()

    def add(self, now: float, values: tuple) -> None:
        self._samples.append((now, values))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.horizon:
            self._samples.popleft()

    def delta(self, window: float) -> tuple | None:
        """Current minus the sample at `now - window`; None without two samples or after a
        counter went backwards (a model was reloaded)."""
        if len(self._samples) < 2:
            return None
        now, latest = self._samples[-1]
        times = [t for t, _ in self._samples]
        start = self._samples[max(0, bisect.bisect_right(times, now - window) - 1)][1]
        diff = tuple(a - b for a, b in zip(latest, start))
        return None if any(d < 0 for d in diff) else diff


def percentile(bounds: tuple[float, ...], counts: tuple, q: float) -> float | None:
    """The upper bound of the bucket holding quantile q (the largest bound for the overflow)."""
    total = sum(counts)
    if total <= 0:
        return None
    running = 0
    for bound, count in zip(bounds, counts):
        running += count
        if running >= q * total:
            return bound
    return bounds[-1]


class Signals:
    def __init__(self, appliance: Any, horizon: float, gpu: Callable[[], list[tuple[float, float]]] | None = None) -> None:
        self.appliance = appliance
        self.history = {name: CounterHistory(horizon) for name in ("prefix", "response", "ttft", "itl", "status")}
        self._gpu = gpu if gpu is not None else nvml_readings
        self._cache: dict[tuple[str, float], Values] = {}
        self._memo: dict = {}      # reads shared by several kinds within one evaluation

    def history_horizon(self, horizon: float) -> None:
        for history in self.history.values():
            history.horizon = horizon

    def sample(self, now: float | None = None) -> None:
        """Take this evaluation's sample of every cumulative counter; forget cached reads."""
        now = time.monotonic() if now is None else now
        a = self.appliance
        stats = a.engine_stats().values()
        self._stats = list(stats)
        self.history["prefix"].add(now, (sum(s.cache.queries_tokens for s in stats), sum(s.cache.hits_tokens for s in stats)))
        self.history["response"].add(now, a.metrics.response_totals())
        self.history["ttft"].add(now, tuple(a.metrics.ttft.bucket_totals()))
        self.history["itl"].add(now, tuple(a.metrics.itl.bucket_totals()))
        self.history["status"].add(now, a.responses.totals())
        self._cache.clear()
        self._memo.clear()

    def read(self, kind: str, window: float) -> Values:
        key = (kind, window)
        if key not in self._cache:
            self._cache[key] = READERS[kind](self, window)
        return self._cache[key]

    # -- in-memory counters -----------------------------------------------------------------

    def _ratio(self, name: str, window: float, num: int, den: int) -> Values:
        d = self.history[name].delta(window)
        return {"": d[num] / d[den]} if d and d[den] > 0 else {}

    def _percentile(self, name: str, bounds: tuple[float, ...], window: float) -> Values:
        d = self.history[name].delta(window)
        value = percentile(bounds, d, 0.95) if d else None
        return {} if value is None else {"": value}

    def _stats_max(self, read: Callable[[Any], float]) -> Values:
        return {"": max(read(s) for s in self._stats)} if self._stats else {}

    # -- the ledger ---------------------------------------------------------------------------

    def _budget_used(self, window: float) -> Values:
        """Share used; 1.0 at least for a key the budget now refuses (reservations hold usage
        under 100%, so an exhausted key would otherwise never reach it)."""
        used = self._tokens_by_key(None)
        limits = getattr(self.appliance, "limits", None)
        return {_subject(k): max(used.get(k.id, 0) / k.spec.token_budget,
                                 1.0 if limits is not None and limits.exhausted(k) else 0.0)
                for k in self._budgeted()}

    def _budget_burn(self, window: float) -> Values:
        recent = self._tokens_by_key(datetime.now(UTC) - timedelta(seconds=window))
        used = self._tokens_by_key(None)
        hours: Values = {}
        for key in self._budgeted():
            if recent.get(key.id, 0) > 0:
                remaining = max(0, key.spec.token_budget - used.get(key.id, 0))
                hours[_subject(key)] = remaining / (recent[key.id] / (window / 3600))
        return hours

    def _budgeted(self) -> list:
        if "budgeted" not in self._memo:
            keys = self.appliance.keys.list() if self.appliance.ledger is not None else []
            self._memo["budgeted"] = [k for k in keys if k.spec.token_budget > 0]
        return self._memo["budgeted"]

    def _tokens_by_key(self, since: datetime | None) -> dict[str, int]:
        """Tokens of every budgeted key in one grouped query (rows the ledger's writer has not
        written yet count from its next flush, at most ledger.flush_interval_seconds later)."""
        memo = ("tokens", since)
        if memo not in self._memo:
            ids = [k.id for k in self._budgeted()]
            totals: dict[str, int] = {}
            if ids:
                query = (select(UsageRow.key_id, func.sum(UsageRow.prompt_tokens + UsageRow.completion_tokens))
                         .where(UsageRow.key_id.in_(ids)).group_by(UsageRow.key_id))
                if since is not None:
                    query = query.where(UsageRow.created_at >= since)
                with self.appliance.ledger.engine.connect() as conn:
                    totals = {key_id: int(n or 0) for key_id, n in conn.execute(query)}
            self._memo[memo] = totals
        return self._memo[memo]

    def _window(self, window: float) -> Any:
        """The TCO figures over the last `window` seconds (shared by the cost kinds)."""
        ledger = self.appliance.ledger
        if ledger is None:
            return None
        if ("window", window) not in self._memo:
            until = datetime.now(UTC)
            with ledger.engine.connect() as conn:
                measured = reports.usage_window(conn, until - timedelta(seconds=window), until)
            self._memo[("window", window)] = tco_report(ledger.tco_inputs, measured, [])
        return self._memo[("window", window)]

    def _cost_per_million(self, window: float) -> Values:
        report = self._window(window)
        if report is None:
            return {}
        w = report.window
        tokens = w.input_tokens - w.cached_tokens + w.output_tokens
        return {"": report.window_cost / tokens * MILLION} if tokens > 0 else {}

    def _utilisation(self, window: float) -> Values:
        report = self._window(window)
        return {} if report is None else {"": report.window.utilisation}

    # -- the host -----------------------------------------------------------------------------

    def _disk_free(self, window: float) -> Values:
        return {"": shutil.disk_usage(_existing(ledger_dir(self.appliance))).free / 1024**3}

    def _gpu_values(self, index: int) -> Values:
        return {f"gpu{i}": reading[index] for i, reading in enumerate(self._gpu())}


def _subject(key: Any) -> str:
    return f"{key.spec.name} ({key.id})"


def ledger_dir(appliance: Any) -> Path:
    url = appliance.ledger.engine.url if appliance.ledger is not None else None
    if url is not None and url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).resolve().parent
    return Path(appliance.config.data_dir).resolve()


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


_nvml: list[bool] = []   # [whether NVML initialised], decided once per process


def nvml_readings() -> list[tuple[float, float]]:
    """(memory used fraction, temperature in C) per NVIDIA GPU; empty without NVML."""
    try:
        import pynvml

        if not _nvml:
            pynvml.nvmlInit()
            _nvml.append(True)
    except Exception:   # no driver, no library: no GPU to watch
        _nvml.append(False)
    if not _nvml[0]:
        return []
    readings = []
    for i in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(i)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        temperature = pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)
        readings.append((memory.used / memory.total, float(temperature)))
    return readings


READERS: dict[str, Callable[[Signals, float], Values]] = {
    "budget_used": Signals._budget_used,
    "budget_burn": Signals._budget_burn,
    "prefix_hit_rate": lambda s, w: s._ratio("prefix", w, 1, 0),
    "response_hit_rate": lambda s, w: s._ratio("response", w, 1, 0),
    "ttft_p95": lambda s, w: s._percentile("ttft", TTFT_BUCKETS, w),
    "itl_p95": lambda s, w: s._percentile("itl", ITL_BUCKETS, w),
    "error_rate": lambda s, w: s._ratio("status", w, 1, 0),
    "rejected_rate": lambda s, w: s._ratio("status", w, 2, 0),
    "kv_usage": lambda s, w: s._stats_max(lambda st: st.kv_usage),
    "queue_depth": lambda s, w: {"": float(sum(st.waiting for st in s._stats))} if s._stats else {},
    "host_memory": lambda s, w: {"": psutil.virtual_memory().percent / 100},
    "disk_free": Signals._disk_free,
    "gpu_memory": lambda s, w: s._gpu_values(0),
    "gpu_temperature": lambda s, w: s._gpu_values(1),
    "cost_per_million": Signals._cost_per_million,
    "utilisation": Signals._utilisation,
}
