"""The memory planner: bytes a model needs before any weight is loaded.

Pure arithmetic over a model's shape (a Hugging Face config.json dict, or the same keys read
from GGUF metadata). Assumptions, stated once:

- Weights are counted tensor by tensor: the token embedding, per layer q/k/v/o (plus q/k/v
  biases for qwen2, q/k norms for gemma3), gate/up/down of the MLP and the layer norms, the
  final norm, and the LM head unless it is tied to the embedding.
- fp32/fp16/bf16: every tensor in that precision. fp32 on CPU holds a tied LM head twice: the
  embedding table and a copy prepacked for oneDNN (engine/packed_linear.py).
- int8: each linear weight of the layers is 1 byte per parameter plus one fp32 scale per
  output row (bitsandbytes LLM.int8 and fbgemm per-channel both keep one per row).
- nf4: 0.5 byte per parameter plus one 8-bit absmax per block of 64 (bitsandbytes' default
  double quantization; its second-level fp32 constants are negligible and not counted).
- Norms and biases stay in the compute precision (fp32 on CPU, fp16/bf16 on CUDA). On CUDA the
  embedding and the LM head stay in it too (bitsandbytes leaves the output head alone). On CPU,
  int8 also quantizes the embedding (int8 rows, one fp32 scale each) and the LM head. A tied
  head reads the embedding's table itself, which adds one int32 row sum per token (its
  kernel's offset correction); an untied head is its own packed int8 copy with row scales.
- KV cache per token: 2 (K and V) x layers x kv_heads x head_dim x kv dtype bytes, plus an
  int8 row's 4-byte scale (engine/kv_format.py); a sequence holds whole blocks of `block_size`
  tokens. fp8 is a what-if for planning only: 1 byte, no scales.
- Speculation with a drafting model (self: the served model at a cheaper precision; draft: a
  separate model) holds its weights too, and a K/V cache with the served model's block count:
  the drafter writes its K/V at the target's slots, so every planned token costs both. Its
  activations are smaller than the target's and run in turn with them, so they are not added.
- Activation and workspace: one prefill chunk of `step_tokens` tokens holding its hidden
  states, q/k/v and two MLP intermediates in the compute precision, plus fp32 logits and
  sampling probabilities for every running sequence. Attention is assumed to run in a fused
  kernel that does not materialize the score matrix.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

PRECISIONS = ("fp32", "fp16", "bf16", "int8", "nf4")   # the one vocabulary; engine/precision.py translates it
DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp8": 1}
SUPPORTED_ARCHITECTURES = ("llama", "mistral", "qwen2", "gemma3", "gemma3_text")
NF4_BLOCK = 64
KV_SCALE_BYTES = 4   # an int8 KV row's fp32 scale (engine/kv_format.py; no torch import here)


class PlanError(ValueError):
    """A model config or a plan request is unusable; the message names the field."""


@dataclass(frozen=True, slots=True)
class ModelShape:
    """The dimensions the planner needs, read from a config.json dict."""
    architecture: str
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    tied_embeddings: bool
    max_context: int

    def __post_init__(self) -> None:
        if self.architecture not in SUPPORTED_ARCHITECTURES:
            raise PlanError(f"unsupported architecture {self.architecture!r}; "
                            f"supported: {', '.join(SUPPORTED_ARCHITECTURES)}")
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "num_kv_heads",
                     "head_dim", "intermediate_size", "max_context"):
            if getattr(self, name) < 1:
                raise PlanError(f"{name} must be positive, got {getattr(self, name)}")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ModelShape:
        config = config.get("text_config", config) if config.get("model_type") == "gemma3" else config
        arch = config.get("model_type") or ""
        try:
            heads = int(config["num_attention_heads"])
            hidden = int(config["hidden_size"])
            return cls(
                architecture=arch,
                vocab_size=int(config["vocab_size"]),
                hidden_size=hidden,
                num_layers=int(config["num_hidden_layers"]),
                num_heads=heads,
                num_kv_heads=int(config.get("num_key_value_heads") or heads),
                head_dim=int(config.get("head_dim") or hidden // heads),
                intermediate_size=int(config["intermediate_size"]),
                tied_embeddings=bool(config.get("tie_word_embeddings", arch.startswith("gemma3"))),
                max_context=int(config.get("max_position_embeddings") or 2048),
            )
        except KeyError as exc:
            raise PlanError(f"model config lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise PlanError(f"model config has a non-numeric dimension: {exc}") from None

    @property
    def gemma(self) -> bool:
        return self.architecture.startswith("gemma3")

    def layer_linear_params(self) -> int:
        """q, k, v, o projections and gate, up, down of one layer."""
        q = self.num_heads * self.head_dim
        kv = self.num_kv_heads * self.head_dim
        return self.hidden_size * (2 * q + 2 * kv) + 3 * self.hidden_size * self.intermediate_size

    def layer_linear_rows(self) -> int:
        """Output rows of one layer's linear weights (one int8 scale each)."""
        q = self.num_heads * self.head_dim
        kv = self.num_kv_heads * self.head_dim
        return q + 2 * kv + self.hidden_size + 2 * self.intermediate_size + self.hidden_size

    def layer_other_params(self) -> int:
        """Norms, q/k norms and biases of one layer (never quantized)."""
        if self.gemma:
            return 4 * self.hidden_size + 2 * self.head_dim
        bias = (self.num_heads + 2 * self.num_kv_heads) * self.head_dim if self.architecture == "qwen2" else 0
        return 2 * self.hidden_size + bias

    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    def head_params(self) -> int:
        return 0 if self.tied_embeddings else self.vocab_size * self.hidden_size

    def parameters(self) -> int:
        layers = self.num_layers * (self.layer_linear_params() + self.layer_other_params())
        return self.embedding_params() + layers + self.hidden_size + self.head_params()


