"""Node identity: the `[server] node` setting, its stamp on ledger rows, usage and TCO by node."""
from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import ConfigError, load_config
from appliance.ledger import Ledger
from appliance.ledger.energy import ConstantPower
from ledger.support import TCO, make_record


def test_node_defaults_to_the_host_name_and_a_bad_name_is_refused(tmp_path: Path) -> None:
    assert load_config(env={}).node == socket.gethostname()
    assert load_config(env={"AIRLOCK_SERVER_NODE": "gpu-1.rack2"}).node == "gpu-1.rack2"
    for bad in ("-x", "a b", "x" * 65, "ü"):
        with pytest.raises(ConfigError, match="server.node must be"):
            load_config(env={"AIRLOCK_SERVER_NODE": bad})


def test_rows_carry_the_node_and_usage_report_groups_by_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'airlock.db'}"
    for node, rows in (("n1", 2), ("n2", 1)):
        ledger = Ledger.open(url, tco=TCO, host_watts=1, power_source=ConstantPower(1), node=node)
        for i in range(rows):
            ledger.record(make_record(request_id=f"{node}-{i}"))
        ledger.close()
    ledger = Ledger.open(url, tco=TCO, host_watts=1, power_source=ConstantPower(1), node="n1")
    ledger.record(make_record(request_id="replayed", node="n2"))   # a row that names its node keeps it
    ledger.close()
    monkeypatch.setenv("AIRLOCK_DATA_DIR", str(tmp_path))
    assert main(["usage", "report", "--group", "node", "--period", "month", "--format", "json",
                 "--since", "2000-01-01"]) == 0
    totals = {row["node"]: row["requests"] for row in json.loads(capsys.readouterr().out)}
    assert totals == {"n1": 2, "n2": 2}


def test_tco_per_node_and_in_total(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'airlock.db'}"
    for node, rows in (("n1", 3), ("n2", 1)):
        ledger = Ledger.open(url, tco=TCO, host_watts=1, power_source=ConstantPower(1), node=node)
        for i in range(rows):
            ledger.record(make_record(request_id=f"{node}-{i}", created_at=datetime.now(UTC)))
        ledger.close()
    monkeypatch.setenv("AIRLOCK_DATA_DIR", str(tmp_path))
    assert main(["usage", "tco", "--per-node", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    nodes = {row["node"]: row for row in report["nodes"]}
    assert {n: (r["requests"], r["tokens"]) for n, r in nodes.items()} == {"n1": (3, 360), "n2": (1, 120)}
    assert nodes["n1"]["window_cost"] == pytest.approx(nodes["n2"]["window_cost"])   # one box each, same inputs
    total = report["total"]
    assert (total["requests"], total["tokens"]) == (4, 480)
    assert total["window_cost"] == pytest.approx(2 * nodes["n1"]["window_cost"])
    assert total["cost_per_million_tokens"] == pytest.approx(total["window_cost"] / 480 * 1e6)
    assert main(["usage", "tco", "--per-node"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("total")
