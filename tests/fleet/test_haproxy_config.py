"""`airlock fleet haproxy-config`: what it writes, HAProxy's own check of it, and bad input."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.fleet.haproxy import FrontSettings, render
from appliance.fleet.node import Node, NodeError


def test_config_hashes_on_the_key_checks_ready_and_keeps_streams_open(tmp_path: Path) -> None:
    out = tmp_path / "haproxy.cfg"
    assert main(["fleet", "haproxy-config", "--node", "gpu1=10.0.0.11:8420", "--node", "gpu2=[fd00::2]:8420",
                 "--stream-timeout", "900", "-o", str(out)]) == 0
    text = out.read_text()
    for line in ("balance hdr(Authorization)", "hash-type consistent", "option httpchk GET /ready",
                 "http-check expect status 200", "option redispatch 1", "retry-on conn-failure empty-response 503",
                 "option http-buffer-request", "tune.bufsize 65536", "timeout server 900s", "timeout tunnel 900s",
                 "server gpu1 10.0.0.11:8420 check", "server gpu2 [fd00::2]:8420 check"):
        assert line in text.splitlines() or f"    {line}" in text.splitlines(), line
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (packaging/dev/install.sh installs it): its own check not run")
    check = subprocess.run(["haproxy", "-c", "-f", str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_tenant_header_can_replace_the_key() -> None:
    text = render([Node.parse("a=127.0.0.1:1")], FrontSettings(hash_header="X-Tenant"))
    assert "    balance hdr(X-Tenant)" in text.splitlines()


@pytest.mark.parametrize("args, message", [
    (["--node", "a=127.0.0.1"], "must be written name=host:port"),
    (["--node", "a b=127.0.0.1:1"], "node name 'a b'"),
    (["--node", "a=127.0.0.1:70000"], "port 70000"),
    (["--node", "a=h_1:80"], "not a host name"),
    (["--node", "a=h:1", "--node", "a=h:2"], "names must be unique; given twice: a"),
    (["--node", "a=h:1", "--node", "b=h:1"], "addresses must be unique"),
    (["--node", "a=h:1", "--hash-header", "X Bad"], "hash header"),
    (["--node", "a=h:1", "--stream-timeout", "0"], "stream_timeout_s must be at least 1"),
])
def test_bad_input_is_refused_naming_what_is_wrong(args: list[str], message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "haproxy-config", *args]) == 2
    assert message in capsys.readouterr().err


def test_no_nodes_is_refused() -> None:
    with pytest.raises(NodeError, match="at least one node"):
        render([])
