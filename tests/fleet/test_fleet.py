"""A fleet on loopback: a real PostgreSQL server, two `airlock serve` processes sharing it (each
with its own data dir and node name), and a real HAProxy in front, configured by
`airlock fleet haproxy-config`. Budgets hold across the nodes, revocations reach both within
the key table's refresh, a tenant sticks to one node, and a killed node's tenants move on."""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import Engine, text

from appliance.auth.budgets import KeyBudgets
from appliance.auth.keys import REFRESH_SECONDS, KeySpec, KeyStore
from appliance.cli import main
from appliance.ledger.database import make_engine, upgrade
from postgres_support import free_port

ROOT = Path(__file__).resolve().parents[2]
MODEL = "smollm2-135m-instruct"
ADMIN = "adm-test-token-fleet-0123456789"
FLUSH_SECONDS = 0.2                      # each node's ledger flush interval: the kill -9 loss bound
PREFIX = ("You are the support assistant of a hospital's pharmacy. Answer in one short sentence, "
          "name the ward when it is known, and never guess a dose that the record does not give. ")


@dataclass
class Node:
    name: str
    process: subprocess.Popen
    url: str


@dataclass
class Fleet:
    front: str
    nodes: dict[str, Node]
    db: Engine
    keys: KeyStore
    launch: Callable[[str, int], Node]       # (name, port): start a node's `airlock serve`
    probes: list[str] = field(default_factory=list)   # keys that spread over every node

    def wait_all_up(self) -> None:
        """Until HAProxy sends requests to every node (its checks passed)."""
        def all_up() -> bool:
            try:
                return {self.node_of(s) for s in self.probes} == set(self.nodes)
            except (httpx.HTTPError, ValueError, KeyError):
                return False
        _wait_until(all_up, 30, "HAProxy to see every node ready")

    def client(self, secret: str, url: str | None = None) -> openai.OpenAI:
        """max_retries=0: any retry that hides an error is HAProxy's, not the SDK's."""
        return openai.OpenAI(base_url=(url or self.front) + "/v1", api_key=secret, max_retries=0, timeout=120)

    def node_of(self, secret: str) -> str:
        """The node HAProxy sends this key to (/health names the node that answers)."""
        return httpx.get(self.front + "/health", headers={"Authorization": f"Bearer {secret}"}).json()["node"]

    def rows(self, key_id: str) -> list[tuple[str, int]]:
        """(node, total tokens) of the key's ledger rows written so far."""
        with self.db.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT node, prompt_tokens + completion_tokens FROM usage_records WHERE key_id = :k ORDER BY id"),
                {"k": key_id})]


