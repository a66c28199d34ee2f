"""A real appliance for the console tests: `airlock serve` as a subprocess on a loopback port,
with its own data dir and config, that a test may stop and start again on the same port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tui-test-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Service:
    data_dir: Path
    model_file: Path = ROOT / "var" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "serve.log"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)

    def start(self, timeout: float = 300.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "airlock.toml"
        config.write_text(f'[server]\nport = {self.port}\nadmin_token = "{TOKEN}"\nthreads = 8\n'
                          f'shutdown_grace_seconds = 2.0\n\n[models]\ndefault_model_file = "{self.model_file}"\n')
        env = dict(os.environ, AIRLOCK_DATA_DIR=str(self.data_dir), HF_HUB_OFFLINE="1",
                   TRANSFORMERS_OFFLINE="1", TQDM_DISABLE="1")
        with self.log.open("ab") as log:
            # `-m` from the checkout's root: the service runs this tree's code, whatever the venv points at
            command = [sys.executable, "-m", "appliance.cli", "serve", "--config", str(config)]
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"airlock serve exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"airlock serve not ready after {timeout:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""
