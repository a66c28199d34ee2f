"""`airlock keys` and the refusals of `airlock serve`, run in-process through the CLI entry."""
from __future__ import annotations

import re

import pytest

from appliance.cli import main


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRLOCK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AIRLOCK_CONFIG", raising=False)
    return tmp_path


def test_keys_create_list_revoke(data_dir, capsys) -> None:
    assert main(["keys", "create", "ci-bot", "--tenant", "qa", "--models", "smollm2", "--rpm", "60"]) == 0
    out = capsys.readouterr().out
    key_id = re.search(r"created (key_\w+)", out).group(1)
    secret = re.search(r"secret .*: (ak-\S+)", out).group(1)
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "ci-bot" in listing and secret not in listing
    assert main(["keys", "revoke", key_id]) == 0 and f"revoked {key_id}" in capsys.readouterr().out
    assert main(["keys", "list"]) == 0 and key_id not in capsys.readouterr().out
    assert main(["keys", "list", "--all", "--json"]) == 0 and '"revoked_at": "' in capsys.readouterr().out


def test_keys_bad_input_is_a_clear_error(data_dir, capsys) -> None:
    assert main(["keys", "revoke", "key_missing"]) == 2
    assert "no API key with id 'key_missing'" in capsys.readouterr().err
    assert main(["keys", "create", "x", "--budget", "-1"]) == 2
    assert "token_budget must be an integer from 0 (unlimited) to 2,147,483,647, got -1" in capsys.readouterr().err


def test_serve_refuses_auth_off_beyond_loopback(data_dir, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRLOCK_SERVER_AUTH", "false")
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "allowed only on a loopback host" in capsys.readouterr().err
