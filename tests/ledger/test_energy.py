"""Power sampling: averages over a request's time window; NVML on a GPU, CPU estimate otherwise."""
from __future__ import annotations

import time

import pytest

from appliance.ledger.energy import CpuPower, NvmlPower, PowerSampler, default_power_source


class Steps:
    """A power source stepping through fixed readings (a stand-in for a metered host)."""
    name = "steps"

    def __init__(self, readings: list[float]) -> None:
        self.readings = iter(readings)

    def watts(self) -> float:
        return next(self.readings)


def test_average_over_the_window_and_fallback_to_the_latest_sample() -> None:
    sampler = PowerSampler(Steps([100.0, 200.0, 400.0]))
    stamps = []
    for _ in range(3):
        sampler.sample()
        stamps.append(time.time())
        time.sleep(0.01)
    assert sampler.average(stamps[0] - 1, stamps[2] + 1) == pytest.approx(700 / 3)
    assert sampler.average(stamps[1] - 0.005, stamps[2] + 1) == pytest.approx(300.0)   # the last two
    assert sampler.average(stamps[2] + 5, stamps[2] + 6) == 400.0                      # none inside: latest
    # 36 compute seconds at 400 W = 4 Wh
    assert sampler.energy_wh(36.0, stamps[2] + 5, stamps[2] + 6) == pytest.approx(4.0)


def test_cpu_estimate_is_host_watts_times_utilisation() -> None:
    source = CpuPower(host_watts=200.0)
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:     # keep a core busy so utilisation is above zero
        sum(range(1000))
    watts = source.watts()
    assert 0.0 < watts <= 200.0


def test_sampler_thread_collects_and_stops() -> None:
    sampler = PowerSampler(CpuPower(100.0), interval=0.02).start()
    time.sleep(0.2)
    sampler.stop()
    assert len(sampler._times) >= 3


@pytest.mark.cuda
def test_nvml_power_on_a_gpu() -> None:
    source = default_power_source(host_watts=1.0)
    assert isinstance(source, NvmlPower)
    assert 5.0 < source.watts() < 5000.0           # a live board reads tens to hundreds of watts
