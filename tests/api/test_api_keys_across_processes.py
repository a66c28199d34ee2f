"""Keys made or revoked by `airlock keys` (another process, same database) reach the server."""
from __future__ import annotations

import time

from appliance.auth.keys import REFRESH_SECONDS, KeySpec, KeyStore
from appliance.ledger.database import make_engine, upgrade


def test_key_created_and_revoked_elsewhere_is_seen_by_a_running_store(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'airlock.db'}"
    upgrade(make_engine(url), backup=False)
    server, cli = KeyStore(make_engine(url)), KeyStore(make_engine(url))
    key, secret = cli.create(KeySpec(name="made-by-cli"))
    assert server.verify(secret) is not None            # an unknown prefix re-reads the table
    cli.revoke(key.id)
    time.sleep(REFRESH_SECONDS + 0.1)
    assert server.verify(secret) is None                # a revocation is seen within seconds
