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
def served(live: Live, smollm2_path: Path) -> Live:
    """The live server with SmolLM2 imported into its store and loaded (fp32: greedy text does
    not depend on what else is in the batch, which the concurrency test relies on)."""
    models = live.appliance.models
    if MODEL not in models.store:
        models.store.import_path(smollm2_path, name=MODEL)
    models.load(MODEL, "fp32")
    return live


@pytest.fixture(scope="session")
def engine(served: Live):
    return served.appliance.models.get(MODEL)
