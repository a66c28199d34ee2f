"""Token budgets held in the database: two nodes (own engines, own connections) racing on one
key never hold more than its budget, on SQLite and on a real PostgreSQL server."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.auth.budgets import KeyBudgets
from appliance.auth.keys import ApiKey, KeySpec, KeyStore
from appliance.auth.limits import LimitExceeded, RateLimiter
from appliance.bench.fleet_budget import hold_cost
from appliance.ledger.database import make_engine, upgrade
from postgres_support import free_port


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'airlock.db'}"
    return request.getfixturevalue("postgres_url")


def _nodes(url: str, budget: int) -> tuple[str, KeyBudgets, KeyBudgets]:
    """A key with `budget` and two nodes named after it (the PostgreSQL server is per module)."""
    upgrade(make_engine(url), backup=False)
    key = KeyStore(make_engine(url)).create(KeySpec(name="shared", token_budget=budget))[0]
    return key.id, KeyBudgets(make_engine(url), f"a-{key.id}"), KeyBudgets(make_engine(url), f"b-{key.id}")


def test_two_nodes_racing_never_hold_more_than_the_budget(database_url: str) -> None:
    key_id, a, b = _nodes(database_url, budget=100)
    with ThreadPoolExecutor(16) as pool:
        held = list(pool.map(lambda i: (a if i % 2 else b).hold(key_id, 7), range(40)))
    assert sum(held) == 14                                  # 14 x 7 = 98 <= 100 < 15 x 7
    assert a.state(key_id) == (0, 98)
    a.settle(key_id, 7, 3)                                  # one request billed 3 of its 7
    assert b.state(key_id) == (3, 91)
    assert b.hold(key_id, 6) and not b.hold(key_id, 1)      # 3 + 97 = 100: full


def test_a_restarted_node_gives_back_what_its_dead_requests_held(database_url: str) -> None:
    key_id, a, b = _nodes(database_url, budget=50)
    assert a.hold(key_id, 30) and b.hold(key_id, 20)
    assert not b.hold(key_id, 1)
    assert KeyBudgets(make_engine(database_url), a.node).release_node() == 30   # node a came back
    assert b.state(key_id) == (0, 20)
    assert b.hold(key_id, 30)
    assert a.release_node() == 0                            # nothing left to give back


def test_a_key_without_budget_is_held_and_counted_too(database_url: str) -> None:
    url = database_url
    upgrade(make_engine(url), backup=False)
    key = KeyStore(make_engine(url)).create(KeySpec(name="free"))[0]
    node = KeyBudgets(make_engine(url), "a")
    assert node.hold(key.id, 10**9)
    node.settle(key.id, 10**9, 12)
    assert node.state(key.id) == (12, 0)                  # spent counts, for a budget set later


def test_with_the_database_unreachable_a_budgeted_key_is_refused_and_a_free_one_served() -> None:
    gone = make_engine(f"postgresql+psycopg://airlock@127.0.0.1:{free_port()}/airlock")   # nothing listens
    limiter = RateLimiter(KeyBudgets(gone, "a"))
    now = datetime.now(UTC)
    budgeted = ApiKey("key_b", "bbbbbbbb", KeySpec(name="b", token_budget=100), now)
    free = ApiKey("key_f", "ffffffff", KeySpec(name="f"), now)
    with pytest.raises(LimitExceeded, match="cannot be reached") as info:
        limiter.reserve(budgeted, 10)
    assert info.value.limit == "budget_store"
    reservation = limiter.reserve(free, 10)
    assert not reservation.in_db
    reservation.settle(10, 4)                               # nothing to write; no error


def test_the_hold_cost_bench_measures_both_databases(database_url: str) -> None:
    upgrade(make_engine(database_url), backup=False)
    cost = hold_cost(make_engine(database_url), pairs=20)
    assert cost.database == database_url.split(":")[0].split("+")[0]
    assert 0 < cost.p50_ms <= cost.p95_ms and cost.per_second > 0
