"""`airlock models ...` run in-process against a real store directory."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.cli import main


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRLOCK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AIRLOCK_CONFIG", raising=False)
    return tmp_path


def test_import_list_show_verify_remove(data_dir: Path, tiny_hf: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "import", str(tiny_hf)]) == 0
    assert "imported tiny-llama (llama," in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    assert "tiny-llama" in capsys.readouterr().out
    assert main(["models", "show", "tiny-llama", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["license_file"] == "LICENSE" and shown["context_length"] == 256
    assert main(["models", "verify", "tiny-llama"]) == 0
    assert "every file matches" in capsys.readouterr().out
    (data_dir / "models" / "tiny-llama" / "config.json").write_text("{}")
    assert main(["models", "verify", "tiny-llama"]) == 1
    assert "config.json: size" in capsys.readouterr().out
    assert main(["models", "remove", "tiny-llama"]) == 0
    assert main(["models", "list", "--json"]) == 0
    assert capsys.readouterr().out.strip().endswith("[]")


def test_errors_are_one_line_not_a_traceback(data_dir: Path, tiny_gguf: Path, capsys: pytest.CaptureFixture) -> None:
    cut = data_dir / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[:-100])
    assert main(["models", "import", str(cut)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"airlock models: {cut}: truncated") and "Traceback" not in err
    assert main(["models", "show", "nope"]) == 2
    assert "'nope' is not in the store (available: none)" in capsys.readouterr().err
    assert main(["models", "plan", "--config-json", str(data_dir / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_plan_from_a_config_json(data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    config = {"model_type": "mistral", "vocab_size": 32000, "hidden_size": 4096, "num_hidden_layers": 32,
              "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
              "max_position_embeddings": 32768}
    path = data_dir / "config.json"
    path.write_text(json.dumps(config))
    args = ["models", "plan", "--config-json", str(path), "--device", "cuda", "--budget-gib", "24",
            "--quantization", "fp16", "--context", "8192", "--concurrency", "4"]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "7,241,732,096 parameters" in table and "budget 24.00 GiB" in table
    assert "* fp16    13.49 GiB   4.00 GiB" in table
    assert main(args + ["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["plan"]["weight_bytes"] == 2 * 7_241_732_096
    assert report["plan"]["kv_bytes"] == 4 * 8192 * (2 * 32 * 8 * 128 * 2)
    fits = {row["quantization"]: row["fits"] for row in report["what_if"]}
    assert fits == {"fp32": False, "fp16": True, "bf16": True, "int8": True, "nf4": True}
    assert main(args[:-2] + ["--concurrency", "0"]) == 2
    assert "concurrency must be at least 1, got 0" in capsys.readouterr().err


def test_plan_counts_the_self_drafting_copy(data_dir: Path, capsys: pytest.CaptureFixture,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """[speculation] method self: the int8 copy's weights and its int8 K/V beside the fp32 model."""
    config = {"model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "num_hidden_layers": 30,
              "num_attention_heads": 9, "num_key_value_heads": 3, "intermediate_size": 1536,
              "max_position_embeddings": 8192, "tie_word_embeddings": True}
    path = data_dir / "config.json"
    path.write_text(json.dumps(config))
    args = ["models", "plan", "--config-json", str(path), "--device", "cpu", "--budget-gib", "8",
            "--quantization", "fp32", "--context", "2048", "--json"]
    assert main(args) == 0
    alone = json.loads(capsys.readouterr().out)["plan"]
    monkeypatch.setenv("AIRLOCK_SPECULATION_METHOD", "self")
    assert main(args) == 0
    drafted = json.loads(capsys.readouterr().out)["plan"]
    # 2 (K, V) x 30 layers x 3 KV heads x (64 int8 values + a 4-byte scale)
    assert drafted["draft_weight_bytes"] > 100 * 2**20 and drafted["draft_kv_bytes_per_token"] == 12_240
    assert drafted["total_bytes"] == alone["total_bytes"] + drafted["draft_weight_bytes"] + 2048 * 12_240
    assert main(args[:-1]) == 0
    assert "drafting model (speculation)" in capsys.readouterr().out
