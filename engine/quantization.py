"""Weight quantization at load time.

CPU, int8: fbgemm's dynamic int8 linear layers (weights in int8 per output channel, activations
8-bit, quantized per call), which read a quarter of the bytes fp32 does. Batch-1 decoding is
bound by memory bandwidth, so this is what lifts single-stream speed. Weights keep all 8 bits
where the CPU has AVX-512 VNNI and 7 on AVX2 (weight_levels, below). The embedding table keeps
one int8 row per token with a scale. The LM head is quantized too: untied, it is an fbgemm layer
like the others; tied (a large share of a small model's weights), it reads the embedding's own
int8 table with Airlock's kernel (engine/csrc/int8_matmul.cpp), so the table is held once, at
the same levels as every other weight.

CPU, full precision (fp32): the linear layers are prepacked for oneDNN (engine/packed_linear.py).

CPU, bf16 (the fast precision where the CPU has AMX): the linear layers and the LM head are
prepacked for oneDNN in bf16 and the embedding table is held in bf16; every other part
computes in fp32 (engine/packed_linear.py).

CUDA, int8 and nf4: bitsandbytes' Linear8bitLt and Linear4bit for the decoder layers; the
embedding and the LM head stay in the compute dtype. The same bitsandbytes path runs on CPU
when asked for (backend "bitsandbytes"): slower than Airlock's own int8 there, but it lets the
CUDA quantization code be loaded, run and measured on a machine without a GPU.

Smoothing (CPU int8), SmoothQuant-style: moves activation outliers into the weights.

Dynamic int8 quantizes each activation tensor with one scale, so a few huge channels (small
models have them) crush the rest. For each linear layer, input channel j is divided by
s_j = max|x_j|^a / max|W[:, j]|^(1-a) and the weight column multiplied by it; the division is
folded into whatever produces x (the RMSNorm weight, the up projection, the V projection), so
the fp32 function is unchanged and no extra work runs per token. The activation maxima come
from one pass over a short calibration text.
"""
from __future__ import annotations

import functools
import warnings

import torch
from torch import nn

from engine import packed_linear
from engine.attention import build_metadata
from engine.cpu_isa import CpuIsa, at_least, cpu_isa
from engine.kernels import kernels_for

QUANTIZATIONS = ("none", "int8", "nf4", "bf16")   # bf16: CPU only (on CUDA, load in dtype bf16)
BACKENDS = ("auto", "bitsandbytes")   # auto: Airlock's int8 on CPU, bitsandbytes on CUDA
REDUCE_RANGE = False


def weight_levels(isa: CpuIsa | None = None) -> float:
    """Levels each side of zero for int8 weights on this CPU. With AVX-512 VNNI (the avx512 and
    amx levels; fbgemm and Airlock's kernel both use vpdpbusd there) byte products add into
    int32 without saturating: 127. AVX2 multiplies uint8 activations by int8 weights and sums
    pairs into int16, which saturates unless 2 x 255 x |w| < 32768: 63, so activations keep all
    8 bits (on SmolLM2 that halves the perplexity cost against 7-bit activations)."""
    return 127.0 if at_least((isa or cpu_isa()).level, "avx512") else 63.0


class Int8Linear(nn.Module):
    """y = x W^T + b with W prepacked for fbgemm in int8 (symmetric, one scale per output row)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        scale = (weight.abs().amax(dim=1) / weight_levels()).clamp(min=1e-10).double()
        bias = None if linear.bias is None else linear.bias.detach().float()
        with warnings.catch_warnings():  # qint8 tensors are deprecated, but they are fbgemm's only way in
            warnings.simplefilter("ignore")
            q = torch.quantize_per_channel(weight, scale, torch.zeros(weight.shape[0], dtype=torch.long), 0,
                                           torch.qint8)
        self.packed = torch.ops.quantized.linear_prepack(q, None)  # fbgemm's own layout
        self.register_buffer("bias", bias)
        self.packed_bytes = weight.numel() + 4 * weight.shape[0]   # the bias buffer is counted as a buffer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """fbgemm quantizes activations with one scale per call. Each row is first divided by its
        own absolute maximum and an anchor row holding +1 and -1 is appended, so that scale is
        the same for every batch: per-token precision (one outlier token no longer coarsens the
        others) and a row's result does not depend on what else is in the batch."""
        rows = x if x.dim() == 2 else x.reshape(-1, self.in_features)
        anchored, peak = _anchored_rows(rows)
        out = torch.ops.quantized.linear_dynamic(anchored, self.packed, REDUCE_RANGE)[:-1].mul_(peak)
        if self.bias is not None:
            out += self.bias
        return out if x.dim() == 2 else out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 fbgemm"


