"""The response caches in the request path.

Before a deterministic request reaches the engine, the exact cache (then the semantic one)
is asked for a stored answer. A hit becomes a Job whose stream replays that answer, so the
endpoints format it exactly like a fresh one and the engine never sees the request. A miss
goes to the engine through a stream that records the answer and stores it once every choice
has finished with "stop" or "length" (never for an abort, an error or a client gone away).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.api.jobs import Job, admit, cache_scope, new_request_id, submit
from appliance.api.stream import Stream
from appliance.auth.limits import Reservation
from appliance.auth.keys import ApiKey
from appliance.caching.answer import CachedAnswer, cacheable
from engine.outputs import RequestDelta, RequestMetrics
from engine.sampling_params import SamplingParams

if TYPE_CHECKING:
    from appliance.services import Appliance
    from engine.llm_engine import Engine

STORED_REASONS = ("stop", "length")


@dataclass(slots=True)
class CacheQuery:
    """What the caches are asked with: the exact input (prompt token ids and endpoint), and
    for the semantic cache the text to embed plus a scope for everything else that shaped it."""
    model: str
    endpoint: str
    tenant: str | None
    prompt_ids: list[int]
    params: SamplingParams
    source: str | Callable[[], str]   # the text to embed, or how to get it (asked only when needed)
    context: Any = None               # chat: the messages other than the last user one

    @property
    def text(self) -> str:
        if callable(self.source):
            self.source = self.source()
        return self.source

    @property
    def exact_input(self) -> dict:
        return {"endpoint": self.endpoint, "prompt": self.prompt_ids}

    @property
    def scope(self) -> str:
        """The semantic cache's `model` argument: the model plus endpoint and context hash."""
        blob = json.dumps(self.context, sort_keys=True, ensure_ascii=False, default=str)
        return f"{self.model}|{self.endpoint}|{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def chat_query(model: str, key: ApiKey | None, messages: list[dict], prompt_ids: list[int],
               params: SamplingParams) -> CacheQuery:
    """The last user message is what gets embedded; the rest of the conversation scopes it."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=len(messages) - 1)
    text = messages[last].get("content") or "" if messages else ""
    context = [m for i, m in enumerate(messages) if i != last]
    return CacheQuery(model, "chat", _tenant(key), prompt_ids, params, text, context)


def completion_query(model: str, key: ApiKey | None, prompt_ids: list[int], params: SamplingParams,
                     tokenizer: Any) -> CacheQuery:
    return CacheQuery(model, "completions", _tenant(key), prompt_ids, params, lambda: tokenizer.decode(prompt_ids))


def start_job(appliance: Appliance, engine: Engine, query: CacheQuery, key: ApiKey | None) -> Job:
    """A Job answered from a cache when one holds the answer, else submitted to the engine; the
    request's worst case is held against the key's limits first, either way."""
    reservation = admit(appliance, key, [len(query.prompt_ids)], query.params)
    try:
        return _answer(appliance, engine, query, key, reservation)
    except BaseException:
        reservation.cancel()
        raise


def _answer(appliance: Appliance, engine: Engine, query: CacheQuery, key: ApiKey | None, reservation: Reservation) -> Job:
    caches = appliance.response_caches
    if not cacheable(query.params) or not caches.active:
        return submit(appliance, engine, query.model, query.endpoint, key, query.prompt_ids, query.params, reservation)
    answer = caches.lookup(query)
    appliance.metrics.response_lookup(query.model, answer is not None)
    if answer is not None:
        return _replay(appliance, query, key, answer, reservation)
    job = submit(appliance, engine, query.model, query.endpoint, key, query.prompt_ids, query.params, reservation)
    job.stream = RecordingStream(job.stream, query.params.n, lambda a: caches.store(query, a), query.model)
    return job


class ReplayStream:
    """A cached answer (a Stream), played back in one delta per choice; it has always ended."""
    finished = True

    def __init__(self, request_id: str, answer: CachedAnswer, prompt_tokens: int) -> None:
        clock = time.monotonic()
        self.request_id = request_id
        self.answer = answer
        self.metrics = RequestMetrics(request_id, time.time(), clock, prompt_tokens=prompt_tokens,
                                     cached_tokens=prompt_tokens, completion_tokens=answer.completion_tokens,
                                     finish_reasons=list(answer.finish_reasons), finished_clock=clock)

    def deltas(self, timeout: float | None = None) -> Iterator[RequestDelta]:
        for index, (text, reason) in enumerate(zip(self.answer.texts, self.answer.finish_reasons)):
            yield RequestDelta(index=index, text=text, token_ids=[], logprobs=None, finish_reason=reason)

    def ready(self) -> bool:
        return True

    def subscribe(self, callback: Callable[[], None]) -> None:
        callback()

    def abort(self) -> None:
        """Nothing runs in the engine for a replay."""


class RecordingStream:
    """An engine stream (a Stream) that hands the whole answer to `store` when every choice
    finished well."""

    def __init__(self, inner: Stream, n: int, store: Callable[[CachedAnswer], None], model: str) -> None:
        self._inner, self._n, self._store, self._model = inner, n, store, model
        self.request_id, self.metrics = inner.request_id, inner.metrics

    @property
    def finished(self) -> bool:
        return self._inner.finished

    def ready(self) -> bool:
        return self._inner.ready()

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._inner.subscribe(callback)

    def abort(self) -> None:
        self._inner.abort()

    def deltas(self, timeout: float | None = None) -> Iterator[RequestDelta | None]:
        texts, reasons, tokens = [""] * self._n, [None] * self._n, 0
        for delta in self._inner.deltas(timeout=timeout):
            if delta is not None:
                texts[delta.index] += delta.text
                reasons[delta.index] = delta.finish_reason or reasons[delta.index]
                tokens += len(delta.token_ids)
            yield delta
        if all(r in STORED_REASONS for r in reasons):   # reached only when the stream ran to its end
            self._store(CachedAnswer(self._model, texts, list(reasons), self._inner.metrics.prompt_tokens, tokens))


def _replay(appliance: Appliance, query: CacheQuery, key: ApiKey | None, answer: CachedAnswer,
            reservation: Reservation) -> Job:
    request_id = new_request_id(query.endpoint)
    stream = ReplayStream(request_id, answer, len(query.prompt_ids))
    return Job(appliance, query.model, query.endpoint, key, stream, query.params, request_id, reservation,
               reservation.held, delivered_tokens=answer.completion_tokens, response_cached=True)


def _tenant(key: ApiKey | None) -> str | None:
    return cache_scope(key)
