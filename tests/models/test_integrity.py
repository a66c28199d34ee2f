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
