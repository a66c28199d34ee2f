"""A submitted generation: its engine stream, who pays for it, and the bookkeeping when it ends.

Admission (`admit`) holds the request's worst case against the key's limits before anything
runs. `Job.deliver(delta)` is the one place that counts delivered tokens: the endpoints call
it once a delta has been handed to the client. `Job.finish()` runs exactly once, whether the
stream ended, failed or the client went away: it settles the key's hold to prompt + delivered
tokens, feeds /metrics and queues a ledger row with those same figures, so what a key is
billed, what its limits count and what the response's usage says are one number.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from appliance.api.errors import ApiError
from appliance.api.stream import Stream
from appliance.auth.keys import ApiKey
from appliance.auth.limits import UNLIMITED, LimitExceeded, Reservation
from engine.outputs import RequestDelta
from engine.outputs import ChoiceOutput
from engine.sampling_params import SamplingParams

if TYPE_CHECKING:
    from appliance.services import Appliance
    from engine.llm_engine import Engine

log = logging.getLogger("airlock.api")
POLL_SECONDS = 0.5   # how often a waiting stream checks that its client is still there


@dataclass(slots=True)
class Job:
    appliance: Appliance
    model: str
    endpoint: str
    key: ApiKey | None
    stream: Stream
    params: SamplingParams
    id: str
    reservation: Reservation = UNLIMITED
    worst_tokens: int = 0                      # this job's part of the reservation
    created: int = field(default_factory=lambda: int(time.time()))
    delivered_tokens: int = 0
    route: str | None = None      # the route the client named, when a route picked this tier
    rule: str | None = None       # the rule that picked it
    response_cached: bool = False # answered from a response cache: the engine ran nothing
    _done: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def collect(self, disconnected: Callable[[], bool] = lambda: False) -> list[ChoiceOutput]:
        """Run to the end (or until the client goes away); the choices in index order."""
        choices = [ChoiceOutput(i) for i in range(self.params.n)]
        try:
            for delta in self.deltas(disconnected):
                choices[delta.index].add(delta)
                self.deliver(delta)
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

    def deliver(self, delta: RequestDelta) -> None:
        """`delta` reached the client: its tokens are billed."""
        self.delivered_tokens += len(delta.token_ids)

    @property
    def billed_tokens(self) -> int:
        return self.stream.metrics.prompt_tokens + self.delivered_tokens

    def finish(self) -> None:
        """Abort the engine request if it is still running, then account for what was delivered."""
        with self._lock:
            if self._done:
                return
            self._done = True
        try:
            if not self.stream.finished:
                self.stream.abort()
        finally:
            self.reservation.settle(self.worst_tokens, self.billed_tokens)
        try:
            self._account()
        except Exception:   # accounting must never break serving
            log.exception("usage accounting failed for %s", self.id)

    @property
    def done(self) -> bool:
        """True once the stream's last delta is there (read or not)."""
        return self.stream.finished

    def ready(self) -> bool:
        """True when the stream's next delta (or its end) is already there."""
        return self.stream.ready()

    def subscribe(self, callback: Callable[[], None]) -> None:
        self.stream.subscribe(callback)

    @property
    def usage(self) -> dict:
        metrics = self.stream.metrics
        return usage_body(metrics.prompt_tokens, self.delivered_tokens, metrics.cached_tokens, [metrics])

    def _account(self) -> None:
        metrics = self.stream.metrics
        reason = _overall_reason([r for r in metrics.finish_reasons if r])
        self.appliance.metrics.observe(self.model, metrics, reason, self.response_cached)
        self.appliance.record_usage(self, reason)


def usage_body(prompt: int, completion: int, cached: int, metrics: list | None = None) -> dict:
    body = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}
    drafted = sum(getattr(m, "spec_draft_tokens", 0) for m in metrics or [])
    if drafted:   # an Airlock extension, present when the request speculated
        body["speculation"] = {"draft_tokens": drafted,
                               "accepted_tokens": sum(m.spec_accepted_tokens for m in metrics)}
    return body


def submit(appliance: Appliance, engine: Engine, model: str, endpoint: str, key: ApiKey | None,
           prompt_ids: list[int], params: SamplingParams, reservation: Reservation) -> Job:
    """Hand an admitted single-prompt request to the engine."""
    return start(appliance, engine, model, endpoint, key, prompt_ids, params, new_request_id(endpoint),
                 reservation)


def worst_case(prompt_len: int, params: SamplingParams) -> int:
    """The most tokens one prompt of a request can bill: its prompt and n full completions."""
    return prompt_len + params.n * params.max_tokens


def admit(appliance: Appliance, key: ApiKey | None, prompt_lens: list[int], params: SamplingParams) -> Reservation:
    """Hold the request's worst case against the key's limits (each prompt counts as a request),
    or raise a 429 naming the limit and saying when to retry; 503 while the service drains."""
    return reserve(appliance, key, sum(worst_case(n, params) for n in prompt_lens), len(prompt_lens))


def reserve(appliance: Appliance, key: ApiKey | None, worst_tokens: int, prompts: int) -> Reservation:
    """Hold `worst_tokens` for a request of `prompts` prompts; see `admit`."""
    if appliance.draining:
        raise ApiError(503, "The service is shutting down and accepts no new requests; retry shortly.",
                       code="service_draining", retry_after=5)
    if key is None:
        return UNLIMITED
    try:
        return appliance.limits.reserve(key, worst_tokens, prompts)
    except LimitExceeded as exc:
        if exc.limit == "budget_store":
            raise ApiError(503, exc.message, code="service_unavailable", retry_after=exc.retry_after) from None
        code = "insufficient_quota" if exc.limit == "token_budget" else "rate_limit_exceeded"
        raise ApiError(429, exc.message, code=code, retry_after=exc.retry_after) from None


def start(appliance: Appliance, engine: Engine, model: str, endpoint: str, key: ApiKey | None,
          prompt_ids: list[int], params: SamplingParams, request_id: str, reservation: Reservation) -> Job:
    """Hand an admitted request to the engine; its share of the hold is settled when it ends."""
    stream = engine.submit(prompt_ids, params, request_id=request_id, tenant=cache_scope(key))
    return Job(appliance, model, endpoint, key, stream, params, request_id, reservation,
               worst_case(len(prompt_ids), params))


def cache_scope(key: ApiKey | None) -> str | None:
    """Whose prefix and response caches a request may share (None: auth off, one user)."""
    return key.cache_scope if key is not None else None


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


