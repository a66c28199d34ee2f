"""`airlock doctor`: passes on a good setup; names a broken config, a tampered model, a held port."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.doctor import Status, run_doctor
from appliance.doctor.runner import exit_status
from appliance.ledger.database import make_engine, upgrade
from appliance.models.store import ModelStore

MODEL = "smollm2-135m-instruct"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(path: Path, data_dir: Path, port: int, extra: str = "") -> Path:
    path.write_text(f'data_dir = "{data_dir}"\n[server]\nport = {port}\n{extra}')
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> Path:
    """A data dir as install.sh leaves it: migrated database, the default model in the store."""
    data = tmp_path_factory.mktemp("data")
    engine = make_engine(f"sqlite:///{data / 'airlock.db'}")
    upgrade(engine)
    engine.dispose()
    ModelStore(data / "models").import_path(smollm2_path)
    return data


@pytest.fixture()
def config(installed: Path, tmp_path: Path) -> Path:
    return write_config(tmp_path / "airlock.toml", installed, free_port())


def by_name(results: list) -> dict:
    return {r.name: r for r in results}


def test_good_setup_is_all_well(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = by_name(run_doctor(str(config), env={}))
    assert {"config", "gpu", "torch", "memory", "disk", "port", "database", f"model {MODEL}"} <= set(results)
    not_ok = [r for r in results.values() if r.status is not Status.OK]
    assert not not_ok, not_ok
    assert "at migration" in results["database"].message and "(head)" in results["database"].message
    assert main(["doctor", "--config", str(config), "--strict"]) == 0
    assert "all is well" in capsys.readouterr().out


@pytest.mark.parametrize("extra, named", [
    ("threads = 0\n", "server.threads"),
    ("prot = 8420\n", "server.prot"),
    ("[models]\nmemory_budget_fraction = 1.5\n", "models.memory_budget_fraction"),
    ("[models]\ndevice = 'tpu'\n", "models.device"),
    ("[server]\n", "cannot read config file"),
])
def test_broken_config_is_named(installed: Path, tmp_path: Path, extra: str, named: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "airlock.toml", installed, free_port(), extra)
    result = run_doctor(str(config), env={})[0]
    assert result.name == "config" and result.status is Status.FAIL
    assert named in result.message and str(config) in result.fix
    assert main(["doctor", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  config" in out and named in out and "Traceback" not in out


def test_tampered_model_is_named(config: Path, installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stored = next((installed / "models" / MODEL).glob("*.gguf"))
    offset = stored.stat().st_size // 2
    with open(stored, "r+b") as f:
        f.seek(offset)
        original = f.read(1)
        f.seek(offset)
        f.write(bytes([original[0] ^ 0xFF]))
    try:
        result = by_name(run_doctor(str(config), env={}))[f"model {MODEL}"]
        assert result.status is Status.FAIL
        assert str(stored) in result.message and "sha256" in result.message
        assert main(["doctor", "--config", str(config)]) == 1
        assert f"FAIL  model {MODEL}" in capsys.readouterr().out
    finally:
        with open(stored, "r+b") as f:
            f.seek(offset)
            f.write(original)


def test_port_held_by_another_program_fails(config: Path, installed: Path, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        held = write_config(tmp_path / "held.toml", installed, port)
        result = by_name(run_doctor(str(held), env={}))["port"]
    assert result.status is Status.FAIL and f"127.0.0.1:{port} is in use" in result.message


def test_database_behind_head_is_reported(tmp_path: Path, smollm2_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'airlock.db'}")
    upgrade(engine, "0001")
    engine.dispose()
    config = write_config(tmp_path / "airlock.toml", tmp_path, free_port())
    results = by_name(run_doctor(str(config), env={}))
    assert results["database"].status is Status.WARN and "at migration 0001" in results["database"].message
    assert "db upgrade" in results["database"].fix
    assert results["models"].status is Status.WARN   # empty store
    assert exit_status(list(results.values())) == 0 and exit_status(list(results.values()), strict=True) == 1


def test_cpu_host_is_cpu_mode_not_an_error(config: Path) -> None:
    results = by_name(run_doctor(str(config), env={}))
    import torch
    if torch.cuda.is_available():
        assert results["gpu"].status is Status.OK and "driver" in results["gpu"].message
    else:
        assert results["gpu"].status is Status.OK and results["gpu"].message == "no GPU: CPU mode"
        assert "running on CPU" in results["torch"].message


def test_cpu_kernels_verdict_follows_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    from appliance.doctor.hardware import check_cpu_kernels
    from engine import kernels
    built = kernels.cpu_kernels() is not None
    assert check_cpu_kernels().status is (Status.OK if built else Status.WARN)
    monkeypatch.setenv("AIRLOCK_TORCH_ONLY", "1")             # what a machine without gcc gets
    kernels.cpu_kernels.cache_clear()
    try:
        result = check_cpu_kernels()
        assert result.status is Status.WARN and "airlock kernels" in result.fix
    finally:
        kernels.cpu_kernels.cache_clear()


def test_cpu_isa_shows_the_level_and_a_bad_override(monkeypatch: pytest.MonkeyPatch) -> None:
    from appliance.doctor.hardware import check_cpu_isa
    from engine import cpu_isa
    detected = cpu_isa.cpu_isa().detected
    try:
        monkeypatch.setenv("AIRLOCK_CPU_ISA", "portable")
        cpu_isa.cpu_isa.cache_clear()
        forced = check_cpu_isa()
        assert forced.status is Status.OK and forced.message.startswith("portable")
        assert detected == "portable" or f"forced by AIRLOCK_CPU_ISA; CPU has {detected}" in forced.message
        assert "auto precision on CPU: fp32" in forced.message
        monkeypatch.setenv("AIRLOCK_CPU_ISA", "avx9000")
        cpu_isa.cpu_isa.cache_clear()
        bad = check_cpu_isa()
        assert bad.status is Status.WARN and "avx9000" in bad.message and "AIRLOCK_CPU_ISA" in bad.fix
    finally:
        cpu_isa.cpu_isa.cache_clear()


@pytest.mark.cuda
def test_gpu_host_lists_its_devices(config: Path) -> None:
    results = by_name(run_doctor(str(config), env={}))
    assert results["gpu"].status is Status.OK and "driver" in results["gpu"].message
    assert results["torch"].status is Status.OK and "CUDA device(s) visible" in results["torch"].message


def test_gpu_and_torch_verdicts_from_what_nvml_reports() -> None:
    import torch

    from appliance.config import Config
    from appliance.doctor.hardware import GpuProbe, check_gpu, check_torch
    broken = check_gpu(GpuProbe((), error="NVML: Driver Not Loaded"))
    assert broken.status is Status.FAIL and "Driver Not Loaded" in broken.message and "nvidia-smi" in broken.fix
    h100 = GpuProbe(("NVIDIA H100 80GB HBM3 (79.6 GiB)",), driver="550.54.15")
    assert check_gpu(h100).message == "driver 550.54.15; 0: NVIDIA H100 80GB HBM3 (79.6 GiB)"
    cuda_config = Config()
    cuda_config.models.device = "cuda"
    if not torch.cuda.is_available():
        cpu_build_on_gpu_host = check_torch(h100, None)
        assert cpu_build_on_gpu_host.status is Status.FAIL and "--target cuda" in cpu_build_on_gpu_host.fix
        wants_cuda = check_torch(GpuProbe(()), cuda_config)
        assert wants_cuda.status is Status.FAIL and "models.device" in wants_cuda.message
