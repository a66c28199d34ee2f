"""`airlock bundle verify`: a flipped byte in any member is caught and named."""
from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from appliance.bundle.build import BundleError, BundleSpec, build_bundle
from appliance.bundle.target import Target, TargetError
from appliance.bundle.verify import verify_bundle
from appliance.bundle.wheelhouse import build_project_wheel, requirements
from appliance.cli import main

TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A real bundle whose wheelhouse is only Airlock's own wheel, with a small model folder."""
    root = tmp_path_factory.mktemp("bundle")
    model = root / "minilm-files"
    model.mkdir()
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_path / name, model / name)
    wheel = build_project_wheel(root / "wheels")
    return build_bundle(BundleSpec(root / "out", models=(model,)), wheelhouse=[wheel])


def members(archive: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(archive) as tar:
        return [m for m in tar.getmembers() if m.isfile()]


def relative(member: tarfile.TarInfo) -> str:
    return member.name.partition("/")[2]


def flipped_copy(archive: Path, offset: int, dest: Path) -> Path:
    shutil.copy(archive, dest)
    with open(dest, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x01]))
    return dest


def test_intact_bundle_verifies(small_bundle: Path) -> None:
    report = verify_bundle(small_bundle)
    names = {relative(m) for m in members(small_bundle)}
    assert report.ok, report.problems()
    assert report.checked == len(names) - 1
    assert {"install.sh", "uninstall.sh", "airlock.service", "airlock.toml", "README.txt", "bundle.json",
            "MANIFEST", "models/SHA256SUMS", "models/minilm-files/tokenizer.json"} <= names
    assert any(n.startswith("wheelhouse/airlock-") and n.endswith(".whl") for n in names)


def test_a_flipped_byte_in_any_member_is_named(small_bundle: Path, tmp_path: Path) -> None:
    for member in members(small_bundle):
        name = relative(member)
        copy = flipped_copy(small_bundle, member.offset_data + member.size // 2, tmp_path / "copy.tar")
        report = verify_bundle(copy)
        assert not report.ok, name
        if name == "MANIFEST":
            assert report.errors and "MANIFEST" in report.errors[0]
        else:
            assert report.changed == [name] and not (report.missing or report.unexpected or report.errors)


def test_a_damaged_header_names_its_member(small_bundle: Path, tmp_path: Path) -> None:
    member = next(m for m in members(small_bundle) if relative(m) == "install.sh")
    copy = flipped_copy(small_bundle, member.offset + 130, tmp_path / "copy.tar")   # inside the size field
    report = verify_bundle(copy)
    assert not report.ok
    assert "install.sh" in " ".join(report.problems())


def test_cli_verify_names_the_member_and_fails(small_bundle: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundle", "verify", str(small_bundle)]) == 0
    member = next(m for m in members(small_bundle) if relative(m) == "airlock.service")
    copy = flipped_copy(small_bundle, member.offset_data + 10, tmp_path / "copy.tar")
    capsys.readouterr()
    assert main(["bundle", "verify", str(copy)]) == 1
    assert "FAIL airlock.service: content differs from MANIFEST" in capsys.readouterr().out


def test_sha256sum_checks_the_extracted_bundle(small_bundle: Path, tmp_path: Path) -> None:
    """install.sh checks the bundle with sha256sum alone, before any Python runs."""
    with tarfile.open(small_bundle) as tar:
        tar.extractall(tmp_path, filter="data")
    top = next(tmp_path.iterdir())
    check = ["sha256sum", "--check", "--quiet", "--strict", "MANIFEST"]
    assert subprocess.run(check, cwd=top).returncode == 0
    (top / "airlock.toml").write_text("port = 1\n")
    result = subprocess.run(check, cwd=top, capture_output=True, text=True)
    assert result.returncode != 0 and "airlock.toml: FAILED" in result.stdout


def test_project_wheel_lists_the_dependencies(small_bundle: Path) -> None:
    wheel = next(m for m in members(small_bundle) if relative(m).startswith("wheelhouse/"))
    with tarfile.open(small_bundle) as tar, open(Path(small_bundle).parent / "w.whl", "wb") as out:
        out.write(tar.extractfile(wheel).read())
    required = " ".join(requirements(Path(small_bundle).parent / "w.whl"))
    assert "torch" in required and "flask" in required and "nvidia-ml-py" in required


def test_bad_targets_and_models_are_named(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="--target"):
        Target(kind="rocm")
    with pytest.raises(TargetError, match="--python"):
        Target(python="311")
    with pytest.raises(TargetError, match="--platform"):
        Target(platform="linux")
    with pytest.raises(BundleError, match="nothing-here.gguf"):
        BundleSpec(tmp_path, models=(tmp_path / "nothing-here.gguf",))
    assert main(["bundle", "build", "--output", str(tmp_path), "--python", "three"]) == 2


def test_older_manylinux_tags_are_accepted() -> None:
    tags = Target(platform="manylinux_2_28_x86_64").compatible_platforms()
    assert tags[0] == "manylinux_2_28_x86_64"
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert Target().torch == "2.13.0" and Target(kind="cuda").torch == ""
