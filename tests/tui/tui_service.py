"""A real appliance for the console tests: `airlock serve` as a subprocess on a loopback port
(the soak harness's launcher), with its own data dir, that a test may stop and start again on
the same port."""
from __future__ import annotations

from pathlib import Path

from appliance.bench.soak.server import ROOT, ServedProcess, free_port

__all__ = ["ROOT", "TOKEN", "ServedProcess", "free_port", "service_at"]
TOKEN = "tui-test-admin-token"
MODEL_FILE = ROOT / "var" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SETTINGS = {"AIRLOCK_SERVER_THREADS": "8", "AIRLOCK_SERVER_SHUTDOWN_GRACE_SECONDS": "2.0"}


def service_at(data_dir: Path, model_file: Path = MODEL_FILE) -> ServedProcess:
    """A server that counts as up once it answers /health (the console shows a loading appliance too)."""
    return ServedProcess(data_dir, model_file, TOKEN, env=dict(SETTINGS), ready_path="/health")
