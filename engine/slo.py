"""SLO-aware admission: keep inter-token latency (ITL) within a target by limiting the batch, and
turn requests away early when the queue's expected wait would break the time-to-first-token
(TTFT) target. Also the live view: SLO attainment and the operating point over recent minutes.

Assumptions, stated once:
- A step's wall time grows about linearly with the tokens it computes: t = a + b x tokens.
  The governor fits a and b by least squares over the last steps (decode and prefill alike)
  and lets each step hold at most the tokens that fit in the ITL target x HEADROOM; the same
  number caps the running sequences, since each decoding sequence adds one token per step.
  HEADROOM leaves room for the step-to-step noise a p95 target must absorb. The fit is not
  trusted beyond twice the largest step it has seen, so a burst is admitted in stages; and a
  lowered cap never takes the decode token from a sequence already running (it holds back
  admissions instead, so no running stream stalls).
- A waiting request is scheduled when a running one finishes. With L sequences running and q
  requests ahead, the wait is about ceil((q + 1) / L) service times, where a service time is
  the mean time from first scheduled to finished over recent requests.
- A request meets the SLO when its TTFT is within the TTFT target and the p95 of its own
  inter-token gaps is within the ITL target. Attainment is the share of requests finished in
  the last WINDOW seconds that met it; requests turned away are counted apart.
"""
from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass

from engine.errors import QueueFull
from engine.outputs import RequestMetrics

HEADROOM = 0.8
WINDOW = 300.0                     # seconds of history for attainment and the live point
_STEPS = 64                        # steps kept for the step-time fit
_MIN_STEPS = 8                     # before this many, no limit (nothing to fit yet)
_SERVICE = 64                      # finished requests kept for the mean service time
_UNITS = {"ms": 0.001, "s": 1.0, "": 1.0}


class InvalidSlo(ValueError):
    """An SLO target is not a positive duration; the message names it."""


