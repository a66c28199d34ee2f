"""Checking a store model against its manifest before it is loaded, fast on a restart.

Invariants:
- a model is loaded only when every listed file is a regular file (not a symlink) whose
  sha256 equals the manifest's;
- a file is re-hashed unless <store>/.verified.json holds a record of it with the same inode,
  size, mtime and ctime (ctime cannot be set back by a user, so touching a file back to its
  old mtime does not skip the hash) and the manifest's sha256 that record vouched for;
- the record file is only a cache: unreadable or stale, it costs a re-hash, never a pass.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.models.errors import StoreError

if TYPE_CHECKING:
    from appliance.models.store import ModelEntry, StoredFile

RECORDS = ".verified.json"


class ModelTampered(StoreError):
    """A store model's files no longer match its manifest; it is not loaded."""

    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__(f"model {name!r} does not match its manifest and is not loaded: " + "; ".join(problems)
                         + f". Run `airlock models remove {name}` and import it again.")
        self.name = name
        self.problems = problems


class VerificationCache:
    """The records of files already hashed, keyed by '<model>/<relative path>'."""

    def __init__(self, store_path: Path) -> None:
        self.path = Path(store_path) / RECORDS
        self._lock = threading.Lock()

    def verify(self, entry: ModelEntry) -> None:
        """Raise ModelTampered naming every file of `entry` that differs from its manifest."""
        problems = self.problems(entry, entry.files)
        if problems:
            raise ModelTampered(entry.name, problems)

    def problems(self, entry: ModelEntry, files: list[StoredFile]) -> list[str]:
        """What differs between `files` (relative to the entry's directory) and their manifest figures."""
        from appliance.models.store import _sha256

        records = self._read()
        before = dict(records)
        problems = []
        for f in files:
            path, key = entry.directory / f.path, f"{entry.name}/{f.path}"
            try:
                st = os.lstat(path)
            except OSError:
                problems.append(f"{f.path}: missing")
                continue
            stamp = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, f.sha256]
            if not path.is_file() or path.is_symlink():
                problems.append(f"{f.path}: not a regular file")
            elif records.get(key) == stamp:
                continue
            elif st.st_size != f.size:
                problems.append(f"{f.path}: size {st.st_size:,} bytes, manifest says {f.size:,}")
            elif _sha256(path) != f.sha256:
                problems.append(f"{f.path}: sha256 differs from the manifest (file changed or corrupt)")
            else:
                records[key] = stamp
                continue
            records.pop(key, None)
        if records != before:
            self._write(records)
        return problems

    def _read(self) -> dict[str, list]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, records: dict[str, list]) -> None:
        with self._lock:
            tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                tmp.write_text(json.dumps(records))
                tmp.replace(self.path)
            except OSError:
                tmp.unlink(missing_ok=True)   # a cache: a read-only store only costs re-hashing
