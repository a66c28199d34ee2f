"""Linear layers on CPU with weights prepacked once for oneDNN: fp32, or bf16 for AMX.

`F.linear` hands the weight to the BLAS in its plain [out, in] layout, and the BLAS repacks it
into its blocked layout on every call. A decode step at a small batch does little arithmetic per
weight byte, so that repacking is a large share of the step: on the development CPU a pass over
SmolLM2-135M's linear layers took 116 ms at a batch of 32 with `F.linear` and 81 ms prepacked
(39 ms and 26 ms at a batch of 1). In fp32 the math is unchanged (fp32 products and sums); only
the order of the sums inside a dot product may differ, as between any two BLAS kernels.

bf16 (the CPU precision where the CPU has AMX): the weight is held in bf16 and each input is
rounded to bf16 on its way in; oneDNN multiplies on AMX tiles and accumulates in fp32; the
output comes back as fp32, so everything between the linear layers (norms, rotary, attention,
the residual stream, the KV cache) stays in fp32. On an AMX Xeon a pass over SmolLM2's linear
shapes (1 thread) took 86 ms at a batch of 1 against 170 ms in fp32 (half the bytes read), and
130 ms against 438 ms at a batch of 32 (AMX).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_BATCH_HINT = 32  # oneDNN picks its blocked layout for this many rows; any row count still works
PACKED_DTYPES = (torch.float32, torch.bfloat16)


def available() -> bool:
    return torch.backends.mkldnn.is_available()


class PackedLinear(nn.Module):
    """y = x W^T + b with W held in oneDNN's blocked layout (fp32 or bf16 weights; fp32 in and out)."""

    def __init__(self, linear: nn.Linear, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if dtype not in PACKED_DTYPES:
            raise ValueError(f"PackedLinear holds fp32 or bf16 weights, not {dtype}")
        weight = linear.weight.detach().to(dtype).contiguous()
        self.in_features, self.out_features, self.dtype = linear.in_features, linear.out_features, dtype
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight, _BATCH_HINT)
        bias = None if linear.bias is None else linear.bias.detach().float()
        self.register_buffer("bias", bias)
        self.packed_bytes = weight.numel() * weight.element_size()   # the bias is counted as a buffer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dtype == torch.float32:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
        out = torch.ops.mkldnn._linear_pointwise(x.to(self.dtype), self.packed, None, "none", [], "").float()
        return out if self.bias is None else out.add_(self.bias)

    def extra_repr(self) -> str:
        precision = "fp32" if self.dtype == torch.float32 else "bf16"
        return f"in_features={self.in_features}, out_features={self.out_features}, {precision} oneDNN prepacked"


class Bf16Embedding(nn.Module):
    """An embedding table held in bf16 whose rows come out as fp32 (half the bytes of fp32)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight.detach().to(torch.bfloat16).contiguous())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight).float()


def pack_linears(module: nn.Module, dtype: torch.dtype = torch.float32) -> nn.Module:
    """Replace every fp32 nn.Linear under `module` (on CPU) by a PackedLinear in `dtype`, in place."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear) and child.weight.dtype == torch.float32:
            setattr(module, name, PackedLinear(child, dtype))
        else:
            pack_linears(child, dtype)
    return module