def _serve(name: str, data_dir: Path, database_url: str, model_file: Path, store: Path,
           port: int) -> subprocess.Popen:
    env = {**os.environ, "AIRLOCK_DATA_DIR": str(data_dir), "AIRLOCK_SERVER_NODE": name,
           "AIRLOCK_MODELS_STORE_DIR": str(store),
           "AIRLOCK_LEDGER_DATABASE_URL": database_url, "AIRLOCK_LEDGER_FLUSH_INTERVAL_SECONDS": str(FLUSH_SECONDS),
           "AIRLOCK_MODELS_DEFAULT_MODEL_FILE": str(model_file), "AIRLOCK_SERVER_ADMIN_TOKEN": ADMIN,
           "AIRLOCK_MODELS_KV_CACHE_BYTES": str(64 * 1024**2), "AIRLOCK_ALERTS_ENABLED": "false",
           "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-c", "from appliance.cli import main; raise SystemExit(main())",
                             "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _address(process: subprocess.Popen) -> str:
    for line in process.stdout:
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if match:
            threading.Thread(target=process.stdout.read, daemon=True).start()   # keep the pipe drained
            return match.group(1)
    raise AssertionError(f"airlock serve exited ({process.wait()}) without reporting its address")


def _wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def fleet(postgres_url: str, smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory,
          seed_models) -> Iterator[Fleet]:
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if haproxy is None:
        pytest.skip("haproxy is not installed (packaging/dev/install.sh installs the Debian package)")
    root = tmp_path_factory.mktemp("fleet")
    db = make_engine(postgres_url)
    upgrade(db)
    # One model store for both nodes, the default model in it converted already (seed_models).
    seed_models(root / "shared")
    store = root / "shared" / "models"
    started: list[subprocess.Popen] = []

    def launch(name: str, port: int = 0) -> Node:
        started.append(_serve(name, root / name, postgres_url, smollm2_path, store, port))
        return Node(name, started[-1], _address(started[-1]))

    front_port, config = free_port(), root / "haproxy.cfg"
    try:
        nodes = {name: launch(name) for name in ("n1", "n2")}   # one after the other: one manifest
        assert main(["fleet", "haproxy-config", "--bind", f"127.0.0.1:{front_port}", "--check-interval-ms", "200",
                     "-o", str(config), *[f"--node={n.name}={n.url.removeprefix('http://')}" for n in nodes.values()]
                     ]) == 0
        with open(root / "haproxy.log", "w") as log:   # the request log: node, retries, status
            started.append(subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=log, stderr=log))
        built = Fleet(f"http://127.0.0.1:{front_port}", nodes, db, KeyStore(db), launch)
        built.probes = [built.keys.create(KeySpec(name=f"probe-{i}"))[1] for i in range(16)]
        built.wait_all_up()
        yield built
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()
        db.dispose()


def _fleet_view(node: Node) -> dict[str, dict]:
    """GET /admin/fleet on `node`: every node's last report, by name."""
    reply = httpx.get(node.url + "/admin/fleet", headers={"Authorization": f"Bearer {ADMIN}"})
    return {n["node"]: n for n in reply.json()["nodes"]}


def _prompt_tokens(fleet: Fleet, prompt: str) -> int:
    secret = fleet.keys.create(KeySpec(name="measure"))[1]
    return fleet.client(secret).completions.create(model=MODEL, prompt=prompt, max_tokens=1).usage.prompt_tokens


def test_each_node_names_itself_on_health_metrics_and_the_admin_api(fleet: Fleet) -> None:
    for node in fleet.nodes.values():
        assert httpx.get(node.url + "/health").json()["node"] == node.name
        assert f'airlock:node_info{{node="{node.name}"}} 1' in httpx.get(node.url + "/metrics").text
        stats = httpx.get(node.url + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN}"})
        assert stats.json()["node"] == node.name
        listed = _fleet_view(node)                         # any node lists every node
        assert {n: (v["up"], v["models"], v["address"]) for n, v in listed.items()} == {
            n.name: (True, [MODEL], n.url) for n in fleet.nodes.values()}


def test_a_budget_holds_across_both_nodes_under_parallel_load(fleet: Fleet) -> None:
    prompt, completion = "Count with me: one, two, three,", 3
    worst = _prompt_tokens(fleet, prompt) + completion
    key, secret = fleet.keys.create(KeySpec(name="budget", token_budget=6 * worst + worst - 1))
    clients = [fleet.client(secret, node.url) for node in fleet.nodes.values()]   # straight to both nodes

    def call(i: int) -> int:
        try:
            return clients[i % 2].completions.create(model=MODEL, prompt=prompt, max_tokens=completion,
                                                     extra_body={"ignore_eos": True}).usage.total_tokens
        except openai.RateLimitError as exc:
            assert "token budget" in str(exc)
            return 0
    billed = [call(0), call(1)]                           # one on each node first, then the race
    with ThreadPoolExecutor(12) as pool:
        billed += [n for n in pool.map(call, range(24)) if n]
    assert billed == [worst] * 6                          # exactly what fits, on both nodes together
    assert KeyBudgets(fleet.db, "test").state(key.id) == (6 * worst, 0)
    _wait_until(lambda: len(fleet.rows(key.id)) == 6, 10, "the ledger rows")
    rows = fleet.rows(key.id)
    assert sum(n for _, n in rows) == 6 * worst <= key.spec.token_budget
    assert {node for node, _ in rows} == {"n1", "n2"}     # both nodes served, each row names its node


