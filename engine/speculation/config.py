"""The speculation policy: which drafter, how many tokens, and when the engine stops drafting."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SPECULATION_METHODS = ("none", "ngram", "self", "draft")
DRAFT_PRECISIONS = ("int8", "nf4", "bf16", "fp16", "fp32")


@dataclass(slots=True)
class SpeculationConfig:
    """How the engine drafts tokens for a decoding sequence.

    method: none | ngram (prompt lookup: the continuation of the latest earlier occurrence of
    the sequence's last n tokens, n from ngram_max down to ngram_min) | self (the served model's
    own weights at draft_precision draft, the full-precision model verifies) | draft (a separate
    model at draft_model, which must share the served model's tokenizer).
    draft_model: path of the draft model's GGUF file or directory (method draft).
    draft_precision: precision the drafting model is loaded at (self and draft).
    k: most draft tokens verified per step for one sequence.
    max_batch: above this many decoding sequences in a step nobody drafts (a batched step is
    compute-bound, so verifying a draft costs about as much as decoding a token). Between
    max_batch / 2 and max_batch each sequence drafts at most half of k.
    min_acceptance: a sequence whose acceptance over its last `window` verifications falls
    below this stops drafting for `cooldown_tokens` generated tokens, then tries again.
    """
    method: str = "none"
    k: int = 4
    ngram_min: int = 1
    ngram_max: int = 3
    max_batch: int = 8
    min_acceptance: float = 0.2
    window: int = 8
    cooldown_tokens: int = 32
    draft_model: str = ""
    draft_precision: str = "int8"

    def __post_init__(self) -> None:
        if self.method not in SPECULATION_METHODS:
            raise ValueError(f"speculation method must be one of {', '.join(SPECULATION_METHODS)}, "
                             f"got {self.method!r}")
        for name, low in (("k", 1), ("ngram_min", 1), ("ngram_max", 1), ("max_batch", 1), ("window", 1),
                          ("cooldown_tokens", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"speculation {name} must be an integer of at least {low}, got {value!r}")
        if self.k > 16:
            raise ValueError(f"speculation k must be at most 16, got {self.k}")
        if self.ngram_min > self.ngram_max:
            raise ValueError(f"speculation ngram_min ({self.ngram_min}) must not exceed "
                             f"ngram_max ({self.ngram_max})")
        if self.draft_precision not in DRAFT_PRECISIONS:
            raise ValueError(f"speculation draft_precision must be one of {', '.join(DRAFT_PRECISIONS)}, "
                             f"got {self.draft_precision!r}")
        if self.method == "draft" and not self.draft_model:
            raise ValueError("speculation draft_model must name the draft model's file when method is draft")
        acceptance = self.min_acceptance
        if isinstance(acceptance, bool) or not isinstance(acceptance, (int, float)) or not 0 <= acceptance <= 1:
            raise ValueError(f"speculation min_acceptance must be between 0 and 1, got {acceptance!r}")

    @property
    def enabled(self) -> bool:
        return self.method != "none"

    @property
    def uses_model(self) -> bool:
        """Whether a model drafts (self or draft), so the engine holds a second set of weights and K/V."""
        return self.method in ("self", "draft")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