def _anchored_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows / their absolute maxima with the anchor row appended, the maxima [M, 1])."""
    kernels = kernels_for(rows)
    if kernels is not None:  # one pass instead of five torch calls
        return kernels.anchored_rows(rows)
    peak = rows.abs().amax(dim=1, keepdim=True).clamp(min=1e-12)
    return torch.cat([rows / peak, _anchor(rows.shape[1], rows.dtype)]), peak


@functools.cache
def _anchor(width: int, dtype: torch.dtype) -> torch.Tensor:
    anchor = torch.zeros(1, width, dtype=dtype)
    anchor[0, 0], anchor[0, 1] = 1.0, -1.0
    return anchor


class Int8Embedding(nn.Module):
    """An embedding table held as int8 rows with one fp32 scale per row (`levels` each side of 0)."""

    def __init__(self, weight: torch.Tensor, dtype: torch.dtype, levels: float = 127.0) -> None:
        super().__init__()
        qweight, scale = quantize_rows(weight.detach().float(), levels)
        self.register_buffer("qweight", qweight)
        self.register_buffer("scale", scale)
        self.dtype = dtype

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return (self.qweight[ids].float() * self.scale[ids].unsqueeze(-1)).to(self.dtype)


def quantize_rows(weight: torch.Tensor, levels: float = 127.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row: (int8 weight in [-levels, levels], fp32 scale per row)."""
    scale = (weight.abs().amax(dim=1) / levels).clamp(min=1e-10)
    qweight = torch.round(weight / scale.unsqueeze(1)).clamp(-levels, levels).to(torch.int8)
    return qweight, scale.float()


class Int8TiedHead(nn.Module):
    """The LM head tied to an Int8Embedding: logits straight from its int8 table (shared, not
    copied), activations quantized per row to 8 bits. The table holds weight_levels() values."""

    def __init__(self, embedding: Int8Embedding) -> None:
        super().__init__()
        self.register_buffer("qweight", embedding.qweight)   # the same tensors: counted once
        self.register_buffer("scale", embedding.scale)
        self.register_buffer("row_sums", embedding.qweight.sum(dim=1, dtype=torch.int32))  # the kernel's offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1]).float()
        kernels = kernels_for(rows)
        if kernels is not None:
            out = kernels.int8_matmul(rows, self.qweight, self.scale, self.row_sums)
        else:
            out = int8_matmul_torch(rows, self.qweight, self.scale)
        return out.to(x.dtype).reshape(*x.shape[:-1], self.qweight.shape[0])

    def extra_repr(self) -> str:
        return f"in_features={self.qweight.shape[1]}, out_features={self.qweight.shape[0]}, int8 tied"


def int8_matmul_torch(x: torch.Tensor, qweight: torch.Tensor, scale: torch.Tensor,
                      chunk: int = 8192) -> torch.Tensor:
    """The int8_matmul kernel's arithmetic in torch (x float32 [M, K]): each row of x rounded to
    127 levels each side of zero, products of integers, one chunk of table rows at a time."""
    peak = x.abs().amax(dim=1, keepdim=True)
    inv = torch.where(peak > 0, 127.0 / peak, torch.zeros_like(peak))
    xq = torch.round(x * inv)
    x_scale = peak / 127.0
    out = torch.cat([xq @ rows.float().T for rows in qweight.split(chunk)], dim=1)  # exact while K*127*|w| < 2^24
    return out * (x_scale * scale)


def tied_head(module: nn.Module) -> bool:
    """Whether the LM head is the embedding table (shared storage, or the same values)."""
    head, table = module.lm_head, module.embed_tokens
    if not isinstance(head, nn.Linear) or head.bias is not None or head.weight.shape != table.weight.shape:
        return False
    return head.weight.data_ptr() == table.weight.data_ptr() or torch.equal(head.weight, table.weight)


