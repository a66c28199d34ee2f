"""One live Airlock server per test session: a real Appliance on a temporary data dir, real
SQLite, waitress on a loopback port, the real SmolLM2 model (loaded once), the openai client."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from appliance.auth.keys import KeySpec
from appliance.config import Config
from appliance.server import Server, start_in_thread
from appliance.services import Appliance

MODEL = "smollm2"


@dataclass
class Live:
    appliance: Appliance
    server: Server
    url: str

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.appliance.admin_token}"}

    def key(self, name: str = "test", **settings) -> str:
        """A fresh API key's secret."""
        return self.appliance.keys.create(KeySpec(name=name, **settings))[1]

    def client(self, secret: str | None = None, **kwargs) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=secret or self.key(), max_retries=0,
                             timeout=120, **kwargs)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


def make_config(data_dir: Path, **server) -> Config:
    config = Config(data_dir=str(data_dir))
    for name, value in server.items():
        setattr(config.server, name, value)
    return config


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    appliance = Appliance.from_config(make_config(tmp_path_factory.mktemp("airlock")), load_default=False)
    server, thread = start_in_thread(appliance)
    yield Live(appliance, server, server.url)
    server.stop()
    thread.join(timeout=30)


@pytest.fixture(scope="session")
def engine(smollm2_path: Path):
    from engine.config import EngineConfig
    from engine.llm_engine import Engine
    from engine.loader import load_model

    model = load_model(smollm2_path, device="cpu", quantization="int8")
    engine = Engine(model, EngineConfig(kv_cache_bytes=64 * 1024**2, max_waiting=256))
    yield engine
    engine.shutdown(abort_running=True)


@pytest.fixture(scope="session")
def served(live: Live, engine) -> Live:
    """The live server with SmolLM2 loaded under the name MODEL."""
    if MODEL not in live.appliance.model_names():
        live.appliance.models.add(MODEL, engine, "int8")
    return live
