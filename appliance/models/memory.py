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


def total_memory(device: str) -> int | None:
    """Bytes of memory on `device` (cpu, or cuda[:N]); None where no such GPU can be read."""
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
    except Exception:  # no NVIDIA driver library or no such GPU: ask torch instead
        import torch
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            return None
        return int(torch.cuda.get_device_properties(index).total_memory)
