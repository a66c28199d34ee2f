"""`airlock tune` on a recorded sweep: its choice, the [scheduler] table it writes, and refusals."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import load_config
from appliance.ledger import database
from appliance.ledger.bench_runs import SweepRecord, save_sweep
from .sweep_fixture import recorded_points


@pytest.fixture()
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "airlock.toml"
    path.write_text(f'# the site\'s settings\n[ledger]\ndatabase_url = "sqlite:///{tmp_path / "l.db"}"\n\n'
                    '[server]\nport = 9000  # kept\n')
    engine = database.make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    database.upgrade(engine)
    save_sweep(engine, SweepRecord(model="smollm2-135m-instruct", quantization="fp32", workload="chat mix",
                                   currency="USD", points=recorded_points()))
    engine.dispose()
    return path


def test_tune_writes_the_chosen_settings_and_slo_keeping_the_file(config_file: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", "--slo-ttft-p95", "2s", "--slo-itl-p95", "150ms", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "5 of 7 points meet the SLO (p95 TTFT <= 2.00 s, p95 ITL <= 150 ms)" in out
    assert "chosen: seqs 32, budget 512, chunk 128 (measured at 16 concurrent streams): 190.0 output tok/s" in out
    text = config_file.read_text()
    assert "# the site's settings" in text and "port = 9000  # kept" in text
    scheduler = tomllib.loads(text)["scheduler"]
    assert scheduler == {"max_num_seqs": 16, "max_num_batched_tokens": 512, "max_prefill_chunk": 128,
                         "slo_ttft_p95_seconds": 2.0, "slo_itl_p95_seconds": 0.15}
    config = load_config(config_file)
    assert (config.scheduler.max_num_seqs, config.server.port) == (16, 9000)


def test_tune_from_a_json_sweep_with_only_an_itl_target(tmp_path: Path, config_file: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "sweep.json"
    sweep.write_text(SweepRecord(model="m", quantization="int8", workload="w", currency="EUR",
                                 points=recorded_points()).to_json())
    assert main(["tune", "--slo-itl-p95", "0.1", "--sweep", str(sweep), "--config", str(config_file),
                 "--dry-run"]) == 0
    assert "200.0 output tok/s" in capsys.readouterr().out
    assert "[scheduler]" not in config_file.read_text()                    # dry run: nothing written


def test_an_slo_no_point_meets_changes_nothing(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", "--slo-itl-p95", "5ms", "--config", str(config_file)]) == 1
    assert "no point of the sweep meets the SLO (p95 ITL <= 5 ms)" in capsys.readouterr().out
    assert "[scheduler]" not in config_file.read_text()


@pytest.mark.parametrize("flags,message", [
    (["--slo-itl-p95=-150ms"], "--slo-itl-p95 must be a positive duration, got '-150ms'"),
    (["--slo-ttft-p95", "0"], "--slo-ttft-p95 must be a positive duration, got '0'"),
    (["--slo-ttft-p95", "-2"], "--slo-ttft-p95 must be a positive duration, got '-2'"),
    (["--slo-itl-p95", "150us"], "--slo-itl-p95 has unknown unit 'us': use ms or s"),
    (["--slo-ttft-p95", "soon"], "--slo-ttft-p95 must be a duration such as 150ms or 2s, got 'soon'"),
    ([], "give --slo-ttft-p95, --slo-itl-p95 or both")])
def test_bad_slo_values_are_refused_clearly(config_file: Path, capsys: pytest.CaptureFixture[str],
                                            flags: list[str], message: str) -> None:
    assert main(["tune", *flags, "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert f"airlock tune: {message}" in err and "Traceback" not in err
