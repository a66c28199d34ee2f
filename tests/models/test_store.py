"""The model store on a real directory with the real GGUF files and a tiny HF model."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from appliance.models.errors import ModelNotFound, StoreError
from appliance.models.store import ModelStore, slug


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_import_gguf_records_facts_and_sha256(tmp_path, smollm2_path) -> None:
    store = ModelStore(tmp_path / "store")
    entry = store.import_path(smollm2_path)
    assert entry.name == "smollm2-135m-instruct"
    assert (entry.format, entry.architecture, entry.parameters, entry.context_length) == \
        ("gguf", "llama", 134_515_008, 8192)
    assert entry.license == "apache-2.0"
    [stored] = entry.files
    assert stored.sha256 == _sha256(smollm2_path) and stored.size == smollm2_path.stat().st_size
    assert entry.model_path.read_bytes() == smollm2_path.read_bytes()
    manifest = json.loads((tmp_path / "store" / entry.name / "manifest.json").read_text())
    assert manifest["files"][0]["sha256"] == stored.sha256 and manifest["imported_at"]
    assert manifest["config"]["num_key_value_heads"] == 3
    assert store.names() == ["smollm2-135m-instruct"]
    assert store.get(entry.name).files == entry.files
    assert store.verify(entry.name) == []


def test_verify_finds_a_changed_byte(tmp_path, tiny_gguf) -> None:
    store = ModelStore(tmp_path)
    entry = store.import_path(tiny_gguf, name="smol")
    with entry.model_path.open("r+b") as f:
        f.seek(-1000, 2)
        byte = f.read(1)
        f.seek(-1000, 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    [problem] = store.verify("smol")
    assert "sha256 differs" in problem and str(entry.model_path) in problem


def test_truncated_gguf_is_refused_and_nothing_is_kept(tmp_path, tiny_gguf) -> None:
    bad = tmp_path / "media" / "Cut.Q4_1.gguf"
    bad.parent.mkdir()
    size = tiny_gguf.stat().st_size
    bad.write_bytes(tiny_gguf.read_bytes()[:size - 4096])
    store = ModelStore(tmp_path / "store")
    with pytest.raises(StoreError) as err:
        store.import_path(bad)
    assert str(bad) in str(err.value)
    assert f"truncated: tensor data ends at byte {size:,} but the file has {size - 4096:,} bytes" in str(err.value)
    assert store.list() == [] and not (tmp_path / "store").exists()


def test_corrupt_gguf_is_refused(tmp_path, tiny_gguf) -> None:
    bad = tmp_path / "garbled.gguf"
    bad.write_bytes(b"XXXX" + tiny_gguf.read_bytes()[4:])
    with pytest.raises(StoreError, match=r"garbled.gguf: not a valid GGUF file .*GGUF magic invalid"):
        ModelStore(tmp_path / "store").import_path(bad)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(StoreError, match="expected a .gguf file or a Hugging Face model directory"):
        ModelStore(tmp_path / "store").import_path(text)
    with pytest.raises(StoreError, match="missing.gguf: no such file"):
        ModelStore(tmp_path / "store").import_path(tmp_path / "missing.gguf")


def test_import_hf_directory(tmp_path, tiny_hf) -> None:
    store = ModelStore(tmp_path)
    entry = store.import_path(tiny_hf)
    assert entry.name == "tiny-llama" and entry.format == "hf" and entry.architecture == "llama"
    assert entry.parameters == int((tiny_hf / "params.txt").read_text())
    assert entry.context_length == 256 and entry.license_file == "LICENSE"
    names = {f.path for f in entry.files}
    assert {"config.json", "model.safetensors", "tokenizer.json", "LICENSE"} <= names
    for f in entry.files:
        assert f.sha256 == _sha256(tiny_hf / f.path)
    assert entry.model_path == tmp_path / "tiny-llama"
    assert store.verify("tiny-llama") == []


def test_hf_directory_problems_are_named(tmp_path, tiny_hf, minilm_path) -> None:
    store = ModelStore(tmp_path / "store")
    no_tok = tmp_path / "no-tok"
    shutil.copytree(tiny_hf, no_tok)
    (no_tok / "tokenizer.json").unlink()
    with pytest.raises(StoreError, match=r"no-tok: no tokenizer \(needs tokenizer.json or tokenizer.model\)"):
        store.import_path(no_tok)
    cut = tmp_path / "cut"
    shutil.copytree(tiny_hf, cut)
    weights = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(StoreError, match=r"cut/model.safetensors: truncated"):
        store.import_path(cut)
    with pytest.raises(StoreError, match="unsupported architecture 'bert'"):
        store.import_path(minilm_path)
    assert store.list() == []


def test_duplicate_remove_and_unknown_names(tmp_path, tiny_gguf) -> None:
    store = ModelStore(tmp_path)
    entry = store.import_path(tiny_gguf)
    assert (entry.name, entry.parameters, entry.context_length) == ("tiny-llama", 256 * 64 + 2 * 64 * 64
                                                                    + 2 * 32 * 64 + 3 * 64 * 128 + 3 * 64, 512)
    with pytest.raises(StoreError, match="already in the store"):
        store.import_path(tiny_gguf)
    with pytest.raises(ModelNotFound, match=r"'nope' is not in the store \(available: tiny-llama\)"):
        store.get("nope")
    with pytest.raises(ModelNotFound):
        store.get("../etc")
    store.remove("tiny-llama")
    assert store.list() == [] and not (tmp_path / "tiny-llama").exists()


def test_slug_drops_quantization_tags() -> None:
    assert slug(Path("SmolLM2-135M-Instruct.Q4_1.gguf")) == "smollm2-135m-instruct"
    assert slug(Path("gemma-3-270m-q4_k_m.gguf")) == "gemma-3-270m"
    assert slug(Path("Mistral-7B-Instruct-v0.3.f16.gguf")) == "mistral-7b-instruct-v0.3"


def test_gemma3_facts_from_metadata_match_the_planner(gemma3_path) -> None:
    from appliance.models.facts import read_facts
    from engine.planner import ModelShape

    facts = read_facts(gemma3_path)
    assert (facts.format, facts.architecture, facts.context_length, facts.license) == \
        ("gguf", "gemma3_text", 32768, "gemma")
    assert facts.config["head_dim"] == 256 and facts.config["tie_word_embeddings"] is True
    assert facts.parameters == ModelShape.from_config(facts.config).parameters() == 268_098_176