def compute_dtype(device: str) -> str:
    """The precision the non-quantized parts run in: fp32 on CPU, fp16 on CUDA."""
    return "fp16" if device.startswith("cuda") else "fp32"


def default_kv_dtype(quantization: str, device: str) -> str:
    """What a load keeps K/V in unless told otherwise: the compute precision, except int8 on
    CPU, which keeps int8 rows with a scale each (engine/kv_format.py): next-token
    distributions move a twenty-fifth as far as the int8 weights move them
    (tests/models/test_quality.py), a decode step reads about half fp16's K/V bytes (at batch
    32 and long contexts more than it reads of the weights), and the pool holds twice the tokens."""
    if quantization == "int8" and not device.startswith("cuda"):
        return "int8"
    return quantization if quantization in ("fp32", "fp16", "bf16") else compute_dtype(device)


def weight_bytes(shape: ModelShape, quantization: str, device: str = "cpu", backend: str = "auto") -> int:
    """backend "bitsandbytes" on CPU counts the CUDA layout (engine.quantization.BACKENDS)."""
    if quantization in ("fp32", "fp16", "bf16"):
        packed_head = quantization in ("fp32", "bf16") and not device.startswith("cuda") and shape.tied_embeddings
        extra = shape.vocab_size * shape.hidden_size if packed_head else 0
        return (shape.parameters() + extra) * DTYPE_BYTES[quantization]
    if quantization not in ("int8", "nf4"):
        raise PlanError(f"quantization must be one of {', '.join(PRECISIONS)}, got {quantization!r}")
    compute = DTYPE_BYTES[compute_dtype(device)]
    linear = shape.num_layers * shape.layer_linear_params()
    if quantization == "int8":
        layers = linear + 4 * shape.num_layers * shape.layer_linear_rows()
    else:
        layers = linear // 2 + math.ceil(linear / NF4_BLOCK)
    if quantization == "int8" and not device.startswith("cuda") and backend != "bitsandbytes":
        table = shape.vocab_size * shape.hidden_size + 4 * shape.vocab_size   # int8 rows + fp32 scales
        tables = table + 4 * shape.vocab_size if shape.tied_embeddings else 2 * table
    else:
        tables = (shape.embedding_params() + shape.head_params()) * compute
    norms = shape.num_layers * shape.layer_other_params() + shape.hidden_size
    return layers + tables + norms * compute


def kv_bytes_per_token(shape: ModelShape, kv_dtype: str) -> int:
    if kv_dtype not in DTYPE_BYTES:
        raise PlanError(f"kv dtype must be one of {', '.join(DTYPE_BYTES)}, got {kv_dtype!r}")
    row = shape.head_dim * DTYPE_BYTES[kv_dtype] + (KV_SCALE_BYTES if kv_dtype == "int8" else 0)
    return 2 * shape.num_layers * shape.num_kv_heads * row


def overhead_bytes(shape: ModelShape, device: str, concurrency: int, step_tokens: int) -> int:
    """Activation and workspace peak of one engine step (see the module docstring)."""
    per_token = (4 * shape.hidden_size + 2 * shape.intermediate_size
                 + (shape.num_heads + 2 * shape.num_kv_heads) * shape.head_dim)
    activations = step_tokens * per_token * DTYPE_BYTES[compute_dtype(device)]
    logits = 2 * concurrency * shape.vocab_size * 4
    return activations + logits


@dataclass(frozen=True, slots=True)
class DraftRequest:
    """A drafting model held beside the served one (speculation methods self and draft)."""
    quantization: str = "int8"
    kv_dtype: str = "fp16"
    shape: ModelShape | None = None  # None: the served model's own (self-draft)


