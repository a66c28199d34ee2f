"""End to end, as an administrator installs: build a signed CPU bundle, install it as root
with no network and the defaults, and get a chat completion from the service running as its
own user.

- The default service user: install.sh creates `airlock` (skipped where that user already
  exists: this test creates it and removes it again).
- Two models: one named from a model store (it travels as its file and manifest, without the
  store's conversion cache) and one given as a file path.
- The interpreter: `python3.11` on PATH is a link in a folder only root may enter (as a pyenv
  install in /root is): install.sh must fall back to the system's /usr/bin/python3.11, and
  refuse, naming --python, when that private one is asked for.
- Offline: install.sh and the installed Airlock run inside `unshare -n` (loopback only),
  with the clean environment sudo gives.
- The service starts as the rendered unit says (User, WorkingDirectory, Environment,
  ExecStart): systemd itself does not run here.
- AIRLOCK_TORCH_ONLY=1: the CPU kernels are not compiled (minutes on two cores; the engine's
  torch path answers instead). tests/engine covers the kernels.
"""
from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.bundle.build import BundleSpec, build_bundle, find_model
from appliance.bundle.signing import generate_key
from appliance.bundle.target import Target
from appliance.bundle.verify import verify_bundle
from appliance.models.store import ModelStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]   # a fixture installs torch into a venv
USER = "airlock"                       # install.sh's default
PYTHON = f"python{Target().python}"
SYSTEM_PYTHON = f"/usr/bin/{PYTHON}"
STORE_MODEL = "smollm2-135m-instruct"  # the default model, named from the store
FILE_MODEL = "smollm2-file.Q4_1.gguf"  # the same weights under another name, given as a path
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


