"""Console test fixtures: one real appliance per session and a live console attached to it."""
from __future__ import annotations

from pathlib import Path

import pytest

from tui_service import TOKEN, ServedProcess, service_at
from tui.app import AirlockConsole, create_app
from tui.client import AdminClient


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path, seed_models) -> ServedProcess:
    data_dir = tmp_path_factory.mktemp("appliance")
    seed_models(data_dir)
    svc = service_at(data_dir, smollm2_path)
    svc.start()
    yield svc
    svc.stop()


@pytest.fixture
def console(service: ServedProcess) -> AirlockConsole:
    """A live console on the session's appliance, refreshing twice a second."""
    return create_app(AdminClient(service.url, TOKEN), poll_seconds=0.5)
