"""fp32 linear layers on CPU with weights prepacked once for oneDNN.

`F.linear` hands the weight to the BLAS in its plain [out, in] layout, and the BLAS repacks it
into its blocked layout on every call. A decode step at a small batch does little arithmetic per
weight byte, so that repacking is a large share of the step: on the development CPU a pass over
SmolLM2-135M's linear layers took 116 ms at a batch of 32 with `F.linear` and 81 ms prepacked
(39 ms and 26 ms at a batch of 1). The math is unchanged (fp32 products and sums); only the
order of the sums inside a dot product may differ, as between any two BLAS kernels.
"""
from __future__ import annotations

import torch
from torch import nn

_BATCH_HINT = 32  # oneDNN picks its blocked layout for this many rows; any row count still works


def available() -> bool:
    return torch.backends.mkldnn.is_available()


class PackedLinear(nn.Module):
    """y = x W^T + b with W held in oneDNN's blocked layout (fp32, CPU)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float().contiguous()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight, _BATCH_HINT)
        bias = None if linear.bias is None else linear.bias.detach().float()
        self.register_buffer("bias", bias)
        self.packed_bytes = weight.numel() * weight.element_size()   # the bias is counted as a buffer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp32 oneDNN prepacked"


def pack_linears(module: nn.Module) -> nn.Module:
    """Replace every fp32 nn.Linear under `module` (on CPU) by a PackedLinear, in place."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear) and child.weight.dtype == torch.float32:
            setattr(module, name, PackedLinear(child))
        else:
            pack_linears(child)
    return module
