"""One sequence: a prompt and the tokens generated after it (one choice of a request)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum

from engine.sampling_params import SamplingParams

_arrival_counter = itertools.count()


class SeqStatus(Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass(slots=True, eq=False)
class Sequence:
    """Token ids, KV blocks and scheduling state of one choice.

    num_computed counts the leading tokens whose keys and values are in the KV cache; the
    tokens after it are computed by the next steps (a prefill chunk, or one decode token).
    block_hashes holds the chained prefix-cache hashes of the full blocks seen so far.
    """
    request_id: str
    token_ids: list[int]
    params: SamplingParams = field(default_factory=SamplingParams)
    index: int = 0
    priority: int = 0                   # higher is served first
    tenant: str | None = None
    leader: Sequence | None = None      # for n > 1: the choice whose prompt blocks this one reuses
    arrival: int = field(default_factory=lambda: next(_arrival_counter))
    num_prompt_tokens: int = 0
    status: SeqStatus = SeqStatus.WAITING
    num_computed: int = 0
    block_table: list[int] = field(default_factory=list)
    block_hashes: list[bytes] = field(default_factory=list)
    num_registered: int = 0             # leading full blocks offered to the prefix cache
    cached_tokens: int | None = None    # prompt tokens served from the prefix cache, first admission
    preemptions: int = 0
    finish_reason: str | None = None
    owner: object = None                # the engine's per-choice state (detokenizer, stream ...)
    draft_token_ids: list[int] = field(default_factory=list)   # speculative guesses verified next step
    spec: object = None                 # speculation record (engine.speculation.policy.DraftStats)

    def __post_init__(self) -> None:
        if not self.token_ids:
            raise ValueError("a sequence needs at least one prompt token")
        self.num_prompt_tokens = self.num_prompt_tokens or len(self.token_ids)

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def rank(self) -> tuple[int, int]:
        """Sort key: higher priority first, then first come first served."""
        return (-self.priority, self.arrival)

    @property
    def num_uncomputed(self) -> int:
        return len(self.token_ids) - self.num_computed

    @property
    def is_prefilling(self) -> bool:
        return self.num_computed < self.num_prompt_tokens

    @property
    def output_token_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens:]

    @property
    def num_output_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def is_finished(self) -> bool:
        return self.status is SeqStatus.FINISHED
