"""Runs every check in order; a check that needs the config is skipped when it does not load."""
from __future__ import annotations

from appliance.doctor import hardware, service
from appliance.doctor.config_check import check_config
from appliance.doctor.result import CheckResult, Status


def run_doctor(config_path: str | None = None, env: dict[str, str] | None = None) -> list[CheckResult]:
    config_result, config = check_config(config_path, env)
    probe = hardware.probe_gpus()
    results = [config_result, hardware.check_gpu(probe), hardware.check_torch(probe, config),
               hardware.check_cpu_isa(), hardware.check_cpu_kernels(), hardware.check_memory()]
    if config is not None:
        results += [hardware.check_disk(config), service.check_port(config),
                    service.check_database(config), *service.check_models(config)]
    return results


def exit_status(results: list[CheckResult], strict: bool = False) -> int:
    """0 when all is well; 1 when a check failed (or, with strict, warned)."""
    bad = {Status.FAIL, Status.WARN} if strict else {Status.FAIL}
    return 1 if any(r.status in bad for r in results) else 0


def render(results: list[CheckResult]) -> str:
    width = max(len(r.name) for r in results)
    lines = []
    for r in results:
        lines.append(f"{r.status.value.upper():<5} {r.name:<{width}}  {r.message}")
        if r.fix:
            lines.append(f"{'':<5} {'':<{width}}  fix: {r.fix}")
    return "\n".join(lines)
