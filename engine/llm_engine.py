"""The thread-safe engine handle: submit, stream, abort, stats, cache policy.

One loop thread owns the model. Each step is schedule -> forward -> sample -> postprocess.
Callers touch the scheduler only through `submit`/`abort`/... under the engine's lock; the
forward pass and sampling run without the lock, so submitting never waits for a step.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from typing import Any

from engine.block_manager import BlockManager
from engine.config import CachePolicy, EngineConfig
from engine.errors import ContextLengthExceeded, EngineStopped, InvalidParameter, QueueFull
from engine.heap import keep_freed_memory
from engine.kv_format import KV_TORCH_DTYPES
from engine.model_runner import ForwardBatch, ModelRunner
from engine.outputs import EngineStats, RequestMetrics
from engine.planner import default_kv_dtype
from engine.prefix_cache import Pin
from engine.request_stream import RequestState, RequestStream
from engine.sampler import SampledToken, Sampler
from engine.sampling_params import SamplingParams
from engine.scheduler import ScheduledBatch, Scheduler
from engine.short_thread import in_short_thread
from engine.sequence import Sequence
from engine.slo import Slo, SloGovernor
from engine.speculation import SpeculationConfig
from engine.speculation.draft_model import load_draft, same_drafter
from engine.speculation.model_drafter import ModelDrafter
from engine.speculation.speculator import Speculator

log = logging.getLogger("airlock.engine")
_STALL_WAIT = 0.05      # seconds to wait when work exists but nothing could be scheduled


class Engine:
    def __init__(self, model: Any, config: EngineConfig | None = None) -> None:
        self.model = model
        self.config = config or EngineConfig()
        keep_freed_memory()
        bs = self.config.block_size
        kv_dtype = KV_TORCH_DTYPES[self.config.kv_dtype] if self.config.kv_dtype else None
        num_blocks = self.config.kv_cache_bytes // ModelRunner.kv_bytes_per_block(model, bs, kv_dtype)
        if num_blocks < 1:
            raise InvalidParameter("kv_cache_bytes", f"kv_cache_bytes={self.config.kv_cache_bytes} "
                                   f"holds no KV block of {bs} tokens for {model.name}")
        self.runner = in_short_thread(lambda: ModelRunner(model, num_blocks, bs, kv_dtype,
                                                          cuda_graphs=self.config.cuda_graphs,
                                                          max_batch=self.config.max_num_seqs))
        self.sampler = Sampler()
        self.block_manager = BlockManager(num_blocks, bs, self.config.cache, model_name=model.name)
        self.scheduler = Scheduler(self.config, self.block_manager)
        self.vocab_size = _vocab_size(model)
        self.speculator = Speculator(self.config.speculation, self.max_model_len,
                                     self._drafter_for(self.config.speculation, None))
        self._cond = threading.Condition()
        self._inbox: list[Sequence] = []
        self._aborts: list[str] = []
        self._requests: dict[str, RequestState] = {}
        self._queued = 0            # requests accepted and not yet scheduled
        self._stopping = False
        self._steps = self._prompt_tokens = self._generated_tokens = 0
        self.slo = SloGovernor(Slo(self.config.slo_ttft_p95 or None, self.config.slo_itl_p95 or None))
        self._thread = threading.Thread(target=self._loop, name=f"engine-{model.name}", daemon=True)
        self._thread.start()

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def max_model_len(self) -> int:
        """The longest sequence this engine serves: the model's window, or the KV pool if smaller."""
        return min(self.model.max_model_len, self.block_manager.num_blocks * self.config.block_size)

    # ----- requests -----------------------------------------------------------------------
    def submit(self, prompt_token_ids: list[int], params: SamplingParams | None = None,
               request_id: str | None = None, priority: int = 0, tenant: str | None = None) -> RequestStream:
        """Queue a request; its stream yields deltas as tokens are made. Raises at once on bad input.

        priority: higher is scheduled first (ties first come, first served) and preempted last.
        tenant: the prefix-cache salt under tenant isolation.
        """
        params = params or SamplingParams()
        self._validate(prompt_token_ids, params, priority)
        request_id = request_id or f"req-{uuid.uuid4().hex}"
        with self._cond:
            if self._stopping:
                raise EngineStopped(f"the engine for {self.model.name} is shut down")
            if request_id in self._requests:
                raise InvalidParameter("request_id", f"request id {request_id!r} is already in use")
            if self._queued >= self.config.max_waiting:
                raise QueueFull(self._queued, self.config.max_waiting)
            self.slo.check_admission(self._queued, len(self.scheduler.running), self.scheduler.seq_budget())
            stream = self._enqueue(list(prompt_token_ids), params, request_id, priority, tenant)
            self._cond.notify()
        return stream

    def abort(self, request_id: str) -> bool:
        """Stop a request at the next step; its stream ends with finish_reason "abort"."""
        with self._cond:
            if request_id not in self._requests:
                return False
            self._aborts.append(request_id)
            self._cond.notify()
            return True

    def set_slo(self, slo: Slo) -> None:
        """Apply a service-level objective from the next step on (Slo() lifts every limit)."""
        with self._cond:
            self.slo.slo = slo
            self._apply_slo_limits()

    def set_batching(self, max_num_seqs: int, max_num_batched_tokens: int, max_prefill_chunk: int) -> None:
        """Change the scheduler's limits from the next step on; EngineConfig validates them."""
        checked = dataclasses.replace(self.config, max_num_seqs=max_num_seqs, max_prefill_chunk=max_prefill_chunk,
                                      max_num_batched_tokens=max_num_batched_tokens)
        with self._cond:
            for name in ("max_num_seqs", "max_num_batched_tokens", "max_prefill_chunk"):
                setattr(self.config, name, getattr(checked, name))

    def _apply_slo_limits(self) -> None:
        limit = self.slo.token_limit()
        self.scheduler.token_limit = self.scheduler.seq_limit = limit

    def stats(self) -> EngineStats:
        with self._cond:
            bm = self.block_manager
            return EngineStats(
                model=self.model.name, running=len(self.scheduler.running),
                waiting=len(self.scheduler.waiting) + len(self._inbox), blocks_total=bm.num_blocks,
                blocks_used=bm.num_used, blocks_free=bm.num_free, block_size=bm.block_size,
                kv_usage=bm.num_used / bm.num_blocks, preemptions_total=self.scheduler.preemptions_total,
                steps_total=self._steps, prompt_tokens_total=self._prompt_tokens,
                generation_tokens_total=self._generated_tokens, cache=bm.stats(),
                spec_num_drafts=self.speculator.num_drafts, spec_num_draft_tokens=self.speculator.num_draft_tokens,
                spec_num_accepted_tokens=self.speculator.num_accepted_tokens)

    # ----- prefix-cache policy --------------------------------------------------------------
    @property
    def cache_policy(self) -> CachePolicy:
        return self.block_manager.policy

    def set_cache_policy(self, policy: CachePolicy) -> None:
        """Takes effect from the next scheduled request on."""
        if not isinstance(policy, CachePolicy):
            raise InvalidParameter("policy", f"policy must be a CachePolicy, got {type(policy).__name__}")
        with self._cond:
            self.block_manager.set_policy(policy)

    # ----- speculative decoding -------------------------------------------------------------
    @property
    def speculation(self) -> SpeculationConfig:
        return self.speculator.config

    def set_speculation(self, config: SpeculationConfig) -> None:
        """Takes effect from the next step on (running requests included; output is unchanged).

        A new drafting model (method self or draft) is loaded first, outside the lock, so the
        engine keeps serving meanwhile; a draft model whose tokenizer differs is refused."""
        if not isinstance(config, SpeculationConfig):
            raise InvalidParameter("speculation", f"speculation must be a SpeculationConfig, "
                                                  f"got {type(config).__name__}")
        drafter = self._drafter_for(config, self.speculator)
        with self._cond:
            self.speculator.set_config(config, drafter)

    def _drafter_for(self, config: SpeculationConfig, current: Speculator | None) -> ModelDrafter | None:
        """The drafting model config needs: the current one when it is the same, else loaded now."""
        if current is not None and current.drafter is not None and same_drafter(current.config, config):
            return current.drafter
        draft = load_draft(self.model, config)
        if draft is None:
            return None
        kv_dtype = KV_TORCH_DTYPES[default_kv_dtype(draft.precision, str(draft.device))]
        return in_short_thread(lambda: ModelDrafter(draft, self.block_manager.num_blocks, self.config.block_size,
                                                    kv_dtype, self.vocab_size))

    def pin_prefix(self, token_ids: list[int], tenant: str | None = None, ttl_seconds: float | None = None) -> Pin:
        """Keep this prefix's full blocks cached; computes them now if they are not cached yet."""
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise InvalidParameter("ttl_seconds", f"ttl_seconds must be positive, got {ttl_seconds}")
        self._validate(token_ids, SamplingParams(max_tokens=1, temperature=0.0), 0)
        if len(token_ids) < self.config.block_size:
            raise InvalidParameter("token_ids", f"a pinned prefix needs at least one full block "
                                   f"({self.config.block_size} tokens), got {len(token_ids)}")
        with self._cond:
            self._check_pin_room(len(token_ids))
            pin = self.block_manager.pin(list(token_ids), tenant, ttl_seconds)
            if self.block_manager.pinned_cached_blocks(pin) < len(pin.hashes):
                self._enqueue(list(token_ids), SamplingParams(max_tokens=1, temperature=0.0),
                              f"pin-warmup-{uuid.uuid4().hex}", 0, tenant)
                self._cond.notify()
        return pin

    def _check_pin_room(self, num_tokens: int) -> None:
        """Pins may hold at most half the pool, so requests always have blocks to run in."""
        bm = self.block_manager
        pinned = sum(len(p.hashes) for p in bm.pins.values())
        limit = bm.num_blocks // 2
        if pinned + num_tokens // bm.block_size > limit:
            raise InvalidParameter("token_ids", f"pinning {num_tokens} more tokens would pin more than half "
                                   f"of the KV pool ({pinned} of {limit} blocks are pinned already)")

    def unpin(self, pin_id: str) -> bool:
        with self._cond:
            return self.block_manager.unpin(pin_id)

    def pins(self) -> list[dict[str, Any]]:
        with self._cond:
            bm = self.block_manager
            now = bm.clock()
            return [{"pin_id": p.pin_id, "tenant": p.tenant, "num_tokens": p.num_tokens,
                     "blocks": len(p.hashes), "cached_blocks": bm.pinned_cached_blocks(p),
                     "expires_in": None if p.expires_at is None else max(0.0, p.expires_at - now)}
                    for p in bm.pins.values()]

    def flush_prefix_cache(self, keep_pinned: bool = True) -> int:
        with self._cond:
            return self.block_manager.flush(keep_pinned)

    def shutdown(self, abort_running: bool = True, timeout: float | None = None) -> None:
        """Stop the loop; unfinished requests end with "abort" (after finishing, unless abort_running)."""
        with self._cond:
            if not abort_running:
                self._cond.wait_for(lambda: not self._requests, timeout)
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    # ----- submission helpers ---------------------------------------------------------------
    def _validate(self, prompt: list[int], params: SamplingParams, priority: int) -> None:
        if not isinstance(params, SamplingParams):
            raise InvalidParameter("params", f"params must be SamplingParams, got {type(params).__name__}")
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise InvalidParameter("priority", f"priority must be an integer, got {priority!r}")
        if not prompt:
            raise InvalidParameter("prompt", "the prompt is empty: at least one token is needed")
        if not all(isinstance(t, int) and 0 <= t < self.vocab_size for t in prompt):
            bad = next(t for t in prompt if not (isinstance(t, int) and 0 <= t < self.vocab_size))
            raise InvalidParameter("prompt", f"token id {bad!r} is not in the vocabulary (0..{self.vocab_size - 1})")
        if len(prompt) + params.max_tokens > self.max_model_len:
            raise ContextLengthExceeded(len(prompt), params.max_tokens, self.max_model_len)

    def _enqueue(self, prompt: list[int], params: SamplingParams, request_id: str,
                 priority: int, tenant: str | None) -> RequestStream:
        metrics = RequestMetrics(request_id=request_id, arrival_time=time.time(), arrival_clock=time.monotonic())
        stream = RequestStream(request_id, metrics, self.abort)
        leader = Sequence(request_id, list(prompt), params, 0, priority, tenant)
        seqs = [leader] + [Sequence(request_id, list(prompt), params, i, priority, tenant, leader)
                           for i in range(1, params.n)]
        self._requests[request_id] = RequestState(stream, seqs, self.tokenizer, self.model.eos_token_ids,
                                                  self.max_model_len, on_completed=self.slo.record)
        self._inbox.extend(seqs)
        self._queued += 1
        return stream

    # ----- the loop -------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(self._has_work)
                if self._stopping:
                    break
                batch = self._next_batch_or_fail()
            if batch.seqs:
                self._step(batch)
            elif not self.scheduler.idle:
                with self._cond:
                    self._cond.wait(_STALL_WAIT)
        with self._cond:
            self._end_all("abort")

    def _has_work(self) -> bool:
        return self._stopping or bool(self._inbox or self._aborts) or not self.scheduler.idle

    def _next_batch_or_fail(self) -> ScheduledBatch:
        try:
            return self._next_batch()
        except Exception:
            log.exception("scheduling failed; failing every request in the engine")
            self._end_all("error")
            return ScheduledBatch()

    def _next_batch(self) -> ScheduledBatch:
        for seq in self._inbox:
            self.scheduler.add(seq)
        self._inbox.clear()
        now = time.monotonic()
        for request_id in self._aborts:
            self._end_request(request_id, "abort", now)
        self._aborts.clear()
        self.speculator.propose(self.scheduler.running)
        batch = self.scheduler.schedule()
        for seq in batch.seqs:
            request = self._requests[seq.request_id]
            if not request.scheduled:
                self._queued -= 1
            request.on_scheduled(now)
        return batch

    def _step(self, batch: ScheduledBatch) -> None:
        """Forward and sample without the lock, then postprocess under it; a failure fails the batch."""
        try:
            start = time.perf_counter()
            rows, sampled = self._forward_and_sample(batch)
            elapsed = time.perf_counter() - start
            with self._cond:
                self._postprocess(batch, rows, sampled, elapsed)
                self.slo.observe_step(batch.total_tokens, time.perf_counter() - start)
                self._apply_slo_limits()
                self._cond.notify_all()
        except Exception:
            log.exception("engine step failed; failing the %d sequences in it", len(batch.seqs))
            with self._cond:
                self._fail(batch)

    def _forward_and_sample(self, batch: ScheduledBatch) -> tuple[list[int], list[list[SampledToken]]]:
        """Rows of the sequences at their end and the tokens each gets (more than one after drafts)."""
        if any(seq.draft_token_ids for seq in batch.seqs):
            return self.speculator.forward_and_verify(self.runner, self.sampler, batch.seqs, batch.num_tokens)
        logits = self.runner.forward(_forward_batch(batch))
        rows = [i for i, (s, n) in enumerate(zip(batch.seqs, batch.num_tokens)) if n == s.num_uncomputed]
        if not rows:
            return rows, []
        if len(rows) < len(batch.seqs):
            logits = logits[rows]               # only sequences at their end sample a token
        return rows, [[t] for t in self.sampler.sample(logits, [batch.seqs[i].owner.context for i in rows])]

    def _postprocess(self, batch: ScheduledBatch, rows: list[int], sampled: list[list[SampledToken]],
                     elapsed: float) -> None:
        total = batch.total_tokens
        decodes = sum(n for s, n in zip(batch.seqs, batch.num_tokens)
                      if s.num_uncomputed == 1 and s.num_output_tokens)
        for seq, n in zip(batch.seqs, batch.num_tokens):
            if seq.is_finished:
                continue
            self.scheduler.advance(seq, n - len(seq.draft_token_ids))   # drafts: once verified
            self._requests[seq.request_id].metrics.compute_seconds += elapsed * n / total
        self._steps += 1
        self._prompt_tokens += total - decodes
        now = time.monotonic()
        for row, tokens in zip(rows, sampled):
            seq = batch.seqs[row]
            if not seq.is_finished:
                self._take_tokens(seq, tokens, now)
        for seq in batch.seqs:
            seq.draft_token_ids = []

    def _take_tokens(self, seq: Sequence, tokens: list[SampledToken], now: float) -> None:
        """Append seq's new tokens in order until one ends it; nothing past that is sent or counted."""
        request = self._requests[seq.request_id]
        for token in tokens:
            seq.token_ids.append(token.token_id)
            self._generated_tokens += 1
            reason = request.on_token(seq, token, now)
            if reason is not None:
                self.scheduler.finish(seq, reason)
                if request.done:
                    del self._requests[seq.request_id]
                break
        if seq.draft_token_ids:
            accepted = len(tokens) - 1
            self.speculator.record(seq, accepted)
            request.metrics.spec_drafts += 1
            request.metrics.spec_draft_tokens += len(seq.draft_token_ids)
            request.metrics.spec_accepted_tokens += accepted
            if not seq.is_finished:
                self.scheduler.rollback(seq, len(tokens) - 1)

    def _fail(self, batch: ScheduledBatch) -> None:
        now = time.monotonic()
        for request_id in {seq.request_id for seq in batch.seqs}:
            self._end_request(request_id, "error", now)
        self._cond.notify_all()

    def _end_request(self, request_id: str, reason: str, now: float) -> None:
        request = self._requests.pop(request_id, None)
        if request is None:
            return
        if not request.scheduled:
            self._queued -= 1
        for seq in request.seqs:
            if not seq.is_finished:
                self.scheduler.finish(seq, reason)
                request.end(seq, reason, now)

    def _end_all(self, reason: str) -> None:
        for seq in self._inbox:
            self.scheduler.add(seq)
        self._inbox.clear()
        now = time.monotonic()
        for request_id in list(self._requests):
            self._end_request(request_id, reason, now)
        self._cond.notify_all()


def _forward_batch(batch: ScheduledBatch) -> ForwardBatch:
    token_ids, starts, tables = [], [], []
    for seq, n in zip(batch.seqs, batch.num_tokens):
        start = seq.num_computed
        token_ids.append(seq.token_ids[start:start + n])
        starts.append(start)
        tables.append(seq.block_table)
    return ForwardBatch(token_ids=token_ids, start_positions=starts, block_tables=tables)


def _vocab_size(model: Any) -> int:
    config = model.hf_config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(getattr(text_config, "vocab_size", None) or len(model.tokenizer))
