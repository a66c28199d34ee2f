"""ServedProcess: one real `airlock serve` process on a loopback port, and the dealings of the
soak harness and the console tests with it (wait until ready, admin calls, memory, kill -9,
graceful stop, restart).

The process runs `python -m appliance.cli serve` from this interpreter, in this checkout (so it
serves this tree's code whatever the environment points at), with its own data dir, its admin
token and the model file in the environment, so a restart on the same data dir and port serves
the same keys and the same ledger. Its output goes to `<data_dir>/serve.log`.
"""
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

READY_TIMEOUT_S = 900.0     # the first start of a machine may build the CPU kernels
STOP_TIMEOUT_S = 120.0
ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(slots=True)
class ServedProcess:
    data_dir: Path
    model_file: Path
    admin_token: str
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)   # extra AIRLOCK_* settings
    ready_path: str = "/ready"                           # /health: serving, model loaded or not
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def start(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Start the server and wait until `ready_path` answers 200; the seconds that took."""
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "serve.log").open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "appliance.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self._environment(), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        self._wait_ready(started + timeout, timeout)
        return time.monotonic() - started

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM: drain, flush the ledger, exit; the exit code (-9: still running after
        `timeout`, so killed). A server that is not running is left as it is."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return -signal.SIGKILL

    def rss_bytes(self) -> int:
        """Resident memory of the server process (VmRSS in /proc/<pid>/status)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    def http(self) -> httpx.Client:
        """A client of the server with the admin token."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=120)

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        """An /admin call with the admin token; raises on a status other than 2xx."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        response = httpx.request(method, self.url + path, json=body, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()

    def create_key(self, name: str, token_budget: int = 0) -> str:
        """A new API key's secret."""
        return self.admin("POST", "/admin/keys", {"name": name, "token_budget": token_budget})["secret"]

    def log_tail(self, chars: int = 2000) -> str:
        path = self.data_dir / "serve.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def log_errors(self) -> list[str]:
        """The log's ERROR lines and the last line of each traceback."""
        lines = (self.data_dir / "serve.log").read_text(errors="replace").splitlines()
        errors = [line for line in lines if " ERROR " in line]
        tracebacks = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
        return errors + [_traceback_end(lines, i) for i in tracebacks]

    def _environment(self) -> dict[str, str]:
        return {**os.environ, "AIRLOCK_DATA_DIR": str(self.data_dir), "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1", "AIRLOCK_SERVER_ADMIN_TOKEN": self.admin_token,
                "AIRLOCK_MODELS_DEFAULT_MODEL_FILE": str(self.model_file), **self.env}

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"airlock serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.process.kill()
        self.process.wait()
        raise RuntimeError(f"airlock serve was not ready in {timeout:.0f} s:\n{self.log_tail()}")


def _traceback_end(lines: list[str], start: int) -> str:
    """The exception line that ends the traceback starting at `start`."""
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            return line
    return lines[start]
