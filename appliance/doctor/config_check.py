"""The configuration: it loads, and its values are sane."""
from __future__ import annotations

from appliance.auth.admin import is_loopback
from appliance.config import Config, ConfigError, load_config
from appliance.doctor.result import CheckResult, fail, ok
from engine import planner

QUANTIZATIONS = ("auto", *planner.PRECISIONS)


def check_config(path: str | None, env: dict[str, str] | None = None) -> tuple[CheckResult, Config | None]:
    where = path or (env or {}).get("AIRLOCK_CONFIG") or "defaults (no config file)"
    fix = f"edit {where}; see docs/install.md for every setting"
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        return fail("config", str(exc), fix), None
    problems = insane_values(config)
    if problems:
        return fail("config", "; ".join(problems), fix), None
    return ok("config", f"{where} loads; values are sane"), config


def insane_values(config: Config) -> list[str]:
    """One line per setting whose value cannot work, naming the setting."""
    s, m, l, c = config.server, config.models, config.ledger, config.cache
    rules = [
        (1 <= s.port <= 65535, f"server.port must be 1-65535, got {s.port}"),
        (s.threads >= 1, f"server.threads must be at least 1, got {s.threads}"),
        (s.shutdown_grace_seconds > 0, f"server.shutdown_grace_seconds must be positive, got {s.shutdown_grace_seconds}"),
        (s.max_waiting >= 1, f"server.max_waiting must be at least 1, got {s.max_waiting}"),
        (s.auth or is_loopback(s.host), f"server.auth = false is allowed only on a loopback host, not {s.host!r}"),
        (0 < m.memory_budget_fraction <= 1, f"models.memory_budget_fraction must be in (0, 1], got {m.memory_budget_fraction}"),
        (m.kv_cache_bytes > 0, f"models.kv_cache_bytes must be positive, got {m.kv_cache_bytes}"),
        (m.device in ("auto", "cpu", "cuda") or m.device.startswith("cuda:"), f"models.device must be auto, cpu or cuda, got {m.device!r}"),
        (m.default_quantization in QUANTIZATIONS, f"models.default_quantization must be one of {', '.join(QUANTIZATIONS)}, got {m.default_quantization!r}"),
        (l.flush_interval_seconds > 0, f"ledger.flush_interval_seconds must be positive, got {l.flush_interval_seconds}"),
        (c.eviction in ("lru", "lfu"), f"cache.eviction must be lru or lfu, got {c.eviction!r}"),
        (0 < c.semantic_threshold <= 1, f"cache.semantic_threshold must be in (0, 1], got {c.semantic_threshold}"),
        (bool(config.data_dir), "data_dir must not be empty"),
    ]
    from appliance.alerts import config_problems

    return [message for good, message in rules if not good] + config_problems(config)

