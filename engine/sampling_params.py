"""Sampling parameters with OpenAI semantics, validated on construction."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import InvalidParameter


@dataclass(slots=True)
class SamplingParams:
    max_tokens: int = 16
    temperature: float = 1.0          # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0                    # 0 means no top-k cut
    seed: int | None = None           # same seed -> same text, whatever else is in the batch
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    ignore_eos: bool = False
    n: int = 1
    logprobs: int | None = None       # None: no logprobs; k >= 0: chosen token plus k alternatives
    include_stop_str_in_output: bool = False
    speculative: bool = True          # False: never draft for this request (the output is the same)

    def __post_init__(self) -> None:
        _check(self.max_tokens >= 1, "max_tokens", f"max_tokens must be at least 1, got {self.max_tokens}")
        _check(0.0 <= self.temperature <= 2.0, "temperature",
               f"temperature must be between 0 and 2, got {self.temperature}")
        _check(0.0 < self.top_p <= 1.0, "top_p", f"top_p must be in (0, 1], got {self.top_p}")
        _check(self.top_k >= 0, "top_k", f"top_k must be 0 (off) or positive, got {self.top_k}")
        for name in ("presence_penalty", "frequency_penalty"):
            value = getattr(self, name)
            _check(-2.0 <= value <= 2.0, name, f"{name} must be between -2 and 2, got {value}")
        _check(1 <= self.n <= 16, "n", f"n must be between 1 and 16, got {self.n}")
        _check(len(self.stop) <= 4, "stop", f"at most 4 stop sequences are allowed, got {len(self.stop)}")
        _check(all(isinstance(s, str) and s for s in self.stop), "stop", "stop sequences must be non-empty strings")
        _check(self.logprobs is None or 0 <= self.logprobs <= 20, "logprobs",
               f"logprobs must be between 0 and 20, got {self.logprobs}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def deterministic(self) -> bool:
        """Whether the same request always gives the same answer (greedy or seeded)."""
        return self.greedy or self.seed is not None


def _check(ok: bool, param: str, message: str) -> None:
    if not ok:
        raise InvalidParameter(param, message)