def quantize(module: nn.Module, method: str, device: torch.device,
             calibration_ids: list[int] | None = None, backend: str = "auto") -> nn.Module:
    """Quantize `module` (an engine.models.CausalLM) in place with `method` and move it to `device`.

    On CPU, Airlock's int8 first smooths activation outliers into the weights using `calibration_ids`."""
    if method == "none":
        module = module.to(device)
        if device.type == "cpu" and module.lm_head.weight.dtype == torch.float32 and packed_linear.available():
            packed_linear.pack_linears(module)
        return module
    if method == "bf16":
        return _bf16_cpu(module, device)
    if device.type == "cuda" or backend == "bitsandbytes":
        _replace_linears(module, lambda linear: _bnb_linear(linear, method, next(module.parameters()).dtype),
                         skip=("lm_head",))
        return module.to(device)
    if method != "int8":
        raise ValueError(f"{method} quantization needs an NVIDIA GPU")
    dtype = module.lm_head.weight.dtype
    if calibration_ids:
        smooth(module, calibration_ids)
    if tied_head(module):  # one table for both ends, at the levels the head's kernel takes
        module.embed_tokens = Int8Embedding(module.embed_tokens.weight, dtype, weight_levels())
        module.lm_head = Int8TiedHead(module.embed_tokens)
    else:
        module.embed_tokens = Int8Embedding(module.embed_tokens.weight, dtype)
    _replace_linears(module, Int8Linear)
    return module


def _bf16_cpu(module: nn.Module, device: torch.device) -> nn.Module:
    if device.type != "cpu" or not packed_linear.available():
        raise ValueError("bf16 quantization is a CPU path (oneDNN); on a GPU load the model in dtype bf16")
    if module.lm_head.weight.dtype != torch.float32:
        raise ValueError("bf16 quantization on CPU starts from an fp32 model")
    module.embed_tokens = packed_linear.Bf16Embedding(module.embed_tokens.weight)
    return packed_linear.pack_linears(module, torch.bfloat16)


def _replace_linears(module: nn.Module, make, skip: tuple[str, ...] = ()) -> None:
    for name, child in list(module.named_children()):
        if name in skip:
            continue
        if isinstance(child, nn.Linear):
            setattr(module, name, make(child))
        else:
            _replace_linears(child, make)


def _bnb_linear(linear: nn.Linear, method: str, dtype: torch.dtype) -> nn.Module:
    import bitsandbytes as bnb  # an optional dependency (the cuda extra; the test extra for CPU)

    weight = linear.weight.detach().to(torch.float16 if method == "int8" else dtype).cpu()
    has_bias = linear.bias is not None
    if method == "int8":
        layer = bnb.nn.Linear8bitLt(linear.in_features, linear.out_features, bias=has_bias,
                                    has_fp16_weights=False, threshold=6.0)
        layer.weight = bnb.nn.Int8Params(weight, requires_grad=False, has_fp16_weights=False)
    else:
        layer = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=has_bias,
                                  compute_dtype=dtype, quant_type="nf4")
        layer.weight = bnb.nn.Params4bit(weight, requires_grad=False, quant_type="nf4")
    if has_bias:
        layer.bias = nn.Parameter(linear.bias.detach().to(dtype), requires_grad=False)
    return layer


def weight_bytes(module: nn.Module) -> int:
    """Bytes held by the weights: parameters and buffers (shared tensors once) plus packed layers
    (Int8Linear, PackedLinear: their packed copies are not parameters)."""
    seen: set[int] = set()
    total = 0
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            total += tensor.numel() * tensor.element_size()
        state = getattr(tensor, "quant_state", None)  # bitsandbytes 4-bit absmax
        if state is not None and getattr(state, "absmax", None) is not None:
            total += state.absmax.numel() * state.absmax.element_size()
    return total + sum(getattr(m, "packed_bytes", 0) for m in module.modules())


# --- smoothing: activation outliers folded into the weights before int8 ---

# Chosen on SmolLM2 with 7-bit weights and an fbgemm head (0.4, 0.5, 0.6 gave +3.4%, +2.8%, +5.1% perplexity);
# with 8-bit weights, mean KL from fp32 on 2,048 tokens was 0.0311, 0.0234, 0.0249 at 0.4, 0.5, 0.6.
ALPHA = 0.5
CALIBRATION_TEXT = (
    "The quarterly report shows revenue of 4.2 million dollars, up 12% from last year. "
    "def area(radius):\n    return 3.14159 * radius ** 2\n\n"
    "Patients should take one tablet twice a day with water. Do not exceed the stated dose. "
    "Question: What is the capital of Japan? Answer: Tokyo is the capital of Japan.\n"
    "Die Maschine läuft seit 2019 ohne Unterbrechung; la production continue normalement."
)