def test_a_revoked_key_is_refused_by_both_nodes_within_the_refresh(fleet: Fleet) -> None:
    key, secret = fleet.keys.create(KeySpec(name="revoked"))
    for node in fleet.nodes.values():
        fleet.client(secret, node.url).completions.create(model=MODEL, prompt="Hi", max_tokens=1)
    fleet.keys.revoke(key.id)                              # as `airlock keys revoke` on any node would
    revoked = time.monotonic()
    for node in fleet.nodes.values():
        client = fleet.client(secret, node.url)

        def refused() -> bool:
            try:
                client.models.list()
                return False
            except openai.AuthenticationError:
                return True
        _wait_until(refused, REFRESH_SECONDS + 2, f"node {node.name} to refuse the revoked key")
    assert time.monotonic() - revoked <= REFRESH_SECONDS + 1
    with pytest.raises(openai.AuthenticationError):
        fleet.client(secret).models.list()


def test_a_tenant_sticks_to_one_node_and_its_prefix_stays_warm(fleet: Fleet) -> None:
    tenants = [fleet.keys.create(KeySpec(name=f"t{i}", tenant=f"t{i}"))[1] for i in range(16)]
    assert {fleet.node_of(s) for s in tenants} == set(fleet.nodes)   # tenants spread over both nodes
    key = fleet.keys.list()[-1]
    secret, home = tenants[-1], fleet.node_of(tenants[-1])
    client = fleet.client(secret)
    cached = [client.completions.create(model=MODEL, prompt=PREFIX + f"Question {i}: where is ward {i}?",
                                        max_tokens=1).usage.prompt_tokens_details.cached_tokens
              for i in range(4)]
    assert cached[0] == 0 and all(c >= 32 for c in cached[1:]), cached   # the prefix was found warm
    _wait_until(lambda: len(fleet.rows(key.id)) == 4, 10, "the ledger rows")
    assert {node for node, _ in fleet.rows(key.id)} == {home}


