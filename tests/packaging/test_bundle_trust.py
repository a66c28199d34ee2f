"""A bundle installs only what it vouches for: the files MANIFEST lists, signed by the site's key.

install.sh --check-only runs the same checks as a full install and stops before installing,
so these run without root. A store model travels as its file and manifest, no caches.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from appliance.bundle.build import BundleError, BundleSpec, build_bundle, find_model
from appliance.bundle.signing import generate_key
from appliance.bundle.verify import verify_bundle
from appliance.bundle.wheelhouse import build_project_wheel
from appliance.cli import main
from appliance.models.errors import StoreError
from appliance.models.store import ModelStore

STORE_NAME = "smollm2-135m-instruct"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> dict[str, Path]:
    """A signed bundle (Airlock's own wheel only) holding a model named from a store whose
    folder also holds a conversion cache, extracted as the administrator would."""
    root = tmp_path_factory.mktemp("trust")
    store = ModelStore(root / "store")
    store.import_path(smollm2_path)
    cache = root / "store" / STORE_NAME / ".converted" / "smollm2-fp32"
    cache.mkdir(parents=True)
    (cache / "model.safetensors").write_bytes(b"derived, not shipped")
    generate_key(root / "site.key")
    generate_key(root / "other.key")
    model = find_model(STORE_NAME, stores=(root / "store",))
    wheel = build_project_wheel(root / "wheels")
    archive = build_bundle(BundleSpec(root / "out", models=(model,), sign_key=root / "site.key"), wheelhouse=[wheel])
    with tarfile.open(archive) as tar:
        tar.extractall(root / "media", filter="data")
    return {"root": root, "archive": archive, "bundle": next((root / "media").iterdir()),
            "key": root / "site.key.pub", "other": root / "other.key.pub"}


def check_only(bundle: Path, *args: str, conf: Path | None = None) -> subprocess.CompletedProcess[str]:
    conf_args = ["--conf-dir", str(conf)] if conf else ["--conf-dir", str(bundle.parent / "no-conf")]
    return subprocess.run([str(bundle / "install.sh"), "--check-only", *conf_args, *args],
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"]})


def test_a_store_model_travels_as_its_file_and_manifest(signed: dict[str, Path]) -> None:
    with tarfile.open(signed["archive"]) as tar:
        names = {m.name.partition("/")[2] for m in tar.getmembers() if m.isfile()}
    assert {f"models/{STORE_NAME}/manifest.json", f"models/{STORE_NAME}/{GGUF}"} <= names
    assert not [n for n in names if ".converted" in n]
    assert "MANIFEST.sig" in names


def test_import_takes_an_exported_store_folder_checking_its_manifest(signed: dict[str, Path], tmp_path: Path) -> None:
    exported = signed["bundle"] / "models" / STORE_NAME
    entry = ModelStore(tmp_path / "store").import_path(exported)
    assert entry.name == STORE_NAME and [f.path for f in entry.files] == [GGUF]
    assert ModelStore(tmp_path / "store").verify(STORE_NAME) == []
    altered = tmp_path / "altered"
    altered.mkdir()
    (altered / GGUF).symlink_to(exported / GGUF)
    manifest = json.loads((exported / "manifest.json").read_text())
    manifest["files"][0]["sha256"] = "0" * 64
    (altered / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match=f"{GGUF}: sha256 differs from the manifest"):
        ModelStore(tmp_path / "other").import_path(altered)
    assert not (tmp_path / "other" / STORE_NAME).exists()


def test_a_signed_bundle_checks_against_the_pinned_key(signed: dict[str, Path], tmp_path: Path) -> None:
    result = check_only(signed["bundle"], "--trusted-key", str(signed["key"]))
    assert result.returncode == 0, result.stderr
    assert "signature good" in result.stdout and "nothing installed" in result.stdout
    conf = tmp_path / "etc"
    conf.mkdir()
    shutil.copy(signed["other"], conf / "bundle-signing.pub")   # pinned by the site
    refused = check_only(signed["bundle"], conf=conf)
    assert refused.returncode == 1
    assert "signature does not match" in refused.stderr and "bundle-signing.pub" in refused.stderr


def test_an_unsigned_bundle_is_refused_once_a_key_is_pinned(signed: dict[str, Path]) -> None:
    signature = signed["bundle"] / "MANIFEST.sig"
    kept = signature.read_bytes()
    signature.unlink()
    try:
        assert "unsigned bundle" in check_only(signed["bundle"]).stdout
        refused = check_only(signed["bundle"], "--trusted-key", str(signed["key"]))
        assert refused.returncode == 1 and "not signed" in refused.stderr
    finally:
        signature.write_bytes(kept)


@pytest.mark.parametrize("extra", ["wheelhouse/evil-1.0-py3-none-any.whl", f"models/{STORE_NAME}/extra.gguf",
                                   "models/.hidden"])
def test_a_file_the_manifest_does_not_list_is_refused(signed: dict[str, Path], extra: str) -> None:
    path = signed["bundle"] / extra
    path.write_bytes(b"not from the build")
    try:
        result = check_only(signed["bundle"])
    finally:
        path.unlink()
    assert result.returncode == 1
    assert f"files MANIFEST does not list: {extra}" in result.stderr
    assert check_only(signed["bundle"]).returncode == 0


def test_a_link_in_the_bundle_is_refused(signed: dict[str, Path]) -> None:
    link = signed["bundle"] / "wheelhouse" / "linked.whl"
    link.symlink_to(signed["archive"])
    try:
        result = check_only(signed["bundle"])
    finally:
        link.unlink()
    assert result.returncode == 1 and "links or special files" in result.stderr and "linked.whl" in result.stderr


def test_verify_cli_checks_the_signature(signed: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundle", "verify", str(signed["archive"]), "--key", str(signed["key"])]) == 0
    assert "signed by" in capsys.readouterr().out
    assert main(["bundle", "verify", str(signed["archive"]), "--key", str(signed["other"])]) == 1
    assert "FAIL MANIFEST.sig: the signature does not match" in capsys.readouterr().out
    assert verify_bundle(signed["archive"]).signed


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundle", "keygen", str(tmp_path / "k")]) == 0
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    fingerprint = subprocess.run(f"openssl pkey -pubin -in {tmp_path / 'k.pub'} -outform DER | sha256sum",
                                 shell=True, capture_output=True, text=True).stdout.split()[0]
    assert fingerprint in capsys.readouterr().out      # what install.sh prints, via openssl
    assert main(["bundle", "keygen", str(tmp_path / "k")]) == 2
    assert "refusing to overwrite" in capsys.readouterr().out


def test_a_bad_signing_key_fails_before_the_build(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("not a key")
    with pytest.raises(BundleError, match="--sign: .*key.* is not a PEM key"):
        BundleSpec(tmp_path / "out", sign_key=tmp_path / "key")
    with pytest.raises(BundleError, match="--sign: cannot read key"):
        BundleSpec(tmp_path / "out", sign_key=tmp_path / "missing")
    assert main(["bundle", "build", "--output", str(tmp_path / "out"), "--sign", str(tmp_path / "key")]) == 2
