"""A submitted generation: its engine stream, who pays for it, and the bookkeeping when it ends.

`Job.finish()` runs exactly once, whether the stream ended, failed or the client went away:
it charges the key's rate limits, feeds /metrics and queues a ledger row for the tokens
actually delivered.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Iterator
from typing import Any

from appliance.api.errors import ApiError
from appliance.auth.keys import ApiKey
from appliance.auth.limits import LimitExceeded
from engine.outputs import RequestDelta, TokenLogprob
from engine.sampling_params import SamplingParams

log = logging.getLogger("airlock.api")
POLL_SECONDS = 0.5   # how often a waiting stream checks that its client is still there


@dataclass(slots=True)
class Choice:
    index: int
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None


@dataclass(slots=True)
class Job:
    appliance: Any
    model: str
    endpoint: str
    key: ApiKey | None
    stream: Any
    params: SamplingParams
    id: str
    created: int = field(default_factory=lambda: int(time.time()))
    delivered_tokens: int = 0
    route: str | None = None      # the route the client named, when a route picked this tier
    rule: str | None = None       # the rule that picked it
    _done: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def collect(self, disconnected: Callable[[], bool] = lambda: False) -> list[Choice]:
        """Run to the end (or until the client goes away); the choices in index order."""
        choices = [Choice(i) for i in range(self.params.n)]
        try:
            for delta in self.deltas(disconnected):
                apply_delta(choices[delta.index], delta)
                self.delivered_tokens += len(delta.token_ids)
        finally:
            self.finish()
        return choices

    def deltas(self, disconnected: Callable[[], bool]) -> Iterator[RequestDelta]:
        """The stream's deltas, ending early once the client has gone away."""
        for delta in self.stream.deltas(timeout=POLL_SECONDS):
            if delta is None:
                if disconnected():
                    return
                continue
            yield delta

    def finish(self) -> None:
        """Abort the engine request if it is still running, then account for what was delivered."""
        with self._lock:
            if self._done:
                return
            self._done = True
        if not _stream_finished(self.stream):
            self.stream.abort()
        try:
            self._account()
        except Exception:   # accounting must never break serving
            log.exception("usage accounting failed for %s", self.id)

    @property
    def usage(self) -> dict:
        metrics = self.stream.metrics
        return usage_body(metrics.prompt_tokens, self.delivered_tokens, metrics.cached_tokens)

    def _account(self) -> None:
        metrics = self.stream.metrics
        reason = _overall_reason([r for r in metrics.finish_reasons if r])
        if self.key is not None:
            self.appliance.limits.charge(self.key, metrics.prompt_tokens + self.delivered_tokens)
        self.appliance.metrics.observe(self.model, metrics, reason)
        self.appliance.record_usage(self, reason)


def usage_body(prompt: int, completion: int, cached: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


def submit(appliance: Any, engine: Any, model: str, endpoint: str, key: ApiKey | None,
           prompt_ids: list[int], params: SamplingParams) -> Job:
    """Admit the request against the key's limits and hand it to the engine."""
    admit(appliance, key)
    return start(appliance, engine, model, endpoint, key, prompt_ids, params, new_request_id(endpoint))


def admit(appliance: Any, key: ApiKey | None) -> None:
    """Count one HTTP request against the key's limits, or raise a 429 saying when to retry."""
    if key is None:
        return
    try:
        appliance.limits.admit(key)
    except LimitExceeded as exc:
        raise ApiError(429, exc.message, code="rate_limit_exceeded", retry_after=exc.retry_after) from None


def start(appliance: Any, engine: Any, model: str, endpoint: str, key: ApiKey | None,
          prompt_ids: list[int], params: SamplingParams, request_id: str) -> Job:
    """Hand an admitted request to the engine."""
    stream = engine.submit(prompt_ids, params, request_id=request_id,
                           tenant=key.spec.tenant if key else None)
    return Job(appliance, model, endpoint, key, stream, params, request_id)


def new_request_id(endpoint: str) -> str:
    return ("chatcmpl-" if endpoint == "chat" else "cmpl-") + secrets.token_hex(12)


def _overall_reason(reasons: list[str]) -> str:
    """One finish reason for the ledger: the most telling of the choices'."""
    if not reasons:
        return "abort"
    for reason in ("error", "abort", "length"):
        if reason in reasons:
            return reason
    return "stop"


def apply_delta(choice: Choice, delta: RequestDelta) -> None:
    """Add one delta to the choice it belongs to."""
    choice.text += delta.text
    choice.token_ids += delta.token_ids
    if delta.logprobs:
        choice.logprobs += delta.logprobs
    if delta.finish_reason:
        choice.finish_reason = delta.finish_reason


def _stream_finished(stream: Any) -> bool:
    finished = getattr(stream, "finished", None)
    if finished is not None:
        return bool(finished() if callable(finished) else finished)
    return stream.metrics.finished_time is not None
