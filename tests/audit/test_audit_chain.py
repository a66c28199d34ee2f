"""The audit chain on a real SQLite file, through the `airlock` CLI: changes are recorded with
their actor, before and after; an edit or a removal made by hand is named by `audit verify`."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from appliance.cli import main


@pytest.fixture()
def config(tmp_path: Path) -> str:
    path = tmp_path / "airlock.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n')
    return str(path)


def _audit(config: str, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["audit", *args, "--config", config])
    out = capsys.readouterr()
    return code, out.out, out.err


def _make_changes(config: str, capsys) -> list[dict]:
    for name in ("alpha", "beta", "gamma"):
        assert main(["keys", "create", name, "--tenant", "bank", "--budget", "1000", "--config", config]) == 0
    first = capsys.readouterr().out.split()[1]
    assert main(["keys", "revoke", first, "--config", config]) == 0
    capsys.readouterr()
    code, out, _ = _audit(config, capsys, "list", "--json")
    assert code == 0
    return json.loads(out)


def test_changes_are_recorded_with_actor_before_and_after(config: str, capsys) -> None:
    rows = _make_changes(config, capsys)
    assert [r["action"] for r in rows] == ["key.create"] * 3 + ["key.revoke"]
    assert all(r["actor"].startswith("cli:") for r in rows)
    create, revoke = rows[0], rows[3]
    assert create["before"] is None and create["after"]["token_budget"] == 1000
    assert revoke["target"] == create["target"]
    assert revoke["before"]["revoked_at"] is None and revoke["after"]["revoked_at"] is not None
    assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:-1]]
    code, out, _ = _audit(config, capsys, "verify")
    assert code == 0 and "4 rows" in out


def test_verify_names_the_row_edited_by_hand(config: str, capsys, tmp_path: Path) -> None:
    _make_changes(config, capsys)
    with sqlite3.connect(tmp_path / "airlock.db") as db:   # raise alpha's budget behind the log's back
        db.execute("""UPDATE audit_log SET after = replace(after, '"token_budget":1000', '"token_budget":9000')
                      WHERE id = 2""")
    code, _, err = _audit(config, capsys, "verify")
    assert code == 1
    assert "row 2" in err and "edited" in err


def test_verify_names_the_row_after_one_removed(config: str, capsys, tmp_path: Path) -> None:
    _make_changes(config, capsys)
    with sqlite3.connect(tmp_path / "airlock.db") as db:
        db.execute("DELETE FROM audit_log WHERE id = 2")
    code, _, err = _audit(config, capsys, "verify")
    assert code == 1 and "row 3" in err and "removed" in err


def test_export_csv_and_json_hold_every_row(config: str, capsys, tmp_path: Path) -> None:
    _make_changes(config, capsys)
    code, out, _ = _audit(config, capsys, "export", "--format", "csv", "-o", str(tmp_path / "a.csv"))
    assert code == 0 and "wrote 4 rows" in out
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert lines[0].startswith("id,at,actor,action") and len(lines) == 5
    code, out, _ = _audit(config, capsys, "export")
    assert len(json.loads(out)) == 4