def parse_seconds(text: str | float, name: str) -> float:
    """'150ms', '2s', '0.5' (seconds) -> seconds. Refuses zero, negatives and unknown units."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        match = re.fullmatch(r"\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*([a-zA-Z]*)\s*", str(text))
        if not match:
            raise InvalidSlo(f"{name} must be a duration such as 150ms or 2s, got {text!r}")
        value, unit = float(match.group(1)), match.group(2).lower()
        if unit not in _UNITS:
            raise InvalidSlo(f"{name} has unknown unit {match.group(2)!r}: use ms or s (e.g. 150ms, 2s)")
    if not math.isfinite(value) or value <= 0:
        raise InvalidSlo(f"{name} must be a positive duration, got {text!r}")
    return value * _UNITS[unit]


@dataclass(slots=True, frozen=True)
class Slo:
    ttft_p95: float | None = None      # seconds; None: no TTFT target
    itl_p95: float | None = None       # seconds; None: no ITL target

    def __post_init__(self) -> None:
        for name in ("ttft_p95", "itl_p95"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise InvalidSlo(f"{name} must be a positive number of seconds or null, got {value!r}")

    @property
    def active(self) -> bool:
        return self.ttft_p95 is not None or self.itl_p95 is not None

    def met_by(self, metrics: RequestMetrics) -> bool:
        ttft_ok = self.ttft_p95 is None or (metrics.ttft is not None and metrics.ttft <= self.ttft_p95)
        gaps = sorted(metrics.inter_token_latencies)
        itl_ok = self.itl_p95 is None or not gaps or gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))] <= self.itl_p95
        return ttft_ok and itl_ok


class SloQueueFull(QueueFull):
    """The expected wait in the queue already breaks the TTFT target: come back later."""

    def __init__(self, expected_wait: float, target: float) -> None:
        super().__init__(0, 0, retry_after=max(1.0, expected_wait - target))
        self.args = (f"The server is at its SLO capacity: the expected wait of {expected_wait:.1f} s "
                     f"would break the TTFT target of {target:.1f} s. Retry later.",)


class StepTimeFit:
    """Least-squares line through recent (tokens, seconds) steps."""

    def __init__(self) -> None:
        self.samples: deque[tuple[int, float]] = deque(maxlen=_STEPS)

    def add(self, tokens: int, seconds: float) -> None:
        self.samples.append((tokens, seconds))

    def line(self) -> tuple[float, float] | None:
        """(a, b) of t = a + b x tokens, or None before enough varied steps."""
        if len(self.samples) < _MIN_STEPS:
            return None
        n = len(self.samples)
        mx = sum(x for x, _ in self.samples) / n
        my = sum(y for _, y in self.samples) / n
        sxx = sum((x - mx) ** 2 for x, _ in self.samples)
        if sxx == 0:
            return (0.0, my / mx) if mx else None    # one batch size only: proportional
        b = max(sum((x - mx) * (y - my) for x, y in self.samples) / sxx, 1e-9)
        return max(my - b * mx, 0.0), b

    def tokens_within(self, seconds: float) -> int | None:
        fit = self.line()
        if fit is None:
            return None
        a, b = fit
        seen = max(x for x, _ in self.samples)       # no more than twice the largest step measured:
        return max(1, min(int((seconds - a) / b), 2 * seen))   # grow, measure, then grow again


class SloGovernor:
    """Per engine: the SLO, the limits it implies, and the recent history behind both."""

    def __init__(self, slo: Slo | None = None, clock=time.time) -> None:
        self.slo = slo or Slo()
        self.clock = clock
        self.fit = StepTimeFit()
        self._lock = threading.Lock()
        self._finished: deque[tuple[float, bool, int, list[float]]] = deque()   # (time, met, tokens, gaps)
        self._since = clock()                       # start of the history: the live rate's denominator
        self._rejected: deque[float] = deque()
        self._service: deque[float] = deque(maxlen=_SERVICE)

    # ----- limits ---------------------------------------------------------------------------
    def observe_step(self, tokens: int, seconds: float) -> None:
        self.fit.add(tokens, seconds)

    def token_limit(self) -> int | None:
        """Tokens a step may compute and stay within the ITL target (None: no limit)."""
        if self.slo.itl_p95 is None:
            return None
        return self.fit.tokens_within(self.slo.itl_p95 * HEADROOM)

    def expected_wait(self, queued: int, running_limit: int) -> float:
        if not self._service:
            return 0.0
        service = sum(self._service) / len(self._service)
        return math.ceil((queued + 1) / max(running_limit, 1)) * service

    def check_admission(self, queued: int, running: int, running_limit: int) -> None:
        """Raise SloQueueFull when a new request would wait past the TTFT target."""
        target = self.slo.ttft_p95
        if target is None or running + queued < running_limit:
            return
        wait = self.expected_wait(queued, running_limit)
        if wait > target:
            with self._lock:
                self._rejected.append(self.clock())
            raise SloQueueFull(wait, target)

    # ----- history --------------------------------------------------------------------------
    def record(self, metrics: RequestMetrics) -> None:
        now = self.clock()
        if metrics.finished_clock and metrics.ttft is not None:
            self._service.append(max(0.0, metrics.duration - metrics.queue_time))
        with self._lock:
            self._finished.append((now, self.slo.met_by(metrics), metrics.completion_tokens,
                                   list(metrics.inter_token_latencies)))
            self._trim(now)

    def live(self) -> dict:
        """SLO attainment and the operating point (output tok/s, p95 ITL) over the window."""
        now = self.clock()
        with self._lock:
            self._trim(now)
            finished, rejected = list(self._finished), len(self._rejected)
        gaps = sorted(g for *_, g_list in finished for g in g_list)
        span = min(WINDOW, now - self._since)
        return {"ttft_p95_target_s": self.slo.ttft_p95, "itl_p95_target_s": self.slo.itl_p95,
                "window_s": WINDOW, "requests": len(finished), "rejected": rejected,
                "attainment": (sum(met for _, met, *_ in finished) / len(finished)) if finished else None,
                "output_tokens_per_s": sum(t for _, _, t, _ in finished) / span if span > 0 else None,
                "itl_p95_s": gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))] if gaps else None,
                "token_limit": self.token_limit()}

    def _trim(self, now: float) -> None:
        while self._finished and self._finished[0][0] < now - WINDOW:
            self._finished.popleft()
        while self._rejected and self._rejected[0] < now - WINDOW:
            self._rejected.popleft()
