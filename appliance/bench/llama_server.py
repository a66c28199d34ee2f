"""llama.cpp's `llama-server` as a subprocess for a benchmark: on a free loopback port, with the
GGUF file, the threads, the slots (--parallel) and the context asked for; ready when /health
answers 200; stopped (SIGTERM, then SIGKILL) when the block ends, however it ends. On Linux the
process is also told to die with its parent (PR_SET_PDEATHSIG: strictly, with the thread that
started it, so start it from the main thread), so a benchmark killed outright does not leave it
behind.

llama-server is not a dependency of Airlock: the benchmark finds it on PATH or is given its
path. The KV cache is split between the slots (llama-server's default with an explicit
--parallel; no --kv-unified): each slot holds context / parallel tokens and attends to its own
cache only. A unified cache makes every sequence's attention span every slot's tokens, which at
128 slots on a CPU slowed llama.cpp's prompt processing to a few tokens/s.
"""
from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from appliance.bench.soak.server import free_port
from engine.bench.common import at_least

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0
HOW_TO_BUILD = ("build it from the llama.cpp sources that the llama-cpp-python sdist vendors: "
                "tar xzf llama_cpp_python-*.tar.gz; cd llama_cpp_python-*/vendor/llama.cpp; "
                "cmake -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=ON; "
                "cmake --build build --target llama-server -j; then pass --llama-server build/bin/llama-server")


@dataclass(slots=True, frozen=True)
class LlamaServerConfig:
    binary: Path
    model: Path
    threads: int = 2
    parallel: int = 1            # slots: requests decoded together
    context: int = 4096          # KV tokens in all, context / parallel per slot

    def __post_init__(self) -> None:
        at_least(self, 1, "threads", "parallel", "context")

    def command(self, port: int) -> list[str]:
        return [str(self.binary), "--model", str(self.model), "--host", "127.0.0.1", "--port", str(port),
                "--threads", str(self.threads), "--threads-batch", str(self.threads),
                "--parallel", str(self.parallel), "--ctx-size", str(self.context), "--no-kv-unified",
                "--cont-batching", "--no-webui"]


@dataclass(slots=True, frozen=True)
class LlamaServer:
    url: str                     # http://127.0.0.1:PORT
    model: str                   # the id /v1/models reports
    version: str
    pid: int


def find_llama_server(given: str | None) -> Path:
    """The binary given, or `llama-server` on PATH; ValueError saying how to build it when absent."""
    if given:
        path = Path(given)
        if not path.is_file():
            raise ValueError(f"llama-server binary {given} does not exist; {HOW_TO_BUILD}")
        return path
    found = shutil.which("llama-server")
    if found is None:
        raise ValueError(f"llama-server is not on PATH and --llama-server was not given; {HOW_TO_BUILD}")
    return Path(found)


def version(binary: Path) -> str:
    """`llama-server --version`'s first line naming a version, or 'unknown'."""
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.startswith("version")]
    return lines[0].removeprefix("version:").strip() if lines else "unknown"


@contextmanager
def llama_server(config: LlamaServerConfig) -> Iterator[LlamaServer]:
    """A running llama-server; its output goes to a temporary log, whose tail a failure quotes."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="airlock-llama-server-") as tmp:
        log_path = Path(tmp) / "llama-server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(config.command(port), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        try:
            url = f"http://127.0.0.1:{port}"
            model = _wait_ready(url, process, log_path)
            yield LlamaServer(url, model, version(config.binary), process.pid)
        finally:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; returns once the process is gone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(base_url=url, timeout=5, trust_env=False) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise OSError(f"llama-server exited with code {process.returncode} before it was ready: "
                              f"{_tail(log)}")
            try:
                if http.get("/health").status_code == 200:
                    return http.get("/v1/models").json()["data"][0]["id"]
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise OSError(f"llama-server was not ready within {READY_TIMEOUT_S:.0f} s: {_tail(log)}")


def _tail(log: Path, lines: int = 5) -> str:
    text = log.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "(no output)"


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux); nothing elsewhere."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)        # PR_SET_PDEATHSIG


def _load_prctl():                       # resolved in the parent, so the child only calls it
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
