"""The machine: NVIDIA GPU and driver (NVML), torch's CUDA, the CPU's instruction-set level and
Airlock's CPU kernels, disk at the data dir, memory."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from appliance.config import Config
from appliance.doctor.result import CheckResult, fail, ok, warn

GiB = 1024**3
DISK_FAIL, DISK_WARN = 1 * GiB, 5 * GiB
MEMORY_FAIL, MEMORY_WARN = 1 * GiB, 4 * GiB


@dataclass(slots=True, frozen=True)
class GpuProbe:
    gpus: tuple[str, ...]        # "NVIDIA H100 80GB HBM3 (79.6 GiB)" per device
    driver: str = ""
    error: str = ""              # NVML failed although NVIDIA devices are present


def probe_gpus() -> GpuProbe:
    try:
        import pynvml
    except ImportError:
        return GpuProbe((), error="" if not _nvidia_nodes() else "nvidia-ml-py (pynvml) is not installed")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return GpuProbe((), error=f"NVML: {exc}" if _nvidia_nodes() else "")
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        gpus = tuple(f"{_text(pynvml.nvmlDeviceGetName(h))} ({pynvml.nvmlDeviceGetMemoryInfo(h).total / GiB:.1f} GiB)"
                     for h in handles)
        return GpuProbe(gpus, _text(driver))
    except pynvml.NVMLError as exc:
        return GpuProbe((), error=f"NVML: {exc}")
    finally:
        pynvml.nvmlShutdown()


def check_gpu(probe: GpuProbe) -> CheckResult:
    if probe.error:
        return fail("gpu", f"NVIDIA devices are present but unusable: {probe.error}",
                    "check the NVIDIA driver with nvidia-smi; reinstall or reload it (modprobe nvidia)")
    if not probe.gpus:
        return ok("gpu", "no GPU: CPU mode")
    return ok("gpu", f"driver {probe.driver}; " + ", ".join(f"{i}: {g}" for i, g in enumerate(probe.gpus)))


def check_torch(probe: GpuProbe, config: Config | None) -> CheckResult:
    try:
        import torch
    except ImportError as exc:
        return fail("torch", f"torch does not import: {exc}", "reinstall Airlock from its bundle")
    build = f"torch {torch.__version__}" + (f", CUDA {torch.version.cuda}" if torch.version.cuda else ", CPU build")
    wants_cuda = config is not None and config.models.device.startswith("cuda")
    if torch.cuda.is_available():
        return ok("torch", f"{build}; {torch.cuda.device_count()} CUDA device(s) visible")
    if probe.gpus and torch.version.cuda:
        return fail("torch", f"{build} cannot use the GPU(s) NVML sees with driver {probe.driver}",
                    f"install an NVIDIA driver that supports CUDA {torch.version.cuda} (nvidia-smi shows the newest CUDA it supports)")
    if probe.gpus:
        return fail("torch", f"{build} cannot use the {len(probe.gpus)} GPU(s) NVML sees",
                    "install the CUDA bundle (airlock bundle build --target cuda), or set models.device = \"cpu\"")
    if wants_cuda:
        return fail("torch", f"{build}; models.device is {config.models.device!r} but no CUDA device is usable",
                    "set models.device = \"auto\" or \"cpu\", or install an NVIDIA GPU and the CUDA bundle")
    return ok("torch", f"{build}; running on CPU")


def check_cpu_kernels() -> CheckResult:
    """Airlock's compiled CPU kernels (built at install); without them decode attention is slower."""
    from engine.kernels import cpu_kernels
    if cpu_kernels() is None:
        return warn("cpu kernels", "not built: the engine uses its slower torch path for decode attention",
                    "install gcc (build-essential) and run: airlock kernels")
    from engine.cpu_isa import cpu_isa
    return ok("cpu kernels", f"built for this CPU ({cpu_isa().level})")


def check_cpu_isa() -> CheckResult:
    """The CPU's instruction-set level (engine/cpu_isa.py), the one in use, and what `auto` loads."""
    from engine.cpu_isa import OVERRIDE_ENV, cpu_isa
    from engine.precision import auto_cpu_precision
    isa = cpu_isa()
    found = f"{isa.describe()}; auto precision on CPU: {auto_cpu_precision(isa)}"
    if isa.note:
        return warn("cpu isa", found, f"unset {OVERRIDE_ENV} or set it to a level this CPU has")
    return ok("cpu isa", found)


def check_disk(config: Config) -> CheckResult:
    path = Path(config.data_dir)
    existing = next(p for p in [path, *path.absolute().parents] if p.exists())
    free = shutil.disk_usage(existing).free
    found = f"{free / GiB:.1f} GiB free at {existing}"
    if free < DISK_FAIL:
        return fail("disk", found, f"free space on that file system (models and the ledger need more than {DISK_FAIL // GiB} GiB)")
    if existing != path:
        return warn("disk", f"{found}; data_dir {path} does not exist yet",
                    "run install.sh, or create it writable by the service user")
    if free < DISK_WARN:
        return warn("disk", found, f"keep at least {DISK_WARN // GiB} GiB free for models and the ledger")
    return ok("disk", found)


def check_memory() -> CheckResult:
    import psutil
    memory = psutil.virtual_memory()
    found = f"{memory.available / GiB:.1f} GiB of {memory.total / GiB:.1f} GiB available"
    if memory.available < MEMORY_FAIL:
        return fail("memory", found, "stop other programs; a model needs its weights and KV cache in memory")
    if memory.available < MEMORY_WARN:
        return warn("memory", found, f"keep at least {MEMORY_WARN // GiB} GiB available for models and KV cache")
    return ok("memory", found)


def _nvidia_nodes() -> bool:
    return any(Path("/dev").glob("nvidia[0-9]*"))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
