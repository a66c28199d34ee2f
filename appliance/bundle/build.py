"""Build one bundle archive: wheelhouse, models with their sha256 list, scripts, unit, config.

Layout inside the tar (one top folder, airlock-<version>-<target slug>/):
  MANIFEST               sha256 of every other member (`sha256sum -c MANIFEST` works)
  MANIFEST.sig           with --sign only: ed25519 signature of MANIFEST (appliance.bundle.signing)
  bundle.json            version, target, models, build time
  README.txt, install.sh, uninstall.sh, render-unit.sh, airlock.service, airlock.toml
  wheelhouse/*.whl       Airlock and every dependency: `pip install --no-index` needs nothing else
  models/<file or dir>   the chosen models; models/SHA256SUMS lists their files. A model of a
                         store goes as its manifest.json and the files it lists (no caches)
"""
from __future__ import annotations

import io
import json
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from appliance.bundle import manifest, signing
from appliance.bundle.target import Target
from appliance.bundle.wheelhouse import PROJECT_ROOT, build_project_wheel, dependency_wheels
from appliance.models.errors import StoreError
from appliance.models.store import MANIFEST, read_exported

PACKAGING = PROJECT_ROOT / "packaging"
PACKAGED_FILES = ("README.txt", "install.sh", "uninstall.sh", "render-unit.sh", "airlock.service", "airlock.toml")
DEFAULT_CACHE = PROJECT_ROOT / "var" / "wheelhouse-cache"
Source = Path | bytes


class BundleError(ValueError):
    """The bundle cannot be built as asked; the message names the input at fault."""


@dataclass(slots=True)
class BundleSpec:
    output: Path
    target: Target = field(default_factory=Target)
    models: tuple[Path, ...] = ()
    cache_dir: Path = DEFAULT_CACHE
    sign_key: Path | None = None    # ed25519 private key (PEM): adds MANIFEST.sig

    def __post_init__(self) -> None:
        if self.sign_key is not None:
            try:
                signing.sign(b"", self.sign_key)   # a bad key fails now, not after the wheelhouse
            except signing.SigningError as exc:
                raise BundleError(f"--sign: {exc}") from None
        self.output = Path(self.output)
        self.models = tuple(Path(m) for m in self.models)
        for model in self.models:
            if not model.exists():
                raise BundleError(f"model {model} does not exist")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise BundleError(f"two models share a file name: {names}")


def find_model(name: str, stores: tuple[Path, ...] | None = None) -> Path:
    """A model given as a path, or by its name in a model store (the configured store, then
    var/models of the source tree): a store entry's folder, or a file or folder there."""
    path = Path(name)
    if path.exists():
        return path
    stores = stores if stores is not None else _default_stores()
    for store in stores:
        if (store / name).exists():
            return store / name
    raise BundleError(f"model {name!r} is neither a path nor a model in {' or '.join(map(str, stores))}")


def _default_stores() -> tuple[Path, ...]:
    from appliance.config import ConfigError, load_config
    local = PROJECT_ROOT / "var" / "models"
    try:
        configured = load_config().store_path.resolve()
    except ConfigError:
        return (local,)
    return (configured, local) if configured != local.resolve() else (local,)


def build_bundle(spec: BundleSpec, wheelhouse: list[Path] | None = None) -> Path:
    """Write the archive into spec.output and return its path.

    wheelhouse: wheels to ship instead of resolving them with pip (tests use a small set)."""
    spec.output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=spec.output) as scratch:
        wheels = wheelhouse if wheelhouse is not None else _resolve_wheels(spec, Path(scratch))
        version = _version(wheels)
        top = f"airlock-{version}-{spec.target.slug}"
        members = _members(spec, wheels, version)
        archive = spec.output / f"{top}.tar"
        _write_tar(archive, top, members, spec.sign_key)
    return archive


def _resolve_wheels(spec: BundleSpec, scratch: Path) -> list[Path]:
    own = build_project_wheel(scratch)
    deps = dependency_wheels(own, spec.target, spec.cache_dir)
    return [own, *sorted(deps.glob("*.whl"))]


def _version(wheels: list[Path]) -> str:
    own = [w for w in wheels if w.name.startswith("airlock-")]
    if not own:
        raise BundleError("the wheelhouse has no airlock wheel")
    return own[0].name.split("-")[1]


def _members(spec: BundleSpec, wheels: list[Path], version: str) -> dict[str, Source]:
    members: dict[str, Source] = {name: PACKAGING / name for name in PACKAGED_FILES}
    members |= {f"wheelhouse/{w.name}": w for w in wheels}
    models = _model_files(spec.models)
    members |= models
    sums = {name.removeprefix("models/"): _sha256(path) for name, path in models.items()}
    members["models/SHA256SUMS"] = "".join(f"{d}  {n}\n" for n, d in sorted(sums.items())).encode()
    info = {"version": version, **spec.target.describe(), "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "models": [m.name for m in spec.models]}
    members["bundle.json"] = json.dumps(info, indent=2).encode() + b"\n"
    return members


def _model_files(models: tuple[Path, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for model in models:
        if model.is_file():
            files[f"models/{model.name}"] = model
            continue
        for path in _folder_files(model):
            files[f"models/{model.name}/{path.relative_to(model)}"] = path
    return files


def _folder_files(model: Path) -> list[Path]:
    """A store entry's manifest and the files it lists (checked against it now, so that a
    changed file is not shipped; derived caches such as .converted/ stay behind), or every
    file of any other folder."""
    try:
        entry = read_exported(model)
    except StoreError as exc:
        raise BundleError(f"model {model}: {exc}") from None
    if entry is None:
        return sorted(p for p in model.rglob("*") if p.is_file())
    return [model / MANIFEST, *(model / f.path for f in entry.files)]


def _write_tar(archive: Path, top: str, members: dict[str, Source], sign_key: Path | None) -> None:
    digests = {name: _sha256(source) for name, source in members.items()}
    listing = manifest.render(digests)
    head: dict[str, Source] = {manifest.MANIFEST_NAME: listing}    # first: read before the rest
    if sign_key is not None:
        head[signing.SIGNATURE_NAME] = signing.sign(listing, sign_key)
    members = head | members
    partial = archive.with_suffix(".tar.partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, source in members.items():
            _add(tar, f"{top}/{name}", source)
    partial.replace(archive)


def _add(tar: tarfile.TarFile, name: str, source: Source) -> None:
    data = source if isinstance(source, bytes) else None
    info = tarfile.TarInfo(name)
    info.size = len(data) if data is not None else Path(source).stat().st_size
    info.mode = 0o755 if name.endswith(".sh") else 0o644
    info.mtime = int(time.time())
    info.uname = info.gname = "root"
    if data is not None:
        tar.addfile(info, io.BytesIO(data))
    else:
        with open(source, "rb") as stream:
            tar.addfile(info, stream)


def _sha256(source: Source) -> str:
    if isinstance(source, bytes):
        return manifest.sha256_stream(io.BytesIO(source))
    with open(source, "rb") as stream:
        return manifest.sha256_stream(stream)
