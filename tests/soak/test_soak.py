"""`airlock bench soak --quick`: one minute of mixed traffic against a real `airlock serve`,
a kill -9 and a restart part way, and every check must pass (exit code 0)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from appliance.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]   # two model loads on a busy 2-core machine


def test_quick_soak_passes_every_check(smollm2_path: Path, capsys: pytest.CaptureFixture) -> None:
    started = time.monotonic()
    code = main(["bench", "soak", "--quick", "--json", "--model", str(smollm2_path)])
    report = json.loads(capsys.readouterr().out)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert not failed, failed
    assert code == 0 and report["ok"] is True
    assert len(report["checks"]) == 12
    traffic = report["traffic"]
    for kind in ("chat", "chat_stream", "batch", "embed", "disconnect", "budget"):
        assert traffic[kind]["accepted"] > 0, kind          # every kind of request got through
    assert traffic["bad"]["refused"] > 0 and traffic["budget"]["refused"] > 0
    assert 60 <= report["wall_seconds"] <= time.monotonic() - started


def test_soak_refuses_a_bad_duration(smollm2_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["bench", "soak", "--minutes", "0", "--model", str(smollm2_path)]) == 2
    assert "minutes must be between" in capsys.readouterr().err
