"""Power samples for per-request energy: NVML board power on a GPU, otherwise the configured
host wattage times the measured CPU utilisation. A request's energy is its compute seconds
times the average power sampled while it ran."""
from __future__ import annotations

import bisect
import logging
import threading
import time
from typing import Protocol

import psutil

log = logging.getLogger(__name__)


class PowerSource(Protocol):
    name: str

    def watts(self) -> float: ...


class ConstantPower:
    """A fixed draw (a metered host, or a known figure)."""
    name = "constant"

    def __init__(self, watts: float) -> None:
        if watts < 0:
            raise ValueError(f"watts must be non-negative, got {watts}")
        self._watts = float(watts)

    def watts(self) -> float:
        return self._watts


class CpuPower:
    """host_watts x system CPU utilisation since the previous reading."""
    name = "cpu"

    def __init__(self, host_watts: float) -> None:
        self.host_watts = host_watts
        psutil.cpu_percent(interval=None)   # the first reading only starts the measurement

    def watts(self) -> float:
        return self.host_watts * psutil.cpu_percent(interval=None) / 100


class NvmlPower:
    """Board power of the visible GPUs, summed, from NVML."""
    name = "nvml"

    def __init__(self) -> None:
        import pynvml
        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        if not self._handles:
            raise RuntimeError("NVML reports no GPU")

    def watts(self) -> float:
        return sum(self._nvml.nvmlDeviceGetPowerUsage(h) for h in self._handles) / 1000


def default_power_source(host_watts: float) -> PowerSource:
    """NVML where a GPU answers, else the CPU estimate."""
    try:
        return NvmlPower()
    except Exception as exc:  # no driver, no library, no GPU: all mean "use the CPU estimate"
        log.debug("NVML unavailable (%s); energy from host watts x CPU utilisation", exc)
        return CpuPower(host_watts)


class PowerSampler:
    """Samples a PowerSource on a daemon thread and averages it over time windows."""

    def __init__(self, source: PowerSource, interval: float = 0.25, keep_seconds: float = 3600) -> None:
        self.source = source
        self.interval = interval
        self._keep = max(16, int(keep_seconds / interval))
        self._times: list[float] = []
        self._watts: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="airlock-power", daemon=True)

    def start(self) -> PowerSampler:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def sample(self) -> None:
        try:
            watts = self.source.watts()
        except Exception as exc:  # a transient NVML error must not stop sampling
            log.warning("power reading failed: %s", exc)
            return
        with self._lock:
            self._times.append(time.time())
            self._watts.append(watts)
            if len(self._times) > 2 * self._keep:
                del self._times[:self._keep], self._watts[:self._keep]

    def average(self, start: float, end: float) -> float:
        """Mean power of the samples in [start, end]; the latest earlier sample if none fell inside."""
        with self._lock:
            lo = bisect.bisect_left(self._times, start)
            hi = bisect.bisect_right(self._times, end)
            if hi > lo:
                return sum(self._watts[lo:hi]) / (hi - lo)
            if hi > 0:
                return self._watts[hi - 1]
            return self._watts[0] if self._watts else 0.0

    def energy_wh(self, compute_seconds: float, start: float, end: float) -> float:
        return compute_seconds * self.average(start, end) / 3600

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
