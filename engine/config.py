"""Engine configuration: KV pool budget, batching limits and the prefix-cache policy."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.speculation.config import SpeculationConfig

EVICTION_POLICIES = ("lru", "lfu")
KV_DTYPES = ("fp32", "fp16", "bf16", "int8")   # what the KV cache can hold (engine/kv_format.py); compute keeps the model's dtype


@dataclass(slots=True)
class CachePolicy:
    """How the prefix cache keeps KV blocks that no running request holds.

    capacity_blocks caps the unreferenced cached blocks (0 = no cap beyond the pool itself);
    pinned blocks do not count against it. With tenant_isolation, a tenant's blocks are
    hashed with its name, so no other tenant can ever hit (or time) them.
    """
    enabled: bool = True
    capacity_blocks: int = 0
    eviction: str = "lru"
    tenant_isolation: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ValueError(f"enabled must be true or false, got {self.enabled!r}")
        capacity = self.capacity_blocks
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"capacity_blocks must be 0 (unlimited) or a positive integer, got {capacity!r}")
        if self.eviction not in EVICTION_POLICIES:
            raise ValueError(f"eviction must be one of {', '.join(EVICTION_POLICIES)}, got {self.eviction!r}")
        if not isinstance(self.tenant_isolation, bool):
            raise ValueError(f"tenant_isolation must be true or false, got {self.tenant_isolation!r}")


@dataclass(slots=True)
class EngineConfig:
    """Sizes and limits of one engine.

    The KV pool holds kv_cache_bytes // (bytes of one block) blocks of block_size tokens.
    Each step schedules at most max_num_seqs sequences and max_num_batched_tokens tokens:
    one token per decoding sequence first, then prefill chunks with what is left. A kv_dtype
    narrower than the model's (fp16 for an fp32 model) fits twice the tokens in the same bytes
    and halves what each decode step reads.
    """
    block_size: int = 16
    kv_cache_bytes: int = 512 * 1024 * 1024
    max_num_seqs: int = 128
    max_num_batched_tokens: int = 512
    max_waiting: int = 256
    kv_dtype: str | None = None          # None: the model's compute precision
    cache: CachePolicy = field(default_factory=CachePolicy)
    cuda_graphs: bool = False            # replay pure decode steps from CUDA graphs (engine/cuda_graphs.py)
    speculation: SpeculationConfig = field(default_factory=SpeculationConfig)
    max_prefill_chunk: int = 0           # prompt tokens of one sequence per step; 0: the step's budget
    slo_ttft_p95: float = 0.0            # seconds; 0: no TTFT objective (see engine/slo.py)
    slo_itl_p95: float = 0.0             # seconds; 0: no inter-token objective

    def __post_init__(self) -> None:
        _positive("block_size", self.block_size)
        _positive("kv_cache_bytes", self.kv_cache_bytes)
        _positive("max_num_seqs", self.max_num_seqs)
        _positive("max_num_batched_tokens", self.max_num_batched_tokens)
        _positive("max_waiting", self.max_waiting)
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise ValueError(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be at least "
                f"max_num_seqs ({self.max_num_seqs}) so every running sequence can decode each step")
        if self.kv_dtype is not None and self.kv_dtype not in KV_DTYPES:
            raise ValueError(f"kv_dtype must be one of {', '.join(KV_DTYPES)}, got {self.kv_dtype!r}")
        if isinstance(self.max_prefill_chunk, bool) or not isinstance(self.max_prefill_chunk, int) \
                or self.max_prefill_chunk < 0:
            raise ValueError(f"max_prefill_chunk must be 0 (the step's budget) or a positive integer, "
                             f"got {self.max_prefill_chunk!r}")
        for name in ("slo_ttft_p95", "slo_itl_p95"):
            _seconds_or_zero(name, getattr(self, name))
        if not isinstance(self.cache, CachePolicy):
            raise ValueError(f"cache must be a CachePolicy, got {type(self.cache).__name__}")
        if not isinstance(self.speculation, SpeculationConfig):
            raise ValueError(f"speculation must be a SpeculationConfig, got {type(self.speculation).__name__}")


def _positive(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _seconds_or_zero(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"{name} must be 0 (none) or a positive number of seconds, got {value!r}")
