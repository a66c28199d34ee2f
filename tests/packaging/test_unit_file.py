"""The systemd unit: `systemd-analyze verify` is clean and `security` rates it at most 3.0."""
from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from appliance.config import ServerSettings

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
UNIT = PACKAGING / "airlock.service"
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze is not installed (apt-get install systemd)")


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


@pytest.fixture()
def rendered_unit(tmp_path: Path) -> Path:
    """The unit as install.sh writes it for a prefix under tmp_path, with its command present."""
    command = tmp_path / "opt" / "venv" / "bin" / "airlock"
    command.parent.mkdir(parents=True)
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    out = subprocess.run([PACKAGING / "render-unit.sh", UNIT, tmp_path / "opt", tmp_path / "etc", tmp_path / "data"],
                         capture_output=True, text=True, check=True).stdout
    unit = tmp_path / "airlock.service"
    unit.write_text(out)
    return unit


@needs_analyze
def test_systemd_analyze_verify_is_clean(rendered_unit: Path) -> None:
    result = subprocess.run(["systemd-analyze", "verify", rendered_unit], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@needs_analyze
def test_security_rating_at_most_3(tmp_path: Path) -> None:
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", UNIT],
                            capture_output=True, text=True)
    match = re.search(r"Overall exposure level for airlock.service: (\d+\.\d)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    assert float(match.group(1)) <= 3.0, result.stdout


def test_render_rewrites_every_path(rendered_unit: Path, tmp_path: Path) -> None:
    found = directives(rendered_unit.read_text())
    assert found["ExecStart"] == [f"{tmp_path}/opt/venv/bin/airlock serve --config {tmp_path}/etc/airlock.toml"]
    assert found["ReadWritePaths"] == [str(tmp_path / "data")]
    assert found["WorkingDirectory"] == [str(tmp_path / "data")]
    assert f"AIRLOCK_DATA_DIR={tmp_path}/data" in found["Environment"][0]


def test_stop_outlasts_the_drain_grace() -> None:
    found = directives(UNIT.read_text())
    stop = float(found["TimeoutStopSec"][0])
    shipped = tomllib.loads((PACKAGING / "airlock.toml").read_text())["server"]["shutdown_grace_seconds"]
    assert stop > max(shipped, ServerSettings().shutdown_grace_seconds) + 5
    assert found["KillSignal"] == ["SIGTERM"] and found["Restart"] == ["on-failure"]


def test_hardening_directives() -> None:
    found = directives(UNIT.read_text())
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ProtectHome": "yes", "CapabilityBoundingSet": "", "DevicePolicy": "closed",
                       "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX"}.items():
        assert found[key] == [value], key
    assert all("nvidia" in allowed for allowed in found["DeviceAllow"])
    assert found["ReadWritePaths"] == ["/var/lib/airlock"]
