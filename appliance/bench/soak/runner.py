"""The soak's timeline: start a real server, drive the traffic mix, kill -9 it part way,
restart it on the same data dir and port, flood it with idle connections, stop it gracefully,
then read the ledger and judge (checks.py).

    start --- traffic ---- kill -9 / restart ---- RSS baseline -- flood -- RSS end, stop
    |<- minutes x kill_fraction ->|          |<- minutes x (1 - kill_fraction) ->|

The restart's model load is not counted in the minutes; the clients keep sending while the
server is down (their connection errors are recorded, not judged). The RSS baseline is taken
`rss_baseline_s` after the restart (60 s; the 1-minute quick run takes it at 20 s), or half way
through the second stretch if that is shorter.
"""
from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from appliance.bench.soak.checks import Check, Observed, evaluate
from appliance.bench.soak.flood import HealthPoller, flood
from appliance.bench.soak.ledger_rows import dead_letter_lines, read_rows
from appliance.bench.soak.report import SoakReport
from appliance.bench.soak.requests import Target
from appliance.bench.soak.server import ServedProcess
from appliance.bench.soak.tally import Tally
from appliance.bench.soak.traffic import MIX, Traffic
from engine.bench.common import at_least

EMBEDDING_DIR = "all-MiniLM-L6-v2"
EMBEDDING_MODEL = "all-minilm-l6-v2"
IDLE_WAIT_S = 30.0
WRITE_SLACK_S = 1.0     # one batch write, on top of the flush interval, in the kill's loss window


@dataclass(slots=True, frozen=True)
class SoakConfig:
    model_file: Path
    minutes: float = 5.0
    kill_fraction: float = 0.25          # of the minutes, before the kill -9
    rss_baseline_s: float = 60.0         # after the restart
    flood_sockets: int = 300
    flood_seconds: float = 5.0
    budget_tokens: int = 300
    max_tokens: int = 24
    flush_interval_s: float = 1.0        # the ledger writer's ([ledger] flush_interval_seconds)

    def __post_init__(self) -> None:
        if not 0.1 <= self.minutes <= 24 * 60:
            raise ValueError(f"minutes must be between 0.1 and 1440, got {self.minutes}")
        if not 0 < self.kill_fraction < 1:
            raise ValueError(f"kill_fraction must be between 0 and 1, got {self.kill_fraction}")
        at_least(self, 1, "flood_sockets", "budget_tokens", "max_tokens")

    @property
    def seconds(self) -> float:
        return self.minutes * 60


def run_soak(config: SoakConfig, progress: Callable[[str], None] = lambda line: None) -> SoakReport:
    embeddings = config.model_file.parent / EMBEDDING_DIR
    if not (embeddings / "config.json").is_file():
        raise FileNotFoundError(f"the embedding model {embeddings} is missing (run `make models`)")
    with tempfile.TemporaryDirectory(prefix="airlock-soak-") as tmp:
        data_dir = Path(tmp)
        (data_dir / "models").mkdir()
        (data_dir / "models" / EMBEDDING_DIR).symlink_to(embeddings.resolve(), target_is_directory=True)
        server = ServedProcess(data_dir, config.model_file.resolve(), "soak-" + secrets.token_urlsafe(32),
                               env={"AIRLOCK_LEDGER_FLUSH_INTERVAL_SECONDS": str(config.flush_interval_s)})
        try:
            return _run(config, server, progress)
        finally:
            if server.process is not None and server.process.poll() is None:
                server.process.kill()


def _run(config: SoakConfig, server: ServedProcess, progress: Callable[[str], None]) -> SoakReport:
    started = time.monotonic()
    loads = [server.start()]
    progress(f"server up on {server.url} in {loads[0]:.0f} s; traffic for {config.minutes:g} min")
    keys = {role.name: server.create_key(role.name, config.budget_tokens if role.name == "budget" else 0)
            for role in MIX}
    tally = Tally()
    traffic = Traffic(server.url, keys, _targets(server.url, keys, config), tally)
    poller = HealthPoller(server.url, tally)
    poller.start()
    traffic.start()
    seen, isa = _timeline(config, server, loads, progress)
    traffic.stop()
    poller.stop()
    seen.idle = _wait_idle(server)
    seen.stop_code = server.stop()
    seen.rows, seen.dead_letter = read_rows(server.data_dir), dead_letter_lines(server.data_dir)
    seen.log_errors = server.log_errors()
    checks: list[Check] = evaluate(tally.all(), tally.health, seen)
    return SoakReport(config.minutes, checks, tally.all(), loads, time.monotonic() - started, isa)


def _timeline(config: SoakConfig, server: ServedProcess, loads: list[float],
              progress: Callable[[str], None]) -> tuple[Observed, str]:
    """From the first request to the end of the traffic: kill, restart, RSS, flood."""
    time.sleep(config.seconds * config.kill_fraction)
    kill_at = time.monotonic()
    server.kill9()
    progress("kill -9 sent; restarting on the same data dir")
    loads.append(server.start())
    back_at = time.monotonic()
    rest = config.seconds * (1 - config.kill_fraction)
    baseline_s = min(config.rss_baseline_s, rest / 2)
    progress(f"back in {loads[1]:.0f} s; RSS baseline at +{baseline_s:.0f} s")
    _sleep_until(back_at + baseline_s)
    rss_first = server.rss_bytes()
    _sleep_until(back_at + (baseline_s + rest) / 2 - config.flood_seconds / 2)
    progress(f"flood: {config.flood_sockets} idle connections for {config.flood_seconds:g} s")
    flooded = flood(server.port, config.flood_sockets, config.flood_seconds)
    _sleep_until(back_at + rest)
    isa = _isa(server)
    seen = Observed(kill_at=kill_at, back_at=back_at, loss_window=config.flush_interval_s + WRITE_SLACK_S,
                    budget=config.budget_tokens, idle={}, rss_first=rss_first, rss_last=server.rss_bytes(),
                    rss_baseline_s=baseline_s, flood=flooded, stop_code=-1, dead_letter=-1)
    return seen, isa


def _targets(url: str, keys: dict[str, str], config: SoakConfig) -> dict[str, Target]:
    models = httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {keys['chat']}"}, timeout=30).json()
    model = next(m["id"] for m in models["data"] if m["id"] != EMBEDDING_MODEL)
    return {name: Target(model, EMBEDDING_MODEL, name, config.max_tokens) for name in keys}


def _wait_idle(server: ServedProcess) -> dict:
    """running, waiting and blocks_used summed over the engines, once all are 0 or after IDLE_WAIT_S."""
    deadline = time.monotonic() + IDLE_WAIT_S
    while True:
        engines = server.admin("GET", "/admin/stats")["models"].values()
        idle = {name: sum(e[name] for e in engines) for name in ("running", "waiting", "blocks_used")}
        if not any(idle.values()) or time.monotonic() > deadline:
            return idle
        time.sleep(0.5)


def _isa(server: ServedProcess) -> str:
    """The server's CPU line, as the other benchmarks print it."""
    from engine.cpu_isa import CpuIsa

    machine = server.admin("GET", "/admin/stats")["machine"]
    fields = {k: machine["cpu_isa"][k] for k in ("detected", "level", "forced", "note")}
    return f"CPU ISA {CpuIsa(**fields).describe()}, {machine['cpu_count']} CPUs"


def _sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))
