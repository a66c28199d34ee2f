"""One live Airlock server per test session: a real Appliance on a temporary data dir, real
SQLite, waitress on a loopback port, the real SmolLM2 model (loaded once), the openai client."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from api_support import MODEL, Live, make_config  # noqa: E402
from appliance.server import start_in_thread  # noqa: E402
from appliance.services import Appliance  # noqa: E402


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

    model = load_model(smollm2_path, device="cpu", quantization="none")   # fp32: batch-invariant greedy text
    engine = Engine(model, EngineConfig(kv_cache_bytes=64 * 1024**2, max_waiting=256))
    yield engine
    engine.shutdown(abort_running=True)


@pytest.fixture(scope="session")
def served(live: Live, engine) -> Live:
    """The live server with SmolLM2 loaded under the name MODEL."""
    if MODEL not in live.appliance.model_names():
        live.appliance.models.add(MODEL, engine, "int8")
    return live
