"""What the engine hands back: streamed deltas, per-request figures and engine statistics."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenLogprob:
    token_id: int
    token: str
    logprob: float
    top: list[tuple[int, str, float]] = field(default_factory=list)  # (token_id, token, logprob)


@dataclass(slots=True)
class RequestDelta:
    """New output of one choice of a request since the previous delta."""
    index: int                              # choice index, 0..n-1
    text: str                               # newly decoded text (never splits a character)
    token_ids: list[int]
    logprobs: list[TokenLogprob] | None = None
    finish_reason: str | None = None        # "stop", "length", "abort", "error" on the last delta


@dataclass(slots=True)
class ChoiceOutput:
    """One choice, assembled from all of its deltas."""
    index: int
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)   # empty unless logprobs were asked for
    finish_reason: str | None = None

    def add(self, delta: RequestDelta) -> None:
        """Append the next delta of this choice."""
        self.text += delta.text
        self.token_ids += delta.token_ids
        if delta.logprobs:
            self.logprobs += delta.logprobs
        self.finish_reason = delta.finish_reason or self.finish_reason


@dataclass(slots=True)
class RequestMetrics:
    """Figures of one request (all of its n choices) for the ledger and /metrics."""
    request_id: str
    arrival_time: float                     # wall clock (time.time()) at submission: the ledger's created_at
    arrival_clock: float = 0.0              # time.monotonic() at submission; every duration counts from it
    queue_time: float = 0.0                 # seconds from arrival to first scheduled
    ttft: float | None = None               # seconds from arrival to first output token
    inter_token_latencies: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    cached_tokens: int = 0                  # prompt tokens served from the prefix cache
    completion_tokens: int = 0              # over all choices
    finish_reasons: list[str | None] = field(default_factory=list)
    compute_seconds: float = 0.0            # share of batched step time, by tokens in each step
    preemptions: int = 0
    finished_clock: float | None = None     # time.monotonic() when the last choice ended
    spec_drafts: int = 0                    # speculative verifications that carried draft tokens
    spec_draft_tokens: int = 0              # draft tokens verified
    spec_accepted_tokens: int = 0           # of which accepted

    @property
    def duration(self) -> float:
        return (self.finished_clock or self.arrival_clock) - self.arrival_clock


@dataclass(slots=True)
class CacheStats:
    queries_tokens: int = 0                 # prompt tokens looked up in the prefix cache
    hits_tokens: int = 0                    # of which found cached
    window_hit_rate: float = 0.0            # over the recent sliding window
    cached_blocks: int = 0                  # unreferenced blocks kept for reuse
    pinned_blocks: int = 0
    evictions: int = 0


@dataclass(slots=True)
class EngineStats:
    model: str
    running: int
    waiting: int
    blocks_total: int
    blocks_used: int
    blocks_free: int
    block_size: int
    kv_usage: float                         # blocks_used / blocks_total
    preemptions_total: int
    steps_total: int
    prompt_tokens_total: int
    generation_tokens_total: int
    cache: CacheStats = field(default_factory=CacheStats)
    spec_num_drafts: int = 0                # speculation totals, as vLLM's spec_decode_* counters
    spec_num_draft_tokens: int = 0
    spec_num_accepted_tokens: int = 0
