"""The model store: checked copies of model files under one directory, each with a manifest.

Layout: <store>/<name>/ holds the model's files (a .gguf file, or a Hugging Face directory's
files) and manifest.json with its facts and the sha256 of every file. Import copies into a
hidden staging directory and renames it into place, so a model is either wholly in the store
or absent. Nothing here opens a network connection.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from appliance.models import conversions
from appliance.models.errors import ModelNotFound, StoreError
from appliance.models.facts import read_facts
from appliance.models.integrity import VerificationCache

MANIFEST = "manifest.json"
_CHUNK = 4 * 1024**2
_QUANT_TAG = re.compile(r"[._-](q\d[\w]*|iq\d[\w]*|f16|f32|bf16)$", re.IGNORECASE)
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


@dataclass(slots=True)
class StoredFile:
    path: str                       # relative to the model's directory
    sha256: str
    size: int


@dataclass(slots=True)
class ModelEntry:
    name: str
    format: str                     # "gguf" | "hf"
    architecture: str
    parameters: int
    context_length: int
    files: list[StoredFile]
    imported_at: str
    source: str
    license: str | None = None
    license_file: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    converted: list[StoredFile] = field(default_factory=list)   # the GGUF conversion cache (conversions.py)
    directory: Path = Path()        # not written to the manifest

    @property
    def model_path(self) -> Path:
        """What the loader opens: the .gguf file, or the directory."""
        return self.directory / self.files[0].path if self.format == "gguf" else self.directory

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["directory"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], directory: Path) -> ModelEntry:
        files = [StoredFile(**f) for f in data.pop("files")]
        converted = [StoredFile(**f) for f in data.pop("converted", [])]
        return cls(files=files, converted=converted, directory=directory, **data)


def slug(path: Path) -> str:
    """Store name for a source: lower case, dashes, without a GGUF quantization tag."""
    stem = path.name if path.is_dir() else path.stem
    stem = _QUANT_TAG.sub("", stem) if path.suffix.lower() == ".gguf" else stem
    return re.sub(r"[^a-z0-9.]+", "-", stem.lower()).strip("-.") or "model"


class ModelStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.verification = VerificationCache(self.path)

    def import_path(self, src: str | Path, name: str | None = None) -> ModelEntry:
        """Check `src` (a .gguf file, a Hugging Face directory, or a store folder exported
        with its manifest, as a bundle carries it) and copy it in."""
        src = Path(src).expanduser()
        exported = read_exported(src)
        if exported is not None:
            return self._import_files(exported.model_path, name or exported.name,
                                      [Path(f.path) for f in exported.files])
        return self._import_files(src, name or slug(src), None)

    def _import_files(self, src: Path, name: str, listed: list[Path] | None) -> ModelEntry:
        facts = read_facts(src)
        if not _NAME.match(name):
            raise StoreError(f"invalid model name {name!r}: use lower-case letters, digits, '.', '-', '_'")
        with self._lock:
            if (self.path / name / MANIFEST).exists():
                raise StoreError(f"model {name!r} is already in the store; remove it first")
            staging = self.path / f".importing-{name}"
            shutil.rmtree(staging, ignore_errors=True)
            try:
                files = _copy_hashed(src, staging, listed)
                entry = ModelEntry(
                    name=name, format=facts.format, architecture=facts.architecture,
                    parameters=facts.parameters, context_length=facts.context_length,
                    files=files, imported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    source=str(src.resolve()), license=facts.license, license_file=facts.license_file,
                    config=facts.config, directory=self.path / name,
                )
                (staging / MANIFEST).write_text(json.dumps(entry.to_json(), indent=2))
                staging.rename(self.path / name)
            except OSError as exc:
                shutil.rmtree(staging, ignore_errors=True)
                raise StoreError(f"cannot copy {src} into the store at {self.path}: {exc}") from None
        return entry

    def list(self) -> list[ModelEntry]:
        if not self.path.is_dir():
            return []
        return [self._read(d) for d in sorted(self.path.iterdir()) if (d / MANIFEST).is_file()]

    def names(self) -> list[str]:
        return [e.name for e in self.list()]

    def __contains__(self, name: str) -> bool:
        return (self.path / name / MANIFEST).is_file()

    def get(self, name: str) -> ModelEntry:
        if not _NAME.match(name) or name not in self:
            raise ModelNotFound(name, self.names())
        return self._read(self.path / name)

    def get_verified(self, name: str) -> ModelEntry:
        """The entry, after checking its files against the manifest (ModelTampered if not) and
        clearing any conversion cache the manifest does not vouch for (conversions.py)."""
        entry = self.get(name)
        self.verification.verify(entry)
        conversions.vouch(self, entry)
        return entry

    def record_conversion(self, name: str) -> None:
        """List in the manifest the conversion cache a load of `name` wrote (conversions.py)."""
        conversions.record(self, self.get(name))

    def rewrite_manifest(self, entry: ModelEntry) -> None:
        """Replace the entry's manifest atomically (the store's derived lists change; its files do not)."""
        with self._lock:
            tmp = entry.directory / f".{MANIFEST}.tmp"
            tmp.write_text(json.dumps(entry.to_json(), indent=2))
            tmp.replace(entry.directory / MANIFEST)

    def remove(self, name: str) -> None:
        entry = self.get(name)
        with self._lock:
            shutil.rmtree(entry.directory)

    def verify(self, name: str) -> list[str]:
        """Problems found by re-hashing every file; an empty list means intact."""
        return check_files(self.get(name))

    def _read(self, directory: Path) -> ModelEntry:
        try:
            return ModelEntry.from_json(json.loads((directory / MANIFEST).read_text()), directory)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise StoreError(f"{directory / MANIFEST}: unreadable manifest ({exc})") from None


def read_exported(src: Path) -> ModelEntry | None:
    """The entry of a store folder copied elsewhere (its manifest.json beside its files),
    after checking every listed file against the manifest; None for anything else.

    Only the listed files count: derived caches beside them (the GGUF conversion cache in
    .converted/) are neither checked nor imported."""
    if not (src / MANIFEST).is_file():
        return None
    try:
        entry = ModelEntry.from_json(json.loads((src / MANIFEST).read_text()), src)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise StoreError(f"{src / MANIFEST}: unreadable manifest ({exc})") from None
    problems = check_files(entry)
    if problems:
        raise StoreError(f"{src} does not match its manifest: " + "; ".join(problems))
    return entry


def check_files(entry: ModelEntry) -> list[str]:
    """Problems found by re-hashing every file of `entry`; an empty list means intact."""
    problems = []
    for f in entry.files:
        path = entry.directory / f.path
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.stat().st_size != f.size:
            problems.append(f"{path}: size {path.stat().st_size:,} bytes, manifest says {f.size:,}")
        elif _sha256(path) != f.sha256:
            problems.append(f"{path}: sha256 differs from the manifest (file changed or corrupt)")
    return problems


def _copy_hashed(src: Path, dest: Path, listed: list[Path] | None = None) -> list[StoredFile]:
    """Copy a file, the `listed` files of a directory, or a directory tree (hidden files
    skipped), hashing in the same pass."""
    if src.is_file():
        dest.mkdir(parents=True)
        return [_copy_file(src, dest / src.name, src.name)]
    if listed is None:
        _refuse_links_out(src, src.rglob("*"))
        listed = sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file()
                        and not any(part.startswith(".") for part in p.relative_to(src).parts))
    else:
        _refuse_links_out(src, (src / rel for rel in listed))
    dest.mkdir(parents=True)
    return [_copy_file(src / rel, dest / rel, str(rel)) for rel in listed]


def _refuse_links_out(src: Path, paths) -> None:
    """A symlink (or a listed path through one) that leads out of the source tree would copy
    whatever it points at (/etc/shadow, another model) into the store: refuse the import."""
    root = src.resolve()
    for path in paths:
        target = path.resolve()
        if target != root and root not in target.parents:
            raise StoreError(f"{path} leads out of {src} (to {target}); copy the file in instead of linking it")


def _copy_file(src: Path, dest: Path, rel: str) -> StoredFile:
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with src.open("rb") as fin, dest.open("wb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
    return StoredFile(path=rel, sha256=digest.hexdigest(), size=size)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
