"""The GGUF conversion cache of a store model, vouched for by the model's manifest.

A GGUF model is loaded from its conversion (engine/conversion_cache.py: `.converted/` beside
the file), not from the verified file itself, so the conversion must be held to the same
check. Invariants:
- before a load, `.converted/` holds only entries the manifest's `converted` list names, each
  file matching its sha256 (with the same inode, mtime and ctime records as the model's own
  files, so a restart does not re-hash); anything else there is removed, and the loader then
  converts again from the verified GGUF file;
- after a load, what `.converted/` holds is listed in the manifest with its sha256s;
- the list is derived data: it is never bundled or exported (those carry `files` only), and
  losing it costs one conversion, never a refused load.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.models.store import ModelEntry, ModelStore

log = logging.getLogger(__name__)


def vouch(store: ModelStore, entry: ModelEntry) -> None:
    """Remove what the manifest does not vouch for from the entry's conversion cache."""
    root = _root(entry)
    if entry.format != "gguf" or not root.is_dir():
        return
    listed = {f.path for f in entry.converted}
    unlisted = [p for p in _cache_files(entry) if p not in listed]
    problems = store.verification.problems(entry, entry.converted) + [f"{p}: not in the manifest" for p in unlisted]
    if problems:
        log.warning("model %r: dropping its conversion cache (%s); it is converted again from the verified file",
                    entry.name, "; ".join(problems))
        for child in root.iterdir():
            if child.name.startswith("."):            # a staging directory is never read
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        entry.converted = []
        store.rewrite_manifest(entry)


def record(store: ModelStore, entry: ModelEntry) -> None:
    """List the conversion cache's files (with their sha256s) in the entry's manifest."""
    from appliance.models.store import StoredFile, _sha256

    paths = _cache_files(entry)
    if entry.format != "gguf" or sorted(paths) == sorted(f.path for f in entry.converted):
        return
    entry.converted = [StoredFile(p, _sha256(entry.directory / p), (entry.directory / p).stat().st_size)
                       for p in paths]
    store.rewrite_manifest(entry)


def _cache_files(entry: ModelEntry) -> list[str]:
    """Files under .converted/ that a load could read (staging directories excluded), relative to the entry."""
    root = _root(entry)
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(entry.directory)) for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _root(entry: ModelEntry) -> Path:
    from engine.conversion_cache import CACHE_DIR   # engine's loader stack: imported only when needed

    return entry.directory / CACHE_DIR