@dataclass(frozen=True, slots=True)
class PlanRequest:
    quantization: str = "fp32"
    kv_dtype: str = "fp32"
    context_length: int = 2048
    concurrency: int = 1
    budget_bytes: int = 0            # device memory x the budget fraction
    device: str = "cpu"
    block_size: int = 16
    step_tokens: int = 512           # tokens one prefill step processes at most
    draft: DraftRequest | None = None

    def __post_init__(self) -> None:
        if self.quantization not in PRECISIONS:
            raise PlanError(f"quantization must be one of {', '.join(PRECISIONS)}, "
                            f"got {self.quantization!r}")
        if self.kv_dtype not in DTYPE_BYTES:
            raise PlanError(f"kv dtype must be one of {', '.join(DTYPE_BYTES)}, got {self.kv_dtype!r}")
        for name in ("context_length", "concurrency", "block_size", "step_tokens"):
            if getattr(self, name) < 1:
                raise PlanError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.budget_bytes < 0:
            raise PlanError(f"budget_bytes must not be negative, got {self.budget_bytes}")
        if self.draft is not None and self.draft.quantization not in PRECISIONS:
            raise PlanError(f"draft quantization must be one of {', '.join(PRECISIONS)}, "
                            f"got {self.draft.quantization!r}")


@dataclass(frozen=True, slots=True)
class Plan:
    quantization: str
    kv_dtype: str
    context_length: int
    concurrency: int
    parameters: int
    weight_bytes: int
    kv_bytes_per_token: int
    kv_bytes: int
    overhead_bytes: int
    total_bytes: int
    budget_bytes: int
    fits: bool
    max_concurrency: int             # at context_length, within the budget (0: not even one)
    max_context: int                 # at concurrency, within the budget, capped by the model
    draft_weight_bytes: int = 0      # the drafting model's, included in total_bytes
    draft_kv_bytes_per_token: int = 0


def kv_bytes(shape: ModelShape, request: PlanRequest, context: int, concurrency: int) -> int:
    """K/V of every planned token: the served model's, and the drafting model's where one drafts."""
    blocks = math.ceil(context / request.block_size)
    per_token = kv_bytes_per_token(shape, request.kv_dtype) + draft_kv_bytes_per_token(shape, request)
    return concurrency * blocks * request.block_size * per_token


def draft_weight_bytes(shape: ModelShape, request: PlanRequest) -> int:
    draft = request.draft
    return 0 if draft is None else weight_bytes(draft.shape or shape, draft.quantization, request.device)


def draft_kv_bytes_per_token(shape: ModelShape, request: PlanRequest) -> int:
    draft = request.draft
    return 0 if draft is None else kv_bytes_per_token(draft.shape or shape, draft.kv_dtype)


def plan(shape: ModelShape, request: PlanRequest) -> Plan:
    served_weights = weight_bytes(shape, request.quantization, request.device)
    draft_weights = draft_weight_bytes(shape, request)
    weights = served_weights + draft_weights
    kv = kv_bytes(shape, request, request.context_length, request.concurrency)
    overhead = overhead_bytes(shape, request.device, request.concurrency, request.step_tokens)
    total = weights + kv + overhead
    return Plan(
        quantization=request.quantization, kv_dtype=request.kv_dtype,
        context_length=request.context_length, concurrency=request.concurrency,
        parameters=shape.parameters(), weight_bytes=served_weights,
        kv_bytes_per_token=kv_bytes_per_token(shape, request.kv_dtype), kv_bytes=kv,
        overhead_bytes=overhead, total_bytes=total, budget_bytes=request.budget_bytes,
        fits=total <= request.budget_bytes,
        max_concurrency=_max_concurrency(shape, request, weights),
        max_context=_max_context(shape, request, weights),
        draft_weight_bytes=draft_weights, draft_kv_bytes_per_token=draft_kv_bytes_per_token(shape, request),
    )


def what_if(shape: ModelShape, request: PlanRequest) -> list[Plan]:
    """The same request under every quantization option (of the served model; a draft stays as asked)."""
    return [plan(shape, replace(request, quantization=q)) for q in PRECISIONS]


def _fits(shape: ModelShape, request: PlanRequest, weights: int, context: int, concurrency: int) -> bool:
    need = (weights + kv_bytes(shape, request, context, concurrency)
            + overhead_bytes(shape, request.device, concurrency, request.step_tokens))
    return need <= request.budget_bytes


def _max_concurrency(shape: ModelShape, request: PlanRequest, weights: int) -> int:
    return _largest(lambda n: _fits(shape, request, weights, request.context_length, n), 1 << 20)


def _max_context(shape: ModelShape, request: PlanRequest, weights: int) -> int:
    return _largest(lambda c: _fits(shape, request, weights, c, request.concurrency), shape.max_context)


def _largest(ok: Any, upper: int) -> int:
    """The largest n in [1, upper] with ok(n), ok being monotone decreasing; 0 if none."""
    low, high = 0, upper
    while low < high:
        mid = (low + high + 1) // 2
        if ok(mid):
            low = mid
        else:
            high = mid - 1
    return low
