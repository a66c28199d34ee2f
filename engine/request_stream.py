"""The caller's side of a request: a stream of deltas, its figures, and abort."""
from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from engine.detokenizer import IncrementalDetokenizer, StopMatcher
from engine.outputs import ChoiceOutput, RequestDelta, RequestMetrics, TokenLogprob
from engine.sampler import SampledToken, SamplingContext
from engine.sequence import Sequence

_END = None


class RequestStream:
    """Iterable of RequestDelta, ending once every choice has finished.

    The engine thread puts deltas in; the caller takes them out, blocking, or with a timeout
    (`deltas(timeout)` yields None on each timeout so a server can check for a disconnected
    client in between). `metrics` is complete once the stream has ended.
    """

    def __init__(self, request_id: str, metrics: RequestMetrics, abort: Callable[[str], object]) -> None:
        self.request_id = request_id
        self.metrics = metrics
        self._abort = abort
        self._queue: queue.SimpleQueue[RequestDelta | None] = queue.SimpleQueue()
        self._ended = False
        self._listeners: list[Callable[[], None]] = []

    def __iter__(self) -> Iterator[RequestDelta]:
        for delta in self.deltas(timeout=None):
            if delta is not None:
                yield delta

    def deltas(self, timeout: float | None) -> Iterator[RequestDelta | None]:
        """Deltas until the end; None whenever `timeout` seconds pass without one."""
        while not self._ended:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                yield None
                continue
            if item is _END:
                self._ended = True
                return
            yield item

    @property
    def finished(self) -> bool:
        """True once the engine has sent the last delta (it may not have been read yet)."""
        return self.metrics.finished_clock is not None

    def abort(self) -> None:
        self._abort(self.request_id)

    def ready(self) -> bool:
        """True when the next read will not wait: a delta (or the end) is queued, or it has ended."""
        return self._ended or not self._queue.empty()

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on the engine's thread; it must not block) after each delta and at the end."""
        self._listeners.append(callback)
        if self.ready():
            callback()

    def collect(self) -> list[ChoiceOutput]:
        """Read the stream to its end and assemble each choice (for non-streaming callers)."""
        choices: dict[int, ChoiceOutput] = {}
        for delta in self:
            choices.setdefault(delta.index, ChoiceOutput(delta.index)).add(delta)
        return [choices[i] for i in sorted(choices)]

    # engine side
    def put(self, delta: RequestDelta) -> None:
        self._queue.put(delta)
        self._notify()

    def close(self) -> None:
        self._queue.put(_END)
        self._notify()

    def _notify(self) -> None:
        for callback in self._listeners:
            callback()


@dataclass(slots=True, eq=False)
class ChoiceState:
    """Engine-side output state of one choice: detokenizer, stop strings, sampling context."""
    index: int
    detokenizer: IncrementalDetokenizer
    stop: StopMatcher
    context: SamplingContext


class RequestState:
    """Engine-side bookkeeping of one request: turns sampled tokens into deltas and figures."""

    def __init__(self, stream: RequestStream, seqs: list[Sequence], tokenizer: Any,
                 eos_token_ids: list[int], max_model_len: int,
                 on_completed: Callable[[RequestMetrics], None] | None = None) -> None:
        self.stream = stream
        self._on_completed = on_completed   # every choice ended by itself; called before the stream closes
        self.metrics = stream.metrics
        self.seqs = seqs
        self.scheduled = False
        self._tokenizer = tokenizer
        self._eos = frozenset(eos_token_ids)
        self._max_model_len = max_model_len
        self._unfinished = len(seqs)
        self._last_token_time: float | None = None
        self.metrics.prompt_tokens = seqs[0].num_prompt_tokens
        self.metrics.finish_reasons = [None] * len(seqs)
        for seq in seqs:
            seq.owner = self._choice(seq)

    @property
    def done(self) -> bool:
        return self._unfinished == 0

    def on_scheduled(self, now: float) -> None:
        if not self.scheduled:
            self.scheduled = True
            self.metrics.queue_time = now - self.metrics.arrival_clock
            self.metrics.cached_tokens = self.seqs[0].cached_tokens or 0

    def on_token(self, seq: Sequence, sampled: SampledToken, now: float) -> str | None:
        """Emit the delta of a newly appended token; returns the finish reason, if it ends the choice."""
        self._time_token(now)
        choice: ChoiceState = seq.owner
        token = sampled.token_id
        choice.context.output_token_ids.append(token)
        params = seq.params
        stop_id = token in params.stop_token_ids or (not params.ignore_eos and token in self._eos)
        text, matched = choice.stop.feed("" if stop_id else choice.detokenizer.add(token))
        reason = "stop" if matched or stop_id else None
        if reason is None and (seq.num_output_tokens >= params.max_tokens or len(seq) >= self._max_model_len):
            reason = "length"
        if reason is not None and not matched:
            text += self._tail(choice)
        logprobs = self._logprobs(sampled) if params.logprobs is not None else None
        self.stream.put(RequestDelta(choice.index, text, [token], logprobs, reason))
        if reason is not None:
            self._finished(seq, reason, now, completed=True)
        return reason

    def end(self, seq: Sequence, reason: str, now: float) -> None:
        """End a choice that did not finish by itself (abort, error, shutdown)."""
        if self.metrics.finish_reasons[seq.index] is None:
            self.stream.put(RequestDelta(seq.index, "", [], None, reason))
            self._finished(seq, reason, now)

    def _finished(self, seq: Sequence, reason: str, now: float, completed: bool = False) -> None:
        self.metrics.finish_reasons[seq.index] = reason
        self.metrics.completion_tokens += seq.num_output_tokens
        self.metrics.preemptions += seq.preemptions
        if seq.index == 0:
            self.metrics.cached_tokens = seq.cached_tokens or 0
        self._unfinished -= 1
        if self._unfinished == 0:
            self.metrics.finished_clock = now
            if completed and self._on_completed is not None:
                self._on_completed(self.metrics)   # before the reader can see the end
            self.stream.close()

    def _time_token(self, now: float) -> None:
        if self.metrics.ttft is None:
            self.metrics.ttft = now - self.metrics.arrival_clock
        elif self._last_token_time is not None and now > self._last_token_time:
            self.metrics.inter_token_latencies.append(now - self._last_token_time)
        self._last_token_time = now

    def _tail(self, choice: ChoiceState) -> str:
        text, matched = choice.stop.feed(choice.detokenizer.flush())
        return text if matched else text + choice.stop.flush()

    def _logprobs(self, sampled: SampledToken) -> list[TokenLogprob]:
        top = [(t, self._decode(t), lp) for t, lp in sampled.top]
        return [TokenLogprob(sampled.token_id, self._decode(sampled.token_id), sampled.logprob or 0.0, top)]

    def _decode(self, token_id: int) -> str:
        return self._tokenizer.decode([token_id], skip_special_tokens=False)

    def _choice(self, seq: Sequence) -> ChoiceState:
        params = seq.params
        generator = None
        if params.seed is not None:
            generator = torch.Generator().manual_seed((params.seed + seq.index) % 2**64)
        return ChoiceState(
            seq.index, IncrementalDetokenizer(self._tokenizer, seq.token_ids[:seq.num_prompt_tokens]),
            StopMatcher(params.stop, params.include_stop_str_in_output), SamplingContext(params, generator))
