"""Device memory: NVML on NVIDIA GPUs, psutil for host memory on CPU."""
from __future__ import annotations

import psutil


def resolve_device(device: str) -> str:
    """`auto` becomes cuda:0 where torch sees a GPU, cpu otherwise."""
    if device != "auto":
        if device != "cpu" and not device.startswith("cuda"):
            raise ValueError(f"device must be auto, cpu or cuda[:N], got {device!r}")
        return device
    import torch
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def total_memory(device: str) -> int:
    """Bytes of memory on `device` (cpu, or cuda[:N])."""
    if device == "cpu":
        return int(psutil.virtual_memory().total)
    index = int(device.partition(":")[2] or 0)
    try:
        import pynvml
        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(index)).total)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # NVML absent (no driver library): ask torch instead
        import torch
        return int(torch.cuda.get_device_properties(index).total_memory)
