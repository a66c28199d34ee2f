"""The configuration: it loads, which validates every setting (appliance/config.py)."""
from __future__ import annotations

from appliance.config import Config, ConfigError, load_config
from appliance.doctor.result import CheckResult, fail, ok


def check_config(path: str | None, env: dict[str, str] | None = None) -> tuple[CheckResult, Config | None]:
    where = path or (env or {}).get("AIRLOCK_CONFIG") or "defaults (no config file)"
    fix = f"edit {where}; see docs/install.md for every setting"
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        return fail("config", str(exc), fix), None
    return ok("config", f"{where} loads; values are sane"), config