def test_front_overhead_and_affinity_hit_rate(fleet: Fleet) -> None:
    """Figures for BENCHMARKS.md (printed; run with -s): what HAProxy adds to a one-token
    request, and how often a tenant's second request finds its prefix warm through the front."""
    secret = fleet.keys.create(KeySpec(name="overhead"))[1]
    direct, front = fleet.client(secret, fleet.nodes[fleet.node_of(secret)].url), fleet.client(secret)
    took: dict[str, list[float]] = {"direct": [], "front": []}
    for _ in range(10):
        for path, client in (("direct", direct), ("front", front)):
            start = time.perf_counter()
            client.completions.create(model=MODEL, prompt="Hi", max_tokens=1)
            took[path].append(time.perf_counter() - start)
    p50 = {path: sorted(times)[len(times) // 2] * 1000 for path, times in took.items()}
    tenants = [fleet.keys.create(KeySpec(name=f"hit{i}", tenant=f"hit{i}"))[1] for i in range(8)]
    hits = 0
    for i, tenant in enumerate(tenants):
        client = fleet.client(tenant)
        for question in range(2):
            usage = client.completions.create(model=MODEL, prompt=PREFIX + f"Tenant {i} asks {question}.",
                                              max_tokens=1).usage
        hits += usage.prompt_tokens_details.cached_tokens > 0
    print(f"\nfront p50 {p50['front']:.1f} ms, direct p50 {p50['direct']:.1f} ms, "
          f"overhead {p50['front'] - p50['direct']:.1f} ms; affinity hit rate {hits}/{len(tenants)}")
    assert hits == len(tenants)                            # every second request found its prefix


def test_the_console_attached_to_one_node_shows_every_node(fleet: Fleet) -> None:
    from tui.app import create_app
    from tui.client import AdminClient
    from tui.screens.fleet import FleetScreen, FleetTable

    async def shown() -> dict:
        console = create_app(AdminClient(fleet.nodes["n1"].url, ADMIN), poll_seconds=None)
        async with console.run_test(size=(120, 40)) as pilot:
            await pilot.press("f9")
            for _ in range(100):
                await pilot.pause(0.05)
                if isinstance(console.screen, FleetScreen) and console.screen.query_one(FleetTable).rows_data:
                    return console.screen.query_one(FleetTable).rows_data
        raise AssertionError("the fleet screen showed no nodes")
    rows = asyncio.run(shown())
    assert {n: (r.state, r.models) for n, r in rows.items()} == {"n1": ("up", [MODEL]), "n2": ("up", [MODEL])}


def test_a_draining_node_hands_its_tenants_over_and_comes_back(fleet: Fleet) -> None:
    """A rolling restart: SIGTERM drains a node while its key keeps sending; nothing fails
    (HAProxy retries the drain's 503s and refused connections elsewhere); restarted on its
    port, the node takes its key back (the hash ring is the same)."""
    key, secret = fleet.keys.create(KeySpec(name="rolling"))
    home = fleet.nodes[fleet.node_of(secret)]
    client, stop, answered, errors = fleet.client(secret), threading.Event(), [], []

    def send() -> None:
        while not stop.is_set():
            try:
                answered.append(client.completions.create(model=MODEL, prompt="Hi", max_tokens=1))
            except openai.OpenAIError as exc:
                errors.append(exc)
    senders = [threading.Thread(target=send) for _ in range(2)]
    for sender in senders:
        sender.start()
    try:
        _wait_until(lambda: len(answered) >= 2, 30, "requests before the drain")
        home.process.send_signal(signal.SIGTERM)
        assert home.process.wait(timeout=60) == 0
        drained = len(answered)
        _wait_until(lambda: len(answered) >= drained + 3, 30, "requests after the drain")
    finally:
        stop.set()
        for sender in senders:
            sender.join()
    assert errors == []
    fleet.nodes[home.name] = fleet.launch(home.name, int(home.url.rsplit(":", 1)[1]))
    fleet.wait_all_up()
    assert fleet.node_of(secret) == home.name
    _wait_until(lambda: len(fleet.rows(key.id)) == len(answered), 10, "the ledger rows")
    assert {node for node, _ in fleet.rows(key.id)} == set(fleet.nodes)   # served by both, in turn


def test_a_killed_node_loses_no_flushed_row_and_the_other_keeps_serving(fleet: Fleet) -> None:
    key, secret = fleet.keys.create(KeySpec(name="survivor"))
    victim = fleet.nodes[fleet.node_of(secret)]
    client = fleet.client(secret)
    for _ in range(2):
        client.completions.create(model=MODEL, prompt="Hello", max_tokens=1)
    time.sleep(FLUSH_SECONDS * 5)                          # past the flush interval: the rows are written
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    assert [node for node, _ in fleet.rows(key.id)] == [victim.name] * 2
    for _ in range(3):                                     # no client-side retry: HAProxy redispatches
        assert client.completions.create(model=MODEL, prompt="Hello", max_tokens=1).usage.completion_tokens == 1
    survivor = next(name for name in fleet.nodes if name != victim.name)
    _wait_until(lambda: len(fleet.rows(key.id)) == 5, 10, "the survivor's ledger rows")
    assert [node for node, _ in fleet.rows(key.id)] == [victim.name] * 2 + [survivor] * 3
    assert fleet.node_of(secret) == survivor
    _wait_until(lambda: not _fleet_view(fleet.nodes[survivor])[victim.name]["up"], 10,
                "the fleet view to show the killed node down")
