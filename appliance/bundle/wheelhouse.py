"""The wheelhouse: Airlock's own wheel plus every dependency for one target, from pip.

Dependencies are downloaded once per (requirements, target) into a cache folder, so that a
rebuild after a code change only rebuilds Airlock's wheel. The CPU target pins the CPU build
of torch (pip picks the `+cpu` local version where the index or --find-links offers one);
the CUDA target takes the default build from the index with its NVIDIA libraries.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from appliance.bundle.target import Target

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_COMPLETE = ".complete"


class WheelhouseError(RuntimeError):
    """pip could not produce the wheelhouse; the message says what to change."""


def build_project_wheel(dest: Path) -> Path:
    """`pip wheel` Airlock itself (no dependencies) into dest, from a clean copy of the
    sources so that no stale build/ folder in the tree can add files that no longer exist."""
    with tempfile.TemporaryDirectory() as scratch:
        source = _copy_sources(Path(scratch) / "src")
        _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(dest), str(source))
    wheels = sorted(dest.glob("airlock-*.whl"))
    if not wheels:
        raise WheelhouseError(f"pip wheel wrote no airlock wheel into {dest}")
    return wheels[-1]


def _copy_sources(dest: Path) -> Path:
    """pyproject.toml and the packages it includes, without caches."""
    pyproject = PROJECT_ROOT / "pyproject.toml"
    if not pyproject.exists():
        raise WheelhouseError(f"bundle build needs the Airlock source tree; no pyproject.toml in {PROJECT_ROOT}")
    include = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    dest.mkdir(parents=True)
    shutil.copy(pyproject, dest)
    for folder in sorted(p for p in PROJECT_ROOT.iterdir() if p.is_dir()):
        if any(fnmatch.fnmatch(folder.name, pattern.split(".")[0]) for pattern in include):
            shutil.copytree(folder, dest / folder.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def dependency_wheels(project_wheel: Path, target: Target, cache_root: Path) -> Path:
    """Folder of dependency wheels for the target, downloaded once and cached."""
    folder = cache_root / f"{target.slug}-{_cache_key(project_wheel, target)}"
    if (folder / _COMPLETE).exists():
        return folder
    partial = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", dir=_mkdir(cache_root)))
    try:
        _download(project_wheel, target, partial)
        for own in partial.glob("airlock-*.whl"):
            own.unlink()
        _check_torch(partial, target)
        (partial / _COMPLETE).write_text(json.dumps(target.describe()))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    _drop_stale(folder, target)
    return folder


def _drop_stale(current: Path, target: Target) -> None:
    """Earlier wheelhouses of this target (for an older dependency list) are not needed again."""
    for stale in current.parent.glob(f"{target.slug}-*"):
        if stale != current and (stale / _COMPLETE).exists():
            shutil.rmtree(stale, ignore_errors=True)


def requirements(project_wheel: Path) -> list[str]:
    """Requires-Dist lines from the wheel's METADATA."""
    with zipfile.ZipFile(project_wheel) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        text = wheel.read(name).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def _cache_key(project_wheel: Path, target: Target) -> str:
    material = json.dumps([requirements(project_wheel), target.describe()], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def _download(project_wheel: Path, target: Target, dest: Path) -> None:
    constraints = dest / "constraints.txt"
    constraints.write_text(f"torch=={target.torch}\n" if target.torch else "")
    extras = "[cuda]" if target.kind == "cuda" else ""
    _pip("download", "-d", str(dest), "--only-binary=:all:", *target.pip_tag_args(),
         "-c", str(constraints), *target.pip_index_args(), f"{project_wheel}{extras}")
    constraints.unlink()


def _check_torch(folder: Path, target: Target) -> None:
    wheels = [w.name for w in folder.glob("torch-*.whl")]
    if not wheels:
        raise WheelhouseError(f"no torch wheel was downloaded for {target.slug}")
    is_cpu = "+cpu" in wheels[0]
    if target.kind == "cpu" and not is_cpu:
        raise WheelhouseError(
            f"the CPU target got {wheels[0]}, a CUDA build: pass --torch with a version the CPU "
            "index offers, or --extra-index-url https://download.pytorch.org/whl/cpu")
    if target.kind == "cuda" and is_cpu:
        raise WheelhouseError(f"the CUDA target got {wheels[0]}, a CPU build: pass --torch with a CUDA version")


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise WheelhouseError(f"pip {args[0]} failed (exit {result.returncode}):\n{tail}")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
