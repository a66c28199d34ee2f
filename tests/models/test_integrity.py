"""Model integrity at load (a real store in a tmp dir, the tiny GGUF and HF fixtures):
the manifest's sha256 is checked before a load, the check is remembered across a restart,
a changed file is refused by name, and import refuses symlinks that lead out of the source."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from appliance.config import Config
from appliance.models.errors import StoreError
from appliance.models.integrity import RECORDS, ModelTampered
from appliance.models.manager import ModelManager
from appliance.models.store import ModelStore


def _flip_byte_keeping_size_and_mtime(path: Path) -> None:
    st = path.stat()
    with path.open("r+b") as f:
        f.seek(-1000, 2)
        byte = f.read(1)
        f.seek(-1000, 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_verified_once_then_a_changed_file_is_refused_at_load(tmp_path, tiny_gguf) -> None:
    store = ModelStore(tmp_path / "store")
    entry = store.import_path(tiny_gguf, name="tiny")
    store.get_verified("tiny")
    records = json.loads((tmp_path / "store" / RECORDS).read_text())
    stamp = records[f"tiny/{entry.files[0].path}"]
    assert stamp[0] == entry.model_path.stat().st_ino and stamp[-1] == entry.files[0].sha256
    restarted = ModelStore(tmp_path / "store")         # a restart reuses the record
    assert restarted.get_verified("tiny").files == entry.files
    _flip_byte_keeping_size_and_mtime(entry.model_path)
    config = Config(data_dir=str(tmp_path / "data"))
    config.models.store_dir, config.models.device = str(tmp_path / "store"), "cpu"
    manager = ModelManager(config)
    with pytest.raises(ModelTampered) as err:
        manager.load("tiny", "fp32")
    message = str(err.value)
    assert "'tiny'" in message and entry.files[0].path in message and "sha256 differs" in message
    assert manager.loaded() == []
    assert f"tiny/{entry.files[0].path}" not in json.loads((tmp_path / "store" / RECORDS).read_text())


def test_a_swapped_or_missing_file_is_refused(tmp_path, tiny_hf) -> None:
    store = ModelStore(tmp_path)
    entry = store.import_path(tiny_hf, name="hf")
    store.get_verified("hf")
    config_file = entry.directory / "config.json"
    config_file.unlink()
    os.symlink(tiny_hf / "config.json", config_file)    # same bytes, but a link out of the store
    (entry.directory / "LICENSE").unlink()
    with pytest.raises(ModelTampered) as err:
        store.get_verified("hf")
    assert sorted(err.value.problems) == ["LICENSE: missing", "config.json: not a regular file"]


def test_import_refuses_a_symlink_out_of_the_source(tmp_path, tiny_hf) -> None:
    src = tmp_path / "src"
    shutil.copytree(tiny_hf, src)
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of any model\n")
    os.symlink(secret, src / "notes.txt")
    store = ModelStore(tmp_path / "store")
    with pytest.raises(StoreError, match="leads out of") as err:
        store.import_path(src, name="linked")
    assert "notes.txt" in str(err.value)
    assert store.list() == [] and not any((tmp_path / "store").glob(".importing-*"))
    (src / "notes.txt").unlink()
    os.symlink("LICENSE", src / "NOTICE")                 # a link inside the tree is fine
    entry = store.import_path(src, name="linked")
    assert (entry.directory / "NOTICE").read_text() == (src / "LICENSE").read_text()
    assert not (entry.directory / "NOTICE").is_symlink()


def _seeded_conversion(store: ModelStore, name: str, gguf: Path) -> None:
    """Copy the session's conversion of `gguf` to where a load of the store's copy looks for it,
    so the test loads in seconds instead of converting again."""
    import torch

    from engine import conversion_cache
    from engine.loader import load_hf

    if conversion_cache.cached(gguf, torch.float32) is None:
        load_hf(gguf)                                   # converts once, for later tests too
    target = conversion_cache.converted_dir(store.get(name).model_path, torch.float32)
    shutil.copytree(conversion_cache.cached(gguf, torch.float32), target)


def test_the_conversion_cache_is_listed_and_a_changed_or_planted_one_is_dropped(tmp_path, smollm2_path,
                                                                                caplog) -> None:
    """A GGUF model loads from its conversion (.converted/), so the manifest vouches for it too:
    a changed conversion file or an unlisted directory is removed before the load, which then
    converts again from the verified GGUF file."""
    config = Config(data_dir=str(tmp_path / "data"))
    config.models.store_dir, config.models.device = str(tmp_path / "store"), "cpu"
    manager = ModelManager(config)
    store = manager.store
    store.import_path(smollm2_path, name="small")
    _seeded_conversion(store, "small", smollm2_path)
    manager.load("small", "fp32")
    manager.unload("small")
    converted = store.get("small").converted
    weights = next(f for f in converted if f.path.endswith("model.safetensors"))
    assert weights.path.startswith(".converted/") and len(weights.sha256) == 64
    assert store.get_verified("small").converted == converted        # intact: kept
    weights_path = store.get("small").directory / weights.path
    _flip_byte_keeping_size_and_mtime(weights_path)
    planted = weights_path.parent.parent / "planted-1-2-float32"
    planted.mkdir()
    (planted / "model.safetensors").write_bytes(b"x")
    assert store.get_verified("small").converted == []
    assert "dropping its conversion cache" in caplog.text and "sha256 differs" in caplog.text
    assert "planted-1-2-float32/model.safetensors: not in the manifest" in caplog.text
    assert [p.name for p in weights_path.parent.parent.iterdir() if not p.name.startswith(".")] == []
    assert "converted" in json.loads((store.get("small").directory / "manifest.json").read_text())
