"""The configuration: one schema per setting, checked when it loads (file, then AIRLOCK_* env,
then flags), with a one-line message naming the setting; `airlock serve` refuses a bad one."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "airlock.toml"
    path.write_text(text)
    return path


def test_file_then_environment(tmp_path: Path) -> None:
    path = _file(tmp_path, '[server]\nport = 9000\nthreads = 4\n[cache]\neviction = "lfu"\n')
    config = load_config(path, env={"AIRLOCK_SERVER_PORT": "9100", "AIRLOCK_DATA_DIR": str(tmp_path),
                                    "AIRLOCK_CACHE_RESPONSE_CACHE": "yes", "AIRLOCK_MODELS_DEVICE": "cuda:1"})
    assert (config.server.port, config.server.threads, config.cache.eviction) == (9100, 4, "lfu")
    assert config.cache.response_cache is True and config.models.device == "cuda:1"
    assert config.data_dir == str(tmp_path) and config.database_url == f"sqlite:///{tmp_path / 'airlock.db'}"


@pytest.mark.parametrize("text, message", [
    ("[server]\nport = 70000\n", "server.port must be at most 65535, got 70000"),
    ("[server]\nport = -1\n", "server.port must be at least 0, got -1"),
    ("[server]\nshutdown_grace_seconds = 0\n", "server.shutdown_grace_seconds must be positive, got 0"),
    ('[server]\nhost = "0.0.0.0"\nauth = false\n', "server.auth = false is allowed only on a loopback host"),
    ("[models]\nmemory_budget_fraction = 1.5\n", "models.memory_budget_fraction must be at most 1"),
    ('[models]\ndevice = "tpu"\n', "models.device must be auto, cpu, cuda or cuda:N, got 'tpu'"),
    ('[models]\ndefault_quantization = "fp8"\n', "models.default_quantization must be auto, fp32, fp16, bf16, int8 or nf4"),
    ('[cache]\neviction = "random"\n', "cache.eviction must be lru or lfu, got 'random'"),
    ('[ledger]\nchargeback_idle = "nobody"\n', "ledger.chargeback_idle must be share or central"),
    ("[speculation]\nngram_min = 4\n", "speculation.ngram_max must be at least ngram_min (4), got 3"),
    ("[scheduler]\nmax_num_seqs = 600\n", "scheduler.max_num_batched_tokens must be at least max_num_seqs (600)"),
    ('[server]\nnode = "a b"\n', "server.node must be 1-64 letters"),
    ('data_dir = ""\n', "data_dir must not be empty"),
])
def test_a_bad_value_is_refused_in_one_line_naming_it(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(_file(tmp_path, text), env={})
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_an_unknown_setting_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^unknown setting server\.prot$"):
        load_config(_file(tmp_path, "[server]\nprot = 8420\n"), env={})
    with pytest.raises(ConfigError, match=r"^unknown setting colour$"):
        load_config(_file(tmp_path, 'colour = "blue"\n'), env={})
    with pytest.raises(ConfigError, match=r"unknown setting cache\.evicton \(from AIRLOCK_CACHE_EVICTON\)"):
        load_config(env={"AIRLOCK_CACHE_EVICTON": "lfu"})


def test_an_override_of_the_wrong_type_names_the_variable() -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(env={"AIRLOCK_SERVER_PORT": "eighty"})
    assert str(refused.value) == "server.port must be an integer, got 'eighty' (from AIRLOCK_SERVER_PORT)"
    assert refused.value.setting == "server.port"
    with pytest.raises(ConfigError, match=r"alerts\.enabled must be true or false, got 'maybe' \(from AIRLOCK_ALERTS_ENABLED\)"):
        load_config(env={"AIRLOCK_ALERTS_ENABLED": "maybe"})


ROUTE = '[[routing.routes]]\nname = "auto"\ntiers = ["small", "big"]\n'


@pytest.mark.parametrize("text, setting, message", [
    (ROUTE + 'max_queue = "2"\n', "routing.routes.0.max_queue", "must be a non-negative integer, got '2'"),
    (ROUTE + "tierz = 1\n", "routing.routes.0.tierz", "unknown setting routing.routes.0.tierz"),
    ('[[routing.routes]]\nname = "auto"\ntiers = []\n', "routing.routes.0.tiers", "must name at least one tier"),
    (ROUTE + 'default = "huge"\n', "routing.routes.0.default", "'huge' is not one of the route's tiers (small, big)"),
    (ROUTE + '[[routing.routes.rules]]\ntier = "big"\n', "routing.routes.0.rules.0", "needs at least one condition"),
    (ROUTE + '[[routing.routes.rules]]\ntier = "huge"\nmax_tokens_above = 9\n', "routing.routes.0.rules.0.tier",
     "not one of the route's tiers"),
    (ROUTE + ROUTE, "routing.routes.1.name", "route 'auto' is defined twice"),
    ('[[routing.routes]]\nname = "a"\ntiers = ["b"]\n[[routing.routes]]\nname = "b"\ntiers = ["a"]\n',
     "routing.routes.0.tiers", "cycle: a -> b -> a"),
])
def test_a_bad_route_is_refused_in_one_line_naming_the_setting(tmp_path: Path, text: str, setting: str,
                                                               message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(_file(tmp_path, text), env={})
    assert refused.value.setting == setting and setting in str(refused.value)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_configured_routes_reach_the_router_as_written(tmp_path: Path) -> None:
    from appliance.routing import build_router

    text = ROUTE + 'max_queue = 2\n[[routing.routes.rules]]\ntier = "big"\nprompt_tokens_above = 100\n'
    config = load_config(_file(tmp_path, text), env={"AIRLOCK_DATA_DIR": str(tmp_path)})
    assert config.routing.definitions() == [{"name": "auto", "tiers": ["small", "big"], "max_queue": 2,
                                             "rules": [{"tier": "big", "prompt_tokens_above": 100}]}]
    router = build_router(config, {"small"})     # a tier not in the store yet is taken (imported later)
    assert router.error == "" and router.get("auto").rules[0].name == "rules[0]"


def test_speculation_settings_become_the_engines_policy() -> None:
    policy = load_config(env={"AIRLOCK_SPECULATION_METHOD": "ngram", "AIRLOCK_SPECULATION_K": "6"}).speculation
    engine = policy.engine_config()
    assert type(engine).__module__ == "engine.speculation.config"
    assert (engine.method, engine.k, engine.window) == ("ngram", 6, 8)


def test_serve_flags_are_checked_like_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AIRLOCK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AIRLOCK_CONFIG", raising=False)
    assert main(["serve", "--port", "70000"]) == 2
    assert "server.port must be at most 65535, got 70000" in capsys.readouterr().err


def test_serve_with_a_bad_port_stops_before_loading_a_model(tmp_path: Path) -> None:
    config = _file(tmp_path, f'data_dir = "{tmp_path}"\n[server]\nport = 70000\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env.update(AIRLOCK_CONFIG=str(config), AIRLOCK_MODELS_DEFAULT_MODEL_FILE=str(tmp_path / "no-such-model.gguf"))
    done = subprocess.run([sys.executable, "-m", "appliance.cli", "serve"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "airlock serve: server.port must be at most 65535, got 70000"
    assert "Traceback" not in done.stderr + done.stdout and "serving" not in done.stdout
