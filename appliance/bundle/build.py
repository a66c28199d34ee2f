"""Build one bundle archive: wheelhouse, models with their sha256 list, scripts, unit, config.

Layout inside the tar (one top folder, airlock-<version>-<target slug>/):
  MANIFEST               sha256 of every other member (`sha256sum -c MANIFEST` works)
  bundle.json            version, target, models, build time
  README.txt, install.sh, uninstall.sh, render-unit.sh, airlock.service, airlock.toml
  wheelhouse/*.whl       Airlock and every dependency: `pip install --no-index` needs nothing else
  models/<file or dir>   the chosen models; models/SHA256SUMS lists their files
"""
from __future__ import annotations

import io
import json
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from appliance.bundle import manifest
from appliance.bundle.target import Target
from appliance.bundle.wheelhouse import PROJECT_ROOT, build_project_wheel, dependency_wheels

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

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        self.models = tuple(Path(m) for m in self.models)
        for model in self.models:
            if not model.exists():
                raise BundleError(f"model {model} does not exist")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise BundleError(f"two models share a file name: {names}")


def find_model(name: str) -> Path:
    """A model given as a path, or by its file or folder name under var/models."""
    path = Path(name)
    if path.exists():
        return path
    local = PROJECT_ROOT / "var" / "models" / name
    if local.exists():
        return local
    raise BundleError(f"model {name!r} is neither a path nor a file or folder in {local.parent}")


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
        _write_tar(archive, top, members)
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
        for path in sorted(p for p in model.rglob("*") if p.is_file()):
            files[f"models/{model.name}/{path.relative_to(model)}"] = path
    return files


def _write_tar(archive: Path, top: str, members: dict[str, Source]) -> None:
    digests = {name: _sha256(source) for name, source in members.items()}
    members = {manifest.MANIFEST_NAME: manifest.render(digests)} | members   # first: read before the rest
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
