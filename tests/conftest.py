"""Suite-wide fixtures: the air-gap guard and the real model files."""
from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
MODEL_FILES = Path(os.environ.get("AIRLOCK_MODEL_FILES", ROOT / "var" / "models"))
SMOLLM2_GGUF = MODEL_FILES / "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_GGUF = MODEL_FILES / "gemma-3-270m-q4_k_m.gguf"
MINILM_DIR = MODEL_FILES / "all-MiniLM-L6-v2"


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple):
        host = address[0]
    else:
        return True  # AF_UNIX paths and the like stay on this machine
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AirGapViolation(RuntimeError):
    pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise AirGapViolation(f"connection to {address!r} attempted: Airlock may only reach loopback")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise AirGapViolation(f"connection to {address!r} attempted: Airlock may only reach loopback")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for the module's tests (tests/postgres_support.py)."""
    from postgres_support import running_postgres

    with running_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    if not SMOLLM2_GGUF.exists():
        pytest.fail(f"{SMOLLM2_GGUF} is missing: run `make models`")
    return SMOLLM2_GGUF


SeedModels = Callable[..., None]


@pytest.fixture(scope="session")
def seed_models(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> SeedModels:
    """seed_models(data_dir, name=the default model): put SmolLM2 in data_dir's model store under
    `name`, as the appliance leaves it after its first load: imported, converted from GGUF
    (engine/conversion_cache.py) and the conversion listed in its manifest. Each name is
    imported and converted once per session and copied from there (mtimes kept, so the
    conversion's key holds; the copy is hashed again against the manifest at load). Saves a
    GGUF conversion, about 15 s on two cores, per appliance started on a fresh data directory;
    the first import and load themselves are tested in tests/models/test_manager.py."""
    from appliance.config import ModelsSettings

    templates: dict[str, Path] = {}

    def seed(data_dir: Path, name: str = ModelsSettings().default_model) -> None:
        if name not in templates:
            templates[name] = _converted_store(tmp_path_factory.mktemp(f"seeded-{name}"), smollm2_path, name)
        shutil.copytree(templates[name], Path(data_dir) / "models", dirs_exist_ok=True)

    return seed


def _converted_store(data_dir: Path, gguf: Path, name: str) -> Path:
    from appliance.config import Config
    from appliance.models.manager import ModelManager

    manager = ModelManager(Config(data_dir=str(data_dir)))
    manager.store.import_path(gguf, name=name)
    manager.load(name, "fp32")           # every CPU precision loads from the same fp32 conversion
    manager.unload(name)
    return manager.store.path


@pytest.fixture(scope="session")
def gemma3_path() -> Path:
    if not GEMMA3_GGUF.exists():
        pytest.fail(f"{GEMMA3_GGUF} is missing: run `make models`")
    return GEMMA3_GGUF


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    if not MINILM_DIR.exists():
        pytest.fail(f"{MINILM_DIR} is missing: run `make models`")
    return MINILM_DIR


def cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="no NVIDIA GPU on this machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
