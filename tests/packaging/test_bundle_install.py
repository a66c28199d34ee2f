"""End to end: build a CPU bundle, install it with no network, serve a chat completion offline.

Everything that runs the installed Airlock runs inside a fresh network namespace
(`unshare -n`) whose only interface is loopback: pip installs from the bundle's wheelhouse
alone and the service answers on 127.0.0.1 inside the namespace.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from appliance.bundle.build import BundleSpec, build_bundle
from appliance.bundle.verify import verify_bundle

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct"
CHAT_CLIENT = """
import json, sys, openai
client = openai.OpenAI(base_url="http://127.0.0.1:8420/v1", api_key=sys.argv[1], max_retries=0, timeout=120)
reply = client.chat.completions.create(model=sys.argv[2], max_tokens=12, temperature=0,
                                       messages=[{"role": "user", "content": "Say hello."}])
print(json.dumps({"content": reply.choices[0].message.content, "tokens": reply.usage.completion_tokens}))
"""
WAIT_READY = """
import os, sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    os.kill(int(sys.argv[1]), 0)          # raises once the server has exited
    try:
        urllib.request.urlopen("http://127.0.0.1:8420/ready", timeout=2)
        sys.exit(0)
    except OSError:
        time.sleep(0.5)
sys.exit("not ready in time")
"""


def offline(script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a bash script in a new network namespace with only loopback up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "AIRLOCK_", "VIRTUAL_ENV"))}
    return subprocess.run(["unshare", "-n", "bash", "-c", f"set -eo pipefail; ip link set lo up\n{script}"],
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> dict[str, Path]:
    if os.geteuid() != 0 or shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs root and `unshare -n` to install inside a namespace without network")
    root = tmp_path_factory.mktemp("install")
    archive = build_bundle(BundleSpec(root / "out", models=(smollm2_path,)))
    with tarfile.open(archive) as tar:
        tar.extractall(root / "media", filter="data")
    return {"archive": archive, "bundle": next((root / "media").iterdir()), "prefix": root / "opt",
            "conf": root / "etc", "data": root / "data"}


def install(layout: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    args = (f"--prefix {layout['prefix']} --conf-dir {layout['conf']} --data-dir {layout['data']} "
            f"--user {os.environ.get('USER', 'root')} --python {sys._base_executable}")
    return offline(f"ip -o link | grep -v ': lo:' && exit 9\n{layout['bundle']}/install.sh {args}", timeout=600)


@pytest.fixture(scope="module")
def installed(layout: dict[str, Path]) -> dict[str, Path]:
    result = install(layout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "systemd is not running here" in result.stdout or "ready at" in result.stdout
    return layout


def airlock(layout: dict[str, Path], command: str) -> str:
    return (f"cd {layout['data']}; AIRLOCK_CONFIG={layout['conf']}/airlock.toml HF_HUB_OFFLINE=1 "
            f"{layout['prefix']}/venv/bin/airlock {command}")


def test_bundle_holds_everything(layout: dict[str, Path]) -> None:
    report = verify_bundle(layout["archive"])
    assert report.ok, report.problems()
    wheels = [p.name for p in (layout["bundle"] / "wheelhouse").iterdir()]
    assert any(w.startswith("torch-") and "+cpu" in w for w in wheels), wheels
    assert (layout["bundle"] / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf").is_file()


def test_installed_from_the_wheelhouse_alone(installed: dict[str, Path]) -> None:
    python = installed["prefix"] / "venv" / "bin" / "python"
    torch = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    assert torch.stdout.strip().endswith("+cpu")
    assert (installed["conf"] / "airlock.toml").read_text().startswith("#")
    assert f'data_dir = "{installed["data"]}"' in (installed["conf"] / "airlock.toml").read_text()
    unit = (installed["prefix"] / "airlock.service").read_text()
    assert f"ExecStart={installed['prefix']}/venv/bin/airlock serve" in unit


def test_doctor_runs_from_the_installed_venv(installed: dict[str, Path]) -> None:
    result = offline(airlock(installed, "doctor"), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no GPU: CPU mode" in result.stdout and "FAIL" not in result.stdout
    assert "(head)" in result.stdout   # install.sh migrated the database


def test_serves_a_chat_completion_offline(installed: dict[str, Path], tmp_path: Path) -> None:
    client, wait = tmp_path / "client.py", tmp_path / "wait_ready.py"
    client.write_text(CHAT_CLIENT)
    wait.write_text(WAIT_READY)
    script = f"""
secret=$({airlock(installed, 'keys create e2e')} | sed -n 's/^secret.*: //p')
{airlock(installed, 'serve')} > {tmp_path}/serve.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
{sys.executable} {wait} $pid 480
{sys.executable} {client} "$secret" {MODEL}
{airlock(installed, 'doctor')} | grep -E "^OK +port"
kill -TERM $pid
rc=0; wait $pid || rc=$?; echo "serve exited $rc"
"""
    result = offline(script, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr + (tmp_path / "serve.log").read_text()
    answer = json.loads(result.stdout.splitlines()[0])
    assert answer["content"].strip() and answer["tokens"] > 0
    assert "is held by Airlock (it answers /health)" in result.stdout   # doctor, while it serves
    assert "serve exited 0" in result.stdout                           # SIGTERM drains, exits cleanly


def test_reinstall_upgrades_in_place_keeping_the_database(installed: dict[str, Path]) -> None:
    database = installed["data"] / "airlock.db"
    assert database.is_file()
    result = install(installed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "upgrading the installation" in result.stdout and "kept the existing" in result.stdout
    copies = list((installed["data"] / "backups").glob("airlock.db.*"))
    assert copies and database.is_file()


def test_uninstall_keeps_data_unless_purged(installed: dict[str, Path]) -> None:
    script = installed["bundle"] / "uninstall.sh"
    base = [str(script), "--prefix", str(installed["prefix"]), "--conf-dir", str(installed["conf"]),
            "--data-dir", str(installed["data"]), "--user", "nobody-here"]
    kept = subprocess.run(base, capture_output=True, text=True)
    assert kept.returncode == 0, kept.stderr
    assert not installed["prefix"].exists() and (installed["data"] / "airlock.db").is_file()
    purged = subprocess.run([*base, "--purge"], capture_output=True, text=True)
    assert purged.returncode == 0, purged.stderr
    assert not installed["data"].exists() and not installed["conf"].exists()