def smooth(module: nn.Module, calibration_ids: list[int]) -> None:
    """Rescale `module` (a CausalLM in fp32) so its linear inputs quantize well; same outputs."""
    amax = _activation_maxima(module, calibration_ids)
    for layer in module.layers:
        _fold_into_norm(layer.input_norm, layer.qkv_proj, amax[layer.qkv_proj])
        mlp_norm = getattr(layer, "pre_feedforward_norm", None) or layer.post_attention_norm
        _fold_into_norm(mlp_norm, layer.gate_up_proj, amax[layer.gate_up_proj])
        _fold_into_up(layer.gate_up_proj, layer.down_proj, amax[layer.down_proj])
        _fold_into_v(layer, amax[layer.o_proj])


def _scales(x_max: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    w_max = linear.weight.abs().amax(dim=0).clamp(min=1e-5)
    return (x_max.clamp(min=1e-5).pow(ALPHA) / w_max.pow(1 - ALPHA)).clamp(min=1e-2, max=1e2)


def _scale_columns(linear: nn.Linear, s: torch.Tensor) -> None:
    linear.weight = nn.Parameter(linear.weight * s, requires_grad=False)  # new tensor: never touch shared ones


def _fold_into_norm(norm: nn.Module, linear: nn.Linear, x_max: torch.Tensor) -> None:
    s = _scales(x_max, linear)
    effective = norm.offset + norm.weight
    norm.weight = nn.Parameter(effective / s - norm.offset, requires_grad=False)
    _scale_columns(linear, s)


def _fold_into_up(gate_up: nn.Linear, down: nn.Linear, x_max: torch.Tensor) -> None:
    s = _scales(x_max, down)
    inter = down.in_features
    row_scale = torch.cat([torch.ones(inter), 1.0 / s]).unsqueeze(1)      # gate rows untouched, up rows / s
    gate_up.weight = nn.Parameter(gate_up.weight * row_scale, requires_grad=False)
    _scale_columns(down, s)


def _fold_into_v(layer: nn.Module, x_max: torch.Tensor) -> None:
    """o_proj's input is attention over V: scale V's output channels (one scale per KV channel)."""
    heads, kv_heads, dim = layer.heads, layer.kv_heads, layer.head_dim
    s = _scales(x_max, layer.o_proj).view(kv_heads, heads // kv_heads, dim).amax(dim=1)  # [kv_heads, dim]
    if layer.qkv_proj.bias is not None:
        return  # a V bias would need scaling too; leave such models unsmoothed here
    rows = torch.ones(layer.qkv_proj.out_features)
    rows[-kv_heads * dim:] = 1.0 / s.reshape(-1)
    layer.qkv_proj.weight = nn.Parameter(layer.qkv_proj.weight * rows.unsqueeze(1), requires_grad=False)
    _scale_columns(layer.o_proj, s.unsqueeze(1).expand(kv_heads, heads // kv_heads, dim).reshape(-1))


def _activation_maxima(module: nn.Module, ids: list[int]) -> dict[nn.Module, torch.Tensor]:
    amax: dict[nn.Module, torch.Tensor] = {}

    def record(linear: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        current = inputs[0].detach().abs().amax(dim=0)
        amax[linear] = torch.maximum(amax[linear], current) if linear in amax else current

    hooks = [layer_linear.register_forward_pre_hook(record)
             for layer in module.layers for layer_linear in (layer.qkv_proj, layer.o_proj, layer.gate_up_proj,
                                                             layer.down_proj)]
    try:
        block = 16
        blocks = -(-len(ids) // block)
        meta = build_metadata([len(ids)], [0], [list(range(blocks))], block, module.windows, torch.device("cpu"))
        shape = (blocks * block, module.num_kv_heads, module.head_dim)
        caches = [(torch.zeros(shape), torch.zeros(shape)) for _ in module.layers]
        with torch.inference_mode():
            module(torch.tensor(ids), meta, caches)
    finally:
        for hook in hooks:
            hook.remove()
    return amax
