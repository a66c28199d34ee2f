"""When a sequence drafts, and how many tokens: the adaptive part of speculation.

Assumptions, measured on the CPU this runs on (BENCHMARKS.md, speculative decoding):
- A decode step at a small batch is bound by reading the weights, so verifying k + 1
  positions of one sequence costs little more than decoding one; drafting pays as soon as
  about one draft token in five is accepted.
- A step over many sequences is compute-bound: every verified position costs about as much
  as a decoded token, so rejected drafts slow everyone down. Above `max_batch` decoding
  sequences nobody drafts; from half of that on, sequences draft at most half of k.
- Acceptance is a property of the request (copying from the prompt or not) and drifts within
  it, so each sequence keeps a rolling window of its own verifications; below
  `min_acceptance` it stops drafting for `cooldown_tokens` tokens, then tries again.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from engine.sequence import Sequence
from engine.speculation.config import SpeculationConfig


@dataclass(slots=True)
class DraftStats:
    """One sequence's speculation record (kept on Sequence.spec)."""
    recent: deque[tuple[int, int]] = field(default_factory=deque)    # (drafted, accepted) per verification
    paused_until: int = 0           # output length at which drafting resumes
    drafts: int = 0                 # verifications that carried draft tokens
    drafted: int = 0
    accepted: int = 0
    draft_kv: int = 0               # leading tokens whose K/V a drafting model holds (model_drafter.py)
    residency: int = 0              # the Sequence.preemptions that draft_kv belongs to

    def record(self, drafted: int, accepted: int, config: SpeculationConfig, num_output_tokens: int) -> None:
        self.drafts += 1
        self.drafted += drafted
        self.accepted += accepted
        self.recent.append((drafted, accepted))
        while len(self.recent) > config.window:
            self.recent.popleft()
        if len(self.recent) == config.window and self.acceptance < config.min_acceptance:
            self.paused_until = num_output_tokens + config.cooldown_tokens
            self.recent.clear()

    @property
    def acceptance(self) -> float:
        drafted = sum(d for d, _ in self.recent)
        return sum(a for _, a in self.recent) / drafted if drafted else 1.0


def stats_of(seq: Sequence) -> DraftStats:
    """seq's speculation record, made on first use."""
    if seq.spec is None:
        seq.spec = DraftStats()
    return seq.spec


def step_k(config: SpeculationConfig, num_decoding: int) -> int:
    """Most draft tokens per sequence in a step with num_decoding decoding sequences."""
    if not config.enabled or num_decoding > config.max_batch:
        return 0
    if 2 * num_decoding > config.max_batch:
        return max(1, config.k // 2)
    return config.k