def unmet() -> str | None:
    """Why this host cannot run the test, or None."""
    if os.geteuid() != 0:
        return "needs root: install.sh creates the service user and hands it its folders"
    for tool in ("unshare", "useradd", "userdel", "runuser", "setpriv", "ip", "openssl"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        return "`unshare -n` is not permitted here: no network namespace to install offline in"
    if subprocess.run(["id", "-u", USER], capture_output=True).returncode == 0:
        return f"user {USER} exists on this host; the test creates and removes it"
    if subprocess.run([SYSTEM_PYTHON, "-c", "import venv, ensurepip"], capture_output=True).returncode != 0:
        return f"needs {SYSTEM_PYTHON} with venv and ensurepip (the bundle's Python, for all users)"
    return None


@pytest.fixture(scope="module")
def host() -> Iterator[dict[str, Path]]:
    """Folders every user may traverse (pytest's own are root's only), a private folder
    holding a python3.11 only root can run, and a clean-up that leaves no user behind."""
    if reason := unmet():
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="airlock-e2e-", dir="/tmp"))
    root.chmod(0o755)
    private = root / "private"
    private.mkdir(mode=0o700)
    (private / PYTHON).symlink_to(SYSTEM_PYTHON)
    yield {"root": root, "private": private, "prefix": root / "opt", "conf": root / "etc", "data": root / "data"}
    if subprocess.run(["id", "-u", USER], capture_output=True).returncode == 0:
        subprocess.run(["userdel", USER], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def layout(host: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> dict[str, Path]:
    """The bundle, built once for every test here: signed, with a store model and a file."""
    work = tmp_path_factory.mktemp("bundle")
    store = ModelStore(work / "store")
    store.import_path(smollm2_path, name=STORE_MODEL)
    (work / "store" / STORE_MODEL / ".converted").mkdir()
    (work / "store" / STORE_MODEL / ".converted" / "model.safetensors").write_bytes(b"a derived cache")
    (work / FILE_MODEL).symlink_to(smollm2_path)
    generate_key(work / "site.key")
    models = (find_model(STORE_MODEL, stores=(work / "store",)), work / FILE_MODEL)
    archive = build_bundle(BundleSpec(work / "out", models=models, sign_key=work / "site.key"))
    with tarfile.open(archive) as tar:
        tar.extractall(work / "media", filter="data")
    return {**host, "archive": archive, "bundle": next((work / "media").iterdir()), "key": work / "site.key.pub"}


def offline(script: str, layout: dict[str, Path], timeout: float) -> subprocess.CompletedProcess[str]:
    """A bash script in a new network namespace with only loopback up, in sudo's clean
    environment, with the private python3.11 first on PATH."""
    env = {"PATH": f"{layout['private']}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8", "AIRLOCK_TORCH_ONLY": "1"}
    return subprocess.run(["unshare", "-n", "bash", "-c", f"set -eo pipefail; ip link set lo up\n{script}"],
                          capture_output=True, text=True, timeout=timeout, env=env)


def install(layout: dict[str, Path], *extra: str) -> subprocess.CompletedProcess[str]:
    args = shlex.join(["--prefix", str(layout["prefix"]), "--conf-dir", str(layout["conf"]),
                       "--data-dir", str(layout["data"]), "--trusted-key", str(layout["key"]), *extra])
    return offline(f"ip -o link | grep -v ': lo:' && exit 9\n{layout['bundle']}/install.sh {args}", layout, timeout=600)


@pytest.fixture(scope="module")
def installed(layout: dict[str, Path]) -> dict[str, Path]:
    result = install(layout)
    assert result.returncode == 0, result.stdout + result.stderr
    layout["log"] = result.stdout   # type: ignore[assignment]
    return layout


def as_service(layout: dict[str, Path], command: str) -> str:
    """An `airlock` command line run as the service user, as the unit runs it."""
    return (f"cd {layout['data']}; runuser -u {USER} -- env AIRLOCK_CONFIG={layout['conf']}/airlock.toml "
            f"HF_HUB_OFFLINE=1 AIRLOCK_TORCH_ONLY=1 {layout['prefix']}/venv/bin/airlock {command}")


def unit_command(unit: str) -> str:
    """The unit's service as a shell command: its user, directory, environment, ExecStart.
    setpriv changes user and execs, as systemd does, so $! is the server itself."""
    lines = [line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")]
    conf = {key: value for key, value in lines if key in ("User", "Group", "WorkingDirectory", "ExecStart")}
    env = " ".join(value for key, value in lines if key == "Environment")
    return (f"cd {conf['WorkingDirectory']} && setpriv --reuid={conf['User']} --regid={conf['Group']} "
            f"--init-groups env {env} AIRLOCK_TORCH_ONLY=1 {conf['ExecStart']}")


def owned_by_others(folder: Path, uid: int) -> list[str]:
    return [str(p) for p in [folder, *folder.rglob("*")] if p.lstat().st_uid != uid]


def test_bundle_holds_what_was_chosen_signed(layout: dict[str, Path]) -> None:
    report = verify_bundle(layout["archive"], layout["key"])
    assert report.ok and report.signed, report.problems()
    wheels = [p.name for p in (layout["bundle"] / "wheelhouse").iterdir()]
    assert any(w.startswith("torch-") and "+cpu" in w for w in wheels), wheels
    models = sorted(str(p.relative_to(layout["bundle"] / "models")) for p in (layout["bundle"] / "models").rglob("*"))
    assert models == sorted(["SHA256SUMS", FILE_MODEL, STORE_MODEL, f"{STORE_MODEL}/SmolLM2-135M-Instruct.Q4_1.gguf",
                             f"{STORE_MODEL}/manifest.json"])      # not the store's .converted/


def test_installs_with_the_defaults_on_the_system_python(installed: dict[str, Path]) -> None:
    log = str(installed["log"])
    assert "signature good" in log and f"creating service user {USER}" in log
    assert f"not using {PYTHON} ({installed['private']}/{PYTHON}): user nobody cannot run it" in log
    assert f"using {SYSTEM_PYTHON}" in log
    assert "home = /usr/bin" in (installed["prefix"] / "venv" / "pyvenv.cfg").read_text()
    assert f"imported model {STORE_MODEL}" in log and f"imported model {FILE_MODEL}" in log
    uid = pwd.getpwnam(USER).pw_uid
    assert owned_by_others(installed["data"], uid) == []
    assert installed["data"].stat().st_mode & 0o777 == 0o750
    assert (installed["conf"] / "bundle-signing.pub").read_bytes() == installed["key"].read_bytes()
    listed = offline(as_service(installed, "models list --json"), installed, timeout=120)
    assert listed.returncode == 0, listed.stderr
    stored = {m["name"]: [f["path"] for f in m["files"]] for m in json.loads(listed.stdout)}
    assert stored == {STORE_MODEL: ["SmolLM2-135M-Instruct.Q4_1.gguf"], "smollm2-file": [FILE_MODEL]}


def test_serves_a_chat_completion_as_the_service_user(installed: dict[str, Path], tmp_path: Path) -> None:
    client, wait = tmp_path / "client.py", tmp_path / "wait_ready.py"
    client.write_text(CHAT_CLIENT)
    wait.write_text(WAIT_READY)
    unit = (installed["prefix"] / "airlock.service").read_text()
    assert f"User={USER}" in unit
    script = f"""
secret=$({as_service(installed, 'keys create e2e')} | sed -n 's/^secret.*: //p')
({unit_command(unit)}) > {tmp_path}/serve.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
{sys.executable} {wait} $pid 480
echo "server user: $(ps -o user= -p $pid)"
{sys.executable} {client} "$secret" {STORE_MODEL}
{as_service(installed, 'doctor')} | grep -E "^OK +port"
kill -TERM $pid
rc=0; wait $pid || rc=$?; echo "serve exited $rc"
"""
    result = offline(script, installed, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr + (tmp_path / "serve.log").read_text()
    answer = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("{")))
    assert answer["content"].strip() and answer["tokens"] > 0
    assert f"server user: {USER}" in result.stdout
    assert "is held by Airlock (it answers /health)" in result.stdout   # doctor, while it serves
    assert "serve exited 0" in result.stdout                           # SIGTERM drains, exits cleanly
    assert owned_by_others(installed["data"], pwd.getpwnam(USER).pw_uid) == []


def test_a_python_the_service_user_cannot_run_is_refused(installed: dict[str, Path]) -> None:
    private = [installed["private"] / PYTHON]
    if Path(sys._base_executable).resolve().is_relative_to("/root"):
        private.append(Path(sys._base_executable))   # this machine's pyenv in /root, say
    for python in private:
        result = install(installed, "--python", str(python))
        assert result.returncode == 1, result.stdout
        assert f"--python {python}" in result.stderr and "Pass --python with a Python" in result.stderr
        assert f"user {USER} cannot run it" in result.stderr or "home directory" in result.stderr
    assert "upgrading" not in result.stdout          # refused before anything was touched
    assert "home = /usr/bin" in (installed["prefix"] / "venv" / "pyvenv.cfg").read_text()


def test_reinstall_keeps_the_database_and_the_keys(installed: dict[str, Path]) -> None:
    token = (installed["data"] / "admin_token").read_text()
    result = install(installed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "upgrading the installation" in result.stdout and "kept the existing" in result.stdout
    assert f"model {STORE_MODEL} is already in the store" in result.stdout
    assert list((installed["data"] / "backups").glob("airlock.db.*"))
    assert (installed["data"] / "admin_token").read_text() == token
    keys = offline(as_service(installed, "keys list"), installed, timeout=120)
    assert keys.returncode == 0 and "e2e" in keys.stdout, keys.stdout + keys.stderr
    assert owned_by_others(installed["data"], pwd.getpwnam(USER).pw_uid) == []


def test_uninstall_and_purge_leave_nothing_of_the_service_user(installed: dict[str, Path]) -> None:
    base = [str(installed["bundle"] / "uninstall.sh"), "--prefix", str(installed["prefix"]),
            "--conf-dir", str(installed["conf"]), "--data-dir", str(installed["data"])]
    kept = subprocess.run(base, capture_output=True, text=True)
    assert kept.returncode == 0, kept.stderr
    assert not installed["prefix"].exists() and (installed["data"] / "airlock.db").is_file()
    uid = pwd.getpwnam(USER).pw_uid
    purged = subprocess.run([*base, "--purge"], capture_output=True, text=True)
    assert purged.returncode == 0, purged.stderr
    assert not installed["data"].exists() and not installed["conf"].exists()
    assert subprocess.run(["getent", "passwd", USER], capture_output=True).returncode == 2
    assert subprocess.run(["getent", "group", USER], capture_output=True).returncode == 2
    leftovers = subprocess.run(["find", str(installed["root"]), "/tmp", "/var/tmp", "/dev/shm", "-xdev",
                                "-uid", str(uid)], capture_output=True, text=True)
    assert leftovers.stdout == ""
