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
def live(tmp_path_factory: pytest.TempPathFactory, seed_models) -> Iterator[Live]:
    """The server, SmolLM2 in its store (not loaded): tests/conftest.py seed_models."""
    data_dir = tmp_path_factory.mktemp("airlock")
    seed_models(data_dir, MODEL)
    appliance = Appliance.from_config(make_config(data_dir), load_default=False)
    server, thread = start_in_thread(appliance)
    yield Live(appliance, server, server.url)
    server.stop()
    thread.join(timeout=30)


@pytest.fixture(scope="session")
def served(live: Live) -> Live:
    """The live server with SmolLM2 loaded (fp32: greedy text does not depend on what else is in
    the batch, which the concurrency test relies on)."""
    models = live.appliance.models
    models.load(MODEL, "fp32")
    return live


@pytest.fixture(scope="session")
def engine(served: Live):
    return served.appliance.models.get(MODEL)
