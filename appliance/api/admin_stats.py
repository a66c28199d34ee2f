"""GET /admin/stats: each loaded model's engine figures, the queue, and the machine."""
from __future__ import annotations

import time
from dataclasses import asdict

import psutil
from flask import Response, jsonify

from appliance.api.admin import admin_blueprint

bp = admin_blueprint("admin_stats")


@bp.get("/stats")
def stats() -> Response:
    from appliance.services import current_appliance

    appliance = current_appliance()
    engines = {name: asdict(s) for name, s in appliance.engine_stats().items()}
    return jsonify({"node": appliance.config.node, "uptime_seconds": time.time() - appliance.started,
                    "models": engines,
                    "queue": {"running": sum(s["running"] for s in engines.values()),
                              "waiting": sum(s["waiting"] for s in engines.values()),
                              "max_waiting": appliance.config.server.max_waiting},
                    "response_cache": appliance.response_caches.stats(),
                    "ledger_backlog_rows": appliance.ledger_backlog(), "machine": machine()})


def machine() -> dict:
    memory = psutil.virtual_memory()
    return {"cpu_percent": psutil.cpu_percent(interval=None), "cpu_count": psutil.cpu_count(),
            "ram_total_bytes": memory.total, "ram_used_bytes": memory.total - memory.available,
            "cpu_isa": _cpu_isa(), "gpus": _gpus()}


def _cpu_isa() -> dict:
    """The CPU's instruction-set level, the one in use and what `auto` loads on CPU."""
    from engine.cpu_isa import cpu_isa
    from engine.precision import auto_cpu_precision
    isa = cpu_isa()
    return {**isa.as_dict(), "auto_precision": auto_cpu_precision(isa)}


def _gpus() -> list[dict]:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:   # no NVIDIA driver: a CPU-only machine
        return []
    gpus = []
    for i in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(i)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        gpus.append({"index": i, "name": pynvml.nvmlDeviceGetName(handle),
                     "memory_total_bytes": memory.total, "memory_used_bytes": memory.used,
                     "utilization_percent": pynvml.nvmlDeviceGetUtilizationRates(handle).gpu,
                     "power_watts": pynvml.nvmlDeviceGetPowerUsage(handle) / 1000,
                     "temperature_c": pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)})
    return gpus
